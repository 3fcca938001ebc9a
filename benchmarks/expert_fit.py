"""Where do the experts' weights go? Fit against held-out top-1 of an expert_ablation setting.

For every seed and variant that ``benchmarks.expert_ablation`` finished under
``ROOT/SETTING``, the step-3 model (real-valued kernels) and the step-4 model (binary) are
scored on the training images it trained on, as stored (no augmentation; the first
``train_limit`` of them if the recipe sets one), the validation split and the test split.
Capacity that only fits shows as a train gain without a held-out one.

    python -m benchmarks.expert_fit --root runs/experts \\
        --setting fmnist_experts_teacher_weightsfmnist_teacher2_widths3264128_lcefalse
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.expert_ablation import BASELINE
from benchmarks.report import markdown_table, write_section
from ebn_tf import data
from ebn_tf.training import RunDir
from ebn_tf.zoo.loading import top1

SPLITS = ("train", "validation", "test")
STAGES = ("step3", "step4")


def scores(run: RunDir, stage: str) -> dict[str, float]:
    model = run.model(stage)
    recipe = run.recipe()
    return {
        split: 100
        * top1(
            model,
            data.load(
                recipe.dataset,
                split,
                500,
                shuffle=False,
                augment=False,
                # The images the run trained on: a train_limit run saw only the first ones.
                take=recipe.train_limit if split == "train" else None,
                validation_fraction=recipe.validation_fraction,
            ),
        )
        for split in SPLITS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", required=True, help="an expert_ablation run directory name")
    parser.add_argument("--root", default="runs/ablation")
    args = parser.parse_args()
    setting = Path(args.root) / args.setting
    seeds = sorted(setting.glob("seed*"))
    if not seeds:
        parser.error(f"{setting} holds no seed directories of benchmarks.expert_ablation")
    rows, diffs = [], {stage: [] for stage in STAGES}
    for seed_dir in seeds:
        runs = {v.name: RunDir(v) for v in sorted(seed_dir.iterdir()) if RunDir(v).finished}
        if BASELINE not in runs:
            continue
        for stage in STAGES:
            base = scores(runs[BASELINE], stage)
            for variant, run in runs.items():
                score = base if variant == BASELINE else scores(run, stage)
                if variant != BASELINE:
                    diffs[stage].append([score[s] - base[s] for s in SPLITS])
                rows.append(
                    [seed_dir.name, stage, variant]
                    + [f"{score[s]:.2f}" for s in SPLITS]
                    + [f"{score[s] - base[s]:+.2f}" for s in SPLITS]
                )
                print(" | ".join(rows[-1]), flush=True)
    header = ["seed", "stage", "variant", *SPLITS, *(f"{s} vs {BASELINE}" for s in SPLITS)]
    table = markdown_table(header, rows)
    print(table)
    gains = "; ".join(
        f"{stage}: "
        + ", ".join(f"{split} {d:+.2f}" for split, d in zip(SPLITS, np.mean(diffs[stage], 0)))
        for stage in STAGES
        if diffs[stage]
    )
    write_section(
        f"expert_fit_{args.setting}",
        f"Where the experts' weights go: fit and held-out top-1, `{args.setting}`",
        "Top-1 % of each finished variant of the ablation, after step 3 (real-valued kernels) "
        "and step 4 (binary), on the training images the run trained on, as stored (no "
        "augmentation; the first `train_limit` when the recipe sets one), the "
        "validation split and the test split. Mean difference of the expert variants from "
        f"{BASELINE}, per stage: {gains}.\n\n" + table,
        f"python -m benchmarks.expert_fit --setting {args.setting} --root {args.root}",
    )


if __name__ == "__main__":
    main()
