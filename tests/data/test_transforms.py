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


def test_resize_center_crop_follows_torchvision_sizes_and_offsets():
    # 375x500 -> 256x341 (torchvision truncates 341.33), crop offsets round(16) and
    # round(58.5) = 58 (half to even, as Python's round).
    columns = tf.broadcast_to(tf.range(500, dtype=tf.float32)[None, :, None], (375, 500, 1))
    cropped = transforms.resize_center_crop(columns, 256, 224).numpy()
    assert cropped.shape == (224, 224, 1)
    scale = 500 / 341
    expected = (np.arange(58, 58 + 224) + 0.5) * scale - 0.5  # resized pixel centres
    np.testing.assert_allclose(cropped[100, :, 0], expected, atol=0.6)
    # Shrinking averages (antialiasing): a one-pixel stripe pattern becomes flat grey.
    stripes = tf.cast(tf.range(768) % 2 * 255, tf.float32)
    stripes = tf.broadcast_to(stripes[None, :, None], (768, 768, 1))
    flat = transforms.resize_center_crop(stripes, 256, 224).numpy()
    assert np.ptp(flat[:, 2:-2]) < 40  # 255 without antialiasing
