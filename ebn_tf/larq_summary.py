"""``larq.models.summary`` counts an ``EBConv2D`` as ``ebn_tf.cost`` does.

larq 0.14 counts MACs only for the layer classes it lists, weight by weight: an expert
layer gets "?" MACs (listed, it would get N experts' MACs, and its gate's at every
pixel). Its summary has no hook for other layers, so importing ebn_tf swaps larq's
per-layer profile for a subclass that takes an expert layer's MACs from
``ebn_tf.cost.layer_cost``: one expert per sample, binary where both quantizers are.
Weights need no help: expert kernels are ``QuantizedVariable``s with their quantizer's
``precision``, which larq's summary reads for memory and compression.
"""

from __future__ import annotations

import larq.models

from ebn_tf.cost import layer_cost
from ebn_tf.layers import EBConv2D


class ExpertLayerProfile(larq.models.LayerProfile):
    """larq's profile of one layer, with an ``EBConv2D``'s MACs from ``ebn_tf.cost``."""

    def __init__(self, layer):
        super().__init__(layer)
        if isinstance(layer, EBConv2D):
            cost = layer_cost(layer)
            self.op_profiles = [
                larq.models.OperationProfile(n=n, precision=bits, op_type="mac")
                for n, bits in ((cost.bops, 1), (cost.flops, 32))
                if n
            ]

    def op_count(self, op_type: str | None = None, precision: int | None = None) -> int | None:
        if not isinstance(self._layer, EBConv2D):
            return super().op_count(op_type, precision)
        return sum(
            op.n
            for op in self.op_profiles
            if op.op_type == op_type and precision in (None, op.precision)
        )


# larq's ModelProfile looks the name up each time it profiles a layer.
larq.models.LayerProfile = ExpertLayerProfile
