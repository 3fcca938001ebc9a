"""Two logical CPU devices for MirroredStrategy tests; set before TensorFlow starts."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ebn_tf  # noqa: E402,F401  (binds legacy Keras first)
from ebn_tf._keras import tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
