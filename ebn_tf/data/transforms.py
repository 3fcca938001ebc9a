"""Per-image transforms on float32 images of 0-255 pixels; random ones are stateless.

Random transforms take a ``seed`` of shape ``[2]`` so that a pipeline seeded once gives the
same augmentations on every run, independent of parallel map scheduling.
"""

from __future__ import annotations

from ebn_tf._keras import tf


def pad_crop_flip(image: tf.Tensor, seed: tf.Tensor, padding: int) -> tf.Tensor:
    """Zero-pad each side by ``padding``, crop back to the original size, maybe flip.

    The CIFAR recipe (He et al., 2016, Sec. 4.2).

    Args:
        image: ``[height, width, channels]`` image.
        seed: ``[2]`` integer seed.
        padding: pixels added on each side before the crop.

    Returns:
        An image of the shape of ``image``.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(padded, tf.shape(image), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def random_resized_crop_flip(image: tf.Tensor, seed: tf.Tensor, size: int) -> tf.Tensor:
    """Crop 8-100% of the area at aspect ratio 3/4-4/3, resize to ``size``, maybe flip.

    The Inception crop (Szegedy et al., 2015) used by ImageNet training recipes.

    Args:
        image: ``[height, width, channels]`` image of any size.
        seed: ``[2]`` integer seed.
        size: side of the square output.

    Returns:
        A ``[size, size, channels]`` image.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=crop_seed,
        min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(0.08, 1.0),
        max_attempts=10,
    )
    image = tf.image.resize(tf.slice(image, begin, crop_size), (size, size))
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def resize_center_crop(image: tf.Tensor, resize: int, size: int) -> tf.Tensor:
    """Resize the shorter side to ``resize``, then crop the central ``size`` square.

    As torchvision's ``Resize(resize)`` + ``CenterCrop(size)`` of the released EBNet's
    evaluation: bilinear with antialiasing (PIL's filter when shrinking), the longer side
    truncated to ``int(resize * long / short)``, the crop's offset rounded half to even.

    Args:
        image: ``[height, width, channels]`` image of any size.
        resize: length of the shorter side after resizing; at least ``size``.
        size: side of the square output.

    Returns:
        A ``[size, size, channels]`` image.
    """
    shape = tf.shape(image)[:2]
    short = tf.reduce_min(shape)
    resized = tf.where(shape == short, resize, shape * resize // short)
    image = tf.image.resize(image, resized, antialias=True)
    top, left = tf.unstack(tf.cast(tf.round(tf.cast(resized - size, tf.float32) / 2), tf.int32))
    return image[top : top + size, left : left + size]
