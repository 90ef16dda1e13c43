"""Classic CNNs in the spec language, scaled to the input so each one tiles it.

Each builder follows its paper's layout and shrinks it to the image: widths are divided
(roughly by 4, as small images need fewer features), kernels and paddings are chosen to fit
the map, a pool is left out once the map is a single pixel, and large inputs (64 pixels
and more) get the papers' strided stem. LeNet, a design for 32x32 digits, keeps its layout:
on 224x224 photos its flatten head holds 24 million parameters (``--max-params`` narrows
it). They seed a study as its first trials
(``automl search --seed-architectures lenet,resnet``) and serve as baselines.
"""

from __future__ import annotations

from collections.abc import Callable

from searchspace._blocks import ConvBlock, InceptionBlock, PoolBlock, ResidualBlock
from searchspace._builder import SpecBuilder
from searchspace._checks import KERNEL_SIZES, check_shape
from searchspace._spec import ArchitectureSpec, HeadSpec

__all__ = ["CLASSICS", "classic"]

Builder = Callable[[tuple[int, int, int], int], ArchitectureSpec]

CLASSICS: dict[str, Builder] = {}
"""Classic name -> builder(input_shape, num_classes) -> ArchitectureSpec."""

_LARGE = 64  # from this input size on, the classics downsample in the stem, as on ImageNet


def _register(name: str) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        CLASSICS[name] = builder
        return builder

    return decorate


def classic(name: str, input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """The classic architecture ``name`` (one of ``CLASSICS``) scaled to ``input_shape`` images.

    Raises:
        ValueError: an unknown name, or an invalid shape or class count.
    """
    if name not in CLASSICS:
        raise ValueError(f"unknown classic architecture {name!r}; known: {', '.join(CLASSICS)}")
    return CLASSICS[name](*check_shape(input_shape, num_classes))


def _pool(b: SpecBuilder, kind: str, size: int) -> None:
    """Halve the map with a stride-2 pool, unless it is a single pixel already."""
    if b.size >= 2:
        b.add(PoolBlock.fitting(kind=kind, size=size, map_size=b.size))


def _dense_head(
    width: int, layers: int, num_classes: int, *, activation: str = "relu", dropout: float = 0.0
) -> HeadSpec:
    """A flatten head with ``layers`` hidden dense layers of ``width`` units, widened for many classes."""
    units = (max(width, 2 * num_classes),) * layers
    return HeadSpec(pooling="flatten", dense_units=units, dropout=dropout, activation=activation)


def _largest_kernel(size: int, limit: int) -> int:
    """The largest odd kernel of at most ``limit`` that fits a ``size`` map with 'valid' padding."""
    return max(k for k in KERNEL_SIZES if k <= min(size, limit))


def _stem(b: SpecBuilder, filters: int) -> None:
    """A batch-normed conv stem: a 3x3 conv, or on inputs of 64+ pixels (as on ImageNet) a 7x7
    stride-2 conv and a 3x3 stride-2 max pool.
    """
    if b.size >= _LARGE:
        b.add(ConvBlock(filters=filters, kernel_size=7, stride=2, batch_norm=True))
        b.add(PoolBlock(kind="max", size=3, padding="same"))
    else:
        b.add(ConvBlock(filters=filters, batch_norm=True))
    b.end_stem()


@_register("lenet")
def lenet(input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """LeNet-5: 6@5x5 conv, avg pool, 16@5x5 conv, avg pool, 120 conv over the map, 84 dense, tanh.

    C1 is 'valid' on 32-pixel inputs and larger (as in the paper) and 'same' below (as for
    28x28 MNIST); C3 is 'valid' where the map is at least twice its kernel; C5 takes the
    largest kernel that fits, so it collapses a 5x5 map to 1x1 as in the paper.
    """
    b = SpecBuilder(input_shape)
    b.add(ConvBlock(filters=6, kernel_size=5, padding="valid" if b.size >= 32 else "same", activation="tanh"))
    _pool(b, "avg", 2)
    b.end_stage()
    b.add(ConvBlock(filters=16, kernel_size=5, padding="valid" if b.size >= 10 else "same", activation="tanh"))
    _pool(b, "avg", 2)
    b.end_stage()
    b.add(ConvBlock(filters=120, kernel_size=_largest_kernel(b.size, 5), padding="valid", activation="tanh"))
    b.end_stage()
    return b.build(_dense_head(84, 1, num_classes, activation="tanh"))


@_register("alexnet")
def alexnet(input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """AlexNet-style: five convs (24, 64, 96, 96, 64 filters), overlapping 3x3 max pools, two dense layers.

    The first kernel is 7 (stride 2) on large inputs, 5 from 16 pixels and 3 below.
    """
    b = SpecBuilder(input_shape)
    if b.size >= _LARGE:
        b.add(ConvBlock(filters=24, kernel_size=7, stride=2))
    else:
        b.add(ConvBlock(filters=24, kernel_size=5 if b.size >= 16 else 3))
    _pool(b, "max", 3)
    b.end_stem()
    b.add(ConvBlock(filters=64, kernel_size=5))
    _pool(b, "max", 3)
    b.end_stage()
    b.add(ConvBlock(filters=96), ConvBlock(filters=96), ConvBlock(filters=64))
    _pool(b, "max", 3)
    b.end_stage()
    return b.build(_dense_head(256, 2, num_classes, dropout=0.5))


@_register("vgg")
def vgg(input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """VGG-style: stages of 3x3 convs (2, 2, 3, 3, 3) with batch norm, each ending in a 2x2 max pool.

    Widths 16, 32, 64, 128, 128; as many stages as the input can be halved (3 for 8x8,
    4 for 28x28, 5 for 32x32).
    """
    b = SpecBuilder(input_shape)
    stages = min(5, max(1, b.size.bit_length() - 1))
    for filters, convs in list(zip((16, 32, 64, 128, 128), (2, 2, 3, 3, 3), strict=True))[:stages]:
        b.add(*(ConvBlock(filters=filters, batch_norm=True) for _ in range(convs)))
        _pool(b, "max", 2)
        b.end_stage()
    return b.build(_dense_head(128, 2, num_classes, dropout=0.5))


@_register("inception")
def inception(input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """GoogLeNet-style: a conv stem, three stages of two inception blocks (widths 64, 120, 200).

    3x3 stride-2 max pools between the stages, then global average pooling and 40%
    dropout. Batch norm (as in Inception v2) lets it train from scratch.
    """
    b = SpecBuilder(input_shape)
    _stem(b, 32)
    for i, width in enumerate((64, 120, 200)):
        if i > 0:
            _pool(b, "max", 3)
        b.add(*(InceptionBlock.from_width(width, activation="relu", batch_norm=True) for _ in range(2)))
        b.end_stage()
    return b.build(HeadSpec(pooling="gap", dropout=0.4))


@_register("resnet")
def resnet(input_shape: tuple[int, int, int], num_classes: int) -> ArchitectureSpec:
    """ResNet-style (the CIFAR ResNet): a 3x3 conv stem, stages of two basic residual blocks.

    Widths 16, 32, 64; every stage after the first starts with a stride-2 block (a 1x1
    projection shortcut) while the map can be halved; up to 3 stages, fewer on tiny inputs.
    """
    b = SpecBuilder(input_shape)
    _stem(b, 16)
    stages = min(3, max(1, b.size.bit_length()))
    for i, filters in enumerate((16, 32, 64)[:stages]):
        stride = 2 if i > 0 and b.size >= 2 else 1
        b.add(ResidualBlock(filters=filters, stride=stride), ResidualBlock(filters=filters))
        b.end_stage()
    return b.build(HeadSpec(pooling="gap"))
