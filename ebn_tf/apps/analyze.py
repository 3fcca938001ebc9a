"""Expert analysis of a trained EBNet (the paper's Fig. 1b): usage, expert-by-class, t-SNE.

    ebn-analyze --model ebnet_fmnist --output_dir docs/analysis
    ebn-analyze --model runs/fmnist_quick --split validation --layer stage3_block1_conv2

--model is a zoo name, a run directory of the train app or a .keras file (then give
--dataset). Writes analysis.json, usage.png, expert_by_class.png and tsne.png, and prints
the usage of every expert layer; a layer sending more than 95% of the samples to one
expert is reported as collapsed.
"""

import sys

import numpy as np
from absl import app, flags, logging

from ebn_tf import analysis, data
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.apps.sources import load_model
from ebn_tf.apps.user_errors import user_errors

flags.DEFINE_string("model", None, "Zoo name, run directory or .keras file.")
flags.DEFINE_string("dataset", None, "The dataset, when --model does not name it.")
flags.DEFINE_enum("split", "test", ["train", "validation", "test"], "Which images to analyse.")
flags.DEFINE_integer("limit", 5000, "Analyse the first LIMIT images of the split.")
flags.DEFINE_integer("tsne_points", 2000, "Images in the t-SNE plot (a random subset).")
flags.DEFINE_string("layer", None, "Expert layer of the t-SNE and class plots (default: last).")
flags.DEFINE_string("output_dir", None, "Where the JSON and the plots go.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if not FLAGS.model or not FLAGS.output_dir:
        sys.exit("--model and --output_dir are required (see --help).")
    with user_errors():
        model, dataset = load_model(FLAGS.model, zoo_mirror())
        dataset = FLAGS.dataset or dataset
        if dataset is None:
            raise ValueError(f"{FLAGS.model} does not name its dataset: give --dataset.")
        batches = data.load(
            dataset,
            FLAGS.split,
            1000,
            data_dir=FLAGS.data_dir,
            shuffle=False,
            augment=False,
            take=FLAGS.limit,
        )
        images, labels = (np.concatenate(parts) for parts in zip(*batches.as_numpy_iterator()))
        class_names = data.info(dataset, data_dir=FLAGS.data_dir).class_names
        result = analysis.analyze(
            model, images, labels, FLAGS.output_dir, class_names, FLAGS.layer, FLAGS.tsne_points
        )
    print(
        f"{result['model']} on {result['images']} {FLAGS.split} images: top-1 "
        f"{100 * result['top1']:.2f}%"
    )
    print(
        f"{'layer':<24} {'experts (share %)':<28} {'entropy bit':>11} {'class info':>10} "
        f"{'signs differ %':>14}"
    )
    for name, layer in result["layers"].items():
        shares = " ".join(f"{100 * c / result['images']:4.1f}" for c in layer["counts"])
        flag = "  collapsed" if layer["collapsed"] else ""
        print(
            f"{name:<24} {shares:<28} {layer['entropy_bits']:>11.2f} "
            f"{layer['class_information']:>10.2f} {100 * layer['sign_disagreement']:>14.1f}{flag}"
        )
    print(f"plots and analysis.json in {FLAGS.output_dir}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
