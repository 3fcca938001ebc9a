"""Real-to-Binary distillation: attention transfer on stage outputs and logit matching."""

from __future__ import annotations

from ebn_tf._keras import keras, tf
from ebn_tf.training.mixup import mix


def attention_map(features: tf.Tensor) -> tf.Tensor:
    """L2-normalised mean over channels of ``x**2``, flattened per sample."""
    energy = tf.reduce_mean(tf.square(features), axis=-1)
    return tf.math.l2_normalize(tf.reshape(energy, [tf.shape(energy)[0], -1]), axis=-1)


def attention_transfer(student: list[tf.Tensor], teacher: list[tf.Tensor]) -> tf.Tensor:
    """Sum over stages of ``mean((A_student - A_teacher)**2)``."""
    return tf.add_n(
        [
            tf.reduce_mean(tf.square(attention_map(s) - attention_map(t)))
            for s, t in zip(student, teacher)
        ]
    )


def logit_kl(
    student_logits: tf.Tensor, teacher_logits: tf.Tensor, temperature: float = 1.0
) -> tf.Tensor:
    """Mean over samples of ``KL(softmax(t / T) || softmax(s / T))``."""
    teacher = tf.nn.softmax(teacher_logits / temperature)
    log_ratio = tf.nn.log_softmax(teacher_logits / temperature) - tf.nn.log_softmax(
        student_logits / temperature
    )
    return tf.reduce_mean(tf.reduce_sum(teacher * log_ratio, axis=-1))


def stage_output_names(model: keras.Model) -> list[str]:
    """The attention-transfer points: every ``stageN_output`` after the first stage."""
    names = sorted(
        layer.name
        for layer in model.layers
        if layer.name.endswith("_output") and layer.name.startswith("stage")
    )
    return names[1:]


def _stage_resolutions(model: keras.Model) -> list[tuple]:
    return [(n, tuple(model.get_layer(n).output.shape[1:3])) for n in stage_output_names(model)]


def _with_stage_outputs(model: keras.Model) -> keras.Model:
    outputs = [model.get_layer(name).output for name in stage_output_names(model)]
    return keras.Model(model.inputs, [model.output, *outputs], name=f"{model.name}_features")


class Distiller(keras.Model):
    """Trains ``student`` on cross-entropy plus attention transfer and logit KL from a
    frozen ``teacher`` of the same family (docs/design/method.md section 6). Keras ``fit``
    drives it, so callbacks, progress bars and ``tf.distribute`` work as for any model.

    Args:
        student, teacher: functional models with the same ``stageN_output`` layers at the
            same resolutions (the teacher may be wider or deeper).
        attention_weight, kl_weight, temperature: the distillation terms.
        mixup: if > 0, every training batch is mixed up (``mixup.mix``) with this Beta
            parameter, as the released training's ``--use-mixup`` (0.2); the teacher sees
            the mixed images and the accuracy is the ``lam``-weighted one of both labels.
        seed: seed of the mixup draws, one per optimizer step, so a resumed fit repeats them.
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        attention_weight: float,
        kl_weight: float,
        temperature: float,
        mixup: float = 0.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(name=f"{student.name}_distiller", **kwargs)
        if _stage_resolutions(student) != _stage_resolutions(teacher):
            raise ValueError(
                f"Teacher {teacher.name!r} and student {student.name!r} do not have the same "
                "stage outputs at the same resolutions, which attention transfer compares; "
                "use a teacher with the student's stages and strides (widths may differ)."
            )
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.student_features = _with_stage_outputs(student)
        self.teacher_features = _with_stage_outputs(teacher)
        self.attention_weight = attention_weight
        self.kl_weight = kl_weight
        self.temperature = temperature
        self.mixup = mixup
        self.seed = seed
        self.cross_entropy = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=keras.losses.Reduction.NONE
        )
        self.trackers = {
            name: keras.metrics.Mean(name) for name in ("loss", "cross_entropy", "attention", "kl")
        }
        self.accuracy = keras.metrics.SparseCategoricalAccuracy("accuracy")

    @property
    def metrics(self):
        return [*self.trackers.values(), self.accuracy]

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _loss_terms(self, images, labels, training, partners=None, lam=1.0):
        logits, *features = self.student_features(images, training=training)
        teacher_logits, *teacher_features = self.teacher_features(images, training=False)
        cross_entropy = self.cross_entropy(labels, logits)
        if partners is not None:
            cross_entropy = lam * cross_entropy + (1 - lam) * self.cross_entropy(partners, logits)
        terms = {
            "cross_entropy": tf.reduce_mean(cross_entropy),
            "attention": attention_transfer(features, teacher_features),
            "kl": logit_kl(logits, teacher_logits, self.temperature),
        }
        terms["loss"] = (
            terms["cross_entropy"]
            + self.attention_weight * terms["attention"]
            + self.kl_weight * terms["kl"]
        )
        return logits, terms

    def _record(self, labels, logits, terms, partners=None, lam=1.0):
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        if partners is None:
            self.accuracy.update_state(labels, logits)
        else:
            weights = tf.ones_like(labels, tf.float32)
            self.accuracy.update_state(labels, logits, lam * weights)
            self.accuracy.update_state(partners, logits, (1 - lam) * weights)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        images, labels = data
        mixed = {}
        if self.mixup > 0:
            seed = tf.stack([tf.constant(self.seed, tf.int64), self.optimizer.iterations])
            images, mixed["partners"], mixed["lam"] = mix(images, labels, self.mixup, seed)
        with tf.GradientTape() as tape:
            logits, terms = self._loss_terms(images, labels, training=True, **mixed)
            # Per-replica mean; gradients are summed over replicas.
            loss = terms["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            if self.student.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.student.losses))
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return self._record(labels, logits, terms, **mixed)

    def test_step(self, data):
        images, labels = data
        logits, terms = self._loss_terms(images, labels, training=False)
        return self._record(labels, logits, terms)
