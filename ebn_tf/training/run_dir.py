"""The directory of a training run: its layout, and reading it back."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ebn_tf import models
from ebn_tf._keras import keras
from ebn_tf.outputs import write_atomic
from ebn_tf.training.configs import (
    model_config,
    pin_stored_teacher,
    pin_zoo_teacher,
    run_configs,
    zoo_model_name,
)
from ebn_tf.training.recipe import Recipe

FINAL_WEIGHTS = "final.weights.h5"
STAGE_RESULT = "result.json"
# The key of recipe.json that holds the resolved model configs beside the recipe's fields.
MODEL_CONFIG = "model_config"


@dataclass(frozen=True)
class StageResult:
    """What a finished stage measured (its ``result.json``).

    Args:
        name: the stage (``teacher``, ``step1``, ...).
        epochs: epochs it trained.
        val_accuracy: top-1 of its final model on the validation split.
        seconds: wall time of its epochs, however often it was resumed (None: a stage
            finished before epochs were timed).
        train_images_per_second: its training speed (None when no time was recorded).
    """

    name: str
    epochs: int
    val_accuracy: float
    seconds: float | None = None
    train_images_per_second: float | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, stored: dict) -> StageResult:
        return cls(**_known_fields(cls, stored))


@dataclass(frozen=True)
class FinalResult:
    """The run's last model (the binary student, or the teacher of a teacher-only run).

    Args:
        test_accuracy: its top-1 on the test split.
        bops: binary operations per image (``cost.profile``).
        ops: operations per image, binary ones counted 1/64 (``cost.profile``).
        weights: the file of its final weights.
    """

    test_accuracy: float
    bops: int
    ops: int
    weights: str


@dataclass(frozen=True)
class RunSummary:
    """A finished run (its ``summary.json``): the recipe's name, every stage's result in
    order, and the final model's."""

    recipe: str
    stages: tuple[StageResult, ...]
    final: FinalResult

    def stage(self, name: str) -> StageResult:
        """The result of stage ``name``."""
        found = {s.name: s for s in self.stages}
        if name not in found:
            raise ValueError(f"The run of {self.recipe!r} has no stage {name!r}: {list(found)}.")
        return found[name]

    @property
    def seconds(self) -> float | None:
        """Wall time of every stage's epochs (None if a stage has no time recorded)."""
        times = [s.seconds for s in self.stages]
        return None if None in times else sum(times)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, stored: dict) -> RunSummary:
        return cls(
            stored["recipe"],
            tuple(StageResult.from_json(s) for s in stored["stages"]),
            FinalResult(**_known_fields(FinalResult, stored["final"])),
        )


def _known_fields(cls, stored: dict) -> dict:
    """The entries of ``stored`` that are fields of dataclass ``cls``: a record written
    before a field existed lacks it (its default applies), and a key no field reads any
    more is left out."""
    return {f.name: stored[f.name] for f in dataclasses.fields(cls) if f.name in stored}


def _field_defaults() -> dict:
    return {
        field.name: field.default
        for field in dataclasses.fields(Recipe)
        if field.default is not dataclasses.MISSING
    }


def _same_directory(a: str | None, b: str | None) -> bool:
    """Whether two paths, relative ones from the working directory, name the same existing
    directory (None only matches None)."""
    if a is None or b is None:
        return a == b
    return Path(a).is_dir() and Path(b).is_dir() and Path(a).samefile(b)


def _as_json(value):
    """``value`` as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(value))


def epoch_rows(metrics: Path) -> list[dict]:
    """The rows of a stage's ``metrics.csv``, one per epoch (none if it is missing)."""
    if not metrics.exists():
        return []
    with open(metrics, newline="") as f:
        return list(csv.DictReader(f))


class RunDir:
    """A run directory of ``ebn_tf.training.train``::

        recipe.json           the recipe's fields (a zoo teacher pinned to the version
                              the run began with: NAME@K), and "model_config": the
                              resolved config of the student and of the teacher it
                              trains or uses
        STAGE/                one per stage of ``recipe.stages()``: final.weights.h5 and
                              result.json (a StageResult) once finished; metrics.csv,
                              logs/ (TensorBoard); backup/ (the chief's checkpoint of
                              the last epoch) while it runs
        summary.json          a RunSummary, once the whole run is finished
        workerN/              the same, written by worker N of a cluster (the chief
                              writes the top level)

    Models are rebuilt from the stored configs, so editing a preset leaves finished runs
    as they were; a run written before configs were stored is rebuilt from its recipe.

    Example:
        >>> run = RunDir("runs/fmnist")
        >>> model = run.model()  # the final binary network with its weights
        >>> teacher = run.model("teacher")
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.json"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    def stage_dir(self, stage: str) -> Path:
        return self.path / stage

    def weights(self, stage: str) -> Path:
        """The final weights of ``stage`` (they exist once it is finished)."""
        return self.stage_dir(stage) / FINAL_WEIGHTS

    def result_file(self, stage: str) -> Path:
        """The result of ``stage``, written last: it marks the stage finished."""
        return self.stage_dir(stage) / STAGE_RESULT

    def metrics_file(self, stage: str) -> Path:
        """One row per epoch of ``stage`` (Keras' CSVLogger)."""
        return self.stage_dir(stage) / "metrics.csv"

    def logs_dir(self, stage: str) -> Path:
        """The TensorBoard logs of ``stage``."""
        return self.stage_dir(stage) / "logs"

    def backup_dir(self, stage: str) -> Path:
        """The per-epoch checkpoint of ``stage`` while it runs (Keras' BackupAndRestore)."""
        return self.stage_dir(stage) / "backup"

    def worker(self, task_id: int) -> RunDir:
        """Where worker ``task_id`` of a cluster writes its copies, apart from the chief."""
        return RunDir(self.path / f"worker{task_id}")

    def stage_result(self, stage: str) -> StageResult | None:
        """The result of ``stage``, None while it is not finished."""
        if not self.result_file(stage).exists():
            return None
        return StageResult.from_json(json.loads(self.result_file(stage).read_text()))

    def commit_stage(self, model: keras.Model, result: StageResult, backup: Path | None) -> None:
        """Complete a stage: its final weights, then its result file (which marks the stage
        done), then drop its backup (``backup`` None: a worker that does not own it).

        Until the result file exists, the backup still holds the last epoch, so a kill at
        any point leaves a stage that the rerun finishes without training it again.
        """
        model.save_weights(self.weights(result.name))
        write_atomic(self.result_file(result.name), json.dumps(result.to_json(), indent=2))
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)

    def _stored(self) -> dict:
        if not self.recipe_file.exists():
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({self.recipe_file} is missing); run it "
                "with the train app first."
            )
        return json.loads(self.recipe_file.read_text())

    def recipe(self) -> Recipe:
        """The recipe the run was trained with."""
        stored = self._stored()
        stored.pop(MODEL_CONFIG, None)
        return Recipe(**stored)

    def teacher_began_with(self) -> str | None:
        """The zoo teacher the run began with, pinned (``NAME@K``, see
        ``configs.pin_stored_teacher``); None before the run begins or when its teacher
        is no zoo model."""
        stored = self._stored().get("teacher_weights") if self.recipe_file.exists() else None
        if not zoo_model_name(stored):
            return None
        return pin_stored_teacher(stored, self.recipe_file)

    def model_config(self, kind: str) -> models.EBNetConfig:
        """The config of the run's ``"student"`` or ``"teacher"`` as it was resolved when
        the run began (a run written before configs were stored: as its recipe resolves
        today)."""
        stored = self._stored().get(MODEL_CONFIG, {})
        if kind in stored:
            return models.EBNetConfig(**stored[kind])
        return model_config(self.recipe(), kind)

    def built_config(self, stage: str) -> models.EBNetConfig:
        """The config the run's ``stage`` builds its model with (step 1: one expert)."""
        config = self.recipe().stage(stage)
        return config.built_config(self.model_config(config.model))

    def check_recipe(self, recipe: Recipe) -> None:
        """Raise if the directory holds a run of another recipe, or of other models than
        ``recipe`` resolves to today (a preset edited since): resuming would mix the two.
        Zoo teachers are compared pinned (``NAME`` is the version the run began with)."""
        if not self.recipe_file.exists():
            return
        before = self._stored()
        stored = before.pop(MODEL_CONFIG, None)
        # A run written before a recipe field existed trained with that field's default.
        before = {**_as_json(_field_defaults()), **before}
        began = self.teacher_began_with()
        recipe = pin_zoo_teacher(recipe, began)
        if began is not None:
            before["teacher_weights"] = began
        resolved = _as_json(recipe.to_json())
        if stored is not None:
            # The stored configs say what was built (compared below): overrides that spell
            # the same config (e.g. pinning a preset's former default) are the same run.
            del before["model_overrides"], resolved["model_overrides"]
        if _same_directory(before.get("step1_run"), resolved["step1_run"]):
            # The same step 1, named relative to another working directory or absolute.
            before["step1_run"] = resolved["step1_run"]
        if before != resolved:
            changed = sorted(k for k in resolved if before.get(k) != resolved[k])
            raise ValueError(
                f"{self.path} holds a run of another recipe (differs in {changed}); resuming "
                "it would mix the two. Fix: use a new --model_dir, or the run's own recipe "
                "and overrides."
            )
        configs = _as_json({k: c.to_json() for k, c in run_configs(recipe).items()})
        if stored is not None:
            # A config written before a field existed was built with that field's default.
            stored = _as_json({k: models.EBNetConfig(**c).to_json() for k, c in stored.items()})
        if stored is not None and stored != configs:
            changed = sorted(k for k in {*configs, *stored} if stored.get(k) != configs.get(k))
            raise ValueError(
                f"{self.path} holds a run whose {changed} model was built from another config "
                "than its recipe resolves to now (a preset was edited since); resuming it "
                "would mix the two. Fix: use a new --model_dir, or model_overrides that "
                f"restore the config it began with (stored in {self.recipe_file})."
            )

    def write_recipe(self, recipe: Recipe) -> None:
        """Write ``recipe``, its zoo teacher pinned, and the model configs it resolves to."""
        recipe = pin_zoo_teacher(recipe, self.teacher_began_with())
        configs = {kind: config.to_json() for kind, config in run_configs(recipe).items()}
        write_atomic(
            self.recipe_file, json.dumps({**recipe.to_json(), MODEL_CONFIG: configs}, indent=2)
        )

    @property
    def finished(self) -> bool:
        return self.summary_file.exists()

    def summary(self) -> RunSummary:
        """The summary of the finished run (see ``ebn_tf.training.train``)."""
        if not self.finished:
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({self.summary_file} is missing); run or "
                "resume it with the train app first."
            )
        return RunSummary.from_json(json.loads(self.summary_file.read_text()))

    def write_summary(self, summary: RunSummary) -> None:
        """Write ``summary``: it marks the run finished."""
        write_atomic(self.summary_file, json.dumps(summary.to_json(), indent=2))

    def trained_model(self, stage: str) -> keras.Model:
        """The model of the finished ``stage`` with its final weights, as the stage built it
        (not switched).

        A one-expert stage (step 1) written by a version that built step 1 with every
        expert holds all N experts: it is rebuilt as written, so such runs still resume
        and still start the step 3 of other runs (which reads only expert 0).
        """
        weights = self.weights(stage)
        if not weights.exists():
            raise FileNotFoundError(
                f"{self.path} holds no finished run ({weights} is missing); run or resume it "
                "with the train app first."
            )
        model = models.build(self.built_config(stage))
        try:
            model.load_weights(weights)
        except ValueError:
            config = self.recipe().stage(stage)
            if not config.one_expert:
                raise
            model = models.build(self.model_config(config.model))
            model.load_weights(weights)
        return model

    def model(self, stage: str | None = None) -> keras.Model:
        """The model of the finished ``stage`` with its final weights, switched as that stage
        trained it (step 1: expert 0 forced; steps 1 and 3: real-valued kernels); by default
        the last stage's (the binary student, or the teacher of a teacher-only run)."""
        recipe = self.recipe()
        try:
            config = recipe.stage(stage or recipe.stages()[-1].name)
        except ValueError as error:
            raise ValueError(f"The run in {self.path}: {error}") from None
        model = self.trained_model(config.name)
        if config.model == "student":
            config.switch(model)
        return model


def load_run(model_dir: str | os.PathLike) -> tuple[keras.Model, Recipe]:
    """The model a finished run ends with (the binary student, or the teacher of a
    teacher-only run), and the run's recipe."""
    run = RunDir(model_dir)
    return run.model(), run.recipe()
