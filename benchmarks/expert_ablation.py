"""Do experts pay? 1 expert against 4 at the same BOPs, and what the 4 need, per seed.

Every variant trains ``ebnet_fmnist`` with one recipe (``--recipe``, default the short
``fmnist_proxy``; the full comparison uses ``fmnist_experts``). Per seed, the 1-expert
run trains step 1 and every other variant starts its step 3 from that step 1
(``step1_run``): step 1 is one expert whatever N is, so the variants differ only where
they should. ``--step1_root`` starts every variant, the 1-expert one too, from the step 1
of another setting's 1-expert runs (to change only steps 3 and 4, e.g. with mixup). Runs
resume; finished ones are read back from their ``summary.json``.

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
import time
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.training import get_recipe, train

BASELINE = "e1"
VARIANTS = {
    BASELINE: {"num_experts": 1},
    "e4_partition": {"num_experts": 4, "execution": "partition"},
    "e4_kernel_mix": {"num_experts": 4, "execution": "kernel_mix"},
    "e4_kernel_mix_sigmoid": {
        "num_experts": 4,
        "execution": "kernel_mix",
        "gate_activation": "sigmoid",
    },
    "e4_mask_sum": {"num_experts": 4, "execution": "mask_sum"},
}


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


def run_variant(args, seed: int, variant: str) -> dict:
    root = Path(args.root) / setting(args) / f"seed{seed}"
    overrides = [
        "model=ebnet_fmnist",
        f"seed={seed}",
        f"model_overrides={json.dumps(model_overrides(args, variant))}",
        *args.override,
    ]
    if args.step1_root:
        overrides.append(f"step1_run={Path(args.step1_root) / f'seed{seed}' / BASELINE}")
    elif variant != BASELINE:
        overrides.append(f"step1_run={root / BASELINE}")
    recipe = get_recipe(args.recipe, overrides)
    return train(recipe, root / variant, verbose=2, mirror=zoo_mirror())


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
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or variants[0] != BASELINE:
        parser.error(
            f"--variants must start with {BASELINE} and name known variants {list(VARIANTS)}"
        )
    seeds = [int(seed) for seed in args.seeds.split(",")]
    results = {variant: [] for variant in variants}
    for seed in seeds:
        for variant in variants:
            start = time.perf_counter()
            summary = run_variant(args, seed, variant)
            stages = {s["name"]: s for s in summary["stages"]}
            results[variant].append(
                {
                    "test": 100 * summary["final"]["test_accuracy"],
                    "step3": 100 * stages["step3"]["val_accuracy"],
                    "minutes": sum(s["seconds"] for s in summary["stages"]) / 60,
                }
            )
            seconds = time.perf_counter() - start
            print(f"{variant} seed {seed}: {results[variant][-1]} ({seconds:.0f} s)", flush=True)
    base = np.mean([r["test"] for r in results[BASELINE]])
    rows = []
    for variant, runs in results.items():
        tests = [r["test"] for r in runs]
        rows.append(
            [
                variant,
                json.dumps(model_overrides(args, variant)),
                f"{np.mean(tests):.2f}",
                f"{np.mean(tests) - base:+.2f}",
                " / ".join(f"{t:.2f}" for t in tests),
                f"{np.mean([r['step3'] for r in runs]):.2f}",
                " / ".join(f"{r['minutes']:.0f}" for r in runs),
            ]
        )
    header = [
        "variant",
        "model overrides",
        "test top-1 % (mean)",
        "vs 1 expert",
        "per seed",
        "step 3 val % (mean)",
        "minutes per seed",
    ]
    table = markdown_table(header, rows)
    print(table)
    extra = " ".join(f"`{o}`" for o in [*args.override, *args.model_override]) or "none"
    step1 = (
        f"the step 1 of `{args.step1_root}`'s 1-expert runs (only steps 3 and 4 are counted)"
        if args.step1_root
        else "the 1-expert run's step 1 (only e1's minutes include step 1)"
    )
    write_section(
        f"expert_ablation_{setting(args)}",
        f"Do experts pay? `{setting(args)}` on ebnet_fmnist",
        f"Seeds {seeds}; overrides on every run: {extra}. Per seed, every variant starts step 3 "
        f"from {step1}; test top-1 on the 10,000 test images.\n\n" + table,
        f"python -m benchmarks.expert_ablation --recipe {args.recipe} --variants {args.variants} "
        f"--seeds {args.seeds} --root {args.root}"
        + "".join(f" --override '{o}'" for o in args.override)
        + "".join(f" --model_override '{o}'" for o in args.model_override)
        + (f" --step1_root {args.step1_root}" if args.step1_root else ""),
    )


if __name__ == "__main__":
    main()
