"""Gates moved back between clusters of their drifting input, each epoch (beyond the paper)."""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import recentre_gates


class GateRecentring(keras.callbacks.Callback):
    """At each epoch's end, moves every gate of ``model`` to the nearest-centroid rule of
    k-means clusters of its input over ``images``, started from the clusters it draws now
    (``ebn_tf.layers.recentre_gates``), and adds ``recentred/LAYER``, the share of the
    images the move sent to another expert, to the epoch's logs. Put it after
    ``ExpertUsageLog``, so the route changes it logs include the move's.

    Args:
        model: the model whose gates are moved (for a ``Distiller``, its student).
        images: a fixed array of training images, e.g. the first 2,048.
    """

    def __init__(self, model: keras.Model, images: np.ndarray):
        super().__init__()
        self.student = model
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        for name, share in recentre_gates(self.student, self.images).items():
            if logs is not None:
                logs[f"recentred/{name}"] = share
