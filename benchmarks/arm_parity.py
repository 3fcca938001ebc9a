"""Every zoo TFLite file on LCE's ARM64 kernels against LCE's x86 interpreter and Keras.

Apps on Android run the zoo's ``.tflite`` files with LCE's aarch64 kernels; the zoo's other
figures come from LCE's x86 interpreter. Each file of every published version runs here on
the lce-arm64 runner (LCE 0.16's kernels built for aarch64) under qemu, all images in one
interpreter so every IF branch runs again (``ebn_tf.export.arm_parity``), on the first
Fashion-MNIST test images. qemu's time per image says nothing about a phone. Zoo files
come from the checkout's ``zoo/`` folder (or ``--mirror`` / ``EBN_ZOO_MIRROR``), offline.

    EBN_LCE_ARM_RUNNER=../shared/tools/lce-arm64 python -m benchmarks.arm_parity [--images 100]
"""

from __future__ import annotations

import argparse

import numpy as np

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf import data, export, zoo
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.export.arm import ARM_RUNNER_ENV


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="first test images")
    parser.add_argument("--runner", help=f"lce-arm64 folder or its run.sh (${ARM_RUNNER_ENV})")
    parser.add_argument("--mirror", help="base URL or local directory of the zoo files")
    args = parser.parse_args()
    runner = export.find_arm_runner(args.runner)  # before any work: says how to get one
    mirror = zoo_mirror(args.mirror)
    published = [
        entry
        for name in zoo.names()
        for entry in (*zoo.get(name).older_versions, zoo.get(name))
        if "tflite" in entry.files
    ]
    batches = {}
    rows = []
    for entry in published:
        if entry.dataset not in batches:
            loaded = data.load(
                entry.dataset, "test", args.images, shuffle=False, augment=False, take=args.images
            )
            batches[entry.dataset] = [array.numpy() for array in next(iter(loaded))]
        images, labels = batches[entry.dataset]
        spec = entry.version_spec()
        path = zoo.download(spec, "tflite", mirror)
        report = export.arm_parity(path, images, runner, zoo.load(spec, mirror))
        audit = export.audit(path.read_bytes())
        clear = report.x86.max_relative_error_clear
        rows.append(
            [
                f"`{spec}`",
                f"{audit.if_ops} / {audit.binary_convs}",
                _percent(report.x86.top1_agreement),
                _percent(report.keras.top1_agreement),
                f"{'n/a' if clear is None else f'{clear:.1e}'} "
                f"({report.images - report.near_zero_images})",
                f"{report.x86.max_relative_error:.1e}",
                f"{report.rerun_maxdiff:g}",
                _percent(np.mean(report.outputs.argmax(1) == labels)),
                f"{report.ms_per_image:.0f}",
            ]
        )
        print(spec, report, sep="\n", flush=True)
    header = [
        "zoo file",
        "IF / LceBconv2d ops",
        "top-1 ARM = x86",
        "top-1 ARM = Keras",
        "max relative error vs x86, sign-clear images (count)",
        "max relative error vs x86, all",
        "image 0 rerun diff",
        "top-1 accuracy on ARM",
        "emulated ms / image (qemu, not a phone)",
    ]
    table = markdown_table(header, rows)
    print(table)
    write_section(
        "arm_parity",
        "Zoo TFLite files on LCE's ARM64 kernels (qemu) vs LCE's x86 interpreter",
        f"The first {args.images} Fashion-MNIST test images, every zoo `.tflite` file (all "
        "published versions). ARM: the lce-arm64 runner (LCE 0.16.0's kernels and LiteRT "
        "2.0.2, built for aarch64) under qemu-aarch64-static, LCE's default binary kernel, 1 "
        "thread, one interpreter for all images (every IF branch runs again; image 0 is run "
        "once more at the end). x86: LCE's Python interpreter, image by image. Errors are "
        "relative to each image's largest x86 logit; sign-clear images keep every binarised "
        f"input {export.SIGN_MARGIN:g} x RMS from 0 (in Keras), elsewhere float rounding may "
        "flip a sign. **The emulated time is qemu's on this x86 machine: it says nothing "
        "about a phone's latency.**\n\n" + table,
        f"{ARM_RUNNER_ENV}=../shared/tools/lce-arm64 python -m benchmarks.arm_parity",
    )


if __name__ == "__main__":
    main()
