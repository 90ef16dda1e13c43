"""The layer vocabulary that blocks are written in, shared by the analyzer and the compiler.

A block describes itself once, as calls on a ``Graph`` (``conv``, ``batch_norm``,
``add``...). The analyzer's graph computes shapes, parameters, FLOPs and the receptive
field from those calls; the compiler's graph creates the Keras layers. Because both read
the same description, the analysis and the built model cannot drift apart: every analysed
layer is a Keras layer of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

__all__ = ["Graph", "conv_unit"]

N = TypeVar("N")


class Graph(Protocol[N]):
    """Primitive layer operations on feature maps of type ``N``; ``name`` is the layer's name."""

    def channels(self, x: N) -> int: ...

    def conv(
        self, x: N, *, name: str, filters: int, kernel_size: int, stride: int, padding: str, use_bias: bool
    ) -> N: ...

    def batch_norm(self, x: N, *, name: str) -> N: ...

    def activation(self, x: N, *, name: str, fn: str) -> N: ...

    def dropout(self, x: N, *, name: str, rate: float) -> N: ...

    def pool(self, x: N, *, name: str, kind: str, size: int, stride: int, padding: str) -> N: ...

    def add(self, xs: Sequence[N], *, name: str) -> N: ...

    def concat(self, xs: Sequence[N], *, name: str) -> N: ...

    def global_pool(self, x: N, *, name: str) -> N: ...

    def flatten(self, x: N, *, name: str) -> N: ...

    def dense(self, x: N, *, name: str, units: int, activation: str) -> N: ...


def conv_unit(
    graph: Graph[N],
    x: N,
    name: str,
    *,
    filters: int,
    kernel_size: int,
    stride: int = 1,
    padding: str = "same",
    activation: str | None,
    batch_norm: bool,
) -> N:
    """Convolution, then batch norm (if on), then the activation (if any): ``NAME_conv/_bn/_act``.

    The convolution has no bias when batch norm follows it: the norm's beta replaces it.
    """
    x = graph.conv(
        x,
        name=f"{name}_conv",
        filters=filters,
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        use_bias=not batch_norm,
    )
    if batch_norm:
        x = graph.batch_norm(x, name=f"{name}_bn")
    if activation is not None:
        x = graph.activation(x, name=f"{name}_act", fn=activation)
    return x
