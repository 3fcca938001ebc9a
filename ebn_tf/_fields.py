"""Overrides of frozen dataclasses that reject unknown fields."""

from __future__ import annotations

import dataclasses


def replace_known(instance, overrides: dict, what: str):
    """``dataclasses.replace`` that names unknown fields (and the known ones) in its error."""
    known = {field.name for field in dataclasses.fields(instance)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown {what}(s) {unknown}; known {what}s: {sorted(known)}.")
    return dataclasses.replace(instance, **overrides)
