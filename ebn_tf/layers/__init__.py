"""Keras layers of ebn_tf."""

from ebn_tf.layers.ebconv import EBConv2D
from ebn_tf.layers.gate_clusters import recentre_gates, start_gates_on_clusters
from ebn_tf.layers.policy import (
    absorb_kernel_magnitudes,
    expert_layers,
    load_first_expert,
    replicate_first_expert,
    selected_experts,
    set_binary_weights,
    set_forced_expert,
    usage_entropy_bits,
)

__all__ = [
    "EBConv2D",
    "absorb_kernel_magnitudes",
    "expert_layers",
    "load_first_expert",
    "recentre_gates",
    "replicate_first_expert",
    "selected_experts",
    "set_binary_weights",
    "set_forced_expert",
    "start_gates_on_clusters",
    "usage_entropy_bits",
]
