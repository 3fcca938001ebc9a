"""Batched ``tf.data`` pipelines of the known datasets, read through tfds."""

from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds
from etils import epath

from ebn_tf._keras import tf
from ebn_tf.data.registry import DatasetSpec, get_spec

SPLITS = ("train", "validation", "test")

# tfds stores examples in a hashed (or, for Fashion-MNIST, an already random) order, so a
# buffer far smaller than ImageNet mixes well enough and keeps memory bounded.
_SHUFFLE_BUFFER = 10_000


class DatasetNotFoundError(FileNotFoundError):
    """The data of a dataset is neither prepared in the tfds data dir nor at hand offline."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model and a trainer need to know about a dataset.

    Args:
        name: the dataset's name.
        num_classes: number of labels.
        class_names: the label names, by index.
        input_shape: shape of the images ``load`` yields.
        split_sizes: number of examples of ``"train"``, ``"validation"`` and ``"test"``.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    split_sizes: dict[str, int]


def info(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    download: bool = False,
    validation_fraction: float = 0.1,
) -> DatasetInfo:
    """Classes, input shape and split sizes of a dataset, prepared in tfds if needed.

    Args:
        name: one of ``names()``.
        data_dir: the tfds data dir; ``None`` is tfds' default (``TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``).
        manual_dir: where the files of a manually obtained dataset are (the IDX files of
            Fashion-MNIST, the tars of ImageNet); see ``DatasetSpec`` for the defaults.
        download: let tfds download a dataset that is not prepared (CIFAR).
        validation_fraction: share of the tfds train split held out as validation split.

    Returns:
        The ``DatasetInfo``.

    Raises:
        DatasetNotFoundError: the data is missing; the message says how to get it.
    """
    spec = get_spec(name)
    builder = _prepared_builder(spec, data_dir, manual_dir, download)
    return DatasetInfo(
        name=name,
        num_classes=builder.info.features["label"].num_classes,
        class_names=tuple(builder.info.features["label"].names),
        input_shape=spec.input_shape,
        split_sizes=_split_sizes(spec, builder, validation_fraction),
    )


def load(
    name: str,
    split: str,
    batch_size: int,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    download: bool = False,
    shuffle: bool | None = None,
    augment: bool | None = None,
    take: int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches ``(images, labels)`` of a split, for ``model.fit`` and ``tf.distribute``.

    Images are float32 with the 0-255 pixels of the dataset (the models normalise them),
    labels int32. The validation split is the last ``validation_fraction`` of the tfds train
    split and ``"train"`` the rest; ``"test"`` is for final numbers only. Shuffled batches
    (the training stream) are all full, as distribution strategies need equal batches; the
    others keep the remainder. Shuffling and augmentation are deterministic for a ``seed``
    and differ from epoch to epoch. To evaluate on ``"train"``, pass ``shuffle=False,
    augment=False``.

    Args:
        name: one of ``names()``.
        split: one of ``"train"``, ``"validation"``, ``"test"``.
        batch_size: examples per batch (global, for distribution strategies).
        data_dir: the tfds data dir; ``None`` is tfds' default (``TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``).
        manual_dir: where the files of a manually obtained dataset are (the IDX files of
            Fashion-MNIST, the tars of ImageNet); see ``DatasetSpec`` for the defaults.
        download: let tfds download a dataset that is not prepared (CIFAR).
        shuffle: shuffle the examples; default: for ``"train"``.
        augment: apply the training augmentation; default: for ``"train"``.
        take: use only the first ``take`` examples of the split (for fast tests).
        validation_fraction: share of the tfds train split held out as validation split;
            0 trains on all of it.
        seed: seed of shuffling and augmentation.

    Returns:
        A prefetched ``tf.data.Dataset`` of batches.

    Raises:
        ValueError: unknown dataset or split, or no validation split.
        DatasetNotFoundError: the data is missing; the message says how to get it.

    Example:
        >>> train = ebn_tf.data.load("fashion_mnist", "train", 128)
        >>> model.fit(train, validation_data=ebn_tf.data.load("fashion_mnist", "validation", 128))
    """
    spec = get_spec(name)
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; splits: {list(SPLITS)}.")
    builder = _prepared_builder(spec, data_dir, manual_dir, download)
    num_train, num_validation, _ = _split_sizes(spec, builder, validation_fraction).values()
    if split == "validation" and not num_validation:
        raise ValueError(f"No validation split with validation_fraction={validation_fraction}.")
    tfds_split = {
        "train": f"train[:{num_train}]",
        "validation": f"train[{num_train}:]",
        "test": spec.test_split,
    }[split]
    training = split == "train"
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else augment

    # Decoding after shuffling keeps encoded images, not decoded ones, in the buffer. tfds
    # refuses to shuffle the files of a dataset stored in order (Fashion-MNIST, one file).
    # tfds caches a small split in memory; a ``take`` reads only part of it, which makes
    # tf.data drop that partial cache with a warning, so a ``take`` reads uncached.
    dataset = builder.as_dataset(
        split=tfds_split,
        shuffle_files=shuffle and not builder.info.disable_shuffling,
        read_config=tfds.ReadConfig(shuffle_seed=seed, try_autocache=take is None),
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    if take is not None:
        dataset = dataset.take(take)
    if shuffle:
        dataset = dataset.shuffle(_SHUFFLE_BUFFER, seed=seed)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    image_feature = builder.info.features["image"]

    def prepare(example, image_seed):
        image = tf.cast(image_feature.decode_example(example["image"]), tf.float32)
        if augment:
            image = spec.train_transform(image, image_seed)
        elif spec.eval_transform:
            image = spec.eval_transform(image)
        return tf.ensure_shape(image, spec.input_shape), tf.cast(example["label"], tf.int32)

    dataset = tf.data.Dataset.zip(dataset, seeds).map(prepare, tf.data.AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=shuffle).prefetch(tf.data.AUTOTUNE)


def _prepared_builder(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None,
    manual_dir: str | os.PathLike | None,
    download: bool,
) -> tfds.core.DatasetBuilder:
    """The tfds builder of ``spec``, prepared offline from its manual files if need be."""
    builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    help_text = spec.missing_help.format(tfds_name=spec.tfds_name, data_dir=builder.data_dir_root)
    if spec.manual_files:
        manual_dir = _manual_dir(spec, builder, manual_dir)
        missing = [file for file in spec.manual_files if not (manual_dir / file).exists()]
        if missing:
            raise DatasetNotFoundError(
                f"Dataset {spec.name!r}: {', '.join(missing)} not found in {manual_dir}. "
                f"{help_text}"
            )
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        builder.download_and_prepare(download_config=config)
    elif download:
        builder.download_and_prepare()
    else:
        raise DatasetNotFoundError(
            f"Dataset {spec.name!r} is not prepared in the tfds data dir "
            f"{builder.data_dir_root}, and download=False. {help_text}"
        )
    return builder


def _manual_dir(
    spec: DatasetSpec, builder: tfds.core.DatasetBuilder, manual_dir: str | os.PathLike | None
) -> epath.Path:
    """The argument, else the spec's environment variable, its default, tfds' default."""
    from_env = os.environ.get(spec.manual_dir_env) if spec.manual_dir_env else None
    return epath.Path(
        manual_dir or from_env or spec.manual_dir or builder.data_dir_root / "downloads" / "manual"
    )


def _split_sizes(
    spec: DatasetSpec, builder: tfds.core.DatasetBuilder, validation_fraction: float
) -> dict[str, int]:
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), not {validation_fraction}.")
    num_examples = builder.info.splits["train"].num_examples
    num_validation = round(num_examples * validation_fraction)
    return {
        "train": num_examples - num_validation,
        "validation": num_validation,
        "test": builder.info.splits[spec.test_split].num_examples,
    }
