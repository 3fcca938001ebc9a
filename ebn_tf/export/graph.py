"""The batch-1 inference graph that LCE turns into one binary conv per expert.

Every ``EBConv2D`` becomes an ``ExpertSwitch``: the gate picks an expert index, and a
binary tree of ``tf.cond`` leads to one leaf per expert. Each leaf creates its expert's
binarised kernel as a constant (the LCE converter fuses only constant kernels it can
see inside the branch; a captured variable sends it to its float fallback) and runs
the layer's sign quantizer on ``x``, padded with 1, through a plain ``conv2d``, so LCE
emits one ``LceQuantize`` + ``LceBconv2d`` per leaf and only the selected expert runs
(docs/design/lce.md section 3).
"""

from __future__ import annotations

import numpy as np

from ebn_tf._keras import keras, tf
from ebn_tf.layers import EBConv2D
from ebn_tf.layers.borders import borders, conv_padding, pad_border
from ebn_tf.layers.ebconv import channel_scale
from ebn_tf.layers.gate import gate_logits
from ebn_tf.layers.grouped_conv import grouped_conv2d


def border_form(source: EBConv2D) -> str | None:
    """How ``source``'s border is exported: ``"same"`` (as it is: SAME, or an explicit
    border of 1s, which LCE fuses), ``"reversed"``, or None (LCE cannot run it binary).

    A border only before the image (PyTorch's on even sizes at stride 2: the trailing row
    is never read) is not SAME's, which pads after; as an explicit border LCE 0.16 leaves
    it float (zeros) or fuses it into SAME and moves the grid (1s; docs/design/lce.md).
    Reversed in height and width, the image has that border after it, where SAME puts it:
    the conv runs on the reversed image with the kernel reversed in (kh, kw), and its
    output is reversed back. Gate and channel scaling read the global average, which the
    reversal does not change.
    """
    own = source.spatial_padding
    same = borders(source.input_shape, source.kernel_size, source.strides, "same")
    if own is None or own == same:
        return "same"
    if tuple(pair[::-1] for pair in own) == same:
        return "reversed"
    return None


class ExpertSwitch(keras.layers.Layer):
    """Inference-only twin of a trained ``EBConv2D``; its weights are constants."""

    def __init__(self, source: EBConv2D, conditional: bool = True, **kwargs):
        super().__init__(name=source.name, **kwargs)
        self.conditional = conditional
        self.strides = source.strides
        self.reverse = border_form(source) == "reversed"
        padding = "same" if self.reverse else source.padding
        self.spatial_padding = source.explicit_borders(source.input_shape, padding)
        self.conv_padding = conv_padding(self.spatial_padding, padding)
        self.pad_value = source.pad_value
        self.groups = source.groups
        self.input_quantizer = source.input_quantizer
        self.experts = (
            [source.force_expert]
            if source.force_expert is not None
            else list(range(source.num_experts))
        )
        kernel = source.kernel.numpy()
        if self.reverse:
            kernel = kernel[:, ::-1, ::-1]
        # The forward of every sign quantizer LCE fuses (sign(0) = 1, as larq's).
        self.kernels = np.where(kernel >= 0, 1.0, -1.0).astype("float32")
        self.scale = source.scale.numpy()
        self.gate = (
            (source.gate_kernel.numpy(), source.gate_bias.numpy())
            if len(self.experts) > 1 and not source.routed
            else None
        )
        self.scaling = (
            (source.scaling_kernel1.numpy(), source.scaling_kernel2.numpy())
            if source.channel_scaling
            else None
        )

    def _binarise(self, x: tf.Tensor) -> tf.Tensor:
        return pad_border(self.input_quantizer(x), self.spatial_padding, self.pad_value)

    def _leaf(self, x: tf.Tensor, expert: int) -> tf.Tensor:
        if self.reverse:
            x = tf.reverse(x, [1, 2])
        # One binary conv per group: LCE's grouped bconv needs its indirect-BGEMM kernel,
        # which computes wrong results when an IF branch runs a second time.
        outputs = grouped_conv2d(
            x,
            tf.constant(self.kernels[expert]),
            self.strides,
            self.conv_padding,
            self.groups,
            formulation="per_group",
            prepare=self._binarise,
        )
        if self.reverse:
            outputs = tf.reverse(outputs, [1, 2])
        return outputs * tf.constant(self.scale)

    def _tree(self, x: tf.Tensor, index: tf.Tensor, experts: list[int]) -> tf.Tensor:
        if len(experts) == 1:
            return self._leaf(x, experts[0])
        half = len(experts) // 2
        # Nested tf.cond: LCE runs tf.switch_case as a custom op its interpreter lacks.
        return tf.cond(
            index < experts[half],
            lambda: self._tree(x, index, experts[:half]),
            lambda: self._tree(x, index, experts[half:]),
        )

    def call(self, inputs, routes=None):
        pooled = tf.reduce_mean(inputs, axis=[1, 2])
        if len(self.experts) == 1:
            outputs = self._leaf(inputs, self.experts[0])
        else:
            # A routed layer follows its router's one-hot routes.
            scores = routes
            if self.gate is not None:
                scores = gate_logits(pooled, *map(tf.constant, self.gate))
            index = tf.argmax(scores[0], output_type=tf.int32)
            if self.conditional:
                outputs = self._tree(inputs, index, self.experts)
            else:
                # Every expert runs; the one-hot gate keeps one (a baseline for benchmarks).
                outputs = tf.add_n(
                    [tf.cast(index == e, tf.float32) * self._leaf(inputs, e) for e in self.experts]
                )
        if self.scaling is not None:
            outputs = (
                outputs * channel_scale(pooled, *map(tf.constant, self.scaling))[:, None, None, :]
            )
        return outputs


def inference_model(model: keras.Model, conditional: bool = True) -> keras.Model:
    """A batch-1 copy of ``model`` with every ``EBConv2D`` replaced by its ``ExpertSwitch``
    (``conditional=False``: every expert runs and a one-hot mask keeps one)."""

    def clone(layer):
        if isinstance(layer, EBConv2D):
            return ExpertSwitch(layer, conditional)
        return layer.__class__.from_config(layer.get_config())

    # The gate picks one expert for the whole batch: the graph takes one image at a time.
    image = keras.Input(model.input_shape[1:], batch_size=1, name=model.inputs[0].name)
    copy = keras.models.clone_model(model, input_tensors=image, clone_function=clone)
    for layer in model.layers:
        if not isinstance(layer, EBConv2D) and layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy
