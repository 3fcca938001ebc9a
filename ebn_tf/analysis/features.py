"""Features before the classifier, and their 2-D t-SNE embedding."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE

from ebn_tf._keras import keras

FEATURE_LAYER = "head_pool"


def features(model: keras.Model, images, batch_size: int = 256) -> np.ndarray:
    """The pooled features the classifier sees (``head_pool`` output), ``(n, C)``."""
    probe = keras.Model(model.inputs, model.get_layer(FEATURE_LAYER).output)
    return probe.predict(images, batch_size=batch_size, verbose=0)


def tsne(points: np.ndarray, seed: int = 0) -> np.ndarray:
    """scikit-learn's t-SNE of ``points`` into 2-D (perplexity capped for small sets)."""
    if len(points) < 10:
        raise ValueError(f"t-SNE needs at least 10 images, got {len(points)}.")
    perplexity = min(30.0, (len(points) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)
