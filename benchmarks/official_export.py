"""The release's ImageNet EBNet as LCE TFLite: ebnet_imagenet_official beside ebnet_imagenet.

Both are built at 224x224 with freshly initialised (synthesised) weights: the audit, the
size and the latency do not depend on the weights. ``ebnet_imagenet_official`` has the
release's conventions (PyTorch borders, a zero sign border, its BatchNorm epsilons), so
its stride-2 binary convs on even sizes run in the reversal form (two REVERSE_V2 a leaf);
``ebnet_imagenet`` pads with +1 under TF's SAME. The interpreters take turns, a few
inferences each, so drift hits both alike; latency is the median.

    python -m benchmarks.official_export [--rounds 4 --runs 3]
"""

from __future__ import annotations

import argparse

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf import export, models

PRESETS = ("ebnet_imagenet", "ebnet_imagenet_official")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="timed inferences per turn")
    parser.add_argument("--parity_images", type=int, default=4)
    args = parser.parse_args()
    images = np.random.default_rng(0).uniform(0, 255, (args.parity_images, 224, 224, 3))
    exported, runners = {}, {}
    for preset in PRESETS:
        model = models.build(preset)
        flatbuffer, audit = export.convert(model)
        parity = export.parity(model, flatbuffer, images.astype("float32"))
        exported[preset] = flatbuffer, audit, parity
        runners[preset] = export.interpreter(flatbuffer)
        print(preset, audit, parity, sep="\n", flush=True)
    times = {preset: [] for preset in PRESETS}
    for _ in range(args.rounds):
        for preset, runner in runners.items():
            times[preset] += export.latency_samples(runner, args.runs)
    rows = []
    for preset in PRESETS:
        flatbuffer, audit, parity = exported[preset]
        rows.append(
            [
                preset,
                "ok" if audit.ok else "FAILED",
                audit.binary_convs,
                audit.count("CONV_2D"),
                audit.count("REVERSE_V2"),
                audit.count("PAD"),
                f"{len(flatbuffer) / 2**20:.2f}",
                f"{np.median(times[preset]):.0f}",
                f"{parity.max_relative_error:.1e}",
            ]
        )
    header = [
        "preset",
        "audit",
        "LceBconv2d",
        "float CONV_2D",
        "REVERSE_V2",
        "PAD",
        "size MiB",
        "latency ms (median)",
        "parity: max relative error vs Keras",
    ]
    table = markdown_table(header, rows)
    ratio = np.median(times[PRESETS[1]]) / np.median(times[PRESETS[0]])
    print(table, f"official / ebnet_imagenet latency: {ratio:.2f}", sep="\n\n")
    write_section(
        "official_export",
        "The release's ImageNet EBNet on LCE: ebnet_imagenet_official beside ebnet_imagenet",
        "224x224, synthesised weights, LCE interpreter on x86 (its default binary kernel, "
        f"not ARM's), 1 thread, batch 1; {args.rounds} turns of {args.runs} inferences each; "
        f"parity on {args.parity_images} uniform random images. Latency ratio official / "
        f"ebnet_imagenet: {ratio:.2f}.\n\n" + table,
        "python -m benchmarks.official_export",
    )


if __name__ == "__main__":
    main()
