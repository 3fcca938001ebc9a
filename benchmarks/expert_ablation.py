"""Do experts pay? 1 expert against 4 at the same BOPs, and what the 4 need, per seed.

Every variant trains ``ebnet_fmnist`` with one recipe (``--recipe``, default the short
``fmnist_proxy``; the full comparison uses ``fmnist_experts``). Per seed, the 1-expert
run trains step 1 and every other variant starts its step 3 from that step 1
(``step1_run``): step 1 is one expert whatever N is, so the variants differ only where
they should. ``--step1_root`` starts every variant, the 1-expert one too, from the step 1
of another setting's 1-expert runs (to change only steps 3 and 4, e.g. with mixup). Runs
resume; a finished run is rescored once and kept as a record in the repository
(``benchmarks/records/expert_ablation/SETTING/seedN/VARIANT.json``, ``benchmarks.records``),
so a table can gather seeds trained on machines whose run directories are gone. A run with
a record is not trained again: delete the record to retrain or rescore it. ``--recorded``
trains nothing and tables only the recorded runs (a dash where a seed has none), e.g. when
seeds hold different variants. Each seed's step 1 is kept there too (``seedN/e1_step1``,
e1's recipe and step 1): on a machine without e1's run directory every variant, e1 too,
starts from it, so pairs trained on different machines still share their step 1 (each
record names its step 1's digest).

Paired statistics: per seed, every other variant is paired with that seed's ``e1``, or
with its own 1-expert twin (``TWINS``, e.g. the stem-routed model with ``e1_stem_held``)
when that is run too. Both finished runs' final models are rescored on the test images in
their fixed order, and the table gives each seed's discordant images (only the variant
right : only the twin right), the McNemar exact two-sided p-value of the pair (the noise of
the finite test set for those two trained models), and the margin over the twin in points,
its mean over seeds with a Student-t 95% interval (the noise between seeds; none with one
seed).

Collapse: each run's most collapsed gated layer at step 4's end, the share of the
validation images its busiest expert takes (``usage_top_share`` of ``ExpertUsageLog``, the
last row of ``step4/metrics.csv``). Routing: the gates' usage entropy at the end of steps 3
and 4 (mean of the gated layers, bits) and how many images change expert an epoch in
step 3 (``route_changes``, mean of the layers and epochs); each record keeps them per layer.

    python -m benchmarks.expert_ablation --variants e1,e4_partition,e4_kernel_mix
    python -m benchmarks.expert_ablation --recipe fmnist_experts --variants e1,e4_kernel_mix \\
        --seeds 0,1 --root runs/experts
    python -m benchmarks.expert_ablation --recipe fmnist_experts --variants e1,e4_kernel_mix \\
        --model_override 'widths=[32,64,128]' --root runs/experts   # a narrower student
    python -m benchmarks.expert_ablation --recipe fmnist_experts --variants e1,e4_kernel_mix \\
        --override mixup=0.2 --step1_root runs/experts/fmnist_experts --root runs/experts
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.records import RECORDS, RunRecord, file_digest
from benchmarks.report import margin_cell, markdown_table, write_section
from ebn_tf import data
from ebn_tf.analysis.paired import McNemar, mcnemar_exact, predictions_correct
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.training import RunDir, RunSummary, get_recipe, train, train_until
from ebn_tf.training.run_dir import epoch_rows

BASELINE = "e1"
# Each variant names its gate start: the presets' default became the clusters start after
# these runs began, and a run is read back only with the config it began with.
GLOROT = {"gate_initializer": "glorot_uniform"}
VARIANTS = {
    BASELINE: {"num_experts": 1, **GLOROT},
    "e4_partition": {"num_experts": 4, "execution": "partition", **GLOROT},
    "e4_kernel_mix": {"num_experts": 4, "execution": "kernel_mix", **GLOROT},
    "e4_kernel_mix_sigmoid": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_activation": "sigmoid",
        **GLOROT,
    },
    "e4_kernel_mix_release": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_initializer": "release",
    },
    "e4_kernel_mix_sigmoid_release": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_activation": "sigmoid",
        "gate_initializer": "release",
    },
    "e4_kernel_mix_clusters": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_initializer": "clusters",
    },
    # The clusters start with a usage-balancing loss against the first layers' collapse
    # (issue 28). 0.001: on seed 0's trained gates its gradient is ~2.5x the cross
    # entropy's in the collapsed first layer and below it in the balanced ones.
    "e4_kernel_mix_clusters_balanced": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_initializer": "clusters",
        "usage_balance": 0.001,
    },
    # Routes from features that do not train (issue 28, deliverable 7): one router on the
    # stem's output, clusters start, stem and router held from step 3 on.
    "e4_kernel_mix_clusters_stem_routed": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_initializer": "clusters",
        "routing": "stem",
    },
    # Its twin: 1 expert, the stem held from step 3 on as the routed model's is.
    "e1_stem_held": {"num_experts": 1, "routing": "stem", **GLOROT},
    "e4_mask_sum": {"num_experts": 4, "execution": "mask_sum", **GLOROT},
}
# A variant trained unlike e1 beyond its experts is paired with its own 1-expert twin,
# when that twin is among the variants run.
TWINS = {"e4_kernel_mix_clusters_stem_routed": "e1_stem_held"}


def twin_of(variant: str, variants: list[str]) -> str:
    """The variant ``variant`` is paired with: its own twin if run, else e1."""
    twin = TWINS.get(variant)
    return twin if twin in variants else BASELINE


def setting(args) -> str:
    """The recipe and its overrides as a name for run directories and the report section."""
    overrides = [*args.override, *args.model_override]
    shared = ["sharedstep1"] if args.step1_root else []
    return "_".join([args.recipe, *(re.sub(r"[^\w.]+", "", o) for o in overrides), *shared])


def model_overrides(args, variant: str) -> dict:
    """The variant's config fields, then ``--model_override KEY=VALUE`` on every variant
    (VALUE is JSON, or else a plain string, as for recipe overrides)."""
    fields = dict(VARIANTS[variant])
    for assignment in args.model_override:
        key, sep, text = assignment.partition("=")
        if not sep:
            raise SystemExit(f"--model_override {assignment!r} is not KEY=VALUE.")
        try:
            fields[key] = json.loads(text)
        except json.JSONDecodeError:
            fields[key] = text
    return fields


def run_path(args, seed: int, variant: str) -> Path:
    """The run directory of ``variant`` for ``seed``."""
    return Path(args.root) / setting(args) / f"seed{seed}" / variant


def seed_records(args, seed: int) -> Path:
    """Where the seed's records are kept in the repository (``benchmarks/records``)."""
    return RECORDS / "expert_ablation" / setting(args) / f"seed{seed}"


def record_path(args, seed: int, variant: str) -> Path:
    return seed_records(args, seed) / f"{variant}.json"


def finished_record(args, seed: int, variant: str) -> RunRecord:
    """The run's record; without one, train the run (or resume it), rescore its final
    model on the test images and record it."""
    path = record_path(args, seed, variant)
    record = RunRecord.load(path)
    if record is not None:
        return record
    ensure_step1(args, seed)
    step1 = RunDir(step1_run(args, seed, variant) or run_path(args, seed, variant))
    summary = run_variant(args, seed, variant)
    run = run_path(args, seed, variant)
    correct = rescored_correct(run)
    check_rescored(variant, seed, correct, 100 * summary.final.test_accuracy)
    record = RunRecord(
        test=100 * summary.final.test_accuracy,
        step3=100 * summary.stage("step3").val_accuracy,
        minutes=summary.seconds / 60,
        collapse=most_collapsed(run),
        gates=gate_behaviour(run),
        correct=correct,
        recipe=json.loads(RunDir(run).recipe_file.read_text()),
        step1=file_digest(step1.weights("step1")),
    )
    record.save(path)
    return record


def variant_recipe(args, seed: int, variant: str):
    overrides = [
        "model=ebnet_fmnist",
        f"seed={seed}",
        f"model_overrides={json.dumps(model_overrides(args, variant))}",
        *args.override,
    ]
    step1 = step1_run(args, seed, variant)
    if step1 is not None:
        overrides.append(f"step1_run={step1}")
    return get_recipe(args.recipe, overrides)


def step1_record(args, seed: int) -> Path:
    """The seed's step 1 as kept in the repository: a run directory holding only e1's
    ``recipe.json`` and ``step1/`` (2.4 MB for ``ebnet_fmnist``), from which machines
    whose runs are gone start their variants."""
    return seed_records(args, seed) / "e1_step1"


def step1_run(args, seed: int, variant: str) -> Path | None:
    """The run whose step 1 the variant starts from (None: the variant trains its own):
    e1's run where it has its step 1 (e1 trains it), else the recorded step 1."""
    if args.step1_root:
        return Path(args.step1_root) / f"seed{seed}" / BASELINE
    own = run_path(args, seed, BASELINE)
    if not has_step1(own) and has_step1(step1_record(args, seed)):
        return step1_record(args, seed)
    return None if variant == BASELINE else own


def has_step1(run: Path) -> bool:
    return RunDir(run).weights("step1").exists()


def ensure_step1(args, seed: int) -> None:
    """The seed's shared step 1, trained here (e1's run, stopped after step 1) when
    neither e1's run directory nor the repository has it, then kept in the repository."""
    if args.step1_root:
        return
    own, record = run_path(args, seed, BASELINE), step1_record(args, seed)
    if not has_step1(own) and not has_step1(record):
        recipe = variant_recipe(args, seed, BASELINE)
        train_until(recipe, own, "step1", verbose=2, mirror=zoo_mirror())
    if has_step1(own) and not has_step1(record):
        keep_step1(RunDir(own), RunDir(record))


def keep_step1(run: RunDir, record: RunDir) -> None:
    """Copy the run's recipe and finished step 1 into ``record``, all or nothing."""
    partial = record.path.with_name(record.path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    files = [run.recipe_file, run.weights("step1"), run.result_file("step1")]
    for file in files:
        target = partial / file.relative_to(run.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
    shutil.rmtree(record.path, ignore_errors=True)
    partial.rename(record.path)


def run_variant(args, seed: int, variant: str) -> RunSummary:
    recipe = variant_recipe(args, seed, variant)
    return train(recipe, run_path(args, seed, variant), verbose=2, mirror=zoo_mirror())


def rescored_correct(path: Path) -> np.ndarray:
    """Per-image correctness of the finished run's final model on the test split, in the
    split's fixed order (unshuffled), so two runs' results pair image for image."""
    run = RunDir(path)
    recipe = run.recipe()
    test = data.load(
        recipe.dataset,
        "test",
        500,
        shuffle=False,
        augment=False,
        validation_fraction=recipe.validation_fraction,
    )
    return predictions_correct(run.model(), test)


def most_collapsed(path: Path) -> tuple[str, float] | None:
    """The gated layer whose busiest expert takes the largest share of the validation
    images at the end of step 4, and that share in %; None for a run without gates."""
    last = epoch_rows(RunDir(path).metrics_file("step4"))[-1]
    shares = {
        key.removeprefix("usage_top_share/"): 100 * float(value)
        for key, value in last.items()
        if key.startswith("usage_top_share/")
    }
    return max(shares.items(), key=lambda item: item[1]) if shares else None


def gate_behaviour(path: Path) -> dict | None:
    """Per stage (steps 3 and 4), each gated layer's usage entropy at the stage's end (bits)
    and its mean share of images that changed expert an epoch (%), as ``RunRecord.gates``
    keeps them; None for a run without gates."""
    behaviour = {}
    for stage in ("step3", "step4"):
        rows = epoch_rows(RunDir(path).metrics_file(stage))
        layers = [
            k.removeprefix("usage_entropy/") for k in rows[-1] if k.startswith("usage_entropy/")
        ]
        if not layers:
            return None
        behaviour[stage] = {
            "entropy": {layer: float(rows[-1][f"usage_entropy/{layer}"]) for layer in layers},
            "route_changes": {
                layer: 100 * float(np.mean([float(row[f"route_changes/{layer}"]) for row in rows]))
                for layer in layers
            },
        }
    return behaviour


def layers_mean(gates: dict, stage: str, metric: str) -> float:
    """The mean over the gated layers of one recorded ``RunRecord.gates`` metric."""
    return float(np.mean(list(gates[stage][metric].values())))


def routing_columns(runs: list[RunRecord | None]) -> list[str]:
    """Per seed: the usage entropy at the end of step 3 → step 4 and the images changing
    expert an epoch in step 3 (means of the gated layers); a dash for a run without gates."""
    gated = [None if run is None else run.gates for run in runs]
    return [
        per_seed(
            gated,
            lambda g: " → ".join(f"{layers_mean(g, s, 'entropy'):.2f}" for s in ("step3", "step4")),
        ),
        per_seed(gated, lambda g: f"{layers_mean(g, 'step3', 'route_changes'):.1f}"),
    ]


def per_seed(values: list, text) -> str:
    """``text(value)`` of each seed's value, a dash for a seed without one."""
    return " / ".join("-" if value is None else text(value) for value in values)


def paired_columns(pairs: list[tuple[McNemar, bool] | None]) -> list[str]:
    """From each seed's pair (its McNemar test, and whether the two runs started from
    different step 1 runs): the margin with its 95% interval over the seeds that have the
    pair, each seed's McNemar p and discordant counts (marked † where the step 1 runs
    differ); dashes for e1 itself and for a seed without the pair."""
    margins = [pair.margin for pair, _ in filter(None, pairs)]
    if not margins:
        return ["-", "-", "-"]
    return [
        margin_cell(margins),
        per_seed(pairs, lambda pair: f"{pair[0].p_value:.2g}"),
        per_seed(pairs, lambda pair: f"{pair[0].a_only}:{pair[0].b_only}{' †' if pair[1] else ''}"),
    ]


def check_rescored(variant: str, seed: int, correct: np.ndarray, test: float) -> None:
    """Warn if the rescored final model's top-1 is not the run's own test top-1 (more than
    an image apart): the paired statistics would then be about another model."""
    rescored = 100 * correct.mean()
    if abs(rescored - test) > 100 * 1.5 / correct.size:
        print(
            f"WARNING: {variant} seed {seed} rescores to {rescored:.2f}% on the test images, "
            f"its run reported {test:.2f}%.",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fmnist_proxy")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--override", action="append", default=[], help="KEY=VALUE, every run")
    parser.add_argument(
        "--model_override", action="append", default=[], help="config KEY=VALUE, every variant"
    )
    parser.add_argument("--root", default="runs/ablation")
    parser.add_argument(
        "--step1_root", help="a setting's directory whose seedN/e1 runs give every variant step 1"
    )
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="train nothing: table the recorded runs only, a dash where a seed has none",
    )
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or variants[0] != BASELINE:
        parser.error(
            f"--variants must start with {BASELINE} and name known variants {list(VARIANTS)}"
        )
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results = {variant: [] for variant in variants}
    pairs = {variant: [] for variant in variants}  # (McNemar, step 1 runs differ) a seed
    for seed in seeds:
        records = {
            variant: RunRecord.load(record_path(args, seed, variant))
            if args.recorded
            else finished_record(args, seed, variant)
            for variant in variants
        }
        for variant, record in records.items():
            results[variant].append(record)
            print(f"{variant} seed {seed}: {record or 'not recorded'}", flush=True)
        for variant in variants[1:]:
            twin = twin_of(variant, variants)
            if records[variant] is None or records[twin] is None:
                pairs[variant].append(None)
                continue
            pair = mcnemar_exact(records[variant].correct, records[twin].correct)
            pairs[variant].append((pair, records[variant].step1 != records[twin].step1))
            print(
                f"{variant} vs {twin} seed {seed}: margin {pair.margin:+.2f}, only "
                f"{variant} {pair.a_only}, only {twin} {pair.b_only}, McNemar p "
                f"{pair.p_value:.3g}",
                flush=True,
            )
    rows = []
    for variant, runs in results.items():
        recorded = [r for r in runs if r is not None]
        if not recorded:
            print(f"{variant}: no seed recorded, left out of the table", flush=True)
            continue
        twin = twin_of(variant, variants)
        rows.append(
            [
                variant,
                json.dumps(model_overrides(args, variant)),
                f"{np.mean([r.test for r in recorded]):.2f}",
                "-" if variant == BASELINE else twin,
                per_seed(runs, lambda r: f"{r.test:.2f}"),
                f"{np.mean([r.step3 for r in recorded]):.2f}",
                per_seed(runs, lambda r: f"{r.minutes:.0f}"),
                per_seed(
                    runs, lambda r: f"{r.collapse[1]:.0f} ({r.collapse[0]})" if r.collapse else "-"
                ),
                *routing_columns(runs),
                *paired_columns(pairs[variant]),
            ]
        )
    header = [
        "variant",
        "model overrides",
        "test top-1 % (mean of the seeds run)",
        "paired with",
        "per seed",
        "step 3 val % (mean)",
        "minutes per seed",
        "most collapsed layer, step 4: busiest expert % per seed",
        "usage entropy, bits (2: even over 4), end of step 3 → step 4, mean of layers, per seed",
        "images changing expert an epoch in step 3, % (mean of layers), per seed",
        "margin vs its pair [95% CI]",
        "McNemar p per seed",
        "only it : only its pair right, per seed",
    ]
    table = markdown_table(header, rows)
    print(table)
    extra = " ".join(f"`{o}`" for o in [*args.override, *args.model_override]) or "none"
    step1 = (
        f"the step 1 of `{args.step1_root}`'s 1-expert runs (only steps 3 and 4 are counted)"
        if args.step1_root
        else "the seed's shared step 1, e1's (e1's minutes include it where e1 trained it)"
    )
    write_section(
        f"expert_ablation_{setting(args)}",
        f"Do experts pay? `{setting(args)}` on ebnet_fmnist",
        f"Seeds {seeds}; overrides on every run: {extra}. Per seed, every variant starts step 3 "
        f"from {step1}; test top-1 on the 10,000 test images. Paired per seed with "
        f"{BASELINE}, or with the variant's own 1-expert twin where it is run, both final "
        "models rescored on the test images: the margin in points, its "
        "mean over seeds with a Student-t 95% interval (the spread between seeds; none with "
        "one seed); McNemar's exact two-sided p of each seed's pair (the noise of the finite "
        "test set for those two trained models, not between seeds), from the images only "
        "one of the two gets right (variant : its pair; † where the two started from "
        "different step 1 runs, trained again on another machine). Routing from each run's "
        "metrics.csv (the validation images each epoch): usage entropy at the end of steps 3 "
        "and 4 and the share of images sent to another expert than at the previous epoch's "
        "end; a dash for a run without gates. Runs are read from their "
        "records (`benchmarks/records`)"
        + ("; only recorded runs are tabled, a dash where a seed has none" if args.recorded else "")
        + ".\n\n"
        + table,
        f"python -m benchmarks.expert_ablation --recipe {args.recipe} --variants {args.variants} "
        f"--seeds {args.seeds} --root {args.root}"
        + "".join(f" --override '{o}'" for o in args.override)
        + "".join(f" --model_override '{o}'" for o in args.model_override)
        + (f" --step1_root {args.step1_root}" if args.step1_root else "")
        + (" --recorded" if args.recorded else ""),
    )


if __name__ == "__main__":
    main()
