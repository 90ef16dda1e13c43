"""What a block type needs in order to sample itself from an Optuna trial."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

    from searchspace._distributions import Distribution
    from searchspace._space import SearchSpace

__all__ = ["SampleContext"]


@dataclass(frozen=True, kw_only=True)
class SampleContext:
    """A block's place in the architecture being sampled.

    Attributes:
        trial: the Optuna trial being sampled.
        space: the search space that bounds every choice.
        prefix: the Optuna name prefix of this block's parameters, e.g. ``"arch.s2b1"``.
        shape: the feature map ``(H, W, C)`` the block receives, so that a block only offers
            choices that tile it.
        filters: the width of the block's stage.
        activation: the architecture's activation.
        batch_norm: whether the architecture uses batch normalisation.
    """

    trial: BaseTrial
    space: SearchSpace
    prefix: str
    shape: tuple[int, int, int]
    filters: int
    activation: str
    batch_norm: bool

    @property
    def min_size(self) -> int:
        """The smaller spatial side of the incoming feature map."""
        return min(self.shape[0], self.shape[1])

    def suggest(self, name: str, distribution: Distribution) -> Any:
        """Suggest ``PREFIX.NAME`` from ``distribution`` (a parameter of this block only)."""
        return distribution.suggest(self.trial, f"{self.prefix}.{name}")
