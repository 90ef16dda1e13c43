"""Fitting a cost budget: an architecture over ``--max-params`` or ``--max-flops`` is narrowed.

``fit_budget`` keeps the architecture's depth, kernels, strides and head, and scales every
channel count (its convolutions' filters, its bottlenecks and branches, its hidden dense
units) by the largest factor that brings it within the budget. Costs only grow with widths,
so the factor is found by bisection on the exact analysis, without building anything. A
study narrows what it samples this way instead of failing it, so a tight budget still gets a
search of the depths, kernels and recipes it can afford.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from searchspace._analysis import Analysis, analyze, check_budget
from searchspace._errors import OverBudget
from searchspace._spec import ArchitectureSpec, StageSpec

__all__ = ["MIN_SCALE", "Fitted", "fit_budget", "narrowed"]

MIN_SCALE = 1 / 64
"""The narrowest ``fit_budget`` goes: a 64-filter convolution keeps one filter."""

_BISECTIONS = 14  # the factor to within 1/2**14 of the widest that fits


@dataclass(frozen=True, kw_only=True)
class Fitted:
    """An architecture within the budget: ``spec``, its ``analysis``, and ``scale``, the factor
    its widths were narrowed by (1.0: it fitted as given)."""

    spec: ArchitectureSpec
    analysis: Analysis
    scale: float = 1.0


def narrowed(spec: ArchitectureSpec, scale: float, *, num_classes: int) -> ArchitectureSpec:
    """``spec`` with every channel count times ``scale`` (rounded, at least 1), and each hidden
    dense layer at least ``num_classes`` units wide, as the sampler keeps them."""
    head = spec.head
    units = tuple(min(u, max(round(u * scale), num_classes, 1)) for u in head.dense_units)  # never wider
    return ArchitectureSpec(
        stem=tuple(block.narrowed(scale) for block in spec.stem),
        stages=tuple(StageSpec(blocks=tuple(block.narrowed(scale) for block in stage.blocks)) for stage in spec.stages),
        head=dataclasses.replace(head, dense_units=units),
    )


def fit_budget(
    spec: ArchitectureSpec,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_params: int | None,
    max_flops: int | None,
) -> Fitted:
    """``spec`` as it is if it fits the budget, else narrowed by the largest factor that fits.

    Raises:
        InfeasibleArchitecture: it does not tile its input.
        OverBudget: it is over the budget even at ``MIN_SCALE`` of its widths; the message
            quotes its cost as given, the limit, and its cost at the narrowest.
        ValueError: ``input_shape`` or ``num_classes`` is invalid.
    """
    analysis = analyze(spec, input_shape=input_shape, num_classes=num_classes)
    try:
        check_budget(analysis, max_params=max_params, max_flops=max_flops)
    except OverBudget as over:
        return _narrowest_fit(spec, over, input_shape, num_classes, max_params, max_flops)
    return Fitted(spec=spec, analysis=analysis)


def _narrowest_fit(
    spec: ArchitectureSpec,
    over: OverBudget,
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_params: int | None,
    max_flops: int | None,
) -> Fitted:
    """The widest narrowing of ``spec`` (over the budget as given, ``over`` says how) that fits."""

    def at(scale: float) -> Fitted:
        candidate = narrowed(spec, scale, num_classes=num_classes)
        return Fitted(spec=candidate, analysis=analyze(candidate, input_shape, num_classes), scale=scale)

    def fits(fitted: Fitted) -> bool:
        try:
            check_budget(fitted.analysis, max_params=max_params, max_flops=max_flops)
        except OverBudget:
            return False
        return True

    best = at(MIN_SCALE)
    if not fits(best):
        narrowest = best.analysis
        raise OverBudget(
            f"{over}, and it has {narrowest.params:,} parameters and {narrowest.flops:,} FLOPs "
            f"at 1/{round(1 / MIN_SCALE)} of its widths"
        ) from None
    low, high = MIN_SCALE, 1.0  # fits at low, not at high
    for _ in range(_BISECTIONS):
        found = at((low + high) / 2)
        if fits(found):
            low, best = found.scale, found
        else:
            high = found.scale
    return best
