"""Expert Binary Convolution: N binary expert kernels and a winner-takes-all gate."""

from __future__ import annotations

import larq as lq

from ebn_tf._keras import keras, tf
from ebn_tf.layers.borders import PADDINGS, borders, conv_padding, output_size, pad_border
from ebn_tf.layers.gate import WinnerTakesAllGate
from ebn_tf.layers.grouped_conv import grouped_conv2d
from ebn_tf.layers.kernel_mix import sample_gradients

EXECUTIONS = ("partition", "kernel_mix", "mask_sum")
PAD_VALUES = (0.0, 1.0)


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}.")
    return pair


def channel_scale(pooled: tf.Tensor, kernel1, kernel2) -> tf.Tensor:
    """Real-to-Binary data-driven scaling ``sigmoid(W2 relu(W1 pooled))``, ``(batch, C)``."""
    return tf.sigmoid(tf.matmul(tf.nn.relu(tf.matmul(pooled, kernel1)), kernel2))


@keras.utils.register_keras_serializable(package="ebn_tf")
class EBConv2D(WinnerTakesAllGate, lq.layers_base.BaseLayer):
    """Expert Binary Convolution (EBConv).

    Holds ``num_experts`` kernels shaped like one (grouped) conv kernel and a per-layer
    gate ``Dense(C_in -> N)`` on the global average of the real-valued input. The gate
    picks one expert per sample (winner-takes-all forward, straight-through gradient to
    the soft gate); the sample is convolved as ``sign(x) * sign(W_selected)`` (with the
    default quantizers), scaled by a learned per-channel ``alpha`` and, optionally, by the
    Real-to-Binary data-driven channel scaling ``sigmoid(W2 relu(W1 GAP(x)))``.

    Quantizers and the kernel constraint are given as for larq's ``QuantConv2D``: by name
    (``"ste_sign"``, ``"approx_sign"``, ``"swish_sign"``, ...) or as objects
    (``lq.quantizers.SteSign(clip_value=1.5)``). The defaults, ``ste_sign`` with clip 1 on
    both sides and no constraint, are the released training's. As in larq, the expert
    kernels are ``QuantizedVariable``s carrying the kernel quantizer's ``precision``, so
    ``larq.models.summary`` counts them at that many bits and larq's ``Bop`` optimizer
    treats 1-bit ones as binary.

    Each sample runs through its selected expert only: with ``execution="partition"``
    the batch is split by expert (``tf.dynamic_partition``), each part is convolved with
    its expert and the results are stitched back, so compute does not grow with N. The
    gate then receives gradient through the selected expert's probability only.
    ``execution="kernel_mix"`` runs the same forward and gives the gate the released
    training's gradient, as if each sample's kernel were ``sum_n g_n theta_n``: every
    expert's latent kernel against that sample's kernel gradient. The per-sample kernel
    gradients take the place of the conv's filter gradient (summed by expert, they are
    the experts' kernel gradients), so the gate's gradient adds only their contraction
    with the N latent kernels. With ``execution="mask_sum"`` every expert
    runs on every sample and the outputs are summed under the one-hot gate (N-fold
    compute; the gate's gradient goes through every expert's output). Partitioning has
    dynamic shapes; use ``mask_sum`` where static shapes are required (XLA, TPU).

    The two switches of the four-step training policy are plain attributes, kept in the
    config, changeable between fits (see ``ebn_tf.layers.set_binary_weights`` and
    ``set_forced_expert``, which also drop the model's traced functions):
    ``binary_weights`` (``kernel_quantizer`` on the latent kernel, else the real kernel)
    and ``force_expert`` (``None``: the gate decides; an index: every sample uses it).

    Args:
        filters: output channels.
        kernel_size: int or pair.
        num_experts: number of expert kernels N (>= 1). With 1 there is no gate.
        strides: int or pair.
        groups: grouped convolution groups; divides input channels and ``filters``.
        padding: ``"same"``, ``"valid"`` or ``"symmetric"`` (PyTorch's ``k // 2`` on both
            sides, as the released code; see ``ebn_tf.layers.borders``).
        pad_value: value of the padded border of the binarised input, 1.0 (which the LCE
            converter fuses on every target) or 0.0 (the paper; fused on ARM only). Real
            inputs (``binary_activations=False`` or no ``input_quantizer``) are padded
            with zeros.
        gate_activation: ``"softmax"`` (paper) or ``"sigmoid"`` (released training default)
            for the straight-through gradient.
        channel_scaling: apply the Real-to-Binary data-driven channel scaling.
        binary_weights: quantize the kernel with ``kernel_quantizer`` (else use it
            real-valued).
        binary_activations: quantize the input with ``input_quantizer``.
        force_expert: ``None`` or the expert index every sample is sent to.
        execution: ``"partition"``, ``"kernel_mix"`` or ``"mask_sum"`` (see above).
        kernel_initializer: initializer applied to each expert kernel separately.
        gate_initializer: initializer of the gate kernel: a name of ``GATE_INITIALIZERS``
            (``ebn_tf.layers.gate``; ``"release"``: the released training's gate as
            step 3 receives it;
            ``"clusters"``: glorot until ``start_gates_on_clusters`` sets it from data,
            as the trainer does at step 3's start) or any Keras initializer.
        usage_balance: weight of a usage-balancing loss added in training (beyond the
            paper; 0, the default, adds none): ``N * sum_n f_n P_n`` over the batch,
            ``f_n`` the share of samples sent to expert ``n`` (no gradient) and ``P_n``
            their mean gate score (normalised to sum to 1). It is 1 when the samples are
            spread evenly and up to N when one expert takes them all (Switch Transformer,
            Fedus et al. 2021); its gradient lowers the busiest experts' scores.
        routed: the layer has no gate of its own; each call takes ``routes``, the
            ``(batch, N)`` one-hot output of an ``ExpertRouter`` that routes every layer
            at once (beyond the paper; ``gate_*`` and ``usage_balance`` are the router's).
        input_quantizer: larq quantizer of the input (None: real-valued inputs).
        kernel_quantizer: larq quantizer of the expert kernels (None: real-valued kernels).
        kernel_constraint: constraint on the stacked ``(N, kh, kw, C_in / groups, filters)``
            latent kernels after each update, e.g. ``"weight_clip"`` (elementwise, as in
            ``QuantConv2D``).

    Example:
        >>> layer = EBConv2D(64, 3, num_experts=4, groups=2)
        >>> y = layer(tf.random.normal([8, 14, 14, 64]))

    Reference: docs/design/method.md section 2; Bulat et al., ICLR 2021 (arXiv
    2010.03558), section 3.1.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        num_experts: int = 4,
        strides=1,
        groups: int = 1,
        padding: str = "same",
        pad_value: float = 1.0,
        gate_activation: str = "softmax",
        channel_scaling: bool = True,
        binary_weights: bool = True,
        binary_activations: bool = True,
        force_expert: int | None = None,
        execution: str = "partition",
        kernel_initializer="glorot_uniform",
        gate_initializer="glorot_uniform",
        usage_balance: float = 0.0,
        routed: bool = False,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint=None,
        **kwargs,
    ):
        # larq's base layer keeps input_quantizer and gives the kernel variable its
        # quantizer (see _get_quantizer).
        super().__init__(input_quantizer=input_quantizer, **kwargs)
        for name, value in (("filters", filters), ("num_experts", num_experts), ("groups", groups)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if filters % groups:
            raise ValueError(f"groups={groups} must divide filters={filters}.")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}.")
        if float(pad_value) not in PAD_VALUES:
            raise ValueError(f"pad_value must be one of {PAD_VALUES}, got {pad_value!r}.")
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}.")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.num_experts = num_experts
        self.strides = _pair(strides, "strides")
        self.groups = groups
        self.padding = padding
        self.pad_value = float(pad_value)
        self.channel_scaling = channel_scaling
        self.binary_weights = binary_weights
        self.binary_activations = binary_activations
        self.force_expert = force_expert
        self.execution = execution
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.set_gate_fields(gate_activation, gate_initializer, usage_balance)
        self.routed = routed
        self.kernel_quantizer = lq.quantizers.get_kernel_quantizer(kernel_quantizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    @property
    def force_expert(self) -> int | None:
        return self._force_expert

    @force_expert.setter
    def force_expert(self, value: int | None) -> None:
        if value is not None and not (isinstance(value, int) and 0 <= value < self.num_experts):
            raise ValueError(
                f"force_expert must be None or an expert index in [0, {self.num_experts}), "
                f"got {value!r}."
            )
        self._force_expert = value

    @property
    def _quantizes_inputs(self) -> bool:
        return self.binary_activations and self.input_quantizer is not None

    def build(self, input_shape):
        channels = int(input_shape[-1])
        if channels % self.groups:
            raise ValueError(
                f"{self.name}: groups={self.groups} must divide the input channels ({channels})."
            )
        expert_shape = (*self.kernel_size, channels // self.groups, self.filters)

        def init_experts(shape, dtype=None):
            # A fresh initializer per expert: one unseeded instance repeats its values.
            config = keras.initializers.serialize(self.kernel_initializer)
            return tf.stack(
                [keras.initializers.get(config)(expert_shape, dtype) for _ in range(shape[0])]
            )

        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_experts, *expert_shape),
            initializer=init_experts,
            constraint=self.kernel_constraint,
        )
        self.scale = self.add_weight(name="scale", shape=(self.filters,), initializer="ones")
        if self.num_experts > 1 and not self.routed:
            self.build_gate(channels)
        if self.channel_scaling:
            hidden = max(self.filters // 8, 1)
            self.scaling_kernel1 = self.add_weight(
                name="scaling_kernel1", shape=(channels, hidden), initializer="glorot_uniform"
            )
            self.scaling_kernel2 = self.add_weight(
                name="scaling_kernel2", shape=(hidden, self.filters), initializer="glorot_uniform"
            )
        self.spatial_padding = self.explicit_borders(input_shape, self.padding)
        self.output_spatial = self.compute_output_shape(input_shape)[1:3]
        super().build(input_shape)

    def explicit_borders(self, input_shape, padding: str):
        """The explicit border the expert convs' input gets under ``padding`` (then
        convolved "VALID"), or None where TF's SAME padding gives the same border of the
        same value: ``spatial_padding`` is this for the layer's own ``padding``."""
        ones = self._quantizes_inputs and self.pad_value == 1.0
        if padding == "valid" or (padding == "same" and not ones):
            return None
        sizes = input_shape[1:3]
        if any(size is None for size in sizes):
            raise ValueError(
                f"{self.name}: padding={padding!r} with pad_value={self.pad_value} needs "
                "static spatial input dimensions; give the model's Input a fixed height and "
                "width."
            )
        wanted = borders(input_shape, self.kernel_size, self.strides, padding)
        if not any(sum(pair) for pair in wanted):
            return None
        if not ones and wanted == borders(input_shape, self.kernel_size, self.strides, "same"):
            return None
        return wanted

    @property
    def border_value(self) -> float:
        """The value of the explicit border: ``pad_value`` on binarised inputs, else 0."""
        return self.pad_value if self._quantizes_inputs else 0.0

    def _get_quantizer(self, name: str):
        # larq's hook: the kernel variable becomes a QuantizedVariable of this quantizer.
        return self.kernel_quantizer if name == "kernel" else None

    def expert_kernels(self) -> tf.Tensor:
        """The N kernels as used by the conv: quantized if ``binary_weights``."""
        return self._quantize_kernel(self.kernel)

    def _quantize_kernel(self, kernel) -> tf.Tensor:
        # A tensor, not the variable: a variable read inside larq's tf.custom_gradient fails.
        kernel = tf.convert_to_tensor(kernel)
        if self.binary_weights and self.kernel_quantizer is not None:
            return self.kernel_quantizer(kernel)
        return kernel

    def selected_experts(self, inputs: tf.Tensor) -> tf.Tensor:
        """Index ``(batch,)`` of the expert each sample is sent to (a routed layer's come
        from its router)."""
        batch = tf.shape(inputs)[0]
        if self.num_experts == 1 or self.force_expert is not None:
            return tf.fill([batch], tf.constant(self.force_expert or 0, tf.int32))
        if self.routed:
            raise ValueError(f"{self.name} is routed: its experts are its router's choice.")
        return super().selected_experts(inputs)

    def _gate(self, inputs: tf.Tensor, training, routes) -> tuple[tf.Tensor, tf.Tensor]:
        """One-hot gate forward with a straight-through gradient to the soft gate."""
        if self.routed:
            if routes is None:
                raise ValueError(
                    f"{self.name} is routed (routed=True): call it with the routes of an "
                    "ExpertRouter, layer(x, routes=router(features))."
                )
            return routes, tf.argmax(routes, axis=-1, output_type=tf.int32)
        return self.route(inputs, training)

    @property
    def conv_padding(self) -> str:
        """``tf.nn.conv2d``'s padding of the expert convs, once ``spatial_padding`` (if
        any) is applied to their input."""
        return conv_padding(self.spatial_padding, self.padding)

    def _conv(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return grouped_conv2d(x, kernel, self.strides, self.conv_padding, self.groups)

    def _expert_conv(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        # TF's CPU conv returns an input-shaped tensor for an empty batch (an expert that no
        # sample chose), which dynamic_stitch rejects.
        return tf.cond(
            tf.shape(x)[0] > 0,
            lambda: self._conv(x, kernel),
            lambda: tf.zeros([0, *self.output_spatial, self.filters], x.dtype),
        )

    def _partitioned_conv(self, x: tf.Tensor, kernels: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
        """Each sample through its expert only: split the batch by expert, convolve, stitch."""
        parts = tf.dynamic_partition(x, index, self.num_experts)
        positions = tf.dynamic_partition(tf.range(tf.shape(x)[0]), index, self.num_experts)
        return tf.dynamic_stitch(
            positions, [self._expert_conv(part, kernels[e]) for e, part in enumerate(parts)]
        )

    def _kernel_mix_conv(self, x, kernels, gate, index) -> tf.Tensor:
        """The partitioned conv, with the released training's gate gradient.

        The released code convolves each sample with ``W = sum_n g_n theta_n`` (``g``
        one-hot forward, ``theta`` the latent kernels) binarised with a straight-through
        estimator, so the gate receives ``<dL/dW, theta_n>`` for every expert ``n``: how
        the loss would move toward each other expert. Here the forward still runs one expert
        per sample, and that gradient comes from each sample's kernel gradient instead of
        ``N`` convolutions. The same per-sample gradients, summed by expert, give the
        experts' kernel gradients, so the conv's filter gradient is not computed.
        """
        latent = tf.stop_gradient(tf.convert_to_tensor(self.kernel))
        ste_mask = None  # real kernels: the identity's derivative, all ones
        if self.binary_weights and self.kernel_quantizer is not None:
            with tf.GradientTape() as tape:
                tape.watch(latent)
                quantized = self._quantize_kernel(latent)
            # The kernel quantizer's elementwise derivative (its STE mask), per expert.
            ste_mask = tf.reshape(tape.gradient(quantized, latent), [self.num_experts, -1])
        latent = tf.reshape(latent, [self.num_experts, -1])

        @tf.custom_gradient
        def conv(x, kernels, gate):
            with tf.GradientTape() as inner:
                inner.watch(x)
                outputs = self._partitioned_conv(x, tf.stop_gradient(kernels), index)

            def grad(upstream):
                x_grad = inner.gradient(outputs, x, output_gradients=upstream)
                padded = x
                if self.conv_padding == "SAME":
                    padded = pad_border(x, borders(x.shape, self.kernel_size, self.strides, "same"))
                kernel_grad, gate_grad = sample_gradients(
                    padded,
                    upstream,
                    index,
                    ste_mask,
                    latent,
                    kernel_size=self.kernel_size,
                    strides=self.strides,
                    groups=self.groups,
                )
                return x_grad, kernel_grad, gate_grad

            return outputs, grad

        return conv(x, kernels, gate)

    def call(self, inputs, training=None, routes=None):
        x = self.input_quantizer(inputs) if self._quantizes_inputs else inputs
        x = pad_border(x, self.spatial_padding, self.border_value)
        kernels = self.expert_kernels()
        # Every per-sample and per-channel factor is gathered into one (batch, 1, 1, C)
        # tensor, so the feature map is multiplied once, forward and backward.
        factor = self.scale[None, :]
        if self.channel_scaling:
            pooled = tf.reduce_mean(inputs, axis=[1, 2])
            factor = factor * channel_scale(pooled, self.scaling_kernel1, self.scaling_kernel2)
        if self.num_experts == 1 or self.force_expert is not None:
            outputs = self._conv(x, kernels[self.force_expert or 0])
        elif self.execution == "partition":
            gate, index = self._gate(inputs, training, routes)
            outputs = self._partitioned_conv(x, kernels, index)
            # Exactly 1 forward; carries the straight-through gradient to the gate.
            factor = factor * tf.gather(gate, index, batch_dims=1)[:, None]
        elif self.execution == "kernel_mix":
            gate, index = self._gate(inputs, training, routes)
            outputs = self._kernel_mix_conv(x, kernels, gate, index)
        else:
            gate, _ = self._gate(inputs, training, routes)
            outputs = tf.add_n(
                [
                    gate[:, e, None, None, None] * self._conv(x, kernels[e])
                    for e in range(self.num_experts)
                ]
            )
        return outputs * factor[:, None, None, :]

    def replicate_expert(self, source: int = 0) -> None:
        """Copy expert ``source``'s latent kernel into every expert (step 2 of the policy)."""
        self.kernel.assign(tf.repeat(self.kernel[source : source + 1], self.num_experts, axis=0))

    def absorb_kernel_magnitude(self) -> None:
        """Fold the latent kernels' mean ``|W|`` per output channel into ``scale``.

        ``sign(W) * mean|W|`` is the closest binary kernel to ``W`` (XNOR-Net), so after
        this the binarised conv keeps the output magnitude the real-weight stages trained
        (no BatchNorm follows the conv to absorb a ~1/mean|W| jump). Called once when the
        weights are binarised (step 4); the mean runs over every expert.
        """
        magnitude = tf.reduce_mean(tf.abs(self.kernel), axis=[0, 1, 2, 3])
        self.scale.assign(self.scale * magnitude)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        sizes = [
            None if size is None else output_size(size, k, s, self.padding)
            for size, k, s in zip(input_shape[1:3], self.kernel_size, self.strides)
        ]
        return tf.TensorShape([input_shape[0], *sizes, self.filters])

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "num_experts": self.num_experts,
            "strides": self.strides,
            "groups": self.groups,
            "padding": self.padding,
            "pad_value": self.pad_value,
            "gate_activation": self.gate_activation,
            "channel_scaling": self.channel_scaling,
            "binary_weights": self.binary_weights,
            "binary_activations": self.binary_activations,
            "force_expert": self.force_expert,
            "execution": self.execution,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "gate_initializer": keras.initializers.serialize(self.gate_initializer),
            "usage_balance": self.usage_balance,
            "routed": self.routed,
            # input_quantizer is in larq's base config.
            "kernel_quantizer": lq.quantizers.serialize(self.kernel_quantizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
        }
