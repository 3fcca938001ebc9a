"""Training-step time of EBNet presets with 1, 2, 4 and 8 experts, partitioned vs mask-sum.

Every variant is built first; then the steps are timed round-robin (one step of each
variant per round) so drift of the shared machine hits all of them alike. Reports the
median step time and its ratio to the 1-expert model of the same preset.

    python benchmarks/expert_scaling.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ebn_tf
from benchmarks.report import markdown_table, write_section
from ebn_tf._keras import keras

PRESETS = {"ebnet_fmnist": 256, "ebnet_cifar": 128}
EXPERTS = (1, 2, 4, 8)


def make_step(preset: str, batch: int, **overrides):
    model = ebn_tf.models.build(preset, **overrides)
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, *model.input_shape[1:])).astype("float32")
    labels = rng.integers(0, model.output_shape[-1], batch)
    return lambda: model.train_on_batch(images, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rows = []
    for preset, batch in PRESETS.items():
        variants = {(n, "partition"): {} for n in EXPERTS}
        variants[(4, "mask_sum")] = {}
        for n, execution in variants:
            variants[(n, execution)] = make_step(preset, batch, num_experts=n, execution=execution)
        times = {key: [] for key in variants}
        for round_ in range(args.rounds + 2):
            for key, step in variants.items():
                start = time.perf_counter()
                step()
                if round_ >= 2:  # the first rounds trace and warm up
                    times[key].append(time.perf_counter() - start)
        base = np.median(times[(1, "partition")])
        for (n, execution), samples in times.items():
            median = np.median(samples)
            rows.append(
                [
                    preset,
                    batch,
                    n,
                    execution,
                    f"{1000 * median:.1f}",
                    f"{median / base:.2f}x",
                    f"{batch / median:.0f}",
                ]
            )
    header = [
        "preset",
        "batch",
        "experts",
        "execution",
        "step ms (median)",
        "vs 1 expert",
        "images/s",
    ]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        "expert_scaling",
        "EBConv training step: cost of experts",
        f"{args.rounds} timed `train_on_batch` steps per variant, round-robin; goal: 4 experts "
        "at most 1.3x the 1-expert step (the naive mask-sum form is about 4x per conv).\n\n"
        + table,
        "python benchmarks/expert_scaling.py",
    )


if __name__ == "__main__":
    main()
