"""The one Keras of ebn_tf: legacy Keras 2 (tf_keras), which larq requires.

Importing this module makes legacy Keras the Keras behind ``tf.keras``. TensorFlow
binds ``tf.keras`` lazily on first use, so setting ``TF_USE_LEGACY_KERAS`` works even
after ``import tensorflow`` as long as nothing has touched ``tf.keras`` yet.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

if os.environ["TF_USE_LEGACY_KERAS"] not in ("1", "true", "True") or (
    tf.keras.layers.Layer is not keras.layers.Layer
):
    raise ImportError(
        "ebn_tf needs legacy Keras (tf_keras) as tf.keras, because larq only works with "
        "Keras 2, but tf.keras is already bound to Keras 3. Fix: set the environment "
        "variable TF_USE_LEGACY_KERAS=1 before your program starts, or import ebn_tf "
        "before anything uses tf.keras."
    )

__all__ = ["keras", "tf"]
