"""The 1x1 bottleneck block: reduce channels, k x k convolution, expand (GoogLeNet, ResNet-50)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from searchspace._blocks._base import Block, register
from searchspace._graph import conv_unit

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["BottleneckBlock", "bottleneck_path"]

N = TypeVar("N")

MIN_REDUCE = 8
"""A sampled bottleneck reduces to no fewer channels than this (or its width, if narrower):
``filters // ratio`` of a stage of 8 to 16 filters passed 2 to 4 channels, with no skip around
them, and such networks trained far slower than the same ones with conv blocks."""


class BottleneckFields(Protocol):
    """The fields a bottleneck path reads, shared by ``BottleneckBlock`` and ``ResidualBlock``."""

    @property
    def filters(self) -> int: ...
    @property
    def kernel_size(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def batch_norm(self) -> bool: ...


def bottleneck_path(
    graph: Graph[N], x: N, name: str, block: BottleneckFields, *, reduce: int, last_activation: bool
) -> N:
    """1x1 to ``reduce`` channels, ``block.kernel_size`` conv (with the stride), 1x1 to ``block.filters``.

    Layers ``NAME_reduce_*``, ``NAME_mid_*`` and ``NAME_expand_*``. A residual block leaves
    out the last activation (``last_activation=False``): it comes after the addition.
    """
    act, bn = block.activation, block.batch_norm
    x = conv_unit(graph, x, f"{name}_reduce", filters=reduce, kernel_size=1, activation=act, batch_norm=bn)
    x = conv_unit(
        graph,
        x,
        f"{name}_mid",
        filters=reduce,
        kernel_size=block.kernel_size,
        stride=block.stride,
        activation=act,
        batch_norm=bn,
    )
    last = act if last_activation else None
    return conv_unit(graph, x, f"{name}_expand", filters=block.filters, kernel_size=1, activation=last, batch_norm=bn)


@register("bottleneck")
@dataclass(frozen=True, kw_only=True)
class BottleneckBlock(Block):
    """A 1x1 reduction to ``reduce`` channels, a ``kernel_size`` conv, a 1x1 expansion to ``filters``.

    All three convolutions use 'same' padding; ``stride`` applies to the middle one.
    """

    filters: int
    reduce: int
    kernel_size: int = 3
    stride: int = 1
    activation: str = "relu"
    batch_norm: bool = True

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        return bottleneck_path(graph, x, name, self, reduce=self.reduce, last_activation=True)

    @classmethod
    def sample(cls, ctx: SampleContext) -> BottleneckBlock:
        kernel_size = ctx.suggest("kernel_size", ctx.space.kernel_sizes)
        ratio = ctx.suggest("bottleneck_ratio", ctx.space.bottleneck_ratios)
        return cls(
            filters=ctx.filters,
            reduce=max(min(ctx.filters, MIN_REDUCE), ctx.filters // ratio),
            kernel_size=kernel_size,
            activation=ctx.activation,
            batch_norm=ctx.batch_norm,
        )
