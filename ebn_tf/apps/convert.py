"""Convert a trained EBNet to an LCE-optimised TFLite file; audit, check and time it.

    ebn-convert --model runs/fmnist_quick --output model.tflite
    ebn-convert --model model.keras --output model.tflite --threads 2

--model is a run directory of the train app (its final weights), a saved Keras model
(.keras / .h5) or a zoo name (downloaded from EBN_ZOO_MIRROR, else from a checkout's
zoo/, else from the default host). Prints the audit (ops of every subgraph), parity with
the Keras model on images that select every expert the data reaches, the file size and
the latency in LCE's interpreter; exits non-zero when the audit fails. --output (a .tflite
file name outside --model, so it cannot replace or add to what it converts) is checked
before anything else, and a model without binary convs is refused unless --allow_float
is given.
"""

import sys

from absl import app, flags, logging

from ebn_tf import export
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.apps.sources import load_model, parity_pool
from ebn_tf.apps.user_errors import user_errors
from ebn_tf.outputs import check_output_file

flags.DEFINE_string(
    "model", None, "Run directory of the train app, a .keras/.h5 model or a zoo name."
)
flags.DEFINE_string("output", None, "Where to write the .tflite file.")
flags.DEFINE_enum("target", "arm", export.TARGETS, "LCE target.")
flags.DEFINE_enum("io_type", "float32", ["float32", "int8"], "Input and output type.")
flags.DEFINE_float(
    "int8_range",
    6.0,
    "int8 only: every float array uses [-r, r] (uncalibrated: size/latency only).",
)
flags.DEFINE_integer("threads", 1, "Interpreter threads for the latency measurement.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir for the parity images.")
flags.DEFINE_bool("allow_audit_failure", False, "Write the file even if its audit fails.")
flags.DEFINE_bool("allow_float", False, "Convert a model without binary convs (a float file).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # tfds and TF chatter; results are printed
    if not FLAGS.model or not FLAGS.output:
        sys.exit("--model and --output are required (see --help).")
    with user_errors():
        output = check_output_file(FLAGS.output, inputs=(FLAGS.model,), suffix=".tflite")
        model, dataset = load_model(FLAGS.model, zoo_mirror())
        images = export.parity_images(model, parity_pool(dataset, FLAGS.data_dir))
        int8 = FLAGS.io_type == "int8"
        report = export.export_report(
            model,
            images,
            FLAGS.threads,
            inference_input_type=FLAGS.io_type,
            inference_output_type=FLAGS.io_type,
            target=FLAGS.target,
            int8_range=(-FLAGS.int8_range, FLAGS.int8_range) if int8 else None,
            strict=not FLAGS.allow_audit_failure,
            allow_float=FLAGS.allow_float,
        )
        output.write_bytes(report.flatbuffer)
    print(report)
    print(f"written: {output}")
    if not report.audit.ok:
        sys.exit(1)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
