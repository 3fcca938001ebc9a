"""ebn_tf: Expert Binary Networks in Keras, trained with larq and exported with LCE.

``import ebn_tf`` loads the core: ``layers``, ``models`` and ``cost``. The other public
submodules load on first use, so ``ebn_tf.zoo.load(...)`` works after ``import ebn_tf``
alone, while the import itself pulls in no tensorflow-datasets, larq-compute-engine,
scikit-learn or plotting, and defines no absl flags.

Example:
    >>> import ebn_tf
    >>> model = ebn_tf.models.build("ebnet_fmnist")
    >>> recipe = ebn_tf.training.get_recipe("fmnist_quick")  # imports ebn_tf.training now
"""

import importlib
from types import ModuleType

from ebn_tf import (
    _keras,  # noqa: F401  (binds legacy Keras before anything else)
    cost,
    larq_summary,  # noqa: F401  (teaches larq.models.summary to count EBConv2D)
    layers,
    models,
)

__version__ = "0.1.0"

__all__ = ["cost", "layers", "models"]

# Public submodules imported on first attribute access (PEP 562): each brings a heavy
# dependency (tensorflow-datasets, larq-compute-engine, scikit-learn, matplotlib) that
# code using only the core should not pay for. They stay out of __all__, so that
# ``from ebn_tf import *`` does not import them all.
_LAZY_SUBMODULES = ("analysis", "data", "export", "outputs", "search", "training", "zoo")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        # import_module also binds the submodule on the package: later lookups skip this.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_SUBMODULES})
