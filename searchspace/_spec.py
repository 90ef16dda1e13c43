"""Architectures as data: a stem, stages of blocks and a head, with an exact JSON round trip."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from searchspace._blocks import Block, block_from_dict
from searchspace._checks import ACTIVATIONS, HEAD_POOLINGS, check_choice, check_int, check_rate
from searchspace._errors import InfeasibleArchitecture
from searchspace._serde import fields_from_dict, fields_to_dict

if TYPE_CHECKING:
    from searchspace._graph import Graph

__all__ = ["ArchitectureSpec", "HeadSpec", "StageSpec"]

N = TypeVar("N")


def _check_blocks(label: str, blocks: Any) -> None:
    if not isinstance(blocks, tuple) or not all(isinstance(b, Block) for b in blocks):
        raise ValueError(f"{label} must be a tuple of blocks, got {blocks!r}")


@dataclass(frozen=True, kw_only=True)
class StageSpec:
    """A stage: a non-empty sequence of blocks applied in order."""

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        _check_blocks("StageSpec.blocks", self.blocks)
        if not self.blocks:
            raise ValueError("StageSpec.blocks must not be empty, got ()")

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": [block.to_dict() for block in self.blocks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, label: str = "stage") -> StageSpec:
        if not isinstance(data, Mapping) or set(data) != {"blocks"} or not isinstance(data["blocks"], list):
            raise ValueError(f"{label} must be a mapping with exactly a 'blocks' list, got {data!r}")
        blocks = data["blocks"]
        return cls(blocks=tuple(block_from_dict(b, label=f"{label} block {j}") for j, b in enumerate(blocks, 1)))


@dataclass(frozen=True, kw_only=True)
class HeadSpec:
    """The classifier: global average pooling (``'gap'``) or ``'flatten'``, hidden dense layers, softmax.

    Dropout of ``dropout`` (if > 0) comes before every dense layer. Layers: ``head_pool`` or
    ``head_flatten``, then ``head_dropK``/``head_denseK`` for each hidden layer K,
    ``head_drop`` and the softmax ``head_output``.
    """

    pooling: str = "gap"
    dense_units: tuple[int, ...] = ()
    dropout: float = 0.0
    activation: str = "relu"

    def __post_init__(self) -> None:
        check_choice("HeadSpec.pooling", self.pooling, HEAD_POOLINGS)
        if not isinstance(self.dense_units, tuple):
            raise ValueError(f"HeadSpec.dense_units must be a tuple of integers, got {self.dense_units!r}")
        for units in self.dense_units:
            check_int("HeadSpec.dense_units", units, minimum=1)
        check_rate("HeadSpec.dropout", self.dropout)
        check_choice("HeadSpec.activation", self.activation, ACTIVATIONS)

    def apply(self, graph: Graph[N], x: N, *, num_classes: int) -> N:
        """Describe the head's layers on ``graph``, ending in a ``num_classes`` softmax."""
        if self.pooling == "gap":
            x = graph.global_pool(x, name="head_pool")
        else:
            x = graph.flatten(x, name="head_flatten")
        for k, units in enumerate(self.dense_units, 1):
            x = self._dropout(graph, x, f"head_drop{k}")
            x = graph.dense(x, name=f"head_dense{k}", units=units, activation=self.activation)
        x = self._dropout(graph, x, "head_drop")
        return graph.dense(x, name="head_output", units=num_classes, activation="softmax")

    def _dropout(self, graph: Graph[N], x: N, name: str) -> N:
        return graph.dropout(x, name=name, rate=self.dropout) if self.dropout > 0 else x

    def to_dict(self) -> dict[str, Any]:
        return fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, label: str = "head") -> HeadSpec:
        return fields_from_dict(cls, data, label=label)


@dataclass(frozen=True, kw_only=True)
class ArchitectureSpec:
    """A CNN as data: ``stem`` blocks, then ``stages`` of blocks, then the ``head``.

    Layers are named after their place: the stem is stage 0, so the second block of the
    first stage makes ``s1b2_...`` layers and the stem's first block ``s0b1_...``.

    Example:
        >>> spec = ArchitectureSpec(
        ...     stem=(ConvBlock(filters=16),),
        ...     stages=(StageSpec(blocks=(ResidualBlock(filters=32, stride=2),)),),
        ...     head=HeadSpec(),
        ... )
        >>> ArchitectureSpec.from_json(spec.to_json()) == spec
        True
    """

    stem: tuple[Block, ...] = ()
    stages: tuple[StageSpec, ...]
    head: HeadSpec = HeadSpec()

    def __post_init__(self) -> None:
        _check_blocks("ArchitectureSpec.stem", self.stem)
        if not isinstance(self.stages, tuple) or not all(isinstance(s, StageSpec) for s in self.stages):
            raise ValueError(f"ArchitectureSpec.stages must be a tuple of StageSpec, got {self.stages!r}")
        if not isinstance(self.head, HeadSpec):
            raise ValueError(f"ArchitectureSpec.head must be a HeadSpec, got {self.head!r}")

    def blocks(self) -> Iterator[tuple[int, int, Block]]:
        """Every block with its stage (0 for the stem) and its 1-based index in that stage."""
        for j, block in enumerate(self.stem, 1):
            yield 0, j, block
        for i, stage in enumerate(self.stages, 1):
            for j, block in enumerate(stage.blocks, 1):
                yield i, j, block

    def trace(self, graph: Graph[N], x: N, *, num_classes: int) -> N:
        """Describe the whole architecture on ``graph``, from input ``x`` to the softmax.

        Raises:
            InfeasibleArchitecture: a layer does not tile its input; the message is prefixed
                with the stage and block, e.g. ``stage 2, block 1 (pool): ...``.
        """
        for i, j, block in self.blocks():
            stage = "0 (stem)" if i == 0 else str(i)
            try:
                x = block.apply(graph, x, f"s{i}b{j}")
            except InfeasibleArchitecture as exc:
                raise InfeasibleArchitecture(f"stage {stage}, block {j} ({block.type_name}): {exc}") from None
        return self.head.apply(graph, x, num_classes=num_classes)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data."""
        return {
            "stem": [block.to_dict() for block in self.stem],
            "stages": [stage.to_dict() for stage in self.stages],
            "head": self.head.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchitectureSpec:
        """The spec described by ``data``, as written by ``to_dict``; raises ``ValueError`` if malformed."""
        if not isinstance(data, Mapping) or set(data) != {"stem", "stages", "head"}:
            raise ValueError(f"an architecture must be a mapping with exactly stem, stages, head; got {data!r}")
        stem, stages = data["stem"], data["stages"]
        if not isinstance(stem, list) or not isinstance(stages, list):
            raise ValueError(f"stem and stages must be lists, got stem={stem!r}, stages={stages!r}")
        return cls(
            stem=tuple(block_from_dict(b, label=f"stem block {j}") for j, b in enumerate(stem, 1)),
            stages=tuple(StageSpec.from_dict(s, label=f"stage {i}") for i, s in enumerate(stages, 1)),
            head=HeadSpec.from_dict(data["head"]),
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal specs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchitectureSpec:
        """The spec written by ``to_json``: ``from_json(spec.to_json()) == spec``."""
        return cls.from_dict(json.loads(text))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: the same in every process, so duplicate samples can be found."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()
