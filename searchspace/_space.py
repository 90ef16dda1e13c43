"""The search space as data: what ``sample_architecture`` may choose, loadable from TOML or YAML."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchspace._blocks import BLOCKS
from searchspace._checks import (
    ACTIVATIONS,
    HEAD_POOLINGS,
    KERNEL_SIZES,
    PADDINGS,
    POOL_KINDS,
    POOL_SIZES,
    check_bool,
    check_choice,
    check_int,
    check_rate,
)
from searchspace._distributions import Choice, Distribution, FloatRange, IntRange
from searchspace._errors import SearchSpaceError
from searchspace._files import SETTINGS_FORMATS

__all__ = ["DOWNSAMPLES", "SearchSpace"]

DOWNSAMPLES = ("max", "avg", "conv")
"""How a stage after the first halves the map: max pool, average pool or a stride-2 3x3 conv."""


def _at_least(minimum: int) -> Callable[[str, Distribution], None]:
    def check(label: str, dist: Distribution) -> None:
        for value in dist.values():
            check_int(label, value, minimum=minimum)

    return check


def _within(allowed: tuple[Any, ...]) -> Callable[[str, Distribution], None]:
    def check(label: str, dist: Distribution) -> None:
        for value in dist.values():
            check_choice(label, value, allowed)

    return check


def _rates(label: str, dist: Distribution) -> None:
    for value in dist.values():
        check_rate(label, value)


def _block_types(label: str, dist: Distribution) -> None:
    unknown = [value for value in dist.values() if value not in BLOCKS]
    if unknown:
        raise ValueError(f"{label}: unknown block type(s) {unknown!r}; known: {sorted(BLOCKS)}")


@dataclass(frozen=True, kw_only=True)
class SearchSpace:
    """The choices of the architecture search; the defaults suit 8x8 to 32x32 images on a CPU
    (larger ones are halved by the stem to at most ``stem_max_size``).

    The defaults are chosen so that few samples are still near chance after their first epoch
    (``bench/bench_first_epoch.py``): batch norm throughout, little dropout, and at least three stages, so
    a 28x28 map is halved twice (to 7x7) before the head pools or flattens it. Single-stage
    networks that globally pool a 28x28 map, and networks without batch norm, were mostly
    still near chance after an epoch.

    An architecture is a stem conv, ``stages`` stages and a head. Each stage has its own
    width and ``blocks_per_stage`` blocks; every stage after the first starts by halving the
    map while the map is at least 2 pixels wide, and a stage ends with dropout when its
    sampled rate is above 0.

    Attributes:
        stem_filters, stem_kernel_sizes: the stem conv's width and kernel.
        stages, blocks_per_stage: how many stages, and blocks in each.
        filters: the width of each stage (sampled per stage).
        rising_widths: a stage is at least as wide as the stage before it: its width is the
            larger of its sampled ``filters`` and the previous stage's width, as VGG's and
            ResNet's widths rise while their maps shrink. Off, a late stage may be narrower
            than an early one (64, 48, 8 filters: the head sees 8 features). The parameters
            sampled are the same either way.
        block_types: the ``BLOCKS`` names a stage's blocks are drawn from.
        kernel_sizes: kernels of conv, residual and bottleneck blocks.
        paddings: a conv block's padding; 'valid' is only offered where the kernel fits.
        activations, batch_norm: one choice for the whole architecture.
        downsample: how a stage halves the map: ``max``/``avg`` pooling or a stride-2 ``conv``.
        pool_kinds, pool_sizes: of pooling (downsampling and ``pool`` blocks).
        bottleneck_ratios: a bottleneck block reduces to ``filters // ratio`` channels, and to
            no fewer than 8 (``MIN_REDUCE``) or its width.
        dropout: a stage's dropout rate (and a ``dropout`` block's).
        head_pooling, max_flatten_features: ``flatten`` is only offered for maps of at most
            ``max_flatten_features`` values; larger ones are pooled globally.
        head_dense_layers, head_units, head_dropout: the head's hidden layers and dropout.
        stem_max_size: the stem halves larger inputs until their smaller side is at most
            this: a stride-2 stem conv, then 2x2 max pools (96x96 images reach the stages at
            48x48, 224x224 at 56x56), as in ResNet's stem. Each halving quarters the cost
            of all that follows; details at full resolution seldom matter for classification.

    Load one with ``SearchSpace.from_file("study.toml")``: fields left out keep their
    defaults; ranges are tables ``{low, high, log, step}`` and choices are lists.
    """

    stem_filters: IntRange = IntRange(low=8, high=32, log=True)
    stem_kernel_sizes: Choice = Choice(choices=(3, 5))
    stages: IntRange = IntRange(low=3, high=4)
    blocks_per_stage: IntRange = IntRange(low=1, high=2)
    filters: IntRange = IntRange(low=8, high=64, log=True)
    rising_widths: bool = True
    block_types: Choice = Choice(choices=("conv", "residual", "bottleneck", "inception"))
    kernel_sizes: Choice = Choice(choices=(3, 5))
    paddings: Choice = Choice(choices=("same", "valid"))
    activations: Choice = Choice(choices=("relu", "swish"))
    batch_norm: Choice = Choice(choices=(True,))
    downsample: Choice = Choice(choices=DOWNSAMPLES)
    pool_kinds: Choice = Choice(choices=POOL_KINDS)
    pool_sizes: Choice = Choice(choices=POOL_SIZES)
    bottleneck_ratios: Choice = Choice(choices=(2, 4))
    dropout: FloatRange = FloatRange(low=0.0, high=0.1, step=0.1)
    head_pooling: Choice = Choice(choices=HEAD_POOLINGS)
    max_flatten_features: int = 2048
    head_dense_layers: IntRange = IntRange(low=0, high=1)
    head_units: IntRange = IntRange(low=16, high=128, log=True)
    head_dropout: FloatRange = FloatRange(low=0.0, high=0.3, step=0.1)
    stem_max_size: int = 56

    def __post_init__(self) -> None:
        for name, field_type in _FIELD_TYPES.items():
            label, value = f"space.{name}", getattr(self, name)
            try:
                if field_type is int:
                    check_int(label, value, minimum=1)
                elif field_type is bool:
                    check_bool(label, value)
                elif not isinstance(value, field_type):
                    raise ValueError(f"{label} must be of type {field_type.__name__}, got {value!r}")
                else:
                    value.check(label)
                    _DOMAINS[name](label, value)
            except ValueError as exc:
                raise SearchSpaceError(str(exc)) from None

    @classmethod
    def default(cls) -> SearchSpace:
        """The default space (3-4 stages of 1-2 blocks, 8-64 filters, batch norm)."""
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """A space from plain data (as parsed from TOML/YAML); missing fields keep their defaults.

        Raises:
            SearchSpaceError: an unknown field or an invalid value, quoted.
        """
        if not isinstance(data, Mapping):
            raise SearchSpaceError(f"a search space must be a mapping, got {data!r}")
        unknown = sorted(set(data) - set(_FIELD_TYPES), key=str)  # YAML keys may be numbers
        if unknown:
            raise SearchSpaceError(f"unknown search space field(s) {unknown}; known: {sorted(_FIELD_TYPES)}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            field_type = _FIELD_TYPES[name]
            try:
                plain = field_type in (int, bool)
                kwargs[name] = value if plain else field_type.from_data(value, label=f"space.{name}")
            except ValueError as exc:
                raise SearchSpaceError(str(exc)) from None
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        """A space from a ``.toml``, ``.yaml``, ``.yml`` or ``.json`` file: its ``space`` table, or the
        whole file; a study file without a ``space`` table (no key of it a space setting)
        searches the default space."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SearchSpaceError(f"{path}: cannot read it: {exc}") from None
        if path.suffix.lower() not in SETTINGS_FORMATS:
            raise SearchSpaceError(f"a search space file must end in {', '.join(SETTINGS_FORMATS)}, got {str(path)!r}")
        name, parse = SETTINGS_FORMATS[path.suffix.lower()]
        try:
            data = parse(text)
        except ValueError as exc:
            raise SearchSpaceError(f"{path}: invalid {name}: {exc}") from None
        if isinstance(data, Mapping) and "space" in data:
            data = data["space"] if data["space"] is not None else {}  # an empty "space:", as a study reads it
        elif isinstance(data, Mapping) and not set(data) & set(_FIELD_TYPES):
            data = {}
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The space as JSON-able data that ``from_dict`` reads back."""
        return {
            field.name: value if isinstance(value := getattr(self, field.name), int) else value.to_data()
            for field in dataclasses.fields(self)
        }


_FIELD_TYPES: dict[str, Any] = typing.get_type_hints(SearchSpace)

# What each field's values may be, beyond being a valid distribution.
_DOMAINS: dict[str, Callable[[str, Distribution], None]] = {
    "stem_filters": _at_least(1),
    "stem_kernel_sizes": _within(KERNEL_SIZES),
    "stages": _at_least(1),
    "blocks_per_stage": _at_least(1),
    "filters": _at_least(1),
    "block_types": _block_types,
    "kernel_sizes": _within(KERNEL_SIZES),
    "paddings": _within(PADDINGS),
    "activations": _within(ACTIVATIONS),
    "batch_norm": _within((True, False)),
    "downsample": _within(DOWNSAMPLES),
    "pool_kinds": _within(POOL_KINDS),
    "pool_sizes": _within(POOL_SIZES),
    "bottleneck_ratios": _at_least(1),
    "dropout": _rates,
    "head_pooling": _within(HEAD_POOLINGS),
    "head_dense_layers": _at_least(0),
    "head_units": _at_least(1),
    "head_dropout": _rates,
}
