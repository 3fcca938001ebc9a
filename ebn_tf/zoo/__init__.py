"""The model zoo: published EBNet models with sha256-verified downloads and model cards.

    model = ebn_tf.zoo.load("ebnet_fmnist")          # Keras model, 0-255 images -> logits
    path = ebn_tf.zoo.download("ebnet_fmnist", "tflite")

Files are cached under the Keras cache dir (``EBN_ZOO_CACHE`` overrides it); a mirror
(``mirror=`` or ``EBN_ZOO_MIRROR``: a base URL or a local directory) replaces the default
host.
"""

from ebn_tf.zoo.files import CACHE_ENV, MIRROR_ENV, cache_dir, download
from ebn_tf.zoo.loading import evaluate, load
from ebn_tf.zoo.registry import ZooFile, ZooModel, get, names

__all__ = [
    "CACHE_ENV",
    "MIRROR_ENV",
    "ZooFile",
    "ZooModel",
    "cache_dir",
    "download",
    "evaluate",
    "get",
    "load",
    "names",
]
