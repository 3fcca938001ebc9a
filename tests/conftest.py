"""Shared fixtures. Two logical CPU devices for MirroredStrategy tests are set up before
TensorFlow starts; Fashion-MNIST is prepared in tfds once per session; zoo files come
from the checkout's zoo/ folder (offline), for this process and the apps it starts."""

import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("EBN_ZOO_MIRROR", str(pathlib.Path(__file__).parents[1] / "zoo"))

import ebn_tf  # noqa: E402,F401  (binds legacy Keras first)
import ebn_tf.data  # noqa: E402
from ebn_tf._keras import tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def fmnist_idx_dir() -> pathlib.Path:
    """The directory of the Fashion-MNIST IDX files that the loader reads by default."""
    spec = ebn_tf.data.get_spec("fashion_mnist")
    return pathlib.Path(os.environ.get(spec.manual_dir_env, spec.manual_dir))


@pytest.fixture(scope="session")
def fmnist_data_dir(tmp_path_factory, fmnist_idx_dir) -> pathlib.Path:
    """A tfds data dir holding the prepared ``fashion_mnist_idx`` (some seconds, once)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    ebn_tf.data.info("fashion_mnist", data_dir=data_dir, manual_dir=fmnist_idx_dir)
    return data_dir
