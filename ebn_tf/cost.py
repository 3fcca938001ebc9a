"""Cost accounting: binary operations, real-valued FLOPs, OPs, parameters, packed size.

Convention (EBNET.md section 6): a binary MAC is one BOP; FLOPs are real-valued MACs
(convs and dense layers, including gates and channel scaling); OPs = FLOPs + BOPs / 64.
One expert runs per sample, so BOPs do not depend on the number of experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import EBConv2D


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str
    output_shape: tuple
    bops: int
    flops: int
    binary_params: int
    real_params: int


@dataclass(frozen=True)
class CostReport:
    """Costs of a model, per sample; ``layers`` holds the per-layer rows."""

    name: str
    layers: list[LayerCost] = field(repr=False)
    num_experts: int

    @property
    def bops(self) -> int:
        return sum(row.bops for row in self.layers)

    @property
    def flops(self) -> int:
        return sum(row.flops for row in self.layers)

    @property
    def ops(self) -> float:
        return self.flops + self.bops / 64

    @property
    def binary_params(self) -> int:
        return sum(row.binary_params for row in self.layers)

    @property
    def binary_params_per_expert(self) -> int:
        return self.binary_params // self.num_experts

    @property
    def real_params(self) -> int:
        return sum(row.real_params for row in self.layers)

    @property
    def packed_bytes(self) -> int:
        """Binary weights at 1 bit, trainable real parameters at 32 bits."""
        return -(-self.binary_params // 8) + 4 * self.real_params

    def table(self) -> str:
        header = (
            f"{'layer':<34} {'kind':<20} {'output':<16} {'BOPs':>12} {'FLOPs':>12} "
            f"{'bin params':>11} {'real params':>11}"
        )
        rows = [header, "-" * len(header)]
        for r in self.layers:
            if r.bops or r.flops or r.binary_params or r.real_params:
                shape = "x".join(str(d) for d in r.output_shape)
                rows.append(
                    f"{r.name:<34} {r.kind:<20} {shape:<16} {r.bops:>12,} {r.flops:>12,} "
                    f"{r.binary_params:>11,} {r.real_params:>11,}"
                )
        return "\n".join(rows)

    def summary(self) -> str:
        return (
            f"{self.name}: BOPs {self.bops / 1e9:.3f}e9, FLOPs {self.flops / 1e8:.3f}e8, "
            f"OPs {self.ops / 1e8:.3f}e8, binary params {self.binary_params / 1e6:.2f} M "
            f"({self.binary_params_per_expert / 1e6:.2f} M per expert x {self.num_experts}), "
            f"real params {self.real_params / 1e6:.2f} M, "
            f"packed {self.packed_bytes / 2**20:.2f} MiB"
        )

    def __str__(self) -> str:
        return f"{self.table()}\n{self.summary()}"


def _trainable(layer, exclude=()) -> int:
    excluded = {id(w) for w in exclude}
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights if id(w) not in excluded))


def _conv_macs(layer, kernel_hw, groups: int) -> int:
    _, height, width, filters = layer.output_shape
    return int(height * width * filters * layer.input_shape[-1] // groups * np.prod(kernel_hw))


def _layer_cost(layer) -> LayerCost:
    bops = flops = binary = 0
    if isinstance(layer, EBConv2D):
        macs = _conv_macs(layer, layer.kernel_size, layer.groups)
        real_matrices = [w for w in layer.trainable_weights if len(w.shape) == 2]
        flops = int(sum(np.prod(w.shape) for w in real_matrices))
        if layer.binary_activations:  # the deployed binary conv, whatever the stage
            bops, binary = macs, int(np.prod(layer.kernel.shape))
            real = _trainable(layer, exclude=[layer.kernel])
        else:  # the real-valued twin
            flops += macs
            real = _trainable(layer)
    else:
        real = _trainable(layer)
        if isinstance(layer, keras.layers.Conv2D):
            flops = _conv_macs(layer, layer.kernel_size, layer.groups)
        elif isinstance(layer, keras.layers.Dense):
            flops = int(np.prod(layer.kernel.shape))
    return LayerCost(
        layer.name, type(layer).__name__, tuple(layer.output_shape[1:]), bops, flops, binary, real
    )


def profile(model: keras.Model) -> CostReport:
    """Per-sample cost of a built functional model.

    Example:
        >>> report = ebn_tf.cost.profile(ebn_tf.models.build("binary_resnet18"))
        >>> report.bops  # 1_676_279_808
    """
    experts = {layer.num_experts for layer in model.layers if isinstance(layer, EBConv2D)}
    if len(experts) > 1:
        raise ValueError(
            f"{model.name}: expert layers disagree on the number of experts {experts}."
        )
    return CostReport(
        model.name, [_layer_cost(layer) for layer in model.layers], experts.pop() if experts else 1
    )
