"""Regularisation placements: a dropout block and a batch-norm block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from searchspace._blocks._base import Block, register

if TYPE_CHECKING:
    from searchspace._context import SampleContext
    from searchspace._graph import Graph

__all__ = ["BatchNormBlock", "DropoutBlock"]

N = TypeVar("N")


@register("dropout")
@dataclass(frozen=True, kw_only=True)
class DropoutBlock(Block):
    """Dropout of ``rate`` of the activations during training. Layer: ``NAME_drop``."""

    rate: float = 0.25

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        return graph.dropout(x, name=f"{name}_drop", rate=self.rate)

    @classmethod
    def sample(cls, ctx: SampleContext) -> DropoutBlock:
        return cls(rate=ctx.suggest("rate", ctx.space.dropout))


@register("batchnorm")
@dataclass(frozen=True, kw_only=True)
class BatchNormBlock(Block):
    """Batch normalisation over channels (4 parameters per channel). Layer: ``NAME_bn``."""

    def apply(self, graph: Graph[N], x: N, name: str) -> N:
        return graph.batch_norm(x, name=f"{name}_bn")

    @classmethod
    def sample(cls, ctx: SampleContext) -> BatchNormBlock:
        return cls()
