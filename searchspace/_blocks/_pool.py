"""The pooling block: max or average pooling, 2x2 or 3x3 windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from searchspace._blocks._base import Block, register

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["PoolBlock"]

N = TypeVar("N")


@register("pool")
@dataclass(frozen=True, kw_only=True)
class PoolBlock(Block):
    """Max (``kind='max'``) or average (``'avg'``) pooling over ``size`` x ``size`` windows.

    Output size per side as for a convolution: ``floor((W - size) / stride) + 1`` with
    ``'valid'`` padding (which needs ``W >= size``), ``ceil(W / stride)`` with ``'same'``.
    Layer: ``NAME_pool``.
    """

    kind: str = "max"
    size: int = 2
    stride: int = 2
    padding: str = "valid"

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        return graph.pool(
            x, name=f"{name}_pool", kind=self.kind, size=self.size, stride=self.stride, padding=self.padding
        )

    @classmethod
    def fitting(cls, *, kind: str, size: int, map_size: int) -> PoolBlock:
        """A stride-2 pool whose padding is ``'valid'`` where the window fits ``map_size``, else ``'same'``."""
        return cls(kind=kind, size=size, stride=2, padding="valid" if map_size >= size else "same")

    @classmethod
    def sample(cls, ctx: SampleContext) -> PoolBlock:
        return cls.fitting(
            kind=ctx.suggest("kind", ctx.space.pool_kinds),
            size=ctx.suggest("pool_size", ctx.space.pool_sizes),
            map_size=ctx.min_size,
        )
