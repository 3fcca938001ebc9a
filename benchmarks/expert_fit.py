"""Where do the experts' weights go? Fit against held-out top-1 of an expert_ablation setting.

For every seed and variant that ``benchmarks.expert_ablation`` finished under
``ROOT/SETTING``, the step-3 model (real-valued kernels) and the step-4 model (binary) are
scored on the training images it trained on, as stored (no augmentation; the first
``train_limit`` of them if the recipe sets one), the validation split and the test split.
Each variant is compared with its pair as in ``benchmarks.expert_ablation``: its own
1-expert twin where that ran (the stem-routed model with ``e1_stem_held``), else ``e1``.
Capacity that only fits shows as a train gain without a held-out one.

    python -m benchmarks.expert_fit --root runs/experts \\
        --setting fmnist_experts_teacher_weightsfmnist_teacher2_widths3264128_lcefalse
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.expert_ablation import BASELINE, twin_of
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
    rows, diffs = [], defaultdict(list)
    for seed_dir in seeds:
        runs = {v.name: RunDir(v) for v in sorted(seed_dir.iterdir()) if RunDir(v).finished}
        if BASELINE not in runs:
            continue
        for stage in STAGES:
            score = {variant: scores(run, stage) for variant, run in runs.items()}
            for variant in runs:
                pair = twin_of(variant, list(runs))
                if variant != BASELINE:
                    diffs[stage, variant].append(
                        [score[variant][s] - score[pair][s] for s in SPLITS]
                    )
                rows.append(
                    [seed_dir.name, stage, variant, "-" if variant == BASELINE else pair]
                    + [f"{score[variant][s]:.2f}" for s in SPLITS]
                    + [f"{score[variant][s] - score[pair][s]:+.2f}" for s in SPLITS]
                )
                print(" | ".join(rows[-1]), flush=True)
    header = ["seed", "stage", "variant", "paired with", *SPLITS, *(f"{s} vs pair" for s in SPLITS)]
    table = markdown_table(header, rows)
    print(table)
    gains = "; ".join(
        f"{variant}, {stage}: "
        + ", ".join(f"{split} {d:+.2f}" for split, d in zip(SPLITS, np.mean(diff, 0)))
        for (stage, variant), diff in diffs.items()
    )
    write_section(
        f"expert_fit_{args.setting}",
        f"Where the experts' weights go: fit and held-out top-1, `{args.setting}`",
        "Top-1 % of each finished variant of the ablation, after step 3 (real-valued kernels) "
        "and step 4 (binary), on the training images the run trained on, as stored (no "
        "augmentation; the first `train_limit` when the recipe sets one), the "
        "validation split and the test split. Each variant against its pair (its own 1-expert "
        f"twin where that ran, else {BASELINE}); mean difference over seeds: {gains}.\n\n" + table,
        f"python -m benchmarks.expert_fit --setting {args.setting} --root {args.root}",
    )


if __name__ == "__main__":
    main()
