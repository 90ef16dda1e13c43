"""Choosing the winner among the finalists with McNemar's test.

Validation accuracy ranks the candidates of a search, but on a few thousand test images
two models 0.3% apart are often indistinguishable. McNemar's test compares two
classifiers on the *same* examples, using only the examples where exactly one of them is
right (the discordant pairs), which makes it far more powerful than comparing error
counts. Here every pair of finalists is tested and the p-values are Holm-adjusted across
the pairs.

The winner rule does not use the p-values: "not significantly worse" is absence of
evidence, and on a small test split large losses are not significant. A cheaper finalist
wins only if it is *non-inferior* to the most accurate one: the upper bound of the
confidence interval of the accuracy it gives away is below a margin (1 point by default).

The statistics come from statsmodels (``mcnemar``, ``multipletests``,
``proportion_confint``); this module only assembles them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from automl._tables import render_table

__all__ = [
    "DEFAULT_MARGIN",
    "Finalist",
    "PairResult",
    "Comparison",
    "mcnemar_pair",
    "compare_finalists",
]

# The accuracy a cheaper finalist may give away, at most, to win: 1 percentage point.
DEFAULT_MARGIN = 0.01
# The smallest significance level: below it the winner rule's 1 - alpha / m rounds to 1.
MIN_ALPHA = 1e-9


@dataclass(frozen=True, kw_only=True)
class Finalist:
    """One of the K best trials, evaluated on the held-out test split.

    ``accuracy`` is the test accuracy (what the winner rule ranks by), ``val_accuracy``
    the validation accuracy the search ranked it by (the first tie-breaker), ``params``
    and ``flops`` its cost (of all its ``members``: a finalist retrained as several averaged
    models costs as much as all of them; its ``flops`` count each of its test-time ``views``,
    ``automl._views``). ``kept_search_model``: other finalists were retrained
    on train+validation but this one was not (it could not win on validation, or its
    retraining did not fit the time left), so it is compared with its search model (less data).
    """

    trial: int
    accuracy: float
    val_accuracy: float
    params: int
    flops: int
    kept_search_model: bool = False
    members: int = 1
    views: int = 1

    def cost(self, metric: str = "params") -> tuple[int, int]:
        """The study's ``--cost-metric`` first (parameters or FLOPs), the other as the
        tie-breaker: smaller is cheaper."""
        return (self.flops, self.params) if metric == "flops" else (self.params, self.flops)


def _note(finalist: Finalist, winner: bool) -> str:
    """The last column of a finalist's row: winner, search model, averaged members, test-time views."""
    notes = ["<- winner"] * winner + ["search model"] * finalist.kept_search_model
    if finalist.members > 1:
        notes.append(f"{finalist.members} averaged members (cost of all)")
    if finalist.views > 1:
        notes.append(f"{finalist.views} test-time views (FLOPs of all)")
    return "; ".join(notes)


@dataclass(frozen=True, kw_only=True)
class PairResult:
    """McNemar's test of finalist ``trial_a`` against ``trial_b`` on the same test examples.

    The four counts form the 2x2 table; ``only_a`` counts the examples only A got right.
    ``p_holm`` is ``p_value`` after Holm's correction across all pairs. ``accuracy_diff``
    is accuracy(A) - accuracy(B) with its paired confidence interval
    ``[ci_low, ci_high]`` (Newcombe's square-and-add interval, see ``_paired_difference_ci``).
    """

    trial_a: int
    trial_b: int
    both_right: int
    only_a: int
    only_b: int
    both_wrong: int
    statistic: float
    p_value: float
    p_holm: float
    exact: bool
    accuracy_diff: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """All pairwise tests between the finalists and the winner chosen from them.

    ``alpha`` is the level of the tests (the intervals are at ``1 - alpha``), ``prefer`` the
    winner rule, and ``margin`` the non-inferiority margin of the ``"cost"`` rule as a
    fraction of accuracy (0.01 is 1 point).
    """

    finalists: tuple[Finalist, ...]
    pairs: tuple[PairResult, ...]
    winner: int
    reason: str
    alpha: float
    prefer: str = "cost"
    margin: float = DEFAULT_MARGIN

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``finalists``, ``pairs``, ``winner``, ``reason``, ``alpha``, ``prefer``, ``margin``."""
        return {
            "finalists": [asdict(f) for f in self.finalists],
            "pairs": [asdict(p) for p in self.pairs],
            "winner": self.winner,
            "reason": self.reason,
            "alpha": self.alpha,
            "prefer": self.prefer,
            "margin": self.margin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        """The comparison ``to_dict`` wrote (as a study records it)."""
        fields = {**data, "finalists": tuple(Finalist(**f) for f in data["finalists"])}
        return cls(**{**fields, "pairs": tuple(PairResult(**p) for p in data["pairs"])})

    def table(self) -> str:
        """A plain-text report: the finalists, the pairwise tests and the winner with its reason."""
        finalists = render_table(
            ("trial", "test acc", "val acc", "params", "FLOPs", ""),
            [
                (
                    f.trial,
                    f"{f.accuracy:.4f}",
                    f"{f.val_accuracy:.4f}",
                    f"{f.params:,}",
                    f"{f.flops:,}",
                    _note(f, f.trial == self.winner),
                )
                for f in self.finalists
            ],
        )
        pairs = render_table(
            (
                "A",
                "B",
                "both right",
                "only A",
                "only B",
                "both wrong",
                "test",
                "stat",
                "p",
                "p Holm",
                "acc A-B",
            ),
            [
                (
                    p.trial_a,
                    p.trial_b,
                    p.both_right,
                    p.only_a,
                    p.only_b,
                    p.both_wrong,
                    "exact" if p.exact else "chi2",
                    f"{p.statistic:.3f}",
                    f"{p.p_value:.4g}",
                    f"{p.p_holm:.4g}",
                    f"{p.accuracy_diff:+.4f} [{p.ci_low:+.4f}, {p.ci_high:+.4f}]",
                )
                for p in self.pairs
            ],
        )
        parts = ["Finalists (accuracy on the held-out test split):", finalists, ""]
        if self.pairs:
            level = _level(1 - self.alpha)
            parts += [
                f"McNemar tests (Holm-adjusted, alpha={self.alpha:g}; {level} CI of acc A-B):",
                pairs,
                "",
            ]
        if self.prefer == "cost":
            parts.append(
                f"Non-inferiority margin: {_points(self.margin)} points (a cheaper finalist wins only if the upper "
                f"limit of the {_level(1 - self.alpha)} confidence interval of its accuracy loss to the most accurate "
                "one, Bonferroni-adjusted for the cheaper finalists, is below it)."
            )
        parts.append(f"Winner: trial {self.winner}. {self.reason}")
        return "\n".join(parts)


def mcnemar_pair(
    correct_a: np.ndarray, correct_b: np.ndarray, *, exact_below: int = 25
) -> tuple[np.ndarray, float, float, bool]:
    """McNemar's test of two classifiers from their per-example correctness.

    The exact binomial test is used when the discordant count (only A right + only B
    right) is below ``exact_below`` (or zero, where the chi-square is undefined), the
    chi-square test with continuity correction otherwise, both from statsmodels. The
    corrected statistic is ``max(|b - c| - 1, 0)^2 / (b + c)``: statsmodels squares
    ``|b - c| - 1`` also where it is negative (equal counts), which gave p < 1 for a tie.

    Args:
        correct_a: booleans (or 0/1), whether classifier A got each example right.
        correct_b: the same for classifier B, on the same examples in the same order.
        exact_below: the discordant count from which the chi-square test is used.

    Returns:
        ``(table, statistic, p_value, exact)`` where ``table`` is
        ``[[both right, only A right], [only B right, both wrong]]``.

    Raises:
        ValueError: the vectors differ in length, are empty or not 1-D booleans, or
            ``exact_below`` is negative.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    if exact_below < 0:
        raise ValueError(f"exact_below must be >= 0, got {exact_below!r}")
    a = _as_correctness(correct_a, "correct_a")
    b = _as_correctness(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b must have the same length, got {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("correct_a and correct_b hold no example: nothing to test")
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]], dtype=np.int64)
    discordant = int(table[0, 1] + table[1, 0])
    exact = discordant < exact_below or discordant == 0
    result = mcnemar(table, exact=exact, correction=True)
    if not exact and table[0, 1] == table[1, 0]:
        return table, 0.0, 1.0, exact
    return table, float(result.statistic), float(result.pvalue), exact


def compare_finalists(
    y_true: np.ndarray,
    predictions: Mapping[int, np.ndarray],
    finalists: Sequence[Finalist],
    *,
    alpha: float = 0.05,
    prefer: str = "cost",
    margin: float = DEFAULT_MARGIN,
    cost_metric: str = "params",
) -> Comparison:
    """Test every pair of finalists with McNemar's test and choose the winner.

    The winner is the most accurate finalist (test accuracy; ties broken by validation
    accuracy, then fewer parameters) unless, with ``prefer="cost"``, a cheaper finalist
    (fewer parameters, at equal parameters fewer FLOPs; the other way round with
    ``cost_metric="flops"``, the study's ``--cost-metric``) is non-inferior to it: the upper
    bound of the ``1 - alpha / m`` (by default 95% for one) paired confidence interval of
    accuracy(most accurate) - accuracy(cheaper) is below ``margin``, for m cheaper finalists
    (Bonferroni). Then the cheapest
    non-inferior finalist wins. A small test split gives a wide interval, so there a
    cheaper finalist does not win on a small point loss alone. ``prefer="accuracy"``
    turns the cost rule off. The McNemar p-values do not pick the winner, with one exception:
    a finalist that kept its search model while others were retrained may win only if it is
    significantly more accurate (Holm-adjusted) than the most accurate retrained one. A tie on
    the test split must not hand the export to a model trained on less data for fewer epochs.

    Args:
        y_true: the true class index of each test example.
        predictions: trial number -> predicted class index per test example.
        finalists: the finalists to compare (their order is the order of the pairs).
        alpha: significance level of the Holm-adjusted tests; the confidence intervals
            of the accuracy differences in the table are at level ``1 - alpha`` (not
            adjusted), the winner rule's at ``1 - alpha / m``.
        prefer: ``"cost"`` or ``"accuracy"``.
        margin: the non-inferiority margin, a fraction of accuracy in [0, 1) (0.01 is 1
            percentage point).

    Raises:
        ValueError: no finalist, a repeated trial, a missing or mis-sized prediction
            vector, labels or predictions that are not class indices, a finalist's
            ``accuracy`` that its predictions do not score, ``alpha`` outside
            [``MIN_ALPHA``, 1), ``margin`` outside [0, 1), an unknown ``prefer`` or
            ``cost_metric``.
    """
    from statsmodels.stats.multitest import multipletests

    _check_arguments(finalists, alpha, prefer, margin)
    if cost_metric not in ("params", "flops"):
        raise ValueError(f"cost_metric must be 'params' or 'flops', got {cost_metric!r}")
    truth = np.asarray(y_true)
    if truth.ndim != 1 or truth.size == 0:
        raise ValueError(f"y_true must be a 1-D vector of class indices, one or more, got shape {truth.shape}")
    _check_class_indices(truth, "y_true")
    correct = {f.trial: _predicted(predictions, f.trial, truth.shape) == truth for f in finalists}
    for finalist in finalists:
        _check_accuracy(finalist, correct[finalist.trial])
    tests = [(a, b, mcnemar_pair(correct[a], correct[b])) for a, b in combinations(correct, 2)]
    p_holm = multipletests([p for _, _, (_, _, p, _) in tests], alpha=alpha, method="holm")[1] if tests else []
    pairs = tuple(
        _pair_result(a, b, table, statistic, p, float(adjusted), exact, alpha)
        for (a, b, (table, statistic, p, exact)), adjusted in zip(tests, p_holm, strict=True)
    )
    eligible, note = _eligible(tuple(finalists), pairs, alpha)
    ineligible = tuple(f for f in finalists if f not in eligible)
    levels = _RuleLevels(alpha=alpha, margin=margin, ineligible=ineligible, cost_metric=cost_metric)
    winner, reason = _WINNER_RULES[prefer](eligible, pairs, levels)
    reason += note
    return Comparison(
        finalists=tuple(finalists),
        pairs=pairs,
        winner=winner,
        reason=reason,
        alpha=alpha,
        prefer=prefer,
        margin=margin,
    )


# --- the winner rules -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _RuleLevels:
    """What a winner rule needs besides the eligible finalists and the pairs: the levels, and
    the finalists that may not win (``_eligible``), which its sentence must not contradict."""

    alpha: float
    margin: float
    ineligible: tuple[Finalist, ...] = ()
    cost_metric: str = "params"

    def cost(self, finalist: Finalist) -> tuple[int, int]:
        return finalist.cost(self.cost_metric)

    def highest(self, best: Finalist) -> str:
        """ "the highest test accuracy", of those that may win where one that may not is higher."""
        higher = any(f.accuracy > best.accuracy for f in self.ineligible)
        return "the highest test accuracy" + (" of the finalists that may win" if higher else "")


WinnerRule = Callable[[tuple[Finalist, ...], tuple[PairResult, ...], _RuleLevels], tuple[int, str]]


def _eligible(
    finalists: tuple[Finalist, ...], pairs: tuple[PairResult, ...], alpha: float
) -> tuple[tuple[Finalist, ...], str]:
    """The finalists that may win, and a sentence on those that may not: a finalist that kept
    its search model while others were retrained, unless it is significantly more accurate
    (Holm-adjusted p below ``alpha``) than the most accurate retrained finalist."""
    retrained = tuple(f for f in finalists if not f.kept_search_model)
    if not retrained or len(retrained) == len(finalists):
        return finalists, ""
    best = _most_accurate(retrained)

    def clearly_better(f: Finalist) -> bool:
        return f.accuracy > best.accuracy and _find_pair(pairs, best.trial, f.trial).p_holm < alpha

    out = [f for f in finalists if f.kept_search_model and not clearly_better(f)]
    eligible = tuple(f for f in finalists if f not in out)
    if not out:
        return eligible, ""

    def why(f: Finalist) -> str:
        if f.accuracy <= best.accuracy:
            return f"trial {f.trial} is not more accurate"
        p_holm = _find_pair(pairs, best.trial, f.trial).p_holm
        return f"trial {f.trial} is more accurate, but not significantly (Holm-adjusted p {p_holm:.3g} >= {alpha:g})"

    names = ", ".join(f"trial {f.trial}" for f in out)
    return eligible, (
        f" Not eligible: {names}, compared with its search model (not retrained, trained on less data), which "
        f"may win only if significantly more accurate than the retrained trial {best.trial}: "
        f"{'; '.join(why(f) for f in out)}."
    )


def _most_accurate(finalists: tuple[Finalist, ...]) -> Finalist:
    """Highest test accuracy; ties broken by validation accuracy, then fewer parameters."""
    return max(finalists, key=lambda f: (f.accuracy, f.val_accuracy, -f.params))


def _accuracy_rule(
    finalists: tuple[Finalist, ...], pairs: tuple[PairResult, ...], levels: _RuleLevels
) -> tuple[int, str]:
    best = _most_accurate(finalists)
    return best.trial, f"It has {levels.highest(best)} ({best.accuracy:.4f}); cost is ignored (prefer=accuracy)."


def _cost_rule(finalists: tuple[Finalist, ...], pairs: tuple[PairResult, ...], levels: _RuleLevels) -> tuple[int, str]:
    """The cheapest finalist non-inferior to the most accurate, else the most accurate.

    Each cheaper finalist is a chance for an inferior one to win: the intervals are
    Bonferroni-adjusted for their number (``1 - alpha / m`` for m cheaper finalists), so
    that the chance stays within ``alpha / 2`` whatever ``--top``.
    """
    best = _most_accurate(finalists)
    cost = levels.cost
    cheaper = sorted(
        (f for f in finalists if cost(f) < cost(best)), key=lambda f: (cost(f), -f.accuracy, -f.val_accuracy)
    )
    confidence = 1 - levels.alpha / max(len(cheaper), 1)
    bounds = {
        f.trial: _loss_upper_bound(_find_pair(pairs, best.trial, f.trial), best.trial, confidence) for f in cheaper
    }
    level, margin = _level(confidence), _points(levels.margin)
    adjusted = f", Bonferroni-adjusted for {len(cheaper)} cheaper finalists" if len(cheaper) > 1 else ""
    pick = next((f for f in cheaper if bounds[f.trial] < levels.margin), None)
    if pick is not None:
        return pick.trial, (
            f"Cheaper than trial {best.trial} ({pick.params:,} vs {best.params:,} params, {pick.flops:,} vs "
            f"{best.flops:,} FLOPs) and non-inferior within {margin} points (upper limit of the {level} "
            f"confidence interval of the loss{adjusted}: {_points(bounds[pick.trial])} points): "
            f"test accuracy {pick.accuracy:.4f} vs {best.accuracy:.4f}."
        )
    reason = f"It has {levels.highest(best)} ({best.accuracy:.4f})"
    if not cheaper:
        costly = any(cost(f) < cost(best) for f in levels.ineligible)
        return best.trial, f"{reason} and no finalist{' that may win' * costly} is cheaper."
    losses = ", ".join(f"trial {f.trial} {_points(bounds[f.trial])}" for f in cheaper)
    return best.trial, (
        f"{reason}; no cheaper finalist is non-inferior within {margin} points "
        f"(upper limit of the {level} confidence interval of the loss{adjusted}, in points: {losses})."
    )


def _loss_upper_bound(pair: PairResult, best: int, confidence: float) -> float:
    """Upper limit of the ``confidence`` interval of accuracy(``best``) - accuracy(the other
    finalist of ``pair``)."""
    table = np.array([[pair.both_right, pair.only_a], [pair.only_b, pair.both_wrong]])
    _, low, high = _paired_difference_ci(table, confidence=confidence)
    return high if pair.trial_a == best else -low


def _points(fraction: float) -> str:
    """An accuracy difference in percentage points: 0.01 -> "1.00"."""
    return f"{100 * fraction:.2f}"


def _level(confidence: float) -> str:
    """A confidence level as a percentage: 0.95 -> "95%", 0.975 -> "97.5%", 0.995 -> "99.5%"."""
    return f"{100 * confidence:.4g}%"


_WINNER_RULES: dict[str, WinnerRule] = {"cost": _cost_rule, "accuracy": _accuracy_rule}


# --- helpers ----------------------------------------------------------------------------


def _check_arguments(finalists: Sequence[Finalist], alpha: float, prefer: str, margin: float) -> None:
    if prefer not in _WINNER_RULES:
        raise ValueError(f"prefer must be one of {sorted(_WINNER_RULES)}, got {prefer!r}")
    if not MIN_ALPHA <= alpha < 1.0:  # a smaller one makes 1 - alpha / m round to 1: infinite intervals
        raise ValueError(f"alpha must be in [{MIN_ALPHA:g}, 1), got {alpha!r}")
    if not 0.0 <= margin < 1.0:  # also rejects NaN
        raise ValueError(f"margin must be in [0, 1) (a fraction of accuracy: 0.01 is 1 point), got {margin!r}")
    if len(finalists) < 1:
        raise ValueError(f"need at least 1 finalist, got {len(finalists)}")
    trials = [f.trial for f in finalists]
    if len(set(trials)) != len(trials):
        raise ValueError(f"each finalist must be a different trial, got trials {trials}")


def _predicted(predictions: Mapping[int, np.ndarray], trial: int, shape: tuple[int, ...]) -> np.ndarray:
    """The prediction vector of ``trial``, checked against the shape of ``y_true``."""
    if trial not in predictions:
        raise ValueError(f"no predictions for finalist trial {trial!r}; got trials {sorted(predictions)}")
    predicted = np.asarray(predictions[trial])
    if predicted.shape != shape:
        raise ValueError(
            f"predictions of trial {trial} have shape {predicted.shape} but y_true has shape {shape}: "
            "pass one predicted class index per test example"
        )
    _check_class_indices(predicted, f"predictions of trial {trial}")
    return predicted


def _check_class_indices(values: np.ndarray, name: str) -> None:
    """Class indices are whole numbers from 0 (or booleans, of two classes): names, floats or
    probabilities compared with indices would score every example wrong without a word."""
    whole = values.dtype.kind in "iub" or (
        values.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) for v in values)  # pandas' object ints
    )
    if not whole:
        raise ValueError(f"{name} must be class indices (integers), got dtype {values.dtype}: {values[:3].tolist()}")
    if values.min() < 0:
        raise ValueError(f"{name} must be class indices from 0, got {int(values.min())}")


def _check_accuracy(finalist: Finalist, correct: np.ndarray) -> None:
    """Refuse an ``accuracy`` its predictions do not score (within one example, and a float32
    or a rounding to 4 places of it)."""
    scored = float(np.mean(correct))
    if not math.isclose(finalist.accuracy, scored, abs_tol=max(1.0 / correct.size, 1e-4)):
        raise ValueError(
            f"finalist trial {finalist.trial} has accuracy {finalist.accuracy!r} but its predictions score "
            f"{scored!r} on y_true: pass the accuracy of these predictions"
        )


def _as_correctness(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector, got shape {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans or 0/1, got values {np.unique(array)[:5].tolist()}")
    return array.astype(bool)


def _pair_result(
    a: int, b: int, table: np.ndarray, statistic: float, p: float, p_holm: float, exact: bool, alpha: float
) -> PairResult:
    diff, low, high = _paired_difference_ci(table, confidence=1.0 - alpha)
    return PairResult(
        trial_a=a,
        trial_b=b,
        both_right=int(table[0, 0]),
        only_a=int(table[0, 1]),
        only_b=int(table[1, 0]),
        both_wrong=int(table[1, 1]),
        statistic=statistic,
        p_value=p,
        p_holm=p_holm,
        exact=exact,
        accuracy_diff=diff,
        ci_low=low,
        ci_high=high,
    )


def _paired_difference_ci(table: np.ndarray, *, confidence: float) -> tuple[float, float, float]:
    """Accuracy(A) - accuracy(B) and Newcombe's square-and-add CI for paired proportions.

    Newcombe (1998, Stat Med 17:2635, method 10): Wilson score intervals of the two
    accuracies, combined with the continuity-corrected correlation ``phi`` of the pairs.
    Unlike the Wald interval it stays inside [-1, 1] and does not collapse to a point
    when there are no discordant examples.
    """
    from statsmodels.stats.proportion import proportion_confint

    both, only_a, only_b, neither = (int(v) for v in np.ravel(table))
    n = both + only_a + only_b + neither
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = proportion_confint(both + only_a, n, alpha=1.0 - confidence, method="wilson")
    l2, u2 = proportion_confint(both + only_b, n, alpha=1.0 - confidence, method="wilson")
    phi = _paired_correlation(both, only_a, only_b, neither)
    lower = _square_and_add(p1 - l1, u2 - p2, phi)
    upper = _square_and_add(p2 - l2, u1 - p1, phi)
    diff = p1 - p2
    return float(diff), float(diff - lower), float(diff + upper)


def _square_and_add(x: float, y: float, phi: float) -> float:
    # x^2 + y^2 - 2*phi*x*y >= (x - y)^2 >= 0 for |phi| <= 1; max() absorbs rounding.
    return float(np.sqrt(max(x * x + y * y - 2 * phi * x * y, 0.0)))


def _paired_correlation(both: int, only_a: int, only_b: int, neither: int) -> float:
    """Newcombe's continuity-corrected phi coefficient of the 2x2 table (0 if a margin is empty)."""
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    if margins == 0:
        return 0.0
    n = both + only_a + only_b + neither
    cross: float = both * neither - only_a * only_b
    if cross > n / 2:
        cross -= n / 2
    elif cross >= 0:
        cross = 0
    return float(cross / math.sqrt(margins))  # ``margins`` passes 2**64 past n = 130,000: not NumPy's sqrt


def _find_pair(pairs: tuple[PairResult, ...], a: int, b: int) -> PairResult:
    return next(p for p in pairs if {p.trial_a, p.trial_b} == {a, b})
