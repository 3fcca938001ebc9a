import socket
import subprocess
import sys

import numpy as np
import pytest

import ebn_tf.data
from ebn_tf._keras import tf
from tests.harness import idx_items


def labels(dataset):
    return np.concatenate([batch_labels.numpy() for _, batch_labels in dataset])


def test_import_ebn_tf_leaves_tfds_out():
    code = "import sys, ebn_tf; assert 'tensorflow_datasets' not in sys.modules; import ebn_tf.data"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_names():
    assert {"fashion_mnist", "cifar10", "cifar100", "imagenet2012"} == set(ebn_tf.data.names())


def test_info(fmnist_data_dir):
    info = ebn_tf.data.info("fashion_mnist", data_dir=fmnist_data_dir)
    assert info.num_classes == 10 and info.input_shape == (28, 28, 1)
    assert info.split_sizes == {"train": 54000, "validation": 6000, "test": 10000}
    all_train = ebn_tf.data.info("fashion_mnist", data_dir=fmnist_data_dir, validation_fraction=0)
    assert all_train.split_sizes["train"] == 60000


def test_train_and_validation_partition_the_train_file(fmnist_data_dir, fmnist_idx_dir):
    def split_labels(split):
        return labels(
            ebn_tf.data.load(
                "fashion_mnist", split, 6000, data_dir=fmnist_data_dir, shuffle=False, augment=False
            )
        )

    train, validation = split_labels("train"), split_labels("validation")
    assert (len(train), len(validation)) == (54000, 6000)
    file_labels = idx_items(fmnist_idx_dir / "train-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.concatenate([train, validation]), file_labels)


@pytest.mark.parametrize("split", ebn_tf.data.SPLITS)
def test_batches(fmnist_data_dir, split):
    dataset = ebn_tf.data.load("fashion_mnist", split, 32, data_dir=fmnist_data_dir, take=100)
    # Training batches are all full; the others keep the remainder.
    assert len(labels(dataset)) == (96 if split == "train" else 100)
    unshuffled = ebn_tf.data.load(
        "fashion_mnist", split, 32, data_dir=fmnist_data_dir, take=100, shuffle=False
    )
    assert len(labels(unshuffled)) == 100
    images, batch_labels = next(iter(dataset))
    assert images.shape == (32, 28, 28, 1) and images.dtype == tf.float32
    assert batch_labels.shape == (32,) and batch_labels.dtype == tf.int32
    # Pixels as stored: the models normalise.
    assert 0 <= np.min(images) and 1 < np.max(images) <= 255
    assert set(batch_labels.numpy()) <= set(range(10))


def test_augmentation_is_deterministic_per_seed(fmnist_data_dir):
    def images(seed, **kwargs):
        dataset = ebn_tf.data.load(
            "fashion_mnist", "train", 16, data_dir=fmnist_data_dir, take=32, seed=seed, **kwargs
        )
        return np.concatenate([batch.numpy() for batch, _ in dataset])

    augmented = images(0, shuffle=False)
    np.testing.assert_array_equal(augmented, images(0, shuffle=False))
    assert not np.array_equal(augmented, images(1, shuffle=False))
    plain = images(0, shuffle=False, augment=False)
    assert augmented.shape == plain.shape and not np.array_equal(augmented, plain)
    assert 0 <= augmented.min() and augmented.max() <= 255
    np.testing.assert_array_equal(images(0), images(0))


def test_distributes_over_two_replicas(fmnist_data_dir):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dataset = ebn_tf.data.load("fashion_mnist", "train", 16, data_dir=fmnist_data_dir, take=32)
    for images, _ in strategy.experimental_distribute_dataset(dataset):
        assert [replica.shape[0] for replica in images.values] == [8, 8]


def test_missing_idx_files_name_the_debian_package(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ebn_tf.data.DatasetNotFoundError, match="dataset-fashion-mnist"):
        ebn_tf.data.load("fashion_mnist", "train", 8, data_dir=tmp_path, manual_dir=empty)
    monkeypatch.setenv("EBN_FMNIST_DIR", str(empty))
    with pytest.raises(ebn_tf.data.DatasetNotFoundError, match="EBN_FMNIST_DIR") as error:
        ebn_tf.data.info("fashion_mnist", data_dir=tmp_path)
    assert str(empty) in str(error.value)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.usefixtures("no_network")
def test_unprepared_cifar10_is_not_downloaded(tmp_path):
    with pytest.raises(ebn_tf.data.DatasetNotFoundError, match="tfds build cifar10") as error:
        ebn_tf.data.load("cifar10", "train", 8, data_dir=tmp_path)
    assert str(tmp_path) in str(error.value)


@pytest.mark.usefixtures("no_network")
def test_missing_imagenet_names_the_manual_dir(tmp_path):
    with pytest.raises(ebn_tf.data.DatasetNotFoundError, match="ILSVRC2012_img_train.tar") as error:
        ebn_tf.data.info("imagenet2012", data_dir=tmp_path)
    assert str(tmp_path / "downloads" / "manual") in str(error.value)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="cifar100"):
        ebn_tf.data.load("mnist", "train", 8)


def test_unknown_split_lists_the_splits():
    with pytest.raises(ValueError, match="validation"):
        ebn_tf.data.load("fashion_mnist", "val", 8)


def test_no_validation_split_without_validation_fraction(fmnist_data_dir):
    with pytest.raises(ValueError, match="validation_fraction"):
        ebn_tf.data.load(
            "fashion_mnist", "validation", 8, data_dir=fmnist_data_dir, validation_fraction=0
        )
