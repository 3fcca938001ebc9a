"""The model zoo app: list, inspect, download, evaluate and publish zoo models.

    ebn-zoo list
    ebn-zoo info ebnet_fmnist
    ebn-zoo download ebnet_fmnist --kind tflite
    ebn-zoo evaluate ebnet_fmnist [--limit 1000]
    ebn-zoo evaluate ebnet_fmnist@1           # an older version, as `list` shows them
    ebn-zoo evaluate ebnet_official           # an import-official directory, on ImageNet
    ebn-zoo publish ebnet_fmnist --run runs/benchmark/ebnet --description "..."
    ebn-zoo publish ebnet_imagenet --untrained_recipe imagenet_ebnet --description "..."
    ebn-zoo import-official model_binary_ebresnet.pth.tar --output ebnet_official [--tflite]

import-official reads the release's PyTorch checkpoint without torch and without running
any of its code, and writes DIR/ebnet_imagenet_official.weights.h5, DIR/config.json (the
resolved EBNetConfig) and DIR/import.txt (ebn_tf.zoo.load_imported(DIR) reads them back;
ebn-convert --model DIR and ebn-zoo evaluate DIR take the directory); with --tflite also
DIR/MODEL.tflite, audited, compared with the Keras model (on uniform random images: no
dataset is needed) and timed.

publish refuses a name that is already published unless --version is newer than its
entry's or --overwrite is given. A newer version keeps the one it replaces: its files and
its registry entry, as NAME@K.

--mirror (or EBN_ZOO_MIRROR) is a base URL or a local directory replacing the default
host. A source checkout's zoo/ folder is such a mirror: it holds the published files, and
the apps use it by default when they run from the checkout; publish then writes there and
into the checkout's registry (else give --zoo_dir and --registry). Files are cached under
the Keras cache dir (EBN_ZOO_CACHE overrides it).
"""

import json
import sys
from pathlib import Path

from absl import app, flags, logging

import ebn_tf.zoo as zoo
from ebn_tf.apps.checkout import checkout_registry, checkout_zoo, zoo_mirror
from ebn_tf.apps.user_errors import user_errors
from ebn_tf.outputs import check_output_dir

COMMANDS = ("list", "info", "download", "evaluate", "publish", "import-official")

flags.DEFINE_string("mirror", None, "Base URL or local directory replacing the default host.")
flags.DEFINE_enum("kind", "keras", ["keras", "tflite"], "download: which file.")
flags.DEFINE_enum("split", "test", ["train", "validation", "test"], "evaluate: the split.")
flags.DEFINE_integer("limit", None, "evaluate: only the first LIMIT images of the split.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir.")
flags.DEFINE_string("run", None, "publish: the finished run directory.")
flags.DEFINE_string("untrained_recipe", None, "publish: a card without weights for a recipe.")
flags.DEFINE_float("paper_top1", None, "publish --untrained_recipe: the paper's top-1, in %.")
flags.DEFINE_string("description", "", "publish: one line for the card.")
flags.DEFINE_string(
    "zoo_dir", None, "publish: where files and cards are written (default: a checkout's zoo/)."
)
flags.DEFINE_string(
    "registry",
    None,
    "publish: the registry file to extend (default: a checkout's ebn_tf/zoo/registry.json).",
)
flags.DEFINE_integer("version", 1, "publish: the version; a published name needs a newer one.")
flags.DEFINE_bool("overwrite", False, "publish: replace the name's published entry and files.")
flags.DEFINE_string("output", None, "import-official: the directory to write.")
flags.DEFINE_bool("tflite", False, "import-official: also convert, audit and time it.")
flags.DEFINE_integer("image_size", 224, "import-official: the model's input height and width.")
FLAGS = flags.FLAGS


def table() -> str:
    header = f"{'name':<24} {'dataset':<14} {'top-1 %':>8} {'BOPs':>10} {'OPs':>10} {'TFLite':>10}"
    rows = [header, "-" * len(header)]
    for name in zoo.names():
        newest = zoo.get(name)
        # The newest under its name, then the versions it replaced as NAME@K, newest first.
        for entry, label in [
            (newest, name),
            *((m, m.version_spec()) for m in reversed(newest.older_versions)),
        ]:
            m = entry.metrics
            top1 = f"{100 * m['test_top1']:.2f}" if "test_top1" in m else "-"
            size = f"{m['tflite_bytes'] / 1024:.0f} KiB" if "tflite_bytes" in m else "-"
            note = "" if entry.trained_here else "  (card only: not trained here)"
            rows.append(
                f"{label:<24} {entry.dataset:<14} {top1:>8} {m['bops'] / 1e6:>8.1f} M "
                f"{m['ops'] / 1e6:>8.2f} M {size:>10}{note}"
            )
    return "\n".join(rows)


def publish_targets() -> tuple[Path, Path]:
    """``--zoo_dir`` and ``--registry``; by default the checkout's ``zoo/`` and registry."""
    zoo_dir = Path(FLAGS.zoo_dir) if FLAGS.zoo_dir else checkout_zoo()
    registry = Path(FLAGS.registry) if FLAGS.registry else checkout_registry()
    if zoo_dir is None or registry is None:
        raise ValueError(
            "Outside a source checkout, publish needs --zoo_dir and --registry: where the "
            "files and cards go, and the registry file to extend."
        )
    return zoo_dir, registry


def publish(name: str, zoo_dir: Path, registry: Path):
    from ebn_tf.apps import publish as publishing  # imports the LCE converter

    if bool(FLAGS.run) == bool(FLAGS.untrained_recipe):
        raise ValueError("publish needs exactly one of --run and --untrained_recipe.")
    options = dict(zoo_dir=zoo_dir, registry=registry, version=FLAGS.version)
    if FLAGS.run:
        return publishing.publish_run(
            name,
            FLAGS.run,
            FLAGS.description,
            data_dir=FLAGS.data_dir,
            overwrite=FLAGS.overwrite,
            **options,
        )
    return publishing.publish_untrained(
        name,
        FLAGS.untrained_recipe,
        FLAGS.description,
        paper_top1=FLAGS.paper_top1,
        overwrite=FLAGS.overwrite,
        **options,
    )


def import_official(path: str) -> None:
    if not FLAGS.output:
        raise ValueError("import-official needs --output DIR (where the model is written).")
    output = check_output_dir(FLAGS.output)
    model, report = zoo.OfficialCheckpoint(path).build(FLAGS.image_size)
    print(report)
    zoo.save_imported(model, report, output)
    print(f"written: {output}/ ({', '.join(sorted(p.name for p in output.iterdir()))})")
    if FLAGS.tflite:
        from ebn_tf import export  # imports the LCE converter

        exported = export.export_report(model, export.parity_images(model))
        tflite = output / f"{model.name}.tflite"
        tflite.write_bytes(exported.flatbuffer)
        print(exported)
        print(f"written: {tflite}")
        if not exported.audit.ok:
            sys.exit(1)


def evaluate(name: str) -> str:
    """``evaluate``'s line for a zoo name, or for an import-official directory (on
    ImageNet, with the release's evaluation transform)."""
    if not zoo.is_imported(name):
        dataset = stored_split(zoo.get(name).dataset, 500)
        accuracy = zoo.evaluate(name, dataset, zoo_mirror(FLAGS.mirror))
        card = zoo.get(name).metrics.get("test_top1")
        full_test = FLAGS.split == "test" and FLAGS.limit is None
        reference = f" (card: {100 * card:.2f}%)" if card is not None and full_test else ""
        return f"{name}: top-1 on {FLAGS.split} {100 * accuracy:.2f}%{reference}"
    accuracy = zoo.loading.top1(zoo.load_imported(name), stored_split("imagenet2012", 100))
    return f"{name}: top-1 on imagenet2012 {FLAGS.split} {100 * accuracy:.2f}% (paper: 71.2%)"


def stored_split(dataset: str, batch_size: int):
    """``--split`` of ``dataset`` as stored (neither shuffled nor augmented), its first
    ``--limit`` images."""
    from ebn_tf import data  # tensorflow-datasets, for this command only

    return data.load(
        dataset,
        FLAGS.split,
        batch_size,
        data_dir=FLAGS.data_dir,
        shuffle=False,
        augment=False,
        take=FLAGS.limit,
    )


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) < 2 or argv[1] not in COMMANDS or (argv[1] != "list" and len(argv) != 3):
        sys.exit(f"usage: ebn-zoo {{{'|'.join(COMMANDS)}}} [NAME] [flags]; see --help.")
    command, name = argv[1], (argv[2] if len(argv) == 3 else None)
    with user_errors():
        if command == "list":
            print(table())
        elif command == "info":
            print(json.dumps(zoo.get(name).to_json(), indent=2))
        elif command == "download":
            print(zoo.download(name, FLAGS.kind, zoo_mirror(FLAGS.mirror)))
        elif command == "evaluate":
            print(evaluate(name))
        elif command == "import-official":
            import_official(name)
        else:
            zoo_dir, registry = publish_targets()
            entry = publish(name, zoo_dir, registry)
            print(f"published {entry.name} v{entry.version}: {zoo_dir / entry.name}.md")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
