"""One gate that routes every expert layer at once (beyond the paper; issue 28).

The capacity test measured that per-layer gates lose most of what experts could hold
because their routes drift: the features a gate reads train, and images cross its
boundaries (benchmarks/expert_capacity.py). Routes held fixed for each image kept the
capacity (+8.5 points of fit with one decision per image). An ``ExpertRouter`` on the
stem's output makes such a route something the model computes at inference: with the
stem and the router held once the experts are unforced (``hold_stem``), each image
keeps its expert in every layer from step 3 on.
"""

from __future__ import annotations

from ebn_tf._keras import keras, tf
from ebn_tf.layers.gate import WinnerTakesAllGate


@keras.utils.register_keras_serializable(package="ebn_tf")
class ExpertRouter(WinnerTakesAllGate, keras.layers.Layer):
    """A winner-takes-all gate ``Dense(C -> N)`` on the global average of a feature map,
    whose one-hot output routes every ``EBConv2D(routed=True)`` given it as ``routes``.

    Its output is exactly one-hot forward, with the straight-through gradient of the soft
    gate (as an ``EBConv2D``'s own gate); every routed layer's gate gradient reaches it.

    Args:
        num_experts: experts N of the layers it routes (>= 2).
        gate_activation, gate_initializer, usage_balance: as for ``EBConv2D``.

    Example:
        >>> routes = ExpertRouter(4, name="router")(stem)
        >>> y = EBConv2D(64, 3, num_experts=4, routed=True)(x, routes=routes)
    """

    def __init__(
        self,
        num_experts: int,
        gate_activation: str = "softmax",
        gate_initializer="glorot_uniform",
        usage_balance: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_experts, int) or num_experts < 2:
            raise ValueError(f"num_experts must be an int >= 2, got {num_experts!r}.")
        self.num_experts = num_experts
        self.set_gate_fields(gate_activation, gate_initializer, usage_balance)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.build_gate(int(input_shape[-1]))
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self.route(inputs, training)[0]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.num_experts])

    def get_config(self):
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "gate_activation": self.gate_activation,
            "gate_initializer": keras.initializers.serialize(self.gate_initializer),
            "usage_balance": self.usage_balance,
        }
