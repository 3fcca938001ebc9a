"""Latency and size of exported models in LCE's interpreter, side by side in one run.

For each preset: (a) the conditional export with 4 experts (only the selected expert
runs), (b) the same network with 1 expert, (c) a mask-sum export of the 4 experts (every
expert runs), (d) the real-valued twin as float TFLite with XNNPACK. Interpreters take
turns (a few inferences each) so drift hits all alike; the table gives medians.
Latency does not depend on the weights, so the models are freshly initialised.

    python -m benchmarks.export_latency [--presets ebnet_fmnist ebnet_imagenet]
"""

from __future__ import annotations

import argparse

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf import cost, export, models


def variants(preset: str) -> tuple[dict[str, tuple[bytes, bool]], int]:
    """``{label: (flatbuffer, xnnpack)}`` of the four exports of ``preset``, and the packed
    size of (a) by ``cost.profile``."""
    ebnet = models.build(preset)
    return {
        "a": (export.to_tflite(ebnet), False),
        "b": (export.to_tflite(models.build(preset, num_experts=1)), False),
        "c": (export.to_tflite(ebnet, conditional=False), False),
        "d": (export.to_float_tflite(models.build(models.get_config(preset).teacher())), True),
    }, cost.profile(ebnet).packed_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["ebnet_fmnist", "ebnet_imagenet"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5, help="timed inferences per turn")
    args = parser.parse_args()
    labels = {
        "a": "(a) conditional, 4 experts",
        "b": "(b) 1 expert",
        "c": "(c) mask-sum, 4 experts",
        "d": "(d) real twin, float + XNNPACK",
    }
    rows, ratios = [], []
    for preset in args.presets:
        exported, packed = variants(preset)
        runners = {k: export.interpreter(fb, xnnpack=x) for k, (fb, x) in exported.items()}
        times = {k: [] for k in runners}
        for _ in range(args.rounds):
            for key, runner in runners.items():
                times[key] += export.latency_samples(runner, args.runs)
        median = {k: float(np.median(t)) for k, t in times.items()}
        size = {k: len(fb) for k, (fb, _) in exported.items()}
        for key, label in labels.items():
            rows.append([preset, label, f"{median[key]:.2f}", f"{size[key] / 1024:.0f}"])
        ratios.append(
            [
                preset,
                f"{median['a'] / median['b']:.2f}",
                f"{median['c'] / median['a']:.2f}",
                f"{size['d'] / size['a']:.1f}",
                f"{size['a'] / packed:.2f}",
            ]
        )
    table = markdown_table(["preset", "export", "latency ms (median)", "size KiB"], rows)
    summary = markdown_table(
        [
            "preset",
            "(a)/(b) latency",
            "(c)/(a) latency",
            "(d)/(a) size",
            "(a) size / cost.profile packed size",
        ],
        ratios,
    )
    print(table, summary, sep="\n\n")
    write_section(
        "export_latency",
        "TFLite export: one expert per layer",
        "LCE interpreter on x86, 1 thread, LCE's default binary kernel (its indirect-BGEMM "
        "kernel gives wrong results when an IF branch runs twice); batch 1; "
        f"{args.rounds} turns of {args.runs} inferences each. Goals: (a)/(b) <= 1.10, "
        "(c)/(a) >= 3, (d)/(a) size >= 10, (a) size close to the packed size.\n\n"
        + table
        + "\n\n"
        + summary,
        "python -m benchmarks.export_latency",
    )


if __name__ == "__main__":
    main()
