"""Do our experts add usable capacity? Memorise shuffled labels: 1 expert against 4.

With the labels of a few thousand training images shuffled, nothing generalises: the
training top-1 a model reaches is what its weights can store. Per image count and seed,
one 1-expert step 1 (real weights, binary activations) is trained, and every variant
starts its step 3 from it (all experts copies of expert 0), trains the same number of
steps in step 3 (real weights) and step 4 (binary weights, from its step 3). After each
epoch the fit (top-1 on the memorised images, inference mode; on the first
``--fit_images`` of a larger set, an unbiased sample of it) and the usage entropy of every
gate (bits, over the first 1,024 images) and how many of those images changed expert
since the previous epoch are logged. ``--freeze`` holds parts fixed in steps 3-4, to test
what routing does to the fit: ``batchnorm`` (moving statistics in training too, so a
training step routes as inference does) and ``gates`` (each gate kept at its step-3
start, so routes move only as the features before it train), ``routes`` (each image
sent to the same expert of each layer all along, drawn at random once: routing that cannot
drift, which the gates do not decide) or ``start_routes`` (each image held on the experts
its gates chose at the stage's start: routes that depend on the image as learned ones do,
but cannot drift) or ``shared_start_routes`` (each image held, in every layer, on the
expert the first gated layer chose at the stage's start: one decision an image, as a
frozen stem and first gate would route, so N sub-networks behind a shared stem) or
``shared_routes`` (each image routed, in every layer, by the first gated layer's gate,
which trains unless ``gates`` holds it: one decision an image, whose drift is logged; the
other gates are unused) or ``stem`` (the stem does not train, its BatchNorms on their
moving statistics, as ``routing="stem"`` holds it: the 1-expert control of a routed
variant). Variants differ only in their model
fields (``e4_clusters_stem_routed``: one decision an image in its deployable form, an
``ExpertRouter`` on the stem's output, stem and router held by ``layers.hold_stem``),
but for ``RECENTRED`` ones, whose gates move back between clusters of their input
after each epoch; every one runs the released gate gradient (``kernel_mix``) and no
weight decay (it would cap what is stored). Finished stages are read back; an
interrupted run resumes at its last finished stage. Each finished variant's epoch rows are
kept in ``benchmarks/records/expert_capacity`` with the settings that made them and the
digest of the step 1 it started from: a recorded variant is never trained again, on any
machine (its run directory is not needed). A variant trained later for a recorded seed
whose step 1 is gone starts from a step 1 trained again, so its table cell is marked † where
that step 1 differs from its e1's: not a pair.

    python -m benchmarks.expert_capacity --sizes 8192 --epochs 12 --seeds 0,1,2 \\
        --variants e1,e4,e4_sigmoid_release --root runs/capacity
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks import records
from benchmarks.report import margin_cell, markdown_table, write_section
from ebn_tf import data, layers, models
from ebn_tf._keras import keras, tf
from ebn_tf.analysis.usage import training_routing_changes
from ebn_tf.layers.gate import CLUSTERS
from ebn_tf.outputs import write_atomic
from ebn_tf.training import WarmupStepDecay
from ebn_tf.training.run_dir import epoch_rows
from ebn_tf.training.usage_log import ExpertUsageLog

BASELINE = "e1"
# The glorot start unless a variant names another (the presets' default is "clusters").
COMMON = {"execution": "kernel_mix", "gate_initializer": "glorot_uniform"}
VARIANTS = {
    BASELINE: {"num_experts": 1},
    "e4": {"num_experts": 4},
    "e4_release": {"num_experts": 4, "gate_initializer": "release"},
    "e4_zeros": {"num_experts": 4, "gate_initializer": "zeros"},
    "e4_clusters": {"num_experts": 4, "gate_initializer": "clusters"},
    "e4_clusters_recentred": {"num_experts": 4, "gate_initializer": "clusters"},
    # One router on the stem's output routes every layer; stem and router are held.
    "e4_clusters_stem_routed": {
        "num_experts": 4,
        "gate_initializer": "clusters",
        "routing": "stem",
    },
    "e4_sigmoid": {"num_experts": 4, "gate_activation": "sigmoid"},
    "e4_sigmoid_release": {
        "num_experts": 4,
        "gate_activation": "sigmoid",
        "gate_initializer": "release",
    },
}
# Variants whose gates are recentred on their drifting input each epoch (``GateRecentring``
# on the scored images). Measured: it lowers the fit (BENCHMARKS.md
# expert_capacity_ebnet_fmnist_recentred).
RECENTRED = {"e4_clusters_recentred"}
STAGES = ("step3", "step4")
FREEZABLE = (
    "batchnorm",
    "gates",
    "routes",
    "start_routes",
    "shared_start_routes",
    "shared_routes",
    "stem",
)
FIXED_ROUTES = ("routes", "start_routes", "shared_start_routes")
ROUTE_MODES = (*FIXED_ROUTES, "shared_routes")
PLOT_NAME = "expert_capacity{}.png"
USAGE_IMAGES = 1024
DOCS = Path(__file__).resolve().parent.parent / "docs" / "analysis"
RECORDS = records.RECORDS / "expert_capacity"
# The flags a record's rows depend on besides its path (model, size, seed, variant, --freeze).
SETTINGS = ("model_overrides", "epochs", "batch_size", "learning_rate", "fit_images")


def memorise_set(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``size`` training images with their labels shuffled by ``seed``."""
    images, labels = [], []
    for x, y in data.load("fashion_mnist", "train", 1024, shuffle=False, augment=False, take=size):
        images.append(x.numpy())
        labels.append(y.numpy())
    labels = np.random.default_rng(seed).permutation(np.concatenate(labels))
    return np.concatenate(images), labels


class FitLog(keras.callbacks.Callback):
    """Adds ``fit``, the top-1 on (the first of) the memorised images in inference mode, to
    each epoch's logs (the training ``accuracy`` is taken in training mode, on batches as
    they go)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        super().__init__()
        self.images, self.labels = images, labels

    def on_epoch_end(self, epoch, logs=None):
        logits = self.model.predict(self.images, batch_size=512, verbose=0)
        logs["fit"] = float(np.mean(np.argmax(logits, -1) == self.labels))


class Run:
    """One image count and seed: the shared step 1, then each variant's steps 3 and 4."""

    def __init__(self, args, size: int, seed: int):
        self.args, self.size, self.seed = args, size, seed
        self.dir = Path(args.root) / f"{args.model}_{size}" / f"seed{seed}"
        self.record_dir = RECORDS / f"{args.model}_{size}" / f"seed{seed}"
        self.images, self.labels = memorise_set(size, seed)
        self.steps = args.epochs * (size // args.batch_size)

    def _inputs(self, routed: bool, count: int):
        """The first ``count`` images, with their indices when the routes are fixed."""
        return (self.images[:count], np.arange(count)) if routed else self.images[:count]

    def _dataset(self, stage_seed: int, routed: bool) -> tf.data.Dataset:
        return (
            tf.data.Dataset.from_tensor_slices((self._inputs(routed, self.size), self.labels))
            .shuffle(self.size, seed=stage_seed, reshuffle_each_iteration=True)
            .batch(self.args.batch_size, drop_remainder=True)
        )

    def _train(self, model, stage_dir: Path, stage_seed: int, callbacks=()) -> list[dict]:
        """Fit ``model`` for one stage, or load it if ``stage_dir`` holds its result."""
        weights, metrics = stage_dir / "final.weights.h5", stage_dir / "metrics.csv"
        if weights.exists():
            model.load_weights(weights)
            return epoch_rows(metrics)
        stage_dir.mkdir(parents=True, exist_ok=True)
        codes = self._route_codes(model)
        routed = codes is not None
        if routed:
            bits = [layers.usage_entropy_bits(np.bincount(c)) for c in codes.T]
            print(f"{stage_dir}: fixed routes, usage entropy {np.mean(bits):.2f} bits", flush=True)
        trainable = FixedRoutes(model, codes) if routed else model
        # Fixed routes are not the gates': their usage is not logged. Shared routes are
        # the first gate's: only its usage is.
        usage = []
        if not routed:
            log = FirstGateUsageLog if "shared_routes" in self.args.freeze else ExpertUsageLog
            usage = [log(model, self.images[:USAGE_IMAGES])]
        schedule = WarmupStepDecay(self.args.learning_rate, self.steps, 0.0, (0.5, 0.75))
        trainable.compile(
            keras.optimizers.Adam(schedule),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        tf.keras.utils.set_random_seed(stage_seed)
        history = trainable.fit(
            self._dataset(stage_seed, routed),
            epochs=self.args.epochs,
            callbacks=[
                FitLog(
                    self._inputs(routed, self.args.fit_images),
                    self.labels[: self.args.fit_images],
                ),
                *usage,
                *callbacks,
            ],
            verbose=0,
        )
        rows = [
            {"epoch": epoch, **{k: v[epoch] for k, v in history.history.items()}}
            for epoch in range(self.args.epochs)
        ]
        text = [",".join(rows[0])] + [",".join(str(v) for v in row.values()) for row in rows]
        write_atomic(metrics, "\n".join(text) + "\n")
        # Weights last: their file marks the stage done.
        model.save_weights(weights)
        return rows

    def _route_codes(self, model) -> np.ndarray | None:
        """Each image's expert per expert layer ``(size, layers)`` when ``--freeze`` fixes
        the routes (drawn at random, the gates' choice now, or the first gate's choice
        now in every layer), else None."""
        expert = layers.expert_layers(model)
        if expert[0].num_experts == 1 or not set(FIXED_ROUTES) & set(self.args.freeze):
            return None
        if "routes" in self.args.freeze:
            experts = [layer.num_experts for layer in expert]
            return np.random.default_rng(self.seed).integers(0, experts, (self.size, len(expert)))
        chosen = layers.selected_experts(model, self.images)
        if "shared_start_routes" in self.args.freeze:
            return np.repeat(chosen[expert[0].name][:, None], len(expert), axis=1)
        return np.stack([chosen[layer.name] for layer in expert], axis=1)

    def _build(self, variant: str):
        fields = {**COMMON, **VARIANTS[variant]}
        return models.build(self.args.model, **fields, **json.loads(self.args.model_overrides))

    @functools.cached_property
    def step1(self):
        """The seed's shared 1-expert step 1, trained (or read back) when first needed."""
        model = self._build(BASELINE)
        layers.set_forced_expert(model, 0)
        layers.set_binary_weights(model, False)
        self._train(model, self.dir / "step1", 1000 * self.seed)
        return model

    def variant(self, variant: str, stages) -> dict:
        """Steps 3 and 4 of ``variant`` from the shared step 1, as its record: each
        stage's epoch rows (``stages``, metric: float; a metric an epoch did not log is left
        out), the mean share of images whose expert differs between training and inference
        routing after step 3 (``routing``, 0 for 1 expert: nothing to choose) and the
        ``file_digest`` of the step 1 weights it started from (``step1``, None in records
        older than it). Read from its record if it has ``stages``, else trained (or read
        back from the run directory) and recorded.

        Raises:
            ValueError: its record was made with other settings.
        """
        path = self.record_dir / f"{variant}{frozen_suffix(self.args.freeze)}.json"
        settings = {name: getattr(self.args, name) for name in SETTINGS}
        if path.exists():
            record = json.loads(path.read_text())
            if record["settings"] != settings:
                raise ValueError(
                    f"The record {path} was made with {record['settings']}, not this run's "
                    f"{settings}. Fix: run with its settings, or delete it to train anew."
                )
            if set(stages) <= set(record["stages"]):
                return {"step1": None, **record}
        rows, routing = self._trained(variant, stages)
        record = {
            "settings": settings,
            "stages": {
                stage: [{k: float(v) for k, v in row.items() if v != ""} for row in epochs]
                for stage, epochs in rows.items()
            },
            "routing": routing,
            "step1": records.file_digest(self.dir / "step1" / "final.weights.h5"),
            "commit": records.current_commit(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record, indent=1) + "\n")
        return record

    def _trained(self, variant: str, stages) -> tuple[dict[str, list[dict]], float]:
        """``variant``'s stage rows and routing difference, trained or read back."""
        tf.keras.utils.set_random_seed(1000 * self.seed + 1)  # the gate's initial weights
        model = self._build(variant)
        layers.load_first_expert(model, self.step1)
        layers.set_binary_weights(model, False)
        layers.hold_stem(model)
        if VARIANTS[variant].get("gate_initializer") == CLUSTERS:
            layers.start_gates_on_clusters(model, self.images, self.seed)
        directory = self.dir / (variant + frozen_suffix(self.args.freeze))
        if "stem" in self.args.freeze:
            for layer in model.layers:
                if layer.name.startswith("stem"):
                    layer.trainable = False
        if "batchnorm" in self.args.freeze:
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    # Inference mode in training too: the gates see the moving statistics.
                    layer.trainable = False
        callbacks = [HoldGates(model)] if "gates" in self.args.freeze else []
        if "shared_routes" in self.args.freeze:
            share_first_routes(model)
        if variant in RECENTRED:
            callbacks.append(GateRecentring(model, self.images[: self.args.fit_images]))
        rows = {"step3": self._train(model, directory / "step3", 1000 * self.seed + 3, callbacks)}
        routing = np.nan  # with fixed routes, nothing the gates decide
        if not set(FIXED_ROUTES) & set(self.args.freeze):
            changes = training_routing_changes(
                model, self.images[: self.args.fit_images], self.args.batch_size
            )
            if "shared_routes" in self.args.freeze:
                changes = dict(list(changes.items())[:1])
            routing = float(np.mean(list(changes.values()))) if changes else np.nan
        if "step4" not in stages:
            return rows, routing
        if not (directory / "step4" / "final.weights.h5").exists():
            layers.absorb_kernel_magnitudes(model)
        layers.set_binary_weights(model, True)
        rows["step4"] = self._train(model, directory / "step4", 1000 * self.seed + 4, callbacks)
        return rows, routing


class FixedRoutes(keras.Model):
    """Trains ``model`` with image ``i`` sent to expert ``codes[i, j]`` of its ``j``-th
    expert layer: routing that cannot drift. Takes ``(images, their indices)``; every
    expert layer's gate is replaced by the codes."""

    def __init__(self, model, codes: np.ndarray):
        super().__init__()
        self.inner = model
        expert = layers.expert_layers(model)
        self.codes = tf.constant(codes, tf.int32)
        self.routes = [
            tf.Variable(tf.zeros([0], tf.int32), shape=[None], trainable=False) for _ in expert
        ]
        for layer, route in zip(expert, self.routes):
            layer._gate = functools.partial(_fixed_gate, layer.num_experts, route)

    def call(self, inputs, training=None):
        images, index = inputs
        for column, route in enumerate(self.routes):
            route.assign(tf.gather(self.codes[:, column], tf.cast(index, tf.int32)))
        return self.inner(images, training=training)


def _fixed_gate(
    experts: int, route: tf.Variable, inputs, training, routes
) -> tuple[tf.Tensor, tf.Tensor]:
    """EBConv2D's ``_gate`` with the routes read from ``route`` (one-hot, no gradient)."""
    index = tf.convert_to_tensor(route)
    return tf.one_hot(index, experts, dtype=inputs.dtype), index


def share_first_routes(model) -> None:
    """Routes every expert layer of ``model`` by its first one's gate: each call, the first
    layer's one-hot gate (with its straight-through gradient) and routes are reused by
    the layers after it, so their gate gradients train the first gate. Set before the
    model is traced; the layers run in order within each call."""
    first, *rest = layers.expert_layers(model)
    held = {}
    own = first._gate

    def first_gate(inputs, training, routes):
        held["gate"] = own(inputs, training, routes)
        return held["gate"]

    first._gate = first_gate
    for layer in rest:
        layer._gate = lambda inputs, training, routes: held["gate"]


class FirstGateUsageLog(ExpertUsageLog):
    """``ExpertUsageLog`` of the first gated layer only: with ``share_first_routes`` it
    routes every layer, and the other gates are unused."""

    def _gated_routes(self):
        return dict(list(super()._gated_routes().items())[:1])


class HoldGates(keras.callbacks.Callback):
    """Puts every gate back to its weights at the fit's start after each step: routes
    then move only as the features the gates read change."""

    def __init__(self, model):
        super().__init__()
        self.gates = [
            (w, w.numpy())
            for layer in layers.expert_layers(model)
            if layer.num_experts > 1
            for w in (layer.gate_kernel, layer.gate_bias)
        ]

    def on_train_batch_end(self, batch, logs=None):
        for weight, start in self.gates:
            weight.assign(start)


class GateRecentring(keras.callbacks.Callback):
    """At each epoch's end, moves every gate to the nearest-centroid rule of k-means
    clusters of its input over ``images``, started from the clusters it draws now
    (``ebn_tf.layers.recentre_gates``), and logs ``recentred/LAYER``, the share of the images
    the move sent to another expert. After ``ExpertUsageLog`` in the callback list, so the
    route changes it logs include the move's."""

    def __init__(self, model, images: np.ndarray):
        super().__init__()
        self.student, self.images = model, images

    def on_epoch_end(self, epoch, logs=None):
        for name, share in layers.recentre_gates(self.student, self.images).items():
            logs[f"recentred/{name}"] = share


def frozen_suffix(frozen: list[str]) -> str:
    """``--freeze``'s run-directory and section suffix: "" or e.g. "_frozen_batchnorm"."""
    return "".join(f"_frozen_{part}" for part in FREEZABLE if part in frozen)


def seed_margin(fits: list[float], baseline: list[float]) -> str:
    """The mean over seeds of a variant's fit minus e1's of the same seed (same step 1),
    with its Student-t 95% interval when more than one seed ran; "-" with no seed."""
    return margin_cell(list(np.subtract(fits, baseline))) if len(fits) else "-"


def gate_cell(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """The mean over seeds of a gate measure, or "-" when no seed has one (1 expert has no
    gate; fixed routes are not the gates')."""
    values = [scale * v for v in values if not np.isnan(v)]
    return f"{np.mean(values):.{digits}f}" if values else "-"


def layer_mean(row: dict, metric: str) -> float:
    """Mean of ``metric/LAYER`` over the gated layers of one epoch's row; nan if none."""
    values = [float(v) for k, v in row.items() if k.startswith(f"{metric}/") and v != ""]
    return float(np.mean(values)) if values else float("nan")


def plot(curves: dict, sizes: list[int], stages, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for variant, runs in curves[size].items():
            fit = 100 * np.mean(runs, axis=0)
            ax.plot(np.arange(1, len(fit) + 1), fit, label=variant)
        for stage in range(1, len(stages)):
            ax.axvline(stage * len(fit) // len(stages) + 0.5, color="grey", linestyle=":")
        ax.set(
            title=f"{size} images, shuffled labels ({' | '.join(stages)})",
            xlabel="epoch",
            ylabel="fit: training top-1 % (mean over seeds)",
        )
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ebnet_fmnist")
    parser.add_argument("--model_overrides", default="{}", help="JSON config fields, every run")
    parser.add_argument("--sizes", default="2048")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="e1,e4")
    parser.add_argument("--epochs", type=int, default=40, help="per stage")
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--root", default="runs/capacity")
    parser.add_argument("--stages", default="step3,step4", help="step3, or step3,step4")
    parser.add_argument(
        "--freeze",
        default="",
        help=f"held fixed in steps 3-4, comma-separated, of {', '.join(FREEZABLE)} (at most "
        "one of the routes' modes; the module docstring says what each holds)",
    )
    parser.add_argument(
        "--tag", default="", help="appended to the BENCHMARKS.md section and plot names"
    )
    parser.add_argument(
        "--fit_images", type=int, default=2048, help="memorised images scored for the fit"
    )
    args = parser.parse_args()
    args.freeze = [part for part in args.freeze.split(",") if part]
    if set(args.freeze) - set(FREEZABLE) or len(set(ROUTE_MODES) & set(args.freeze)) > 1:
        parser.error(
            f"--freeze takes a comma-separated subset of {list(FREEZABLE)}, with at most one "
            f"of {list(ROUTE_MODES)}"
        )
    variants = args.variants.split(",")
    if variants[0] != BASELINE or set(variants) - set(VARIANTS):
        parser.error(f"--variants must start with {BASELINE} and name known {list(VARIANTS)}")
    stages = tuple(args.stages.split(","))
    if stages not in (("step3",), STAGES):
        parser.error("--stages must be step3 or step3,step4")
    sizes = [int(s) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, curves = [], {size: {v: [] for v in variants} for size in sizes}
    for size in sizes:
        finals = {v: {stage: [] for stage in stages} for v in variants}
        entropies = {v: [] for v in variants}
        drifts = {v: [] for v in variants}
        routings = {v: [] for v in variants}
        unpaired = {v: [] for v in variants}
        for seed in seeds:
            run = Run(args, size, seed)
            for variant in variants:
                record = run.variant(variant, stages)
                rows_by_stage = record["stages"]
                if variant == BASELINE:
                    e1_step1 = record["step1"]
                pair = (record["step1"], e1_step1)
                unpaired[variant].append(None not in pair and pair[0] != pair[1])
                routings[variant].append(record["routing"])
                for stage in stages:
                    finals[variant][stage].append(100 * float(rows_by_stage[stage][-1]["fit"]))
                entropies[variant].append(layer_mean(rows_by_stage["step3"][-1], "usage_entropy"))
                drifts[variant].append(
                    np.mean([layer_mean(r, "route_changes") for r in rows_by_stage["step3"]])
                )
                curves[size][variant].append(
                    [float(r["fit"]) for stage in stages for r in rows_by_stage[stage]]
                )
                print(
                    f"{size} images, seed {seed}, {variant}: fit "
                    + ", ".join(f"{s} {finals[variant][s][-1]:.2f}" for s in stages),
                    flush=True,
                )
        for variant in variants:
            cells = []
            for stage in stages:
                fits = finals[variant][stage]
                paired = [not u for u in unpaired[variant]]
                cells += [
                    f"{np.mean(fits):.2f}",
                    seed_margin(
                        np.compress(paired, fits), np.compress(paired, finals[BASELINE][stage])
                    ),
                    " / ".join(f"{f:.1f}{' †' * u}" for f, u in zip(fits, unpaired[variant])),
                ]
            rows.append(
                [
                    size,
                    variant,
                    *cells,
                    gate_cell(entropies[variant], digits=2),
                    gate_cell(drifts[variant], scale=100),
                    gate_cell(routings[variant], scale=100),
                ]
            )
    header = [
        "images",
        "variant",
        *(f"{c} {s}" for s in stages for c in ("fit %,", "vs e1 [95% CI],", "per seed,")),
        "gate entropy, end of step 3 (bits of 2)",
        "route changes per epoch, step 3 (%)",
        "routing differs, training vs inference, end of step 3 (%)",
    ]
    table = markdown_table(header, rows)
    print(table)
    suffix = frozen_suffix(args.freeze) + (f"_{args.tag}" if args.tag else "")
    held = {
        "batchnorm": "BatchNorm on its moving statistics (training routes as inference)",
        "gates": "gates held at their step-3 start",
        "routes": "each image sent to a fixed random expert of each layer",
        "start_routes": "each image held on the experts its gates chose at the stage's start",
        "shared_start_routes": "each image held, in every layer, on the expert the first gated "
        "layer chose at the stage's start",
        "shared_routes": "each image routed, in every layer, by the first gated layer's "
        "gate (the gate columns are its own)",
        "stem": "the stem held (BatchNorm on its moving statistics)",
    }
    plot(curves, sizes, stages, DOCS / PLOT_NAME.format(suffix))
    fields = {v: {**COMMON, **VARIANTS[v], **json.loads(args.model_overrides)} for v in variants}
    write_section(
        f"expert_capacity_{args.model}{suffix}",
        f"Do experts add capacity? Memorising shuffled labels, `{args.model}`"
        + "".join(f"; {held[part]} in steps 3-4" for part in FREEZABLE if part in args.freeze),
        f"Fit (training top-1 on the first {args.fit_images} memorised images, inference "
        f"mode) after {args.epochs} epochs of each of {', '.join(stages)} (step 3: real "
        "weights; step 4: binary weights, from step 3), batch "
        f"{args.batch_size}, Adam {args.learning_rate} /10 at half and three quarters, no "
        f"weight decay; seeds {seeds}; every variant from the seed's shared 1-expert step 1 "
        f"({args.epochs} epochs). Chance is 10%. vs e1: the mean over seeds of each seed's "
        "difference from e1 (the same step 1), with a Student-t 95% interval over seeds; † "
        "a seed whose variant started from another step 1 than its e1 (trained again where "
        "the first was gone): not a pair, left out of the margin. "
        f"Variants' fields: `{json.dumps(fields)}`"
        + (
            f"; {sorted(RECENTRED & set(variants))} also recentre their gates on k-means "
            "clusters of their input after each epoch (`GateRecentring` on "
            "the scored images). "
            if RECENTRED & set(variants)
            else ". "
        )
        + "Gate entropy: mean over gated layers of the usage entropy on 1,024 of the images. "
        "Route changes: mean over gated layers and step-3 epochs of the share of those "
        "images whose expert (inference routing) changed since the previous epoch's end. "
        "Routing differs: mean over gated layers of the share of the scored images sent to "
        "another expert by a training step (BatchNorm on batch statistics) than by inference "
        "(`ebn_tf.analysis.usage.training_routing_changes`). "
        f"Curves: `docs/analysis/{PLOT_NAME.format(suffix)}`.\n\n" + table,
        f"python -m benchmarks.expert_capacity --model {args.model} --model_overrides "
        f"'{args.model_overrides}' --sizes {args.sizes} --seeds {args.seeds} --variants "
        f"{args.variants} --epochs {args.epochs} --batch_size {args.batch_size} --fit_images "
        f"{args.fit_images} --stages {args.stages} --root {args.root}"
        + (f" --freeze {','.join(args.freeze)}" if args.freeze else "")
        + (f" --tag {args.tag}" if args.tag else ""),
    )


if __name__ == "__main__":
    main()
