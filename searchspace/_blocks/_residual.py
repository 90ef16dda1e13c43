"""The residual block: two (or, with a bottleneck, three) convolutions plus a shortcut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from searchspace._blocks._base import Block, register
from searchspace._blocks._bottleneck import bottleneck_path
from searchspace._graph import conv_unit

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["ResidualBlock"]

N = TypeVar("N")


@register("residual")
@dataclass(frozen=True, kw_only=True)
class ResidualBlock(Block):
    """``act(F(x) + shortcut(x))`` with 'same' padding throughout, as in ResNet.

    ``F`` is two ``kernel_size`` convolutions (``NAME_1_*``, ``NAME_2_*``), or with
    ``reduce`` set a bottleneck path (``NAME_reduce_*``, ``NAME_mid_*``, ``NAME_expand_*``);
    ``stride`` applies to its first spatial convolution. The shortcut is the identity when
    the shape is unchanged and otherwise a 1x1 projection with the same stride
    (``NAME_proj_*``). Then ``NAME_add`` and ``NAME_act``.
    """

    filters: int
    kernel_size: int = 3
    stride: int = 1
    reduce: int | None = None
    activation: str = "relu"
    batch_norm: bool = True

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        residual = self._residual(graph, x, name)
        shortcut = x
        if self.stride != 1 or graph.channels(x) != self.filters:
            shortcut = conv_unit(
                graph,
                x,
                f"{name}_proj",
                filters=self.filters,
                kernel_size=1,
                stride=self.stride,
                activation=None,
                batch_norm=self.batch_norm,
            )
        out = graph.add([residual, shortcut], name=f"{name}_add")
        return graph.activation(out, name=f"{name}_act", fn=self.activation)

    def _residual(self, graph: Graph[N], x: N, name: str) -> N:
        if self.reduce is not None:
            return bottleneck_path(graph, x, name, self, reduce=self.reduce, last_activation=False)
        y = conv_unit(
            graph,
            x,
            f"{name}_1",
            filters=self.filters,
            kernel_size=self.kernel_size,
            stride=self.stride,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )
        return conv_unit(
            graph,
            y,
            f"{name}_2",
            filters=self.filters,
            kernel_size=self.kernel_size,
            activation=None,
            batch_norm=self.batch_norm,
        )

    @classmethod
    def sample(cls, ctx: SampleContext) -> ResidualBlock:
        return cls(
            filters=ctx.filters,
            kernel_size=ctx.suggest("kernel_size", ctx.space.kernel_sizes),
            activation=ctx.activation,
            batch_norm=ctx.batch_norm,
        )
