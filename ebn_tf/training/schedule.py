"""Learning-rate schedule of the recipe: linear warm-up, then step decay."""

from __future__ import annotations

from ebn_tf._keras import keras, tf


@keras.utils.register_keras_serializable(package="ebn_tf")
class WarmupStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``learning_rate`` reached linearly over the first ``warmup`` of ``total_steps``,
    multiplied by ``factor`` at each of the ``decays`` fractions of ``total_steps``.

    Reference: docs/design/method.md section 5 (10 warm-up epochs, /10 at 40, 55, 65 of 75).
    """

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup: float,
        decays: tuple[float, ...],
        factor: float = 0.1,
    ):
        self.learning_rate = learning_rate
        self.total_steps = total_steps
        self.warmup = warmup
        self.decays = tuple(decays)
        self.factor = factor

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        progress = step / self.total_steps
        passed = tf.add_n([tf.cast(progress >= d, tf.float32) for d in self.decays] + [0.0])
        rate = self.learning_rate * self.factor**passed
        warmup_steps = self.warmup * self.total_steps
        if warmup_steps > 0:
            rate = tf.minimum(rate, self.learning_rate * (step + 1) / warmup_steps)
        return rate

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup": self.warmup,
            "decays": self.decays,
            "factor": self.factor,
        }
