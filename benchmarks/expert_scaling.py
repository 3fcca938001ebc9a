"""Training-step time of EBNet presets with 1, 2, 4 and 8 experts, partitioned vs mask-sum.

Every variant is built first; then the variants take turns, a few steps each, so drift
of the shared machine hits all of them alike. Step times on this machine are bimodal:
now and then a step stalls to ~630 ms whatever its own length (seen with any model,
also with GC frozen), so the table gives the best step beside the median, and the
ratio to the 1-expert model of the same preset for both.

    python -m benchmarks.expert_scaling [--rounds 6]
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
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per turn")
    args = parser.parse_args()
    rows = []
    for preset, batch in PRESETS.items():
        variants = {(n, "partition"): None for n in EXPERTS} | {(4, "mask_sum"): None}
        for n, execution in variants:
            variants[(n, execution)] = make_step(preset, batch, num_experts=n, execution=execution)
        times = {key: [] for key in variants}
        for _ in range(args.rounds):
            for key, step in variants.items():
                step()  # the first call traces; later ones re-warm caches after a switch
                for _ in range(args.steps):
                    start = time.perf_counter()
                    step()
                    times[key].append(time.perf_counter() - start)
        base = {stat: stat(times[(1, "partition")]) for stat in (np.median, np.min)}
        for (n, execution), samples in times.items():
            median, best = np.median(samples), np.min(samples)
            rows.append(
                [
                    preset,
                    batch,
                    n,
                    execution,
                    f"{1000 * median:.0f}",
                    f"{median / base[np.median]:.2f}x",
                    f"{1000 * best:.0f}",
                    f"{best / base[np.min]:.2f}x",
                    f"{batch / median:.0f}",
                ]
            )
    header = [
        "preset",
        "batch",
        "experts",
        "execution",
        "median ms",
        "vs 1 expert",
        "best ms",
        "vs 1 expert (best)",
        "images/s (median)",
    ]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        "expert_scaling",
        "EBConv training step: cost of experts",
        f"{args.rounds} turns of {args.steps} timed `train_on_batch` steps per variant; goal: "
        "4 experts at most 1.3x the 1-expert step (the naive mask-sum form is about 4x per "
        "conv). Steps stall now and then to ~630 ms on this machine, so best and median are "
        "both given.\n\n" + table,
        "python -m benchmarks.expert_scaling",
    )


if __name__ == "__main__":
    main()
