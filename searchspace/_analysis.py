"""Exact analysis of an architecture before anything is built.

Shapes follow ``out = (W - F + 2P) / S + 1`` per side (``ceil(W / S)`` for Keras' 'same'
padding, ``floor((W - F) / S) + 1`` for 'valid'); parameter counts are those of Keras'
``count_params()`` (batch norm: 4 per channel, its moving statistics included); FLOPs are
multiply-accumulates of convolutions and dense layers (bias additions not counted) plus one
per element for batch norm's scale-and-shift. Pooling, activations, dropout, additions and
concatenations count as none. The receptive field is that of one unit of the last feature
map: ``r += (F - 1) * j`` and ``j *= S`` for every window, the widest branch at a merge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from searchspace._blocks import Block
from searchspace._checks import check_limit, check_shape
from searchspace._errors import InfeasibleArchitecture, OverBudget
from searchspace._spec import ArchitectureSpec

__all__ = ["Analysis", "LayerInfo", "analyze", "check_budget", "output_shape"]


@dataclass(frozen=True, kw_only=True)
class LayerInfo:
    """One layer of the analysis: its Keras name and kind, output shape (no batch), params, FLOPs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    flops: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "flops": self.flops,
        }


@dataclass(frozen=True, kw_only=True)
class _Map:
    """A feature map as the analyzer sees it: shape, receptive field and jump (input pixels per step)."""

    shape: tuple[int, ...]
    rf: int
    jump: int


def _side(size: int, window: int, stride: int, padding: str) -> int:
    """One side of a window's output, or 0 where a 'valid' window does not fit."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1 if size >= window else 0


class _ShapeGraph:
    """A ``Graph`` over ``_Map`` that records a ``LayerInfo`` per layer and checks tiling."""

    def __init__(self) -> None:
        self.layers: list[LayerInfo] = []

    def _emit(self, x: _Map, name: str, kind: str, shape: tuple[int, ...], params: int = 0, flops: int = 0) -> _Map:
        self.layers.append(LayerInfo(name=name, kind=kind, output_shape=shape, params=params, flops=flops))
        return _Map(shape=shape, rf=x.rf, jump=x.jump)

    def _window(self, x: _Map, name: str, what: str, size: int, stride: int, padding: str) -> tuple[int, int]:
        h, w = x.shape[0], x.shape[1]
        out = (_side(h, size, stride, padding), _side(w, size, stride, padding))
        if min(out) < 1:
            raise InfeasibleArchitecture(
                f"layer {name}: the {size}x{size} {what} does not fit its {h}x{w} input with 'valid' "
                f"padding (out = ({min(h, w)} - {size}) / {stride} + 1 < 1)"
            )
        return out

    @staticmethod
    def _widen(x: _Map, window: int, stride: int) -> _Map:
        return _Map(shape=x.shape, rf=x.rf + (window - 1) * x.jump, jump=x.jump * stride)

    def channels(self, x: _Map) -> int:
        return x.shape[-1]

    def conv(
        self, x: _Map, *, name: str, filters: int, kernel_size: int, stride: int, padding: str, use_bias: bool
    ) -> _Map:
        h, w = self._window(x, name, "kernel", kernel_size, stride, padding)
        weights = kernel_size * kernel_size * x.shape[-1] * filters
        out = self._emit(x, name, "conv", (h, w, filters), weights + filters * use_bias, weights * h * w)
        return self._widen(out, kernel_size, stride)

    def batch_norm(self, x: _Map, *, name: str) -> _Map:
        return self._emit(x, name, "batchnorm", x.shape, 4 * x.shape[-1], math.prod(x.shape))

    def activation(self, x: _Map, *, name: str, fn: str) -> _Map:
        return self._emit(x, name, "activation", x.shape)

    def dropout(self, x: _Map, *, name: str, rate: float) -> _Map:
        return self._emit(x, name, "dropout", x.shape)

    def pool(self, x: _Map, *, name: str, kind: str, size: int, stride: int, padding: str) -> _Map:
        h, w = self._window(x, name, f"{kind} pool window", size, stride, padding)
        return self._widen(self._emit(x, name, f"{kind}pool", (h, w, x.shape[-1])), size, stride)

    def _merge(self, xs: Sequence[_Map], name: str, kind: str, shape: tuple[int, ...]) -> _Map:
        self.layers.append(LayerInfo(name=name, kind=kind, output_shape=shape, params=0, flops=0))
        return _Map(shape=shape, rf=max(x.rf for x in xs), jump=max(x.jump for x in xs))

    def add(self, xs: Sequence[_Map], *, name: str) -> _Map:
        shapes = {x.shape for x in xs}
        if len(shapes) != 1:
            raise InfeasibleArchitecture(f"layer {name}: cannot add maps of shapes {sorted(shapes)}")
        return self._merge(xs, name, "add", xs[0].shape)

    def concat(self, xs: Sequence[_Map], *, name: str) -> _Map:
        sides = {x.shape[:-1] for x in xs}
        if len(sides) != 1:
            raise InfeasibleArchitecture(f"layer {name}: cannot concatenate maps of sizes {sorted(sides)}")
        return self._merge(xs, name, "concat", (*xs[0].shape[:-1], sum(x.shape[-1] for x in xs)))

    def global_pool(self, x: _Map, *, name: str) -> _Map:
        return self._emit(x, name, "globalpool", (x.shape[-1],))

    def flatten(self, x: _Map, *, name: str) -> _Map:
        return self._emit(x, name, "flatten", (math.prod(x.shape),))

    def dense(self, x: _Map, *, name: str, units: int, activation: str) -> _Map:
        weights = x.shape[-1] * units
        return self._emit(x, name, "dense", (units,), weights + units, weights)


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """The analysed architecture: every layer in build order and the receptive field."""

    input_shape: tuple[int, int, int]
    num_classes: int
    layers: tuple[LayerInfo, ...]
    receptive_field: int

    @property
    def params(self) -> int:
        """Total parameters, equal to the built model's ``count_params()``."""
        return sum(layer.params for layer in self.layers)

    @property
    def flops(self) -> int:
        """Total multiply-accumulates of one forward pass of one image."""
        return sum(layer.flops for layer in self.layers)

    @property
    def output_shapes(self) -> list[tuple[int, ...]]:
        """The output shape (no batch dimension) of every layer, in build order."""
        return [layer.output_shape for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "params": self.params,
            "flops": self.flops,
            "receptive_field": self.receptive_field,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def table(self) -> str:
        """A plain-text table of layers, output shapes, parameters and FLOPs, with the totals."""
        header = ("layer", "kind", "output shape", "params", "FLOPs")
        rows = [
            (info.name, info.kind, "x".join(map(str, info.output_shape)), f"{info.params:,}", f"{info.flops:,}")
            for info in self.layers
        ]
        rows.append(("total", "", "", f"{self.params:,}", f"{self.flops:,}"))
        widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]

        def line(row: Sequence[str]) -> str:
            cells = [c.ljust(w) if k < 3 else c.rjust(w) for k, (c, w) in enumerate(zip(row, widths, strict=True))]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * w for w in widths)
        shape = "x".join(map(str, self.input_shape))
        body = [line(header), rule, *map(line, rows[:-1]), rule, line(rows[-1])]
        footer = f"input {shape}, {self.num_classes} classes, receptive field {self.receptive_field} pixels"
        return "\n".join([*body, footer])


def analyze(spec: ArchitectureSpec, input_shape: tuple[int, int, int], num_classes: int) -> Analysis:
    """Analyse ``spec`` on ``input_shape`` images (H, W, C) with ``num_classes`` classes.

    Returns:
        The per-layer shapes, parameters and FLOPs, and the receptive field.

    Raises:
        InfeasibleArchitecture: a layer does not tile its input; the message names the
            stage, the block, the layer and the sizes.
        ValueError: ``input_shape`` or ``num_classes`` is invalid.
    """
    shape, num_classes = check_shape(input_shape, num_classes)
    graph = _ShapeGraph()
    features = spec.trace(graph, _Map(shape=shape, rf=1, jump=1), num_classes=num_classes)
    return Analysis(input_shape=shape, num_classes=num_classes, layers=tuple(graph.layers), receptive_field=features.rf)


def output_shape(block: Block, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``block``'s output for an input of ``shape``; raises ``InfeasibleArchitecture``."""
    return block.apply(_ShapeGraph(), _Map(shape=shape, rf=1, jump=1), "block").shape


def check_budget(analysis: Analysis, *, max_params: int | None, max_flops: int | None) -> None:
    """Raise ``OverBudget`` if the analysed architecture has more parameters or FLOPs than allowed.

    ``None`` means no limit. The message quotes the architecture's figure and the limit.

    Raises:
        ValueError: a limit is not ``None`` or an integer >= 1 (NaN, 0 or ``True`` would
            let everything through or nothing).
    """
    check_limit("max_params", max_params)
    check_limit("max_flops", max_flops)
    if max_params is not None and analysis.params > max_params:
        raise OverBudget(f"{analysis.params:,} parameters exceed --max-params {max_params:,}")
    if max_flops is not None and analysis.flops > max_flops:
        raise OverBudget(f"{analysis.flops:,} FLOPs (multiply-accumulates) exceed --max-flops {max_flops:,}")
