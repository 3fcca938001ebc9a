"""The winner-takes-all gate of the expert layers: ``Dense(C -> N)`` on the global average
of a feature map, one expert per sample forward, the soft gate's gradient backward.

``EBConv2D`` carries one per layer and ``ExpertRouter`` one for every routed layer; both
take ``WinnerTakesAllGate`` for its weights and routing, and these functions for their
start state and checks.
"""

from __future__ import annotations

from ebn_tf._keras import keras, tf

GATE_ACTIVATIONS = ("softmax", "sigmoid")


def _release_gate_initializer():
    # PyTorch's nn.Linear default, U(+-1/sqrt(fan_in)), shrunk 9x as the released
    # training's AdamW shrinks the gate through step 1, where it is forced to expert 0 and
    # gets no gradient (docs/design/method.md section 2.1; issue 28): the gate step 3
    # starts from there.
    return keras.initializers.VarianceScaling(1 / (3 * 9**2), "fan_in", "uniform")


# Named start states of the gate kernel (its bias starts at zero). "clusters" is
# data-dependent: the layer starts as glorot, and the trainer's step 3 sets the gate from
# the data it reads (ebn_tf.layers.gate_clusters).
CLUSTERS = "clusters"
GATE_INITIALIZERS = {
    "glorot_uniform": lambda: keras.initializers.GlorotUniform(),
    "release": _release_gate_initializer,
    "zeros": lambda: keras.initializers.Zeros(),
    CLUSTERS: lambda: keras.initializers.GlorotUniform(),
}


def gate_initializer_of(value):
    """A Keras initializer: a name of ``GATE_INITIALIZERS``, else as Keras resolves it."""
    if isinstance(value, str) and value in GATE_INITIALIZERS:
        value = GATE_INITIALIZERS[value]()
    return keras.initializers.get(value)


def gate_logits(pooled: tf.Tensor, kernel, bias) -> tf.Tensor:
    """Gate logits ``(batch, N)`` from the global average of the real-valued input."""
    return tf.matmul(pooled, kernel) + bias


def gate_scores(inputs: tf.Tensor, kernel, bias, activation: str) -> tf.Tensor:
    """Soft gate ``(batch, N)`` on the global average of the 4-D ``inputs``."""
    logits = gate_logits(tf.reduce_mean(inputs, axis=[1, 2]), kernel, bias)
    return tf.nn.softmax(logits) if activation == "softmax" else tf.sigmoid(logits)


def winner_takes_all(soft: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The one-hot of each sample's best expert, with the straight-through gradient of
    the soft gate ``soft`` ``(batch, N)``, and the experts' indices ``(batch,)``."""
    index = tf.argmax(soft, axis=-1, output_type=tf.int32)
    hard = tf.one_hot(index, soft.shape[-1], dtype=soft.dtype)
    # hard + (soft - soft) is exactly hard forward, and has the soft gradient.
    return hard + (soft - tf.stop_gradient(soft)), index


def check_gate_fields(gate_activation: str, usage_balance: float) -> None:
    if gate_activation not in GATE_ACTIVATIONS:
        raise ValueError(
            f"gate_activation must be one of {GATE_ACTIVATIONS}, got {gate_activation!r}."
        )
    if not usage_balance >= 0:
        raise ValueError(f"usage_balance must be >= 0, got {usage_balance!r}.")


def usage_imbalance(soft: tf.Tensor, hard: tf.Tensor) -> tf.Tensor:
    """``N * sum_n f_n P_n`` of a batch: ``f`` the share of samples each expert gets
    (``hard``, one-hot, no gradient), ``P`` the mean of the gate scores ``soft``, each
    sample's normalised to sum to 1. 1 for an even spread; ``N P_n`` (up to N) when
    expert ``n`` takes every sample."""
    shares = tf.reduce_mean(tf.stop_gradient(hard), axis=0)
    scores = tf.reduce_mean(soft / tf.reduce_sum(soft, axis=-1, keepdims=True), axis=0)
    return float(soft.shape[-1]) * tf.reduce_sum(shares * scores)


class WinnerTakesAllGate:
    """The gate of a Keras layer with ``num_experts``: ``set_gate_fields`` checks and
    keeps ``gate_activation``, ``gate_initializer`` and ``usage_balance``, ``build_gate``
    makes ``gate_kernel`` and ``gate_bias``, ``route`` sends each sample to one expert."""

    def set_gate_fields(self, gate_activation: str, gate_initializer, usage_balance: float):
        check_gate_fields(gate_activation, usage_balance)
        self.gate_activation = gate_activation
        self.gate_initializer = gate_initializer_of(gate_initializer)
        self.usage_balance = float(usage_balance)

    def build_gate(self, channels: int) -> None:
        self.gate_kernel = self.add_weight(
            name="gate_kernel",
            shape=(channels, self.num_experts),
            initializer=self.gate_initializer,
        )
        self.gate_bias = self.add_weight(
            name="gate_bias", shape=(self.num_experts,), initializer="zeros"
        )

    def gate_probabilities(self, inputs: tf.Tensor) -> tf.Tensor:
        """Soft gate ``(batch, N)`` on the global average of the real-valued ``inputs``."""
        return gate_scores(inputs, self.gate_kernel, self.gate_bias, self.gate_activation)

    def selected_experts(self, inputs: tf.Tensor) -> tf.Tensor:
        """Index ``(batch,)`` of the expert the gate sends each sample to."""
        return tf.argmax(self.gate_probabilities(inputs), axis=-1, output_type=tf.int32)

    def route(self, inputs: tf.Tensor, training) -> tuple[tf.Tensor, tf.Tensor]:
        """Each sample's one-hot expert (straight-through gradient to the soft gate) and
        its index; in training, the ``usage_balance`` loss is added."""
        soft = self.gate_probabilities(inputs)
        hard, index = winner_takes_all(soft)
        if training and self.usage_balance:
            self.add_loss(self.usage_balance * usage_imbalance(soft, hard))
        return hard, index
