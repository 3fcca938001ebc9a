"""Datasets through tensorflow-datasets, batched for ``model.fit`` and ``tf.distribute``.

Not imported by ``import ebn_tf``, which stays free of tensorflow-datasets: it is
imported on first use of ``ebn_tf.data``. Importing it registers the tfds builder
``fashion_mnist_idx``.

Example:
    >>> import ebn_tf
    >>> ebn_tf.data.info("fashion_mnist").split_sizes
    {'train': 54000, 'validation': 6000, 'test': 10000}
    >>> train = ebn_tf.data.load("fashion_mnist", "train", batch_size=128)
"""

from ebn_tf.data.fashion_mnist_idx import FashionMNISTIDX
from ebn_tf.data.loader import SPLITS, DatasetInfo, DatasetNotFoundError, info, load
from ebn_tf.data.registry import DatasetSpec, get_spec, names

__all__ = [
    "SPLITS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DatasetSpec",
    "FashionMNISTIDX",
    "get_spec",
    "info",
    "load",
    "names",
]
