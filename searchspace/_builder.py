"""Assemble an ``ArchitectureSpec`` block by block while tracking the feature map.

Both the sampler and the classic architectures decide each block from the map it will
receive (how many halvings remain, whether a 'valid' window fits), so they share this.
"""

from __future__ import annotations

from searchspace._analysis import output_shape
from searchspace._blocks import Block
from searchspace._errors import InfeasibleArchitecture
from searchspace._spec import ArchitectureSpec, HeadSpec, StageSpec

__all__ = ["SpecBuilder"]


class SpecBuilder:
    """Collects the stem's and then each stage's blocks; ``shape`` is the map after the last block."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        self.shape: tuple[int, ...] = input_shape
        self._stem: tuple[Block, ...] = ()
        self._stages: list[StageSpec] = []
        self._blocks: list[Block] = []

    @property
    def size(self) -> int:
        """The smaller spatial side of the current map."""
        return min(self.shape[0], self.shape[1])

    def add(self, *blocks: Block) -> None:
        """Append ``blocks`` to the open stage (or stem) and follow the map through them.

        A block that does not tile leaves the tracked map as it was: the finished spec is
        then reported infeasible by ``analyze``, with the reason, instead of failing here.
        """
        for block in blocks:
            self._blocks.append(block)
            try:
                self.shape = output_shape(block, self.shape)
            except InfeasibleArchitecture:
                pass

    def end_stem(self) -> None:
        """The blocks added so far form the stem."""
        self._stem, self._blocks = tuple(self._blocks), []

    def end_stage(self) -> None:
        """The blocks added since the last stage (or the stem) form a stage."""
        self._stages.append(StageSpec(blocks=tuple(self._blocks)))
        self._blocks = []

    def build(self, head: HeadSpec) -> ArchitectureSpec:
        """The finished architecture with ``head``."""
        return ArchitectureSpec(stem=self._stem, stages=tuple(self._stages), head=head)
