"""Train an EBNet with a registered recipe.

    python -m train --recipe fmnist_quick --model_dir runs/quick
    python -m train --recipe fmnist_ebnet --model_dir runs/full --override step4_epochs=10
    python -m train --list_recipes

Rerunning the same command resumes an interrupted run from its last checkpoint.
"""

import json
import sys

from absl import app, flags

from ebn_tf import training

flags.DEFINE_string("recipe", None, "Registered recipe name (see --list_recipes).")
flags.DEFINE_string("model_dir", None, "Run directory: checkpoints, logs, summary.json.")
flags.DEFINE_multi_string("override", [], "KEY=VALUE override of a known recipe key.")
flags.DEFINE_enum("strategy", "auto", training.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir (default: tfds's).")
flags.DEFINE_bool("list_recipes", False, "Print the recipe names and exit.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if FLAGS.list_recipes:
        print("\n".join(training.recipe_names()))
        return
    if not FLAGS.recipe or not FLAGS.model_dir:
        sys.exit("--recipe and --model_dir are required (see --help).")
    try:
        recipe = training.get_recipe(FLAGS.recipe, FLAGS.override)
        summary = training.train(recipe, FLAGS.model_dir, FLAGS.strategy, FLAGS.data_dir)
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(summary, indent=2))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
