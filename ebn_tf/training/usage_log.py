"""Per-epoch expert usage of every gate, in a fit's logs (metrics.csv, TensorBoard)."""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import expert_layers, selected_experts, usage_entropy_bits


class ExpertUsageLog(keras.callbacks.Callback):
    """At each epoch's end, routes ``images`` through ``model``'s gates (inference mode)
    and adds, per expert layer, ``usage_entropy/LAYER`` (bits; ``log2(N)`` is even use),
    ``usage_top_share/LAYER`` (the busiest expert's share; near 1 is a collapse) and
    ``route_changes/LAYER`` (the share of the images sent to another expert than at the
    previous epoch's end, or the fit's start: how far routing drifts while it trains) to
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
        self.routes: dict[str, np.ndarray] = {}

    def _gated_routes(self) -> dict[str, tuple[int, np.ndarray]]:
        gated = {
            layer.name: layer.num_experts
            for layer in expert_layers(self.student)
            if layer.num_experts > 1 and layer.force_expert is None
        }
        if not gated:
            return {}
        chosen = selected_experts(self.student, self.images)
        return {name: (gated[name], chosen[name]) for name in gated}

    def on_epoch_begin(self, epoch, logs=None):
        # The first epoch's start, once a resumed fit has restored its weights (Keras'
        # BackupAndRestore does so when training begins).
        if not self.routes:
            self.routes = {name: chosen for name, (_, chosen) in self._gated_routes().items()}

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for name, (experts, chosen) in self._gated_routes().items():
            counts = np.bincount(chosen, minlength=experts)
            logs[f"usage_entropy/{name}"] = usage_entropy_bits(counts)
            logs[f"usage_top_share/{name}"] = float(counts.max() / counts.sum())
            if name in self.routes:
                logs[f"route_changes/{name}"] = float(np.mean(chosen != self.routes[name]))
            self.routes[name] = chosen
