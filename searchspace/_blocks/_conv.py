"""The convolution block: conv, optional batch norm, activation, optional dropout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from searchspace._blocks._base import Block, register
from searchspace._graph import conv_unit

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["ConvBlock"]

N = TypeVar("N")


@register("conv")
@dataclass(frozen=True, kw_only=True)
class ConvBlock(Block):
    """A ``kernel_size`` x ``kernel_size`` convolution with ``filters`` output channels.

    Each side of the output is ``(W - F + 2P) / S + 1``: ``ceil(W / S)`` with ``'same'``
    padding and ``floor((W - F) / S) + 1`` with ``'valid'``, which needs ``W >= F``.
    Layers: ``NAME_conv``, ``NAME_bn`` (if ``batch_norm``), ``NAME_act``, ``NAME_drop``
    (if ``dropout > 0``).
    """

    filters: int
    kernel_size: int = 3
    stride: int = 1
    padding: str = "same"
    activation: str = "relu"
    batch_norm: bool = False
    dropout: float = 0.0

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        x = conv_unit(
            graph,
            x,
            name,
            filters=self.filters,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )
        if self.dropout > 0:
            x = graph.dropout(x, name=f"{name}_drop", rate=self.dropout)
        return x

    @classmethod
    def sample(cls, ctx: SampleContext) -> ConvBlock:
        kernel_size = ctx.suggest("kernel_size", ctx.space.kernel_sizes)
        # 'valid' is only offered where the kernel fits the map, so a sampled conv always tiles.
        fits = ctx.min_size >= kernel_size
        padding = ctx.suggest("padding", ctx.space.paddings) if fits else "same"
        return cls(
            filters=ctx.filters,
            kernel_size=kernel_size,
            padding=padding,
            activation=ctx.activation,
            batch_norm=ctx.batch_norm,
        )
