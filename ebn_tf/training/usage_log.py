"""Per-epoch expert usage of every gate, in a fit's logs (metrics.csv, TensorBoard)."""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import expert_layers, selected_experts, usage_entropy_bits


class ExpertUsageLog(keras.callbacks.Callback):
    """At each epoch's end, routes ``images`` through ``model``'s gates (inference mode)
    and adds, per expert layer, ``usage_entropy/LAYER`` (bits; ``log2(N)`` is even use)
    and ``usage_top_share/LAYER`` (the busiest expert's share; near 1 is a collapse) to
    the epoch's logs. Put it before the loggers (``CSVLogger``, ``TensorBoard``) in the
    callback list: Keras hands every callback the same logs in list order.

    Args:
        model: the model whose gates are read (for a ``Distiller``, its student).
        images: a fixed array of images, e.g. the first 1,024 validation images.
    """

    def __init__(self, model: keras.Model, images: np.ndarray):
        super().__init__()
        self.student = model
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        gated = {
            layer.name: layer.num_experts
            for layer in expert_layers(self.student)
            if layer.num_experts > 1 and layer.force_expert is None
        }
        if not gated:
            return
        for name, chosen in selected_experts(self.student, self.images).items():
            if name not in gated:
                continue
            counts = np.bincount(chosen, minlength=gated[name])
            logs[f"usage_entropy/{name}"] = usage_entropy_bits(counts)
            logs[f"usage_top_share/{name}"] = float(counts.max() / counts.sum())
