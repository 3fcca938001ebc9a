"""Expert analysis: usage per layer, expert-by-class, how far apart the experts are,
t-SNE of features (Fig. 1b)."""

from ebn_tf.analysis.kernels import sign_disagreement
from ebn_tf.analysis.report import analyze, class_information
from ebn_tf.analysis.usage import COLLAPSE_SHARE, LayerUsage, expert_by_class, expert_usage

__all__ = [
    "COLLAPSE_SHARE",
    "LayerUsage",
    "analyze",
    "class_information",
    "expert_by_class",
    "expert_usage",
    "sign_disagreement",
]
