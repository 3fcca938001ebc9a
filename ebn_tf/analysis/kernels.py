"""How far apart the experts of a layer are: step 2 starts them as copies of one kernel."""

from __future__ import annotations

import itertools

import numpy as np

from ebn_tf.layers import EBConv2D


def sign_disagreement(layer: EBConv2D) -> float:
    """Share of binary weights whose sign differs between two experts of ``layer``, the
    mean over pairs of experts: 0 while they are copies, about 0.5 for unrelated kernels.

    Signs as larq's ``ste_sign`` binarises: zero counts as +1.
    """
    if layer.num_experts < 2:
        raise ValueError(f"{layer.name} has {layer.num_experts} expert: nothing to compare.")
    signs = layer.kernel.numpy().reshape(layer.num_experts, -1) >= 0
    pairs = itertools.combinations(range(layer.num_experts), 2)
    return float(np.mean([np.mean(signs[a] != signs[b]) for a, b in pairs]))
