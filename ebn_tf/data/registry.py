"""The known datasets: how tfds names them, how to preprocess them, how to get them."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

from ebn_tf._keras import tf
from ebn_tf.data import transforms
from ebn_tf.data.fashion_mnist_idx import IDX_FILES


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is read from tfds and fed to a model.

    Args:
        name: our name of the dataset.
        tfds_name: the name of its tfds builder.
        input_shape: shape of the images fed to the model.
        train_transform: ``(image, seed) -> image``, the training augmentation.
        eval_transform: ``image -> image`` without augmentation; ``None`` keeps the image.
        test_split: the tfds split reported as the test split.
        manual_files: files the tfds manual dir must hold; empty if tfds downloads them.
        manual_dir: default manual dir; ``None`` is tfds' ``DATA_DIR/downloads/manual``.
        manual_dir_env: environment variable that overrides ``manual_dir``.
        missing_help: how to get the data; ``{tfds_name}`` and ``{data_dir}`` are filled in.
    """

    name: str
    tfds_name: str
    input_shape: tuple[int, int, int]
    train_transform: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    eval_transform: Callable[[tf.Tensor], tf.Tensor] | None = None
    test_split: str = "test"
    manual_files: tuple[str, ...] = ()
    manual_dir: str | None = None
    manual_dir_env: str | None = None
    missing_help: str = ""


_CIFAR_HELP = (
    "tfds downloads it: prepare it once with network access, with "
    "`tfds build {tfds_name} --data_dir {data_dir}` or `ebn_tf.data.load(..., download=True)`, "
    "or point data_dir (or the environment variable TFDS_DATA_DIR) at a data dir holding it."
)

_SPECS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="fashion_mnist",
            tfds_name="fashion_mnist_idx",
            input_shape=(28, 28, 1),
            train_transform=functools.partial(transforms.pad_crop_flip, padding=2),
            manual_files=tuple(file for files in IDX_FILES.values() for file in files),
            manual_dir="/usr/share/datasets/fashion-mnist",
            manual_dir_env="EBN_FMNIST_DIR",
            missing_help=(
                "Install Debian's package with `sudo apt-get install dataset-fashion-mnist` "
                "(it puts them in /usr/share/datasets/fashion-mnist), or point manual_dir or "
                "the environment variable EBN_FMNIST_DIR at a directory holding them."
            ),
        ),
        *(
            DatasetSpec(
                name=name,
                tfds_name=name,
                input_shape=(32, 32, 3),
                train_transform=functools.partial(transforms.pad_crop_flip, padding=4),
                missing_help=_CIFAR_HELP,
            )
            for name in ("cifar10", "cifar100")
        ),
        DatasetSpec(
            name="imagenet2012",
            tfds_name="imagenet2012",
            input_shape=(224, 224, 3),
            train_transform=functools.partial(transforms.random_resized_crop_flip, size=224),
            eval_transform=functools.partial(transforms.resize_center_crop, resize=256, size=224),
            # Labels of the ILSVRC2012 test set were never released: the tfds validation
            # split (50,000 images) is the test split of the literature.
            test_split="validation",
            manual_files=("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
            missing_help=(
                "Download them from https://image-net.org (after registering) into that "
                "directory, the tfds manual dir, or point manual_dir at theirs; tfds prepares "
                "them once, in hours."
            ),
        ),
    )
}


def names() -> list[str]:
    """Names of the known datasets."""
    return sorted(_SPECS)


def get_spec(name: str) -> DatasetSpec:
    """The spec of the dataset ``name``; a ``ValueError`` lists the known names on a miss."""
    if name not in _SPECS:
        raise ValueError(f"Unknown dataset {name!r}; known datasets: {names()}.")
    return _SPECS[name]
