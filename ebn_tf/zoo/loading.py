"""Zoo models as Keras models, and their top-1 on a dataset split."""

from __future__ import annotations

import os

from ebn_tf import models
from ebn_tf._keras import keras
from ebn_tf.zoo.files import download
from ebn_tf.zoo.registry import get


def load(name: str, mirror: str | os.PathLike | None = None, cache=None) -> keras.Model:
    """The Keras model of zoo model ``name`` with its published weights.

    Preprocessing is part of the model: give it images as the dataset stores them
    (0-255 pixel values), e.g. ``model.predict(raw_images)``; it returns logits.
    """
    model = models.build(get(name).model_config())
    model.load_weights(download(name, "keras", mirror, cache))
    return model


def top1(model: keras.Model, dataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` on a tf.data dataset of (images, labels) batches."""
    model.compile(metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
    return float(model.evaluate(dataset, verbose=0, return_dict=True)["accuracy"])


def evaluate(name: str, dataset, mirror: str | os.PathLike | None = None, cache=None) -> float:
    """Top-1 of zoo model ``name`` on ``dataset``, (images, labels) batches of its
    dataset as stored (see ``zoo.get(name).dataset``)."""
    return top1(load(name, mirror, cache), dataset)
