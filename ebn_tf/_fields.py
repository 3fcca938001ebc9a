"""Frozen dataclasses whose fields are checked against their annotations, and overrides
that reject unknown fields."""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable

# A field's rule beyond its type: a test of the (normalised, non-None) value and what it
# allows, e.g. ``(lambda v: v >= 1, ">= 1")``.
Rule = tuple[Callable[[typing.Any], bool], str]

_MISMATCH = object()


def check_fields(instance, what: str, rules: dict[str, Rule]) -> None:
    """Check every field of the dataclass ``instance`` against its annotation and its rule,
    and store it normalised (a list as a tuple, an int in a float field as a float, a dict
    in a field of ``(key, value)`` pairs as its sorted items).

    A bool is not an int, nor a number, and a string is not a list.

    Raises:
        ValueError: ``"WHAT: FIELD=VALUE must be ALLOWED."``, e.g. ``"Recipe 'r':
            batch_size=True must be an int >= 1."``.
    """
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        value, hint = getattr(instance, field.name), hints[field.name]
        test, allowed = rules.get(field.name, (None, ""))
        normalised = _normalise(value, hint)
        if normalised is _MISMATCH or (
            test is not None and normalised is not None and not test(normalised)
        ):
            allowed = f"{describe(hint)} {allowed}".strip()
            raise ValueError(f"{what}: {field.name}={value!r} must be {allowed}.")
        object.__setattr__(instance, field.name, normalised)


def _normalise(value, hint):
    """``value`` in the form that ``hint`` declares, or ``_MISMATCH``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is types.UnionType:
        for arg in args:
            normalised = _normalise(value, arg)
            if normalised is not _MISMATCH:
                return normalised
        return _MISMATCH
    if hint is object:
        return value
    if hint is type(None) or hint is bool or hint is str:
        return value if isinstance(value, hint) else _MISMATCH
    if isinstance(value, bool):
        return _MISMATCH
    if hint is int:
        return int(value) if isinstance(value, numbers.Integral) else _MISMATCH
    if hint is float:
        real = isinstance(value, numbers.Real) and math.isfinite(value)
        return float(value) if real else _MISMATCH
    if origin is tuple:
        pairs = _is_pairs(hint)
        if pairs and isinstance(value, dict):
            value = list(value.items())
        if not isinstance(value, tuple | list):
            return _MISMATCH
        items = [args[0]] * len(value) if args[-1] is Ellipsis else args
        if len(items) != len(value):
            return _MISMATCH
        normalised = tuple(_normalise(v, h) for v, h in zip(value, items))
        if any(v is _MISMATCH for v in normalised):
            return _MISMATCH
        return tuple(sorted(dict(normalised).items())) if pairs else normalised
    raise TypeError(f"check_fields does not handle the annotation {hint}.")


def _is_pairs(hint) -> bool:
    """``tuple[tuple[K, V], ...]``: a dict, stored as (key, value) pairs to stay hashable."""
    args = typing.get_args(hint)
    return (
        args[-1] is Ellipsis
        and typing.get_origin(args[0]) is tuple
        and len(typing.get_args(args[0])) == 2
    )


_NAMES = {int: ("an int", "ints"), float: ("a number", "numbers"), str: ("a string", "strings")}


def describe(hint) -> str:
    """What ``hint`` allows, in words: ``"None (null) or an int"``, ``"a list of 3 ints"``."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is types.UnionType:
        # None first, so that a rule's words ("None (null) or an int >= 1") follow the type.
        return " or ".join(describe(a) for a in sorted(args, key=lambda a: a is not type(None)))
    if hint is type(None):
        return "None (null)"
    if hint is bool:
        return "a bool (true or false)"
    if hint is object:
        return "anything"
    if hint in _NAMES:
        return _NAMES[hint][0]
    if _is_pairs(hint):
        return f"a dict whose keys are {_NAMES[typing.get_args(args[0])[0]][1]}"
    if args[-1] is Ellipsis:
        return f"a list of {_NAMES[args[0]][1]}"
    if len(set(args)) == 1:
        return f"a list of {len(args)} {_NAMES[args[0]][1]}"
    raise TypeError(f"describe does not handle the annotation {hint}.")


def replace_known(instance, overrides: dict, what: str):
    """``dataclasses.replace`` that names unknown fields (and the known ones) in its error."""
    known = {field.name for field in dataclasses.fields(instance)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown {what}(s) {unknown}; known {what}s: {sorted(known)}.")
    return dataclasses.replace(instance, **overrides)
