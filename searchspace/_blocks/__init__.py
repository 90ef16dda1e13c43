"""The block types of the spec language, registered by name in ``BLOCKS``."""

from searchspace._blocks._base import BLOCKS, WIDTH_FIELDS, Block, block_from_dict, register
from searchspace._blocks._bottleneck import BottleneckBlock
from searchspace._blocks._conv import ConvBlock
from searchspace._blocks._inception import InceptionBlock
from searchspace._blocks._pool import PoolBlock
from searchspace._blocks._regularize import BatchNormBlock, DropoutBlock
from searchspace._blocks._residual import ResidualBlock

__all__ = [
    "BLOCKS",
    "BatchNormBlock",
    "Block",
    "BottleneckBlock",
    "ConvBlock",
    "DropoutBlock",
    "InceptionBlock",
    "PoolBlock",
    "ResidualBlock",
    "WIDTH_FIELDS",
    "block_from_dict",
    "register",
]
