"""How the gates use their experts: counts, entropy, collapse, expert-by-class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import expert_layers, selected_experts, usage_entropy_bits

# A layer sending more than this share of samples to one expert is reported as collapsed.
COLLAPSE_SHARE = 0.95


def expert_usage(model: keras.Model, images, batch_size: int = 256) -> dict[str, np.ndarray]:
    """For each expert layer (by name), the number of ``images`` sent to each expert."""
    return usage_counts(model, selected_experts(model, images, batch_size))


def training_routing_changes(model: keras.Model, images, batch_size: int = 128) -> dict[str, float]:
    """Per expert layer, the share of ``images`` whose expert differs between a training
    step's routing (BatchNorm on the statistics of each batch of ``batch_size``) and
    inference's (the moving statistics). The gate reads the BatchNorm output, so in
    training an image's expert depends on its batch: where this share is large, an image
    does not meet the same expert from one epoch to the next.
    """
    inference = selected_experts(model, images, batch_size)
    training = selected_experts(model, images, batch_size, training=True)
    return {name: float(np.mean(inference[name] != training[name])) for name in inference}


def usage_counts(model: keras.Model, chosen: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per layer, samples per expert, from the per-sample choices of ``selected_experts``."""
    sizes = {layer.name: layer.num_experts for layer in expert_layers(model)}
    return {name: np.bincount(c, minlength=sizes[name]) for name, c in chosen.items()}


@dataclass(frozen=True)
class LayerUsage:
    """Usage of one expert layer: ``entropy_bits`` of the usage distribution (``log2(N)``
    when uniform) and ``collapsed`` (more than ``COLLAPSE_SHARE`` of the samples go to one
    expert).

    Args:
        name: the layer's name.
        counts: samples per expert.
    """

    name: str
    counts: list[int]

    @property
    def shares(self) -> np.ndarray:
        return np.asarray(self.counts) / max(sum(self.counts), 1)

    @property
    def entropy_bits(self) -> float:
        return usage_entropy_bits(self.counts)

    @property
    def max_entropy_bits(self) -> float:
        return float(np.log2(len(self.counts)))

    @property
    def collapsed(self) -> bool:
        return bool(self.shares.max() > COLLAPSE_SHARE)

    def to_json(self) -> dict:
        return {
            "counts": [int(c) for c in self.counts],
            "entropy_bits": self.entropy_bits,
            "max_entropy_bits": self.max_entropy_bits,
            "collapsed": self.collapsed,
        }


def usage_report(usage: dict[str, np.ndarray]) -> list[LayerUsage]:
    return [LayerUsage(name, [int(c) for c in counts]) for name, counts in usage.items()]


def expert_by_class(chosen: np.ndarray, labels: np.ndarray, num_experts: int, num_classes: int):
    """``(num_experts, num_classes)`` counts of samples of each class sent to each expert."""
    matrix = np.zeros((num_experts, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(chosen), np.asarray(labels)), 1)
    return matrix
