import numpy as np
import pytest

from ebn_tf._keras import tf
from ebn_tf.data import transforms

IMAGE = tf.random.stateless_uniform((300, 400, 3), seed=(0, 0), maxval=255)
SEED = tf.constant([1, 2], tf.int64)


@pytest.mark.parametrize(
    "transform, shape",
    [
        (lambda image, seed: transforms.pad_crop_flip(image, seed, padding=4), (300, 400, 3)),
        (lambda image, seed: transforms.random_resized_crop_flip(image, seed, 224), (224, 224, 3)),
    ],
)
def test_random_transforms_are_stateless(transform, shape):
    image = transform(IMAGE, SEED)
    assert image.shape == shape
    np.testing.assert_array_equal(image, transform(IMAGE, SEED))
    assert not np.array_equal(image, transform(IMAGE, SEED + 1))
    assert 0 <= np.min(image) and np.max(image) <= 255


def test_resize_center_crop_keeps_the_centre():
    image = tf.random.stateless_uniform((256, 320, 3), seed=(0, 1), maxval=255)
    cropped = transforms.resize_center_crop(image, 256, 224)
    np.testing.assert_allclose(cropped, image[16:240, 48:272])
    assert transforms.resize_center_crop(IMAGE, 256, 224).shape == (224, 224, 3)
