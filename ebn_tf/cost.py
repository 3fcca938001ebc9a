"""Cost accounting: binary operations, real-valued FLOPs, OPs, parameters, packed size.

Convention (docs/design/method.md section 7): a binary MAC is one BOP; FLOPs are real-valued MACs
(convs and dense layers, including gates, a router and channel scaling); OPs = FLOPs + BOPs / 64.
One expert runs per sample, so BOPs do not depend on the number of experts.

Precision is read as larq reads it: a kernel is binary when its quantizer has
``precision`` 1, and a MAC is binary when the input quantizer's is 1 too. So larq's
quantized layers (``QuantConv2D``, ``QuantDepthwiseConv2D``, ``QuantDense``) are counted
beside ``EBConv2D``, and ``larq.models.summary`` reports the same binary weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ebn_tf._keras import keras
from ebn_tf.layers import EBConv2D, ExpertRouter


@dataclass(frozen=True)
class LayerCost:
    """Costs of one layer, per sample; ``experts`` is the number of expert kernels it
    holds (1 for a layer that is not an expert layer)."""

    name: str
    kind: str
    output_shape: tuple
    bops: int
    flops: int
    binary_params: int
    real_params: int
    experts: int = 1


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
        """Binary weights one sample uses: one expert of each expert layer, every other
        binary kernel."""
        return sum(row.binary_params // row.experts for row in self.layers)

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


def _precision(quantizer) -> int:
    """Bits per value after a larq ``quantizer``, as larq's summary counts them: 32 for
    None, or for a plain function (it carries no ``precision``)."""
    return getattr(quantizer, "precision", None) or 32


def _trainable(layer, exclude=()) -> int:
    excluded = {id(w) for w in exclude}
    return int(sum(np.prod(w.shape) for w in layer.trainable_weights if id(w) not in excluded))


def _conv_macs(layer, kernel_hw, groups: int) -> int:
    _, height, width, filters = layer.output_shape
    return int(height * width * filters * layer.input_shape[-1] // groups * np.prod(kernel_hw))


def _macs_and_kernel(layer):
    """MACs per sample of one expert (or of the layer) and the kernel variable; None for a
    layer without a kernel."""
    if isinstance(layer, EBConv2D | keras.layers.Conv2D):
        return _conv_macs(layer, layer.kernel_size, layer.groups), layer.kernel
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return _conv_macs(layer, layer.kernel_size, layer.input_shape[-1]), layer.depthwise_kernel
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(layer.kernel.shape)), layer.kernel
    if isinstance(layer, ExpertRouter):
        return int(np.prod(layer.gate_kernel.shape)), layer.gate_kernel
    return None


def bits(layer) -> tuple[int, int]:
    """Bits of a layer's input and kernel values as deployed (32 where not quantized)."""
    if isinstance(layer, EBConv2D) and not layer.binary_activations:
        return 32, 32  # the real-valued twin (binary_weights only marks a training stage)
    kernel = getattr(layer, "kernel_quantizer", getattr(layer, "depthwise_quantizer", None))
    return _precision(getattr(layer, "input_quantizer", None)), _precision(kernel)


def layer_cost(layer) -> LayerCost:
    """Per-sample cost of one layer of a built functional model."""
    name, kind, shape = layer.name, type(layer).__name__, tuple(layer.output_shape[1:])
    found = _macs_and_kernel(layer)
    if found is None:
        return LayerCost(name, kind, shape, 0, 0, 0, _trainable(layer))
    macs, kernel = found
    input_bits, kernel_bits = bits(layer)
    binary = int(np.prod(kernel.shape)) if kernel_bits == 1 else 0
    bops = macs if input_bits == kernel_bits == 1 else 0
    flops = macs - bops
    experts = 1
    if isinstance(layer, EBConv2D):
        experts = layer.num_experts
        # The gate and the channel scaling: matrices applied to the pooled input.
        flops += int(sum(np.prod(w.shape) for w in layer.trainable_weights if len(w.shape) == 2))
    real = _trainable(layer, exclude=[kernel] if binary else [])
    return LayerCost(name, kind, shape, bops, flops, binary, real, experts)


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
        model.name, [layer_cost(layer) for layer in model.layers], experts.pop() if experts else 1
    )
