"""What the apps read: a model named by a run directory, a saved Keras file or a zoo name,
and the dataset images they measure it on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ebn_tf import data, training, zoo
from ebn_tf._keras import keras


def load_model(
    source: str, mirror: str | os.PathLike | None = None
) -> tuple[keras.Model, str | None]:
    """The model ``source`` names and the dataset it was trained on (None if unknown).

    ``source`` is a finished run directory of the train app (its final binary model), a
    directory of ``ebn-zoo import-official``, a ``.keras``/``.h5`` file, or a zoo model
    name (downloaded from ``mirror``, see ``ebn_tf.zoo.download``, and verified).
    """
    if zoo.is_imported(source):
        model = zoo.load_imported(source)
        return model, "imagenet2012" if model.output_shape[-1] == 1000 else None
    if Path(source).is_dir():
        model, recipe = training.load_run(source)
        return model, recipe.dataset
    if Path(source).exists():
        try:
            return keras.models.load_model(source), None
        except (OSError, ValueError) as error:
            raise ValueError(
                f"Cannot load {source} as a saved Keras model (.keras or .h5): {error}"
            ) from error
    if zoo.registry.is_published(source):  # NAME, or NAME@K for an older version
        return zoo.load(source, mirror), zoo.get(source).dataset
    raise FileNotFoundError(
        f"No model {source!r}: give a run directory, a .keras/.h5 file or a zoo name "
        f"({zoo.names()})."
    )


def parity_pool(dataset: str | None, data_dir: str | None = None) -> np.ndarray | None:
    """The first 1,024 test images of ``dataset``, for ``export.parity_images`` to pick
    from; None when the dataset is unknown (parity then runs on random pixels)."""
    if dataset is None:
        return None
    return next(iter(data.load(dataset, "test", 1024, data_dir=data_dir)))[0].numpy()
