import numpy as np

import ebn_tf.data
from tests.harness import idx_items


def first_item(path):
    return idx_items(path, 1)[0]


def test_first_test_example_is_the_first_of_the_idx_files(fmnist_data_dir, fmnist_idx_dir):
    dataset = ebn_tf.data.load("fashion_mnist", "test", 1, data_dir=fmnist_data_dir, take=1)
    image, label = next(iter(dataset))
    np.testing.assert_array_equal(
        image[0, ..., 0], first_item(fmnist_idx_dir / "t10k-images-idx3-ubyte.gz")
    )
    assert label[0] == first_item(fmnist_idx_dir / "t10k-labels-idx1-ubyte.gz")


def test_builder_features(fmnist_data_dir):
    info = ebn_tf.data.FashionMNISTIDX(data_dir=fmnist_data_dir).info
    assert info.version == "1.0.0"
    assert info.features["image"].shape == (28, 28, 1)
    assert info.features["label"].num_classes == 10
    assert {name: split.num_examples for name, split in info.splits.items()} == {
        "train": 60000,
        "test": 10000,
    }
