"""Plain-data conversion of the frozen spec dataclasses, driven by their type hints.

Tuples become lists and back, and ``float`` fields are always written as floats, so that
``from_dict(to_dict(x)) == x`` holds and the canonical JSON (hence the digest) of a spec
does not depend on whether a rate was written ``0`` or ``0.0``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_FLOAT_HINTS = (float, float | None)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a dataclass, computed once per class."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def fields_to_dict(obj: Any) -> dict[str, Any]:
    """The dataclass ``obj`` as a JSON-able dict (tuples as lists, float fields as floats)."""
    hints = _hints(type(obj))
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if hints[field.name] in _FLOAT_HINTS and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(value, float) and value == 0.0:
            value = 0.0  # not -0.0: equal specs give equal text (and digests)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def fields_from_dict(cls: type[T], data: Mapping[str, Any], *, label: str) -> T:
    """Build the dataclass ``cls`` from ``data``; unknown or missing keys raise ``ValueError``
    naming them.

    Lists become tuples for tuple-typed fields and integers become floats for float
    fields; the dataclass's own validation checks the values.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping, got {data!r}")
    hints = _hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = {field.name for field in fields}
    unknown = sorted(set(data) - names, key=str)  # YAML keys may be numbers
    if unknown:
        raise ValueError(f"{label} has unknown field(s) {unknown}; known: {sorted(names)}")
    missing = [f.name for f in fields if f.name not in data and _required(f)]
    if missing:
        raise ValueError(f"{label} is missing field(s) {missing}; got {dict(data)!r}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        elif hint in _FLOAT_HINTS and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                raise ValueError(
                    f"{label}.{name} must be a number a float holds, got an integer of {len(str(value))} digits"
                ) from None
        kwargs[name] = value
    return cls(**kwargs)


def _required(field: dataclasses.Field[Any]) -> bool:
    """Whether ``field`` has no default (a value must be given)."""
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
