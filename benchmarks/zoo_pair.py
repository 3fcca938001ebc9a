"""Two zoo models on the same test images: top-1 of each, and McNemar's exact test.

By default the zoo's published pair: ``ebnet_fmnist`` v3 (4 experts) against its 1-expert
twin ``binary_fmnist_baseline`` v3, on the 10,000 Fashion-MNIST test images. Both models
score every batch in turn, so the images are paired; only the images one gets right and
the other wrong (discordant) weigh in the test. Its p-value is about the finite test set
for these two trained models, not about training noise (another seed trains other
models): see ``benchmarks.expert_ablation`` for margins over seeds. Zoo files come from
the checkout's ``zoo/`` folder (or ``--mirror`` / ``EBN_ZOO_MIRROR``), offline.

    python -m benchmarks.zoo_pair
    python -m benchmarks.zoo_pair --a ebnet_fmnist@2 --b binary_fmnist_baseline@2
"""

from __future__ import annotations

import argparse
import re

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf import data, zoo
from ebn_tf.analysis.paired import compare_models
from ebn_tf.apps.checkout import zoo_mirror


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="ebnet_fmnist@3", help="zoo model A, NAME or NAME@K")
    parser.add_argument("--b", default="binary_fmnist_baseline@3", help="zoo model B")
    parser.add_argument("--split", default="test", choices=data.SPLITS)
    parser.add_argument("--mirror", help="base URL or local directory of the zoo files")
    args = parser.parse_args()
    # Pinned as NAME@K, so the report names the versions compared even for a plain NAME.
    names = [zoo.get(args.a).version_spec(), zoo.get(args.b).version_spec()]
    if names[0] == names[1]:
        parser.error(f"--a and --b name the same model, {names[0]}.")
    entry_a, entry_b = (zoo.get(name) for name in names)
    if entry_a.dataset != entry_b.dataset:
        parser.error(f"{names[0]} and {names[1]} are trained on different datasets.")
    mirror = zoo_mirror(args.mirror)
    batches = data.load(entry_a.dataset, args.split, 500, shuffle=False, augment=False)
    result = compare_models(zoo.load(names[0], mirror), zoo.load(names[1], mirror), batches)
    rows = []
    for name, entry, top1, only in (
        (names[0], entry_a, result.top1_a, result.a_only),
        (names[1], entry_b, result.top1_b, result.b_only),
    ):
        published = entry.metrics.get("test_top1")
        rows.append(
            [
                f"`{name}`",
                entry.model_config().num_experts,
                entry.model_config().execution,
                f"{top1:.2f}",
                f"{100 * published:.2f}" if published is not None else "-",
                only,
            ]
        )
    header = [
        "model",
        "experts",
        "execution",
        f"{args.split} top-1 % (measured)",
        "test top-1 % (registry)",
        "images only it gets right",
    ]
    table = markdown_table(header, rows)
    summary = (
        f"{result.images:,} {args.split} images: both right {result.both:,}, neither "
        f"{result.neither:,}, discordant {result.discordant:,} ({result.a_only} : "
        f"{result.b_only}). Margin A - B = {result.margin:+.2f} points; McNemar exact "
        f"two-sided p = {result.p_value:.4g}."
    )
    print(table)
    print(summary)
    write_section(
        "zoo_pair_" + re.sub(r"\W+", "", f"{names[0]}_vs_{names[1]}".replace("@", "v")),
        f"Paired test: `{names[0]}` against `{names[1]}`",
        f"A = `{names[0]}`, B = `{names[1]}`, both scored on every {args.split} image "
        "(unshuffled, no augmentation). McNemar's exact test counts only the images one "
        "model gets right and the other wrong; it measures the noise of the finite test set "
        "for these two trained models, not the noise between training seeds.\n\n"
        f"{table}\n\n{summary}",
        f"python -m benchmarks.zoo_pair --a {args.a} --b {args.b} --split {args.split}",
    )


if __name__ == "__main__":
    main()
