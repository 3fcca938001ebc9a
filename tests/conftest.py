"""Shared fixtures. Two logical CPU devices for MirroredStrategy tests are set up before
TensorFlow starts; Fashion-MNIST is prepared in tfds once per session; zoo files come
from the checkout's zoo/ folder (offline), for this process and the apps it starts.

``make test`` spreads the tests over pytest-xdist workers (``--dist loadgroup``); each
worker is its own session, so the tests that read one trained fixture are sent to one
worker, and that fixture is built once."""

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


# The costly session fixtures below, each with its own xdist group (module docstring).
_SHARED = ("policy_run", "teacher_run", "official_export")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        shared = [name for name in _SHARED if name in item.fixturenames]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))


# Finished runs that several tests only read (rerunning a finished run trains nothing): each
# is trained once per session, lazily. Training time here is mostly graph tracing per stage.


@pytest.fixture(scope="session")
def policy_run(tmp_path_factory, fmnist_data_dir):
    """The whole staged policy (teacher, steps 1, 3, 4) of ``tiny`` on a slice of
    Fashion-MNIST: its directory, recipe and summary."""
    from ebn_tf.training import train
    from tests.harness import small_recipe

    recipe = small_recipe("teacher_epochs=3")
    path = tmp_path_factory.mktemp("policy_run")
    return path, recipe, train(recipe, path, "one_device", fmnist_data_dir, verbose=0)


@pytest.fixture(scope="session")
def teacher_run(tmp_path_factory, fmnist_data_dir):
    """A run that trains only a ``tiny_teacher`` for one epoch: its directory and summary."""
    from ebn_tf.training import train
    from tests.harness import small_recipe

    recipe = small_recipe("train_student=false", "teacher_model=tiny_teacher", "teacher_epochs=1")
    path = tmp_path_factory.mktemp("teacher_run")
    return path, train(recipe, path, "one_device", fmnist_data_dir, 0)


@pytest.fixture(scope="session")
def official_export():
    """The official tiny fixture checkpoint imported at 72x72 and converted with LCE:
    ``(model, flatbuffer, audit)``, for the tests that only read the conversion (its
    x86 and ARM checks), converted once."""
    export = pytest.importorskip("ebn_tf.export")
    from ebn_tf.zoo import import_official

    fixture = pathlib.Path(__file__).parent / "fixtures" / "ebnet_official_tiny"
    model = import_official(fixture / "state_dict.pth", image_size=72)
    return (model, *export.convert(model))
