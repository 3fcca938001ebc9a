"""Runs a recipe's stages with Keras ``fit``: resumable, distributed, logged."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ebn_tf import cost, data, layers, models, zoo
from ebn_tf._keras import keras, tf
from ebn_tf.layers.gate import CLUSTERS
from ebn_tf.outputs import check_output_dir, write_atomic
from ebn_tf.training.configs import model_config, pin_zoo_teacher, zoo_teacher
from ebn_tf.training.distill import Distiller
from ebn_tf.training.distribute import check_batch, is_chief, make_strategy
from ebn_tf.training.recipe import Recipe, StageConfig
from ebn_tf.training.run_dir import (
    FINAL_WEIGHTS,
    FinalResult,
    RunDir,
    RunSummary,
    StageResult,
    epoch_rows,
)
from ebn_tf.training.schedule import WarmupStepDecay
from ebn_tf.training.usage_log import ExpertUsageLog

# Validation images whose routing is logged each epoch (ExpertUsageLog).
USAGE_IMAGES = 1024
# Training images (the first, unaugmented: the same on every worker) that a "clusters" gate
# start is fitted on.
CLUSTER_IMAGES = 4096


class StopOnNaN(keras.callbacks.Callback):
    """Stops the run on a non-finite loss, keeping the last epoch's checkpoint.

    Raising (rather than ``TerminateOnNaN``'s stop flag) keeps ``fit`` from returning, so
    the stage is not completed with broken weights and its backup stays to resume from.
    """

    def __init__(self, stage: str, backup_dir: Path):
        super().__init__()
        self.stage = stage
        self.backup_dir = backup_dir

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            raise FloatingPointError(
                f"Stage {self.stage!r}: the loss became {loss} at batch {batch}. The last good "
                f"checkpoint is kept in {self.backup_dir}; the same command resumes from it "
                "(consider a lower learning_rate)."
            )


class StageBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` of one stage, whose failed restore names the fix: a backup
    written by another model (an older ebn_tf, another config) cannot be resumed."""

    def __init__(self, stage: str, backup_dir: Path):
        # BackupAndRestore keeps the directory in ``backup_dir``, as a string.
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.stage = stage

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except ValueError as error:
            raise ValueError(
                f"Stage {self.stage!r} cannot resume from its backup {self.backup_dir}: "
                f"{error} A backup written by another model (an older ebn_tf version, "
                f"another config) cannot be resumed. Fix: delete {self.backup_dir}; the same "
                "command then trains the stage from its start."
            ) from error


def fit_verbosity(verbose) -> int:
    """Keras' ``verbose`` for ``fit``: ``"auto"`` gives the per-step progress bar on a
    terminal or in a notebook, and one line per epoch elsewhere (CI logs, ``> file``,
    nohup), where the bar's carriage-return updates would pile up (~50 KB an epoch)."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() or "ipykernel" in sys.modules else 2


class EpochSeconds(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs as ``seconds``: ``metrics.csv`` then holds
    the time of every epoch a stage kept, however often it was resumed."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["seconds"] = time.perf_counter() - self.start


# Our record of the epochs a stage's backup holds, in its backup directory.
EPOCH_RECORD = "epochs.json"


def _latest_backup(backup: Path) -> str | None:
    """The file name of the newest checkpoint ``BackupAndRestore`` wrote into ``backup``."""
    checkpoint = tf.train.latest_checkpoint(str(backup / "chief"))
    return None if checkpoint is None else Path(checkpoint).name


def _backed_up_epochs(backup: Path, metrics: Path) -> int:
    """Epochs that a stage's ``BackupAndRestore`` checkpoint holds: the epoch ``fit``
    resumes at (0 without a checkpoint).

    Read from ``EpochRecord``'s file, not from tf_keras' private checkpoint keys. The
    record names the checkpoint it counted; a newer checkpoint means the process was
    killed after the backup of the next epoch and before its record: one epoch more.
    """
    latest = _latest_backup(backup)
    if latest is None:
        return 0
    record = backup / EPOCH_RECORD
    if not record.exists():
        # A backup begun before records were kept. CSVLogger writes each epoch's row
        # before its backup, so the rows count the backed-up epochs, unless a kill fell
        # between the two: then that epoch's row is logged twice.
        return len(epoch_rows(metrics))
    counted = json.loads(record.read_text())
    return counted["epochs"] + (counted["checkpoint"] != latest)


class EpochRecord(keras.callbacks.Callback):
    """Records in ``backup/epochs.json`` how many epochs the stage's backup holds, and
    which checkpoint that count is for (see ``_backed_up_epochs``).

    It must follow ``BackupAndRestore`` in the callbacks: each epoch is backed up once,
    at its end, before this records it, so a kill between the two writes leaves exactly
    one checkpoint more than the record counts. When training begins it records
    ``resumed`` (the count the stage resumed from) with the checkpoint restored, so that
    a second such kill is again one checkpoint away from the record. Only the chief
    writes it: the workers read the chief's backup.
    """

    def __init__(self, backup: Path, resumed: int):
        super().__init__()
        self.backup = backup
        self.resumed = resumed

    def _record(self, epochs: int) -> None:
        counted = {"epochs": epochs, "checkpoint": _latest_backup(self.backup)}
        self.backup.mkdir(parents=True, exist_ok=True)
        write_atomic(self.backup / EPOCH_RECORD, json.dumps(counted))

    def on_train_begin(self, logs=None):
        self._record(self.resumed)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


def _keep_epochs(metrics: Path, epochs: int) -> None:
    """Keep only the rows of the first ``epochs`` epochs in a stage's ``metrics.csv``: rows
    that a killed run logged after its last backup are logged again when it resumes."""
    rows = [row for row in epoch_rows(metrics) if int(row["epoch"]) < epochs]
    if not rows:
        metrics.unlink(missing_ok=True)
        return
    # CSVLogger appends rows of "epoch" and the sorted log keys; a run begun before epochs
    # were timed has no "seconds" column yet.
    text = io.StringIO()
    writer = csv.DictWriter(text, ["epoch", *sorted({*rows[0], "seconds"} - {"epoch"})])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(metrics, text.getvalue())


def _run_dirs(root: Path, strategy) -> tuple[RunDir, RunDir]:
    """The chief's run directory (the recipe, the backups shared by the cluster) and this
    process' own: the chief's, or a non-chief worker's copy apart from the chief's files."""
    chief = RunDir(root)
    if is_chief(strategy):
        return chief, chief
    return chief, chief.worker(strategy.cluster_resolver.task_id)


def _check_inputs(configs, dataset: str, info: data.DatasetInfo) -> None:
    """Raise unless every model of ``configs`` takes ``dataset``'s images and classes."""
    for config in configs:
        if (config.num_classes, config.input_shape) != (info.num_classes, info.input_shape):
            raise ValueError(
                f"Model {config.name!r} takes {config.input_shape} images into "
                f"{config.num_classes} classes, but {dataset!r} has {info.input_shape} "
                f"images of {info.num_classes} classes; set model_overrides (or another "
                "teacher_model)."
            )


def _datasets(recipe: Recipe, data_dir) -> dict[str, tf.data.Dataset]:
    """The run's train (shuffled, augmented), validation and test splits, sharded by data
    across the workers of a cluster."""
    common = dict(
        batch_size=recipe.batch_size,
        data_dir=data_dir,
        validation_fraction=recipe.validation_fraction,
        seed=recipe.seed,
    )
    splits = {
        "train": data.load(
            recipe.dataset, "train", shuffle=True, augment=True, take=recipe.train_limit, **common
        ),
        "validation": data.load(recipe.dataset, "validation", take=recipe.eval_limit, **common),
        "test": data.load(recipe.dataset, "test", take=recipe.eval_limit, **common),
    }
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return {k: ds.with_options(options) for k, ds in splits.items()}


def _teacher_weights(pinned: Recipe, own: RunDir, mirror) -> Path:
    """The teacher's weights: the zoo model ``teacher_weights`` names (downloaded and
    verified), the file it names, or else the run's own teacher stage."""
    if name := zoo_teacher(pinned):
        return zoo.download(name, "keras", mirror)
    if not pinned.teacher_weights:
        return own.weights("teacher")
    weights = Path(pinned.teacher_weights)
    if pinned.distill and not weights.exists():
        raise FileNotFoundError(
            f"teacher_weights={pinned.teacher_weights!r} is neither a file nor a zoo "
            f"model ({zoo.names()}); give a teacher run's teacher/{FINAL_WEIGHTS}."
        )
    return weights


class _Run:
    """State shared by the stages of one run. Each stage follows one policy: build the
    stage's model from its start weights, apply the step's switches, compile it (with
    the teacher when it distils), fit it with resumable, logged callbacks, and commit
    its weights and result."""

    def __init__(
        self,
        recipe: Recipe,
        model_dir: str | Path,
        strategy,
        data_dir,
        verbose,
        mirror: str | os.PathLike | None = None,
    ):
        self.recipe = recipe
        self.strategy = make_strategy(strategy) if isinstance(strategy, str) else strategy
        check_batch(self.strategy, recipe.batch_size)
        self.chief = is_chief(self.strategy)
        self.chief_dir, self.dir = _run_dirs(Path(model_dir), self.strategy)
        self.verbose = fit_verbosity(verbose)
        # The zoo teacher's version, resolved once, from the chief's directory for every worker.
        self.pinned = pin_zoo_teacher(recipe, self.chief_dir.teacher_began_with())
        self.config = model_config(self.pinned, "student")
        self.teacher_config = model_config(self.pinned, "teacher")
        self.data_info = data.info(
            recipe.dataset, data_dir=data_dir, validation_fraction=recipe.validation_fraction
        )
        _check_inputs((self.config, self.teacher_config), recipe.dataset, self.data_info)
        self.data_dir = data_dir
        self.datasets = _datasets(recipe, data_dir)
        self.teacher_weights = _teacher_weights(self.pinned, self.dir, mirror)
        if recipe.distill and recipe.teacher_weights:
            self._build("teacher", self.teacher_weights)  # a teacher that does not fit fails now

    def _build(
        self, kind: str, weights: Path | None = None, stage: StageConfig | None = None
    ) -> keras.Model:
        """The ``kind`` model (as ``stage`` builds it, if given), with ``weights``."""
        config = self.teacher_config if kind == "teacher" else self.config
        if stage is not None:
            config = stage.built_config(config)
        model = models.build(config)
        if weights is not None:
            try:
                model.load_weights(weights)
            except (ValueError, OSError) as error:
                raise ValueError(
                    f"Weights {weights} do not fit the {kind} model {config.name!r}: {error}"
                ) from error
        return model

    def _steps_per_epoch(self) -> int:
        train_size = self.data_info.split_sizes["train"]
        return min(train_size, self.recipe.train_limit or train_size) // self.recipe.batch_size

    def _start_run(self, stage: StageConfig) -> RunDir:
        """The run that holds the stage ``stage`` starts from: its own or ``init_run``."""
        return RunDir(stage.init_run) if stage.init_run else self.dir

    def _init_weights(self, stage: StageConfig) -> Path | None:
        if not stage.init_from:
            return None
        run = self._start_run(stage)
        init = run.weights(stage.init_from)
        if not init.exists():
            fix = (
                f"finish the run {run.path} first"
                if stage.init_run
                else f"delete {run.result_file(stage.init_from)} so that the same command "
                f"trains stage {stage.init_from!r} again"
            )
            raise FileNotFoundError(
                f"Stage {stage.name!r} starts from {init}, which is missing. Fix: {fix}."
            )
        return init

    def _usage_images(self) -> np.ndarray:
        return self._first_images(
            "validation", min(USAGE_IMAGES, self.recipe.eval_limit or USAGE_IMAGES)
        )

    def _cluster_images(self) -> np.ndarray:
        return self._first_images(
            "train", min(CLUSTER_IMAGES, self.recipe.train_limit or CLUSTER_IMAGES)
        )

    def _first_images(self, split: str, count: int) -> np.ndarray:
        """The first ``count`` images of ``split``, unshuffled and unaugmented."""
        images = data.load(
            self.recipe.dataset,
            split,
            self.recipe.batch_size,
            shuffle=False,
            augment=False,
            take=count,
            data_dir=self.data_dir,
            validation_fraction=self.recipe.validation_fraction,
        )
        return np.concatenate([x.numpy() for x, _ in images])

    def stage(self, stage: StageConfig) -> StageResult:
        """Train ``stage`` (or resume it), unless it is finished already."""
        # One backup dir for the whole cluster: BackupAndRestore makes every worker restore
        # from the chief's checkpoint (and keeps the workers' own writes apart).
        backup = self.chief_dir.backup_dir(stage.name)
        own_backup = backup if self.chief else None
        finished = self.dir.stage_result(stage.name)
        if finished is not None:
            if own_backup is not None:
                # A kill between the result file and the drop leaves the backup behind.
                shutil.rmtree(own_backup, ignore_errors=True)
            return finished
        self.dir.stage_dir(stage.name).mkdir(parents=True, exist_ok=True)
        with self.strategy.scope():
            model = self.build_stage_model(stage)
            apply_switches(stage, model)
            if stage.replicate_experts and self.config.gate_initializer == CLUSTERS:
                layers.start_gates_on_clusters(model, self._cluster_images(), self.recipe.seed)
            trainable = self.compile(stage, model)
        resumed = self.resume_point(stage, backup)
        trainable.fit(
            self.datasets["train"],
            epochs=stage.epochs,
            validation_data=self.datasets["validation"],
            callbacks=self.callbacks(stage, model, backup, resumed),
            verbose=self.verbose,
        )
        result = self.measure(stage)
        self.dir.commit_stage(model, result, own_backup)
        return result

    def build_stage_model(self, stage: StageConfig) -> keras.Model:
        """The stage's model with its start weights: those of the stage it starts from, in
        this run or in another (``init_run``). From a stage built with one expert (step 1),
        that expert goes into every expert (``layers.load_first_expert``)."""
        init = self._init_weights(stage)
        if init is None or not (stage.init_run or self.recipe.stage(stage.init_from).one_expert):
            return self._build(stage.model, init, stage)
        start = self._start_run(stage).trained_model(stage.init_from)
        model = self._build(stage.model, stage=stage)
        layers.load_first_expert(model, start)
        return model

    def compile(self, stage: StageConfig, model: keras.Model) -> keras.Model:
        """What ``fit`` trains: ``model`` with the cross-entropy loss, or wrapped with the
        teacher in a ``Distiller`` when a student stage distils."""
        optimizer = keras.optimizers.Adam(
            WarmupStepDecay(
                self.recipe.learning_rate,
                stage.epochs * self._steps_per_epoch(),
                self.recipe.warmup,
                self.recipe.decays,
            ),
            weight_decay=stage.weight_decay or None,
        )
        if not (stage.distill and stage.model == "student"):
            model.compile(
                optimizer,
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
            )
            return model
        distiller = Distiller(
            model,
            self._build("teacher", self.teacher_weights),
            self.recipe.attention_weight,
            self.recipe.kl_weight,
            self.recipe.temperature,
            mixup=self.recipe.mixup,
            seed=self.recipe.seed,
        )
        distiller.compile(optimizer)
        # BackupAndRestore needs a built model; a subclassed one builds on a call.
        distiller(tf.zeros([1, *self.config.input_shape]))
        return distiller

    def resume_point(self, stage: StageConfig, backup: Path) -> int:
        """The epochs of ``stage`` that its backup holds (``fit`` resumes after them),
        with its logs cut to match."""
        metrics = self.dir.metrics_file(stage.name)
        resumed = _backed_up_epochs(backup, metrics)
        if not resumed:
            # Nothing of an earlier, killed attempt is kept: neither are its logs.
            shutil.rmtree(self.dir.logs_dir(stage.name), ignore_errors=True)
        _keep_epochs(metrics, resumed)
        return resumed

    def callbacks(
        self, stage: StageConfig, model: keras.Model, backup: Path, resumed: int
    ) -> list[keras.callbacks.Callback]:
        """Stop on NaN; log usage, time, TensorBoard and CSV rows of the epochs left;
        back each epoch up, and record it."""
        callbacks = [StopOnNaN(stage.name, backup)]
        if resumed < stage.epochs:
            if stage.model == "student":
                callbacks.append(ExpertUsageLog(model, self._usage_images()))
            callbacks += [
                EpochSeconds(),
                keras.callbacks.TensorBoard(str(self.dir.logs_dir(stage.name))),
                keras.callbacks.CSVLogger(str(self.dir.metrics_file(stage.name)), append=True),
            ]
        # After the loggers, so that an epoch is backed up only once it is logged: a kill
        # in between makes the rerun train and log that epoch again, which _keep_epochs
        # allows for (TensorBoard then shows it twice, at the same step). The backup is
        # dropped by RunDir.commit_stage, once the stage's results are written.
        # EpochRecord follows the backup it counts.
        callbacks.append(StageBackup(stage.name, backup))
        if self.chief:
            callbacks.append(EpochRecord(backup, resumed))
        return callbacks

    def measure(self, stage: StageConfig) -> StageResult:
        """The stage's validation top-1 and its time, over all its epochs. The top-1 is the
        one ``fit`` logged after the last epoch: the final weights on the validation split
        (evaluating them again would only repeat that pass)."""
        rows = epoch_rows(self.dir.metrics_file(stage.name))
        seconds = sum(float(row["seconds"] or 0) for row in rows)
        images = stage.epochs * self._steps_per_epoch() * self.recipe.batch_size
        return StageResult(
            stage.name,
            stage.epochs,
            float(rows[-1]["val_accuracy"]),
            seconds,
            images / seconds if seconds else None,
        )

    def final(self) -> FinalResult:
        """Test top-1 and cost of the run's last model (the binary student, or the teacher
        of a teacher-only run)."""
        last = self.recipe.stages()[-1]
        weights = self.dir.weights(last.name)
        with self.strategy.scope():
            model = self._build(last.model, weights)
            model.compile(metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
        test = model.evaluate(self.datasets["test"], verbose=0, return_dict=True)
        report = cost.profile(model)
        return FinalResult(float(test["accuracy"]), report.bops, report.ops, str(weights))


def apply_switches(stage: StageConfig, model: keras.Model) -> None:
    """A student stage's switches: replicate the first expert and absorb the kernel
    magnitudes when the step asks, then force expert 0 or use real-valued kernels as
    it trains them (``StageConfig.switch``)."""
    if stage.model != "student":
        return
    if stage.replicate_experts:
        layers.replicate_first_expert(model)
    if stage.absorb_magnitude:
        layers.absorb_kernel_magnitudes(model)
    stage.switch(model)


def train(
    recipe: Recipe,
    model_dir: str | Path,
    strategy="auto",
    data_dir: str | None = None,
    verbose: int | str = "auto",
    mirror: str | os.PathLike | None = None,
) -> RunSummary:
    """Run ``recipe`` into ``model_dir``; rerunning the same call resumes where it stopped.

    Everything that can fail before training (recipe, run directory, dataset, batch
    split, teacher weights) is checked first. Each stage writes ``MODEL_DIR/STAGE/``:
    ``metrics.csv`` (one row per epoch, with its ``seconds``, however often the stage
    was resumed), TensorBoard logs, a per-epoch ``backup/`` while it runs, and at its end
    the final weights and ``result.json``, after which the backup is dropped. The run
    writes ``recipe.json`` (with the model configs it resolves to) and ``summary.json``;
    ``RunDir(model_dir)`` reads them back (see ``RunDir`` for the layout).
    ``verbose`` is Keras' ``fit`` verbosity; ``"auto"`` prints one line per epoch when
    stdout is not a terminal (see ``fit_verbosity``). ``mirror`` is where a zoo teacher
    (``teacher_weights`` naming a zoo model) is downloaded from (see ``zoo.download``).

    Returns:
        The run's summary: each stage's result, and the final model's test top-1 and cost.
    """
    run = _begin(recipe, model_dir, strategy, data_dir, verbose, mirror)
    stages = tuple(run.stage(stage) for stage in recipe.stages())
    summary = RunSummary(recipe.name, stages, run.final())
    run.dir.write_summary(summary)
    return summary


def train_until(
    recipe: Recipe,
    model_dir: str | Path,
    last_stage: str,
    strategy="auto",
    data_dir: str | None = None,
    verbose: int | str = "auto",
    mirror: str | os.PathLike | None = None,
) -> StageResult:
    """``train``, up to and including the stage ``last_stage``: e.g. only the step 1 that
    other runs start from (``step1_run``). ``train`` with the same recipe and directory
    goes on from there."""
    stages = recipe.stages()
    last = stages.index(recipe.stage(last_stage))
    run = _begin(recipe, model_dir, strategy, data_dir, verbose, mirror)
    return [run.stage(stage) for stage in stages[: last + 1]][-1]


def _begin(recipe, model_dir, strategy, data_dir, verbose, mirror) -> _Run:
    """The run set up, checked against what its directory began with, its recipe written."""
    run = _Run(recipe, check_output_dir(model_dir), strategy, data_dir, verbose, mirror)
    run.dir.path.mkdir(parents=True, exist_ok=True)
    run.dir.check_recipe(run.pinned)
    if not run.dir.recipe_file.exists():
        # A resumed run keeps recipe.json as it began: rewritten by newer code (with newer
        # keys at their defaults), it could no longer be read by the version that wrote it.
        run.dir.write_recipe(run.pinned)
    return run
