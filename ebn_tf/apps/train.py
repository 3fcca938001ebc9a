"""Train an EBNet with a registered recipe.

    ebn-train --recipe fmnist_quick --model_dir runs/quick
    ebn-train --recipe fmnist_ebnet --model_dir runs/full --override step4_epochs=10
    ebn-train --list_recipes

Rerunning the same command resumes an interrupted run from its last checkpoint.
"""

import sys

from absl import app, flags, logging

from ebn_tf import training
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.apps.user_errors import user_errors
from ebn_tf.layers.grouped_conv import native_grouped_gradients

flags.DEFINE_string("recipe", None, "Registered recipe name (see --list_recipes).")
flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, logs, summary.json.")
flags.DEFINE_multi_string("override", [], "KEY=VALUE override of a known recipe key.")
flags.DEFINE_enum("strategy", "auto", training.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir (default: tfds's).")
flags.DEFINE_bool("list_recipes", False, "Print the recipe names and exit.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # tfds and TF chatter; results are printed
    if FLAGS.list_recipes:
        print("\n".join(training.recipe_names()))
        return
    if not FLAGS.recipe or not FLAGS.model_dir:
        sys.exit("--recipe and --model_dir are required (see --help).")
    with user_errors():
        recipe = training.get_recipe(FLAGS.recipe, FLAGS.override)
        summary = training.train(
            recipe, FLAGS.model_dir, FLAGS.strategy, FLAGS.data_dir, mirror=zoo_mirror()
        )
    print(report(summary, FLAGS.model_dir))


def grouped_conv_path() -> str:
    """Which grouped-convolution path this process trains with, and why."""
    if native_grouped_gradients():
        return "grouped convolutions: TensorFlow's oneDNN kernels (oneDNN is on)"
    return (
        "grouped convolutions: one conv per group (TensorFlow left oneDNN off on this CPU, "
        "or TF_ENABLE_ONEDNN_OPTS=0; same numbers, slower steps: BENCHMARKS.md)"
    )


def report(summary: training.RunSummary, model_dir: str) -> str:
    """A short human-readable account of a finished run."""
    lines = [
        f"{summary.recipe}: done. Run directory: {model_dir}",
        f"{'stage':<10}{'epochs':>7}{'val top-1':>11}{'train img/s':>13}",
    ]
    for stage in summary.stages:
        speed = stage.train_images_per_second
        lines.append(
            f"{stage.name:<10}{stage.epochs:>7}{stage.val_accuracy:>11.4f}"
            f"{speed or float('nan'):>13.0f}"
        )
    final = summary.final
    lines += [
        # Asked only now: a multi-worker strategy must exist before any TensorFlow op.
        grouped_conv_path(),
        f"test top-1 {final.test_accuracy:.4f}; BOPs {final.bops / 1e6:.2f} M, "
        f"OPs {final.ops / 1e6:.3f} M per image",
        f"weights: {final.weights}",
        f"summary: {model_dir}/summary.json; curves: tensorboard --logdir {model_dir}",
    ]
    return "\n".join(lines)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
