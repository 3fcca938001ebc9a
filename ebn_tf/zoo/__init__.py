"""The model zoo: published EBNet models with sha256-verified downloads and model cards.

    model = ebn_tf.zoo.load("ebnet_fmnist")          # Keras model, 0-255 images -> logits
    path = ebn_tf.zoo.download("ebnet_fmnist", "tflite")
    model = ebn_tf.zoo.import_official("model_binary_ebresnet.pth.tar")  # the release's

Files are cached under the Keras cache dir (``EBN_ZOO_CACHE`` overrides it); a mirror
(``mirror=`` or ``EBN_ZOO_MIRROR``: a base URL or a local directory) replaces the default
host.
"""

from ebn_tf.zoo.files import CACHE_ENV, MIRROR_ENV, cache_dir, download
from ebn_tf.zoo.loading import evaluate, load
from ebn_tf.zoo.official import (
    ImportReport,
    OfficialCheckpoint,
    import_official,
    is_imported,
    load_imported,
    save_imported,
)
from ebn_tf.zoo.registry import ZooFile, ZooModel, get, names
from ebn_tf.zoo.torch_checkpoint import CheckpointError, read_state_dict

__all__ = [
    "CACHE_ENV",
    "CheckpointError",
    "ImportReport",
    "OfficialCheckpoint",
    "MIRROR_ENV",
    "ZooFile",
    "ZooModel",
    "cache_dir",
    "download",
    "evaluate",
    "get",
    "import_official",
    "is_imported",
    "load",
    "load_imported",
    "names",
    "read_state_dict",
    "save_imported",
]
