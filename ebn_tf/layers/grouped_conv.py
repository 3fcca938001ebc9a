"""Grouped 2-D convolution that trains on every device, with or without oneDNN.

TensorFlow runs ``tf.nn.conv2d`` with a grouped filter (input depth a multiple of the
filter depth) forward everywhere, but its CPU gradient kernels exist only in the oneDNN
build of the ops, which TensorFlow turns on by default only on some x86 CPUs (and never
with ``TF_ENABLE_ONEDNN_OPTS=0``). Elsewhere the gradient fails at run time with
"Gradients for grouped convolutions are not supported on CPU". Where that is so, the
convolution runs one plain conv per group and concatenates, which has a gradient
everywhere and gives the same numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ebn_tf._keras import tf

FORMULATIONS = ("native", "per_group")


@functools.cache
def native_grouped_gradients() -> bool:
    """Whether TensorFlow can differentiate a grouped ``tf.nn.conv2d`` on the default device.

    Measured once per process with a tiny eager convolution (outside any trace): asking
    TensorFlow is the only reliable test, since oneDNN's default depends on the CPU.
    """
    # The gradient ops are called directly: init_scope (which escapes a trace) also
    # pauses gradient tapes.
    with tf.init_scope():
        x = tf.ones([1, 3, 3, 2])
        kernel = tf.ones([1, 1, 1, 2])
        try:
            tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x),
                filter=kernel,
                out_backprop=x,
                strides=[1, 1, 1, 1],
                padding="VALID",
            )
            tf.raw_ops.Conv2DBackpropFilter(
                input=x,
                filter_sizes=tf.shape(kernel),
                out_backprop=x,
                strides=[1, 1, 1, 1],
                padding="VALID",
            )
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return False
    return True


def grouped_conv2d(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides,
    padding: str,
    groups: int,
    formulation: str | None = None,
    prepare: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> tf.Tensor:
    """``tf.nn.conv2d`` of ``x`` with a kernel of ``groups`` groups, differentiable anywhere.

    Args:
        x: ``(batch, height, width, channels)`` input.
        kernel: ``(kh, kw, channels // groups, filters)`` grouped kernel.
        strides: int or pair.
        padding: ``"SAME"`` or ``"VALID"``.
        groups: number of groups; 1 is a plain convolution.
        formulation: ``"native"`` (TensorFlow's grouped kernel), ``"per_group"`` (one conv
            per group, then concatenated), or ``None`` to pick ``native`` wherever
            TensorFlow has its gradient.
        prepare: a function applied to the input of each conv: with ``per_group``, to
            each group's slice after the split. It must act on each channel alone (as a
            sign or a spatial border does), so that where it runs leaves the result
            unchanged. The export needs it: LCE fuses a sign and a border of 1s into a
            binary conv only when they come right before that conv, after the split.

    Returns:
        ``(batch, out_height, out_width, filters)``.
    """
    if formulation is None:
        formulation = "native" if native_grouped_gradients() else "per_group"
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS} or None, got {formulation!r}.")
    prepare = prepare or (lambda t: t)
    if groups == 1 or formulation == "native":
        return tf.nn.conv2d(prepare(x), kernel, strides=strides, padding=padding)
    pairs = zip(tf.split(x, groups, axis=-1), tf.split(kernel, groups, axis=-1))
    return tf.concat(
        [tf.nn.conv2d(prepare(part), k, strides=strides, padding=padding) for part, k in pairs],
        axis=-1,
    )
