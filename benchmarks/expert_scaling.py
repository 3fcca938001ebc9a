"""Training-step time of EBNet presets with 1 and 4 experts, per execution, with oneDNN on
and off.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` when it loads, so each setting runs in a worker
process of its own. Every variant is built first; then the workers take turns, one round
at a time, and within a round the variants take turns, a few steps each, so drift of the
shared machine hits all of them alike. Without oneDNN, TensorFlow has no CPU gradient for
grouped convolutions and ``EBConv2D`` runs one conv per group (``ebn_tf.layers.grouped_conv``).

    python -m benchmarks.expert_scaling [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

PRESETS = {"ebnet_fmnist": 256, "ebnet_cifar": 128}
# (experts, execution); the first is the baseline of each preset's ratios.
VARIANTS = ((1, "partition"), (4, "partition"), (4, "kernel_mix"), (4, "mask_sum"))
ONEDNN = ("1", "0")


def make_step(preset: str, batch: int, **overrides):
    import ebn_tf
    from ebn_tf._keras import keras

    model = ebn_tf.models.build(preset, **overrides)
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, *model.input_shape[1:])).astype("float32")
    labels = rng.integers(0, model.output_shape[-1], batch)
    return lambda: model.train_on_batch(images, labels)


def worker(steps: int) -> None:
    """Build every variant, then time one round per line read from stdin (JSON out).

    One thread: with two, step times on a shared VM snap to multiples of its scheduling
    quantum (seen here: medians of 629/629, 1272/1274 and 2551/2553 ms for variants whose
    single-thread times differ by 1.5x), which hides the ratios this measures.
    """
    from ebn_tf._keras import tf
    from ebn_tf.layers.grouped_conv import native_grouped_gradients

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    variants = {
        f"{preset}|{n}|{execution}": make_step(preset, batch, num_experts=n, execution=execution)
        for preset, batch in PRESETS.items()
        for n, execution in VARIANTS
    }
    formulation = "native" if native_grouped_gradients() else "per_group"
    print(json.dumps({"grouped_conv": formulation}), flush=True)
    for _ in sys.stdin:
        times = {}
        for key, step in variants.items():
            step()  # the first call traces; later ones re-warm caches after a switch
            times[key] = []
            for _ in range(steps):
                start = time.perf_counter()
                step()
                times[key].append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)


def measure(rounds: int, steps: int) -> tuple[dict, dict]:
    """Per oneDNN setting: the grouped-conv formulation used and every variant's step times."""
    workers = {
        onednn: subprocess.Popen(
            [sys.executable, "-m", "benchmarks.expert_scaling", "--worker", "--steps", str(steps)],
            env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for onednn in ONEDNN
    }
    formulation = {k: json.loads(p.stdout.readline())["grouped_conv"] for k, p in workers.items()}
    times = {onednn: {} for onednn in ONEDNN}
    for _ in range(rounds):
        for onednn, process in workers.items():
            process.stdin.write("round\n")
            process.stdin.flush()
            for key, samples in json.loads(process.stdout.readline()).items():
                times[onednn].setdefault(key, []).extend(samples)
    for process in workers.values():
        process.stdin.close()
        process.wait()
    return formulation, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per turn")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    from benchmarks.report import markdown_table, write_section

    formulation, times = measure(args.rounds, args.steps)
    rows = []
    for preset, batch in PRESETS.items():
        base = np.median(times["1"][f"{preset}|1|partition"])
        for onednn in ONEDNN:
            same = np.median(times[onednn][f"{preset}|1|partition"])
            for n, execution in VARIANTS:
                median = np.median(times[onednn][f"{preset}|{n}|{execution}"])
                rows.append(
                    [
                        preset,
                        batch,
                        "on" if onednn == "1" else "off",
                        formulation[onednn],
                        n,
                        execution,
                        f"{1000 * median:.0f}",
                        f"{median / same:.2f}x",
                        f"{median / base:.2f}x",
                        f"{batch / median:.0f}",
                    ]
                )
    header = [
        "preset",
        "batch",
        "oneDNN",
        "grouped conv",
        "experts",
        "execution",
        "median ms",
        "vs 1 expert, same oneDNN",
        "vs 1 expert, oneDNN on",
        "images/s",
    ]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        "expert_scaling",
        "EBConv training step: cost of experts, with oneDNN on and off",
        f"{args.rounds} turns of {args.steps} timed `train_on_batch` steps per variant, one "
        "thread each, the two oneDNN settings in two worker processes taking turns. Without oneDNN "
        "(`TF_ENABLE_ONEDNN_OPTS=0`, or a CPU where TensorFlow leaves it off) TensorFlow has "
        "no CPU gradient for grouped convs, and EBConv2D runs one conv per group. Goals: 4 "
        "experts at most 1.3x the 1-expert step with `partition`, at most 1.5x with "
        "`kernel_mix` (the released gate gradient); the naive mask-sum form is about 4x per "
        "conv.\n\n" + table,
        f"python -m benchmarks.expert_scaling --rounds {args.rounds} --steps {args.steps}",
    )


if __name__ == "__main__":
    main()
