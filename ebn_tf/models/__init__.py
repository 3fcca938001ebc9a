"""The EBNet model family: configs, presets and the builder."""

from ebn_tf.models.builder import build
from ebn_tf.models.config import EBNetConfig
from ebn_tf.models.presets import get_config, names, register

__all__ = ["EBNetConfig", "build", "get_config", "names", "register"]
