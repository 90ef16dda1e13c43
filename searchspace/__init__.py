"""The CNN search space: architectures as data, exact analysis, a Keras compiler, Optuna sampling.

Example:
    >>> import searchspace as ss
    >>> spec = ss.classic("resnet", (28, 28, 1), 10)
    >>> analysis = ss.analyze(spec, (28, 28, 1), 10)   # shapes, params, FLOPs; no Keras needed
    >>> ss.check_budget(analysis, max_params=1_000_000, max_flops=None)
    >>> model = ss.build_model(spec, (28, 28, 1), 10)  # model.count_params() == analysis.params
"""

from searchspace._analysis import Analysis, LayerInfo, analyze, check_budget
from searchspace._blocks import (
    BLOCKS,
    WIDTH_FIELDS,
    BatchNormBlock,
    Block,
    BottleneckBlock,
    ConvBlock,
    DropoutBlock,
    InceptionBlock,
    PoolBlock,
    ResidualBlock,
)
from searchspace._classics import CLASSICS, classic
from searchspace._compiler import build_model
from searchspace._context import SampleContext
from searchspace._distributions import Choice, FloatRange, IntRange
from searchspace._errors import InfeasibleArchitecture, OverBudget, SearchSpaceError
from searchspace._files import SETTINGS_FORMATS
from searchspace._narrow import MIN_SCALE, Fitted, fit_budget, narrowed
from searchspace._sampler import sample_architecture
from searchspace._space import SearchSpace
from searchspace._spec import ArchitectureSpec, HeadSpec, StageSpec

__all__ = [
    "BLOCKS",
    "CLASSICS",
    "Analysis",
    "ArchitectureSpec",
    "BatchNormBlock",
    "Block",
    "BottleneckBlock",
    "Choice",
    "ConvBlock",
    "DropoutBlock",
    "FloatRange",
    "HeadSpec",
    "InceptionBlock",
    "Fitted",
    "InfeasibleArchitecture",
    "IntRange",
    "LayerInfo",
    "MIN_SCALE",
    "OverBudget",
    "PoolBlock",
    "ResidualBlock",
    "SETTINGS_FORMATS",
    "SampleContext",
    "SearchSpace",
    "SearchSpaceError",
    "StageSpec",
    "WIDTH_FIELDS",
    "analyze",
    "build_model",
    "check_budget",
    "classic",
    "fit_budget",
    "narrowed",
    "sample_architecture",
]
