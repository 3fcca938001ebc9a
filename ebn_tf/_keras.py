"""The one Keras of ebn_tf: legacy Keras 2 (tf_keras), which larq requires.

Importing this module makes legacy Keras the Keras behind ``tf.keras``. It must come
before ``import tensorflow`` (or the environment must set ``TF_USE_LEGACY_KERAS=1``):
with Keras 3 installed, importing TensorFlow without the variable binds the import path
``tensorflow.keras``, which larq uses, to Keras 3.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402


def _legacy_keras_is_bound() -> bool:
    # larq reaches Keras both as the attribute tf.keras and through the import path
    # tensorflow.keras; either may have been bound to Keras 3 before we set the variable.
    from tensorflow.keras.layers import Layer

    return tf.keras.layers.Layer is keras.layers.Layer and Layer is keras.layers.Layer


if os.environ["TF_USE_LEGACY_KERAS"] not in ("1", "true", "True") or not _legacy_keras_is_bound():
    raise ImportError(
        "ebn_tf needs legacy Keras (tf_keras) behind tf.keras, because larq only works with "
        "Keras 2, but TensorFlow was imported without TF_USE_LEGACY_KERAS=1 and bound "
        "Keras 3. Fix: import ebn_tf before tensorflow, or set the environment variable "
        "TF_USE_LEGACY_KERAS=1 before your program starts."
    )

__all__ = ["keras", "tf"]
