"""Keras layers of ebn_tf."""

from ebn_tf.layers.ebconv import EBConv2D
from ebn_tf.layers.gate_clusters import recentre_gates, start_gates_on_clusters
from ebn_tf.layers.policy import (
    absorb_kernel_magnitudes,
    expert_layers,
    gate_layers,
    hold_stem,
    load_first_expert,
    replicate_first_expert,
    router_of,
    selected_experts,
    set_binary_weights,
    set_forced_expert,
    usage_entropy_bits,
)
from ebn_tf.layers.router import ExpertRouter

__all__ = [
    "EBConv2D",
    "ExpertRouter",
    "absorb_kernel_magnitudes",
    "expert_layers",
    "gate_layers",
    "hold_stem",
    "load_first_expert",
    "recentre_gates",
    "replicate_first_expert",
    "router_of",
    "selected_experts",
    "set_binary_weights",
    "set_forced_expert",
    "start_gates_on_clusters",
    "usage_entropy_bits",
]
