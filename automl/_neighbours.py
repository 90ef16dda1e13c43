"""Neighbours of the best trial: local moves for searches too short for TPE to learn much.

A time-budgeted search on a CPU runs a dozen or two trials. TPE spends its first ten on
random samples, and a random sample of this space is far from the warm starts: in every
quality run before neighbours (``bench/RESULTS.md``), every sampled trial was pruned behind
the first warm start, which was exported. So every other trial a time-budgeted TPE search
adds is a *neighbour*: the best completed trial's parameters with one or two of them moved
to a nearby value (a log-scale factor of at most 2, an adjacent numeric choice, another
category). Parameters the move makes new (a fourth stage's filters) are left to the
sampler. A neighbour is an ordinary enqueued trial: TPE learns from it like from any other,
and its trial records which trial it is a neighbour of (``TrialRecord.neighbour_of``).

Moves are keyed by the Optuna distribution type (``MOVES``) and seeded by the study's seed
and the trial's number, so a search is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from automl._records import seed_architecture_of

__all__ = ["MOVES", "move", "neighbour_params", "incumbent"]

LOG_FACTOR = 2.0
"""A log-scale parameter moves by a factor of at most this, up or down."""

LINEAR_SHARE = 0.25
"""A linear float moves by at most this share of its range, up or down."""

Rng = np.random.Generator
Move = Callable[[Any, Any, Rng], Any]


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _on_step(value: float, low: float, step: float | None) -> float:
    return value if step is None else low + round((value - low) / step) * step


def _move_float(value: float, dist: FloatDistribution, rng: Rng) -> float:
    if dist.log:
        moved = value * LOG_FACTOR ** rng.uniform(-1.0, 1.0)
        return _clip(moved, dist.low, dist.high)
    delta = rng.uniform(-LINEAR_SHARE, LINEAR_SHARE) * (dist.high - dist.low)
    if dist.step is None:
        return _clip(value + delta, dist.low, dist.high)
    # On a grid, at least one step: a share of a range of 2 to 4 points, rounded to the
    # step, never left a stage's dropout of 0.0 (0, 0.1, 0.2, 0.3) one time in four.
    notches = max(1, round(abs(delta) / dist.step)) * (1 if delta >= 0 else -1)
    for candidate in (value + notches * dist.step, value - notches * dist.step):
        moved = _clip(_on_step(candidate, dist.low, dist.step), dist.low, dist.high)
        if not math.isclose(moved, value, abs_tol=1e-12):
            return moved
    return value


def _move_int(value: int, dist: IntDistribution, rng: Rng) -> int:
    up = bool(rng.integers(2))
    steps = (value + dist.step, value - dist.step) if up else (value - dist.step, value + dist.step)
    candidates: tuple[int, ...] = steps
    if dist.log:  # a factor of two, or one step where that is out of the range (32..48)
        doubled = (value * 2, max(value // 2, 1)) if up else (max(value // 2, 1), value * 2)
        candidates = doubled + steps
    inside = [c for c in candidates if dist.low <= c <= dist.high and c != value]
    return int(inside[0]) if inside else value


def _ordered(choices: tuple[Any, ...]) -> bool:
    numbers = all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)
    return numbers and list(choices) == sorted(choices)


def _move_categorical(value: Any, dist: CategoricalDistribution, rng: Rng) -> Any:
    choices = tuple(dist.choices)
    if value not in choices or len(choices) < 2:
        return value
    index = choices.index(value)
    if _ordered(choices):  # filters, kernel sizes, batch sizes: one notch up or down
        nearby = [i for i in (index - 1, index + 1) if 0 <= i < len(choices)]
    else:  # block types, optimizers, pooling: any other one
        nearby = [i for i in range(len(choices)) if i != index]
    return choices[nearby[int(rng.integers(len(nearby)))]]


MOVES: dict[type[BaseDistribution], Move] = {
    FloatDistribution: _move_float,
    IntDistribution: _move_int,
    CategoricalDistribution: _move_categorical,
}
"""Distribution type -> move(value, distribution, rng): a nearby value inside the distribution."""


TRIES = 8
"""Draws a move makes for a value other than the one it started from (a small move of a
float on a step, or at a bound, can land back on it)."""


def move(value: Any, distribution: BaseDistribution, rng: Rng) -> Any:
    """A value near ``value`` inside ``distribution`` (``value`` itself where nothing is near).

    Raises:
        TypeError: a distribution type without a move in ``MOVES``, quoted.
    """
    mover = MOVES.get(type(distribution))
    if mover is None:
        known = sorted(t.__name__ for t in MOVES)
        raise TypeError(f"no move for distribution {distribution!r}; moves exist for {known}")
    moved = value
    for _ in range(TRIES):
        moved = mover(value, distribution, rng)
        if moved != value:
            break
    return moved


def _movable(distribution: BaseDistribution) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return len(distribution.choices) > 1
    return distribution.high > distribution.low  # type: ignore[attr-defined]


def incumbent(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the best validation accuracy whose parameters say all it ran
    (a seed architecture's are only its training's), or None."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and seed_architecture_of(t) is None and t.params
    ]
    return max(trials, key=lambda t: (t.values[0], -t.number), default=None)


def neighbour_params(trial: FrozenTrial, rng: Rng, *, moves: int | None = None) -> dict[str, Any]:
    """``trial``'s parameters with ``moves`` of them (default: 1 or 2, at random) moved nearby."""
    names = [name for name, dist in trial.distributions.items() if _movable(dist)]
    count = min(moves if moves is not None else int(rng.integers(1, 3)), len(names))
    params = dict(trial.params)
    for name in rng.choice(names, size=count, replace=False) if count else ():
        params[str(name)] = move(params[str(name)], trial.distributions[str(name)], rng)
    return params
