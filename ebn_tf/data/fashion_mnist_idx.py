"""Fashion-MNIST as a tfds builder that reads the IDX files of its manual dir, offline."""

from __future__ import annotations

import gzip

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

CLASS_NAMES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class FashionMNISTIDX(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST (Xiao et al., 2017) built from its gzipped IDX files, never downloaded.

    The manual dir holds the four files of the original release (Debian's package
    ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``). Examples
    keep the order of the IDX files, so a slice of a split is a slice of the file.

    Example:
        >>> builder = tfds.builder("fashion_mnist_idx", data_dir=data_dir)
        >>> builder.download_and_prepare(
        ...     download_config=tfds.download.DownloadConfig(manual_dir=idx_dir))
    """

    name = "fashion_mnist_idx"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place the four gzipped IDX files of Fashion-MNIST in the manual dir, e.g. with "
        "`sudo apt-get install dataset-fashion-mnist` and "
        "manual_dir=/usr/share/datasets/fashion-mnist."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Fashion-MNIST: 28x28 grayscale images of 10 kinds of clothing.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            # The IDX files are already in random order; keeping it makes slices reproducible.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {
            split: self._generate_examples(
                dl_manager.manual_dir / images, dl_manager.manual_dir / labels
            )
            for split, (images, labels) in IDX_FILES.items()
        }

    def _generate_examples(self, images_path: epath.Path, labels_path: epath.Path):
        images, labels = _read_idx(images_path), _read_idx(labels_path)
        for index, (image, label) in enumerate(zip(images, labels)):
            yield index, {"image": image[..., np.newaxis], "label": label}


def _read_idx(path: epath.Path) -> np.ndarray:
    """The array in a gzipped IDX file (unsigned bytes, big-endian dimension sizes)."""
    with path.open("rb") as file, gzip.open(file) as unzipped:
        data = unzipped.read()
    ndim = data[3]
    shape = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)
