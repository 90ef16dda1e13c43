"""The inception block: parallel 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 pool->1x1 branches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from searchspace._blocks._base import Block, register
from searchspace._graph import conv_unit

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["InceptionBlock"]

N = TypeVar("N")

# GoogLeNet's inception (3a) splits its 256 output channels 64 | 128 | 32 | 32 and reduces
# to 96 and 16 channels before the 3x3 and 5x5 convolutions; ``from_width`` keeps the ratios.
_SHARES = {
    "branch1": 1 / 4,
    "branch3_reduce": 3 / 8,
    "branch3": 1 / 2,
    "branch5_reduce": 1 / 16,
    "branch5": 1 / 8,
    "pool_proj": 1 / 8,
}


@register("inception")
@dataclass(frozen=True, kw_only=True)
class InceptionBlock(Block):
    """Four 'same'-padded branches concatenated on channels (``NAME_concat``).

    ``NAME_1x1_*``; ``NAME_3x3r_*`` then ``NAME_3x3_*``; ``NAME_5x5r_*`` then
    ``NAME_5x5_*``; a 3x3 stride-1 max pool ``NAME_pool`` then ``NAME_poolproj_*``. The
    output has ``branch1 + branch3 + branch5 + pool_proj`` channels and the input's size.
    """

    branch1: int
    branch3_reduce: int
    branch3: int
    branch5_reduce: int
    branch5: int
    pool_proj: int
    activation: str = "relu"
    batch_norm: bool = False

    @classmethod
    def from_width(cls, width: int, *, activation: str, batch_norm: bool) -> InceptionBlock:
        """An inception block of about ``width`` output channels, split as in GoogLeNet."""
        sizes = {name: max(1, round(width * share)) for name, share in _SHARES.items()}
        return cls(**sizes, activation=activation, batch_norm=batch_norm)

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        def unit(y: N, suffix: str, filters: int, kernel_size: int) -> N:
            return conv_unit(
                graph,
                y,
                f"{name}_{suffix}",
                filters=filters,
                kernel_size=kernel_size,
                activation=self.activation,
                batch_norm=self.batch_norm,
            )

        pooled = graph.pool(x, name=f"{name}_pool", kind="max", size=3, stride=1, padding="same")
        branches = [
            unit(x, "1x1", self.branch1, 1),
            unit(unit(x, "3x3r", self.branch3_reduce, 1), "3x3", self.branch3, 3),
            unit(unit(x, "5x5r", self.branch5_reduce, 1), "5x5", self.branch5, 5),
            unit(pooled, "poolproj", self.pool_proj, 1),
        ]
        return graph.concat(branches, name=f"{name}_concat")

    @classmethod
    def sample(cls, ctx: SampleContext) -> InceptionBlock:
        return cls.from_width(ctx.filters, activation=ctx.activation, batch_norm=ctx.batch_norm)
