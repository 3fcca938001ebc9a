"""Accuracy and training cost of the full ``fmnist_ebnet`` recipe on Fashion-MNIST.

Runs, side by side in one invocation: the recipe as registered (real-valued teacher,
then EBNet with 4 experts through the four steps with distillation), and the same recipe
without experts (``num_experts=1``, the same BOPs) distilled from the same teacher.
Both end fully binary. Reports top-1 on the full test split (10,000 images), cost, the
training images/s of each stage and the wall time. Runs are resumable: rerun the same
command after an interruption.

    python -m benchmarks.fmnist_recipe [--model_dir runs/benchmark]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ebn_tf  # noqa: F401  (binds legacy Keras before TensorFlow)
from benchmarks.report import markdown_table, write_section
from ebn_tf import data
from ebn_tf._keras import keras
from ebn_tf.training import RunDir, get_recipe, train


def teacher_test_accuracy(run_dir: Path, recipe) -> float:
    model = RunDir(run_dir).model("teacher")
    model.compile(metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
    test = data.load(recipe.dataset, "test", recipe.batch_size)
    return float(model.evaluate(test, verbose=0, return_dict=True)["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default="runs/benchmark")
    args = parser.parse_args()
    root = Path(args.model_dir)
    ebnet = get_recipe("fmnist_ebnet")
    teacher_weights = RunDir(root / "ebnet").weights("teacher")
    baseline = get_recipe(
        "fmnist_ebnet", ['model_overrides={"num_experts": 1}', f"teacher_weights={teacher_weights}"]
    )
    summaries = {"ebnet": train(ebnet, root / "ebnet", verbose=2)}
    summaries["baseline"] = train(baseline, root / "baseline", verbose=2)
    teacher = summaries["ebnet"].stage("teacher")
    rows = [
        [
            "real-valued teacher",
            f"{100 * teacher_test_accuracy(root / 'ebnet', ebnet):.2f}",
            "0",
            "-",
            f"{teacher.train_images_per_second:.0f}",
            f"{teacher.seconds / 60:.1f}",
        ]
    ]
    for label, key in (("binary, 1 expert (baseline)", "baseline"), ("EBNet, 4 experts", "ebnet")):
        summary = summaries[key]
        students = [s for s in summary.stages if s.name != "teacher"]
        speeds = " / ".join(f"{s.train_images_per_second:.0f}" for s in students)
        minutes = summary.seconds / 60
        final = summary.final
        rows.append(
            [
                label,
                f"{100 * final.test_accuracy:.2f}",
                f"{final.bops / 1e6:.2f} M",
                f"{final.ops / 1e6:.3f} M",
                speeds,
                f"{minutes:.1f}",
            ]
        )
    epochs = {s.name: s.epochs for s in summaries["ebnet"].stages}
    table = markdown_table(
        [
            "model",
            "test top-1 %",
            "BOPs",
            "OPs",
            "train images/s (step1 / step3 / step4)",
            "minutes",
        ],
        rows,
    )
    print(table)
    write_section(
        "fmnist_recipe",
        "Fashion-MNIST: the full fmnist_ebnet recipe",
        f"Epochs per stage {epochs}, batch {ebnet.batch_size}; the last 10% of train is the "
        "validation split, the 10,000 test images give top-1. The EBNet minutes include its "
        "teacher; the baseline reuses that teacher. Goals: EBNet >= 92.5% and >= 0.5 points "
        "above the baseline, the whole recipe within 90 minutes.\n\n" + table,
        "python -m benchmarks.fmnist_recipe",
    )


if __name__ == "__main__":
    main()
