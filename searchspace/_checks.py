"""The vocabulary of the spec language and the checks that quote a bad value.

Block specs and the search space validate their fields with these helpers, so every
message has the same shape: ``ConvBlock.kernel_size must be one of (1, 3, 5, 7), got 4``.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

KERNEL_SIZES = (1, 3, 5, 7)
STRIDES = (1, 2)
PADDINGS = ("same", "valid")
ACTIVATIONS = ("relu", "elu", "gelu", "selu", "swish", "tanh")
POOL_KINDS = ("max", "avg")
POOL_SIZES = (2, 3)
HEAD_POOLINGS = ("gap", "flatten")


def check_choice(label: str, value: Any, allowed: Collection[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed`` (``True`` is not ``1`` here)."""
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(f"{label} must be one of {tuple(allowed)}, got {value!r}")


def check_int(label: str, value: Any, *, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an ``int`` (not a ``bool``) of at least ``minimum``."""
    if type(value) is not int or value < minimum:
        raise ValueError(f"{label} must be a Python int >= {minimum}, got {value!r}")


def check_rate(label: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a number in [0, 1), as a dropout rate must be."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(f"{label} must be a number in [0, 1), got {value!r}")


def check_bool(label: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{label} must be true or false, got {value!r}")


def check_limit(label: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is ``None`` (no limit) or an integer >= 1."""
    if value is not None and (not _is_integer(value) or value < 1):
        raise ValueError(f"{label} must be a positive integer or None (no limit), got {value!r}")


def check_shape(input_shape: Any, num_classes: Any) -> tuple[tuple[int, int, int], int]:
    """Validate an image shape ``(H, W, C)`` and a class count (NumPy integers too, as a data
    set's shape and label count often are); return them as plain ints."""
    dims = tuple(input_shape) if isinstance(input_shape, list | tuple) else ()
    if len(dims) != 3 or any(not _is_integer(d) or d < 1 for d in dims):
        raise ValueError(f"input_shape must be three positive integers (H, W, C), got {input_shape!r}")
    if not _is_integer(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    return (int(dims[0]), int(dims[1]), int(dims[2])), int(num_classes)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
