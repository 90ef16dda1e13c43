"""Typed parameter distributions of the search space, each suggested under a fixed name.

A distribution is data (frozen, serialisable) and knows how to ask an Optuna trial for a
value. Its checks mirror Optuna's own, so an invalid space fails when it is loaded, with
the field and the bad value quoted, rather than in the middle of a study.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from searchspace._serde import fields_from_dict, fields_to_dict

if TYPE_CHECKING:
    from optuna.trial import BaseTrial

__all__ = ["Choice", "Distribution", "FloatRange", "IntRange"]

_CHOICE_TYPES = (bool, int, float, str)


class Distribution(abc.ABC):
    """A search-space parameter: ``suggest`` asks a trial, ``check`` validates, ``to_data`` serialises."""

    @abc.abstractmethod
    def suggest(self, trial: BaseTrial, name: str) -> Any:
        """Suggest a value for the parameter ``name`` (same name, same distribution, every trial)."""

    @abc.abstractmethod
    def check(self, label: str) -> None:
        """Raise ``ValueError`` quoting ``label`` and the bad value if the distribution is invalid."""

    @abc.abstractmethod
    def values(self) -> tuple[Any, ...]:
        """The extreme values (``low``, ``high``) of a range, or every choice: for domain checks."""

    @abc.abstractmethod
    def to_data(self) -> Any:
        """JSON/TOML/YAML-able data that ``from_data`` reads back."""


def _is_positive(value: Any, number: tuple[type, ...]) -> bool:
    if isinstance(value, bool) or not isinstance(value, number):
        return False
    magnitude: Any = value  # a number of the kind asked for
    return bool(magnitude > 0)


# The most steps a stepped range may hold.
MAX_STEPS = 10**6


def _check_range(label: str, low: Any, high: Any, log: Any, step: Any, number: tuple[type, ...]) -> None:
    noun = "integers" if number == (int,) else "numbers"
    if any(isinstance(v, bool) or not isinstance(v, number) for v in (low, high)):
        raise ValueError(f"{label}: low and high must be {noun}, got low={low!r}, high={high!r}")
    if not all(math.isfinite(v) for v in (low, high)):
        raise ValueError(f"{label}: low and high must be finite, got low={low!r}, high={high!r}")
    if low > high:
        raise ValueError(f"{label}: low <= high must hold, got low={low!r}, high={high!r}")
    if not isinstance(log, bool):
        raise ValueError(f"{label}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ValueError(f"{label}: a log scale needs low > 0, got low={low!r}")
    if (step is not None or number == (int,)) and not _is_positive(step, number):  # only a float range may have none
        raise ValueError(f"{label}: step must be a positive {noun[:-1]}, got step={step!r}")
    if step is not None and not (math.isfinite(step) and (high - low) / step <= MAX_STEPS):
        # Optuna counts a float range's steps in decimals: an infinite or tiny step failed
        # mid-study (decimal.InvalidOperation), not when the space was read.
        raise ValueError(
            f"{label}: step must be finite and at least (high - low) / {MAX_STEPS:,}, got step={step!r} "
            f"for low={low!r}, high={high!r}"
        )


class _Range(Distribution):
    """What integer and float ranges share: bounds as extreme values, fields as data."""

    low: Any
    high: Any

    def values(self) -> tuple[Any, Any]:
        return self.low, self.high

    def to_data(self) -> dict[str, Any]:
        return fields_to_dict(self)

    @classmethod
    def from_data(cls, data: Any, *, label: str) -> Self:
        return fields_from_dict(cls, data, label=label)


@dataclass(frozen=True, kw_only=True)
class IntRange(_Range):
    """Integers from ``low`` to ``high`` inclusive, every ``step``, or log-uniform with ``log``."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial: BaseTrial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def check(self, label: str) -> None:
        _check_range(label, self.low, self.high, self.log, self.step, (int,))
        if self.log and self.step != 1:
            raise ValueError(f"{label}: a log scale needs step = 1, got step={self.step!r}")


@dataclass(frozen=True, kw_only=True)
class FloatRange(_Range):
    """Floats from ``low`` to ``high``: uniform, log-uniform (``log``) or on a grid of ``step``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def suggest(self, trial: BaseTrial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def check(self, label: str) -> None:
        _check_range(label, self.low, self.high, self.log, self.step, (int, float))
        if self.log and self.step is not None:
            raise ValueError(f"{label}: a log scale cannot have a step, got step={self.step!r}")


@dataclass(frozen=True, kw_only=True)
class Choice(Distribution):
    """One of ``choices`` (booleans, numbers or strings), as an Optuna categorical."""

    choices: tuple[Any, ...]

    def suggest(self, trial: BaseTrial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def check(self, label: str) -> None:
        if not isinstance(self.choices, tuple) or not self.choices:
            raise ValueError(f"{label}: choices must be a non-empty list, got {self.choices!r}")
        bad = [c for c in self.choices if not isinstance(c, _CHOICE_TYPES)]
        if bad:
            raise ValueError(f"{label}: choices must be booleans, numbers or strings, got {bad!r}")
        if len({(type(c), c) for c in self.choices}) != len(self.choices):
            raise ValueError(f"{label}: choices must be distinct, got {list(self.choices)!r}")

    def values(self) -> tuple[Any, ...]:
        return self.choices

    def to_data(self) -> list[Any]:
        return list(self.choices)

    @classmethod
    def from_data(cls, data: Any, *, label: str) -> Choice:
        if not isinstance(data, list):
            raise ValueError(f"{label}: choices must be a list, got {data!r}")
        return cls(choices=tuple(data))
