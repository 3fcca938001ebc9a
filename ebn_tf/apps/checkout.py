"""The apps' defaults in a source checkout, whose ``zoo/`` folder holds the published
files: a guess about where the code runs, which the library never makes."""

from __future__ import annotations

import os
from pathlib import Path

from ebn_tf.zoo import MIRROR_ENV

# The checkout's root, if ebn_tf runs from one (`python -m` there, or an editable install).
ROOT = Path(__file__).resolve().parents[2]


def checkout_zoo() -> Path | None:
    """The checkout's ``zoo/`` folder, or None when ebn_tf runs as an installed package."""
    zoo_dir = ROOT / "zoo"
    return zoo_dir if (ROOT / "setup.py").is_file() and zoo_dir.is_dir() else None


def zoo_mirror(mirror: str | None = None) -> str | Path | None:
    """Where the apps fetch zoo files: ``mirror`` (the ``--mirror`` flag) if given, else
    ``$EBN_ZOO_MIRROR``, else the checkout's ``zoo/`` folder, else None (the files' own
    urls on the default host)."""
    return mirror or os.environ.get(MIRROR_ENV) or checkout_zoo()


def checkout_registry() -> Path | None:
    """The registry file that a checkout's ``ebn_tf.zoo`` reads, which publishing extends."""
    return ROOT / "ebn_tf" / "zoo" / "registry.json" if checkout_zoo() else None
