"""The block base class, the ``BLOCKS`` registry and the shared checks of block fields."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from searchspace._checks import (
    ACTIVATIONS,
    KERNEL_SIZES,
    PADDINGS,
    POOL_KINDS,
    POOL_SIZES,
    STRIDES,
    check_bool,
    check_choice,
    check_int,
    check_rate,
)
from searchspace._serde import fields_from_dict, fields_to_dict

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["BLOCKS", "WIDTH_FIELDS", "Block", "block_from_dict", "register"]

N = TypeVar("N")
B = TypeVar("B", bound="type[Block]")


def _positive(label: str, value: Any) -> None:
    check_int(label, value, minimum=1)


def _optional_positive(label: str, value: Any) -> None:
    if value is not None:
        check_int(label, value, minimum=1)


def _one_of(allowed: tuple[Any, ...]) -> Callable[[str, Any], None]:
    return lambda label, value: check_choice(label, value, allowed)


# Block fields share one vocabulary: a field name means the same thing, and is checked the
# same way, in every block type.
_FIELD_CHECKS: Mapping[str, Callable[[str, Any], None]] = {
    "filters": _positive,
    "reduce": _optional_positive,
    "branch1": _positive,
    "branch3_reduce": _positive,
    "branch3": _positive,
    "branch5_reduce": _positive,
    "branch5": _positive,
    "pool_proj": _positive,
    "kernel_size": _one_of(KERNEL_SIZES),
    "stride": _one_of(STRIDES),
    "padding": _one_of(PADDINGS),
    "activation": _one_of(ACTIVATIONS),
    "kind": _one_of(POOL_KINDS),
    "size": _one_of(POOL_SIZES),
    "batch_norm": check_bool,
    "dropout": check_rate,
    "rate": check_rate,
}

# The fields that count channels: what ``Block.narrowed`` scales.
WIDTH_FIELDS = frozenset(
    {"filters", "reduce", "branch1", "branch3_reduce", "branch3", "branch5_reduce", "branch5", "pool_proj"}
)


class Block(abc.ABC):
    """A building block of a stage: a frozen dataclass that describes its layers on a ``Graph``.

    Subclasses are registered with ``@register(NAME)``, which makes them serialisable
    (``{"type": NAME, ...fields}``), sampleable and covered by the registry's tests.
    """

    type_name: ClassVar[str]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            _FIELD_CHECKS[field.name](f"{type(self).__name__}.{field.name}", getattr(self, field.name))

    @abc.abstractmethod
    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        """Describe the block's layers on ``graph``, naming each one ``NAME_...``."""

    @classmethod
    @abc.abstractmethod
    def sample(cls, ctx: SampleContext) -> Block:
        """Sample an instance from ``ctx.trial``, offering only choices that tile ``ctx.shape``."""

    def narrowed(self, scale: float) -> Block:
        """The block with each of its channel counts (``WIDTH_FIELDS``) times ``scale``,
        rounded, and at least 1; the block itself where it has none."""
        widths = {
            field.name: max(round(value * scale), 1)
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
            if field.name in WIDTH_FIELDS and (value := getattr(self, field.name)) is not None
        }
        return dataclasses.replace(self, **widths) if widths else self  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        """The block as JSON-able data, its registered type name under ``"type"``."""
        return {"type": self.type_name, **fields_to_dict(self)}


BLOCKS: dict[str, type[Block]] = {}
"""Block type name -> block spec class."""


def register(name: str) -> Callable[[B], B]:
    """Class decorator: register a block type under ``name`` (which must be new)."""

    def decorate(cls: B) -> B:
        if name in BLOCKS:
            raise ValueError(f"block type {name!r} is already registered to {BLOCKS[name].__name__}")
        unchecked = [f.name for f in dataclasses.fields(cls) if f.name not in _FIELD_CHECKS]  # type: ignore[arg-type]
        if unchecked:
            raise ValueError(f"block type {name!r} has fields without a check: {unchecked}")
        cls.type_name = name
        BLOCKS[name] = cls
        return cls

    return decorate


def block_from_dict(data: Mapping[str, Any], *, label: str) -> Block:
    """The block described by ``data`` (``{"type": NAME, ...fields}``)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{label} must be a mapping with a 'type', got {data!r}")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in BLOCKS:
        raise ValueError(f"{label}: unknown block type {kind!r}; known: {sorted(BLOCKS)}")
    fields = {key: value for key, value in data.items() if key != "type"}
    return fields_from_dict(BLOCKS[kind], fields, label=f"{label} ({kind})")
