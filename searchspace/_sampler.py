"""Turn an Optuna trial into an ``ArchitectureSpec``, with define-by-run conditional parameters.

Every parameter is named ``arch.*`` and always has the same distribution, so TPE
(multivariate, grouped) and random sampling both work across trials. Parameters of a
stage or block exist only in trials that have it: ``arch.s2.filters`` only when there are
two stages or more, ``arch.s1b2.kernel_size`` only when block 2 of stage 1 is a conv,
residual or bottleneck block. ``arch.sIbJ`` is the J-th sampled block of stage I, after the
stage's downsampling block if it has one.

Sampling adapts to the input: the stem halves inputs larger than ``stem_max_size``
(56 by default) until they fit it, a stage downsamples only while the map is at least 2 pixels
wide (so 8x8 images allow 3 halvings, 28x28 4 and 32x32 5), a conv offers 'valid' padding
only where its kernel fits, a pool uses 'valid' padding only where its window fits, and the
head offers flattening only for small maps. With ``SearchSpace.rising_widths`` (the default)
a stage is at least as wide as the one before it: ``arch.s3.filters`` of 16 after a
48-filter stage 2 gives a 48-filter stage 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from searchspace._blocks import BLOCKS, Block, ConvBlock, DropoutBlock, PoolBlock
from searchspace._builder import SpecBuilder
from searchspace._checks import check_shape
from searchspace._context import SampleContext
from searchspace._spec import ArchitectureSpec, HeadSpec

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

    from searchspace._space import SearchSpace

__all__ = ["sample_architecture"]


def _pool(kind: str) -> Callable[[SampleContext], Block]:
    def sample(ctx: SampleContext) -> Block:
        size = ctx.suggest("pool_size", ctx.space.pool_sizes)
        return PoolBlock.fitting(kind=kind, size=size, map_size=ctx.min_size)

    return sample


def _strided_conv(ctx: SampleContext) -> Block:
    return ConvBlock(filters=ctx.filters, kernel_size=3, stride=2, activation=ctx.activation, batch_norm=ctx.batch_norm)


# How a stage halves its input map, by the name used in ``SearchSpace.downsample``.
_DOWNSAMPLERS: dict[str, Callable[[SampleContext], Block]] = {
    "max": _pool("max"),
    "avg": _pool("avg"),
    "conv": _strided_conv,
}


def sample_architecture(
    trial: BaseTrial, space: SearchSpace, *, input_shape: tuple[int, int, int], num_classes: int
) -> ArchitectureSpec:
    """Sample an architecture for ``input_shape`` images (H, W, C) from ``space`` with ``trial``.

    The same trial parameters always give the same spec. Sampled specs tile the input by
    construction; ``analyze`` is still the judge (and checks the cost budget).

    Raises:
        ValueError: ``input_shape`` or ``num_classes`` is invalid.
    """
    builder = SpecBuilder(check_shape(input_shape, num_classes)[0])
    activation = space.activations.suggest(trial, "arch.activation")
    batch_norm = space.batch_norm.suggest(trial, "arch.batch_norm")

    def context(prefix: str, filters: int) -> SampleContext:
        return SampleContext(
            trial=trial,
            space=space,
            prefix=prefix,
            shape=builder.shape,  # type: ignore[arg-type]
            filters=filters,
            activation=activation,
            batch_norm=batch_norm,
        )

    builder.add(
        ConvBlock(
            filters=space.stem_filters.suggest(trial, "arch.stem.filters"),
            kernel_size=space.stem_kernel_sizes.suggest(trial, "arch.stem.kernel_size"),
            stride=2 if builder.size > space.stem_max_size else 1,
            activation=activation,
            batch_norm=batch_norm,
        )
    )
    while builder.size > space.stem_max_size:
        builder.add(PoolBlock.fitting(kind="max", size=2, map_size=builder.size))
    builder.end_stem()
    width = 0  # the previous stage's, with rising widths
    for i in range(1, space.stages.suggest(trial, "arch.stages") + 1):
        filters = space.filters.suggest(trial, f"arch.s{i}.filters")
        width = max(filters, width) if space.rising_widths else filters
        stage = context(f"arch.s{i}", width)
        if i > 1 and builder.size >= 2:
            builder.add(_DOWNSAMPLERS[stage.suggest("downsample", space.downsample)](stage))
        for j in range(1, stage.suggest("blocks", space.blocks_per_stage) + 1):
            ctx = context(f"arch.s{i}b{j}", stage.filters)
            builder.add(BLOCKS[ctx.suggest("type", space.block_types)].sample(ctx))
        rate = stage.suggest("dropout", space.dropout)
        if rate > 0:
            builder.add(DropoutBlock(rate=rate))
        builder.end_stage()
    return builder.build(_sample_head(trial, space, math.prod(builder.shape), activation, num_classes))


def _sample_head(trial: BaseTrial, space: SearchSpace, features: int, activation: str, num_classes: int) -> HeadSpec:
    """The head: pooling (flatten only where its features are few enough), hidden dense
    layers at least as wide as the classes (16 units before 100 classes bound the logits to
    rank 16, as the classic designs' heads avoid), dropout."""
    flatten_fits = features <= space.max_flatten_features
    pooling = space.head_pooling.suggest(trial, "arch.head.pooling") if flatten_fits else "gap"
    layers = space.head_dense_layers.suggest(trial, "arch.head.dense_layers")
    units = tuple(
        max(space.head_units.suggest(trial, f"arch.head.dense{k}.units"), num_classes) for k in range(1, layers + 1)
    )
    dropout = space.head_dropout.suggest(trial, "arch.head.dropout")
    return HeadSpec(pooling=pooling, dense_units=units, dropout=dropout, activation=activation)
