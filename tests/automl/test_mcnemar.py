"""McNemar statistics, Holm correction and the winner rule of ``automl._mcnemar``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from automl._mcnemar import (
    Comparison,
    Finalist,
    _paired_difference_ci,
    compare_finalists,
    mcnemar_pair,
)
from automl._plots import MAX_CONFUSION_INCHES, plot_confusion_matrix, plot_pvalue_heatmap

# Cavo et al. (2012), the paired 2x2 table of Fagerland, Lydersen & Laake, "Statistical
# Analysis of Contingency Tables", chapter 8: [[both, only first], [only second, neither]].
CAVO = np.array([[59, 6], [16, 80]])


def _correctness(table: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled per-example correctness vectors of A and B whose 2x2 table is ``table``."""
    (both, only_a), (only_b, neither) = table
    a = np.repeat([True, True, False, False], [both, only_a, only_b, neither])
    b = np.repeat([True, False, True, False], [both, only_a, only_b, neither])
    order = np.random.default_rng(seed).permutation(a.size)
    return a[order], b[order]


def _finalist(trial: int, y_true: np.ndarray, predicted: np.ndarray, **cost: int) -> Finalist:
    accuracy = float(np.mean(predicted == y_true))
    return Finalist(trial=trial, accuracy=accuracy, val_accuracy=cost.pop("val", 0.5), **cost)


def _predictions_from(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two prediction vectors (class 0 right, 1 wrong) realising ``table``."""
    a, b = _correctness(table)
    y_true = np.zeros(a.size, dtype=int)
    return y_true, np.where(a, 0, 1), np.where(b, 0, 1)


def _holm(p_values: list[float]) -> np.ndarray:
    """Holm's step-down adjustment, written out independently of statsmodels."""
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(np.argsort(p_values)):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# --- McNemar's test -----------------------------------------------------------------------


def test_exact_test_matches_statsmodels_and_the_binomial_test() -> None:
    a, b = _correctness(CAVO)
    table, statistic, p_value, exact = mcnemar_pair(a, b)  # 22 discordant < 25: exact
    reference = mcnemar(CAVO, exact=True)
    assert exact
    np.testing.assert_array_equal(table, CAVO)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert statistic == pytest.approx(reference.statistic)
    assert p_value == pytest.approx(stats.binomtest(6, 22, 0.5).pvalue, rel=1e-9)


def test_chi_square_test_matches_statsmodels_and_the_published_value() -> None:
    a, b = _correctness(CAVO)
    _, statistic, p_value, exact = mcnemar_pair(a, b, exact_below=10)
    reference = mcnemar(CAVO, exact=False, correction=True)
    assert not exact
    assert p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert statistic == pytest.approx((abs(6 - 16) - 1) ** 2 / 22)
    assert p_value == pytest.approx(0.055009, abs=5e-7)  # Fagerland et al., McNemar with CC


def test_large_discordant_count_uses_chi_square_by_default() -> None:
    table = np.array([[400, 30], [12, 58]])
    _, statistic, p_value, exact = mcnemar_pair(*_correctness(table, seed=3))
    assert not exact
    assert statistic == pytest.approx((abs(30 - 12) - 1) ** 2 / 42)
    assert p_value == pytest.approx(stats.chi2.sf(statistic, df=1))


def test_equal_discordant_counts_give_p_one_under_the_chi_square_too() -> None:
    # (|b - c| - 1)^2 / (b + c) squares a negative number here; the corrected statistic is 0.
    _, statistic, p_value, exact = mcnemar_pair(*_correctness(np.array([[400, 13], [13, 74]]), seed=4))
    assert not exact and statistic == 0.0 and p_value == 1.0
    _, statistic, p_value, _ = mcnemar_pair(*_correctness(np.array([[400, 14], [13, 73]]), seed=4))
    assert statistic == 0.0 and p_value == 1.0  # |b - c| - 1 = 0: statsmodels agrees here


@pytest.mark.parametrize(("discordant", "exact"), [(24, True), (25, False)])
def test_the_exact_test_is_used_below_25_discordant_pairs(discordant: int, exact: bool) -> None:
    a, b = _correctness(np.array([[50, discordant - 5], [5, 10]]))
    assert mcnemar_pair(a, b)[3] is exact


def test_no_discordant_examples_gives_p_one() -> None:
    table, _, p_value, exact = mcnemar_pair(np.array([1, 1, 0]), np.array([1, 1, 0]), exact_below=0)
    assert exact and p_value == 1.0
    np.testing.assert_array_equal(table, [[2, 0], [0, 1]])


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ([True, False], [True], {}, "same length"),
        ([0, 2], [1, 1], {}, "booleans or 0/1"),
        ([[True]], [[True]], {}, "1-D"),
        ([True], [True], {"exact_below": -1}, "-1"),
        ([], [], {}, "no example"),
    ],
)
def test_mcnemar_pair_rejects_bad_input(a: list, b: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mcnemar_pair(np.array(a), np.array(b), **kwargs)


# --- Holm correction and confidence interval ----------------------------------------------


def test_holm_helper_reproduces_hand_computed_values() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04)
    np.testing.assert_allclose(_holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_holm_correction_across_pairs() -> None:
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 3, size=300)
    accuracies = {1: 0.93, 2: 0.86, 3: 0.80, 4: 0.91}
    predictions = {t: np.where(rng.random(300) < acc, y_true, (y_true + 1) % 3) for t, acc in accuracies.items()}
    finalists = [_finalist(t, y_true, predictions[t], params=100 * t, flops=1) for t in accuracies]
    comparison = compare_finalists(y_true, predictions, finalists)
    assert [(p.trial_a, p.trial_b) for p in comparison.pairs] == [
        (1, 2),
        (1, 3),
        (1, 4),
        (2, 3),
        (2, 4),
        (3, 4),
    ]
    for pair in comparison.pairs:
        correct_a, correct_b = predictions[pair.trial_a] == y_true, predictions[pair.trial_b] == y_true
        assert pair.p_value == mcnemar_pair(correct_a, correct_b)[2]
    raw = [p.p_value for p in comparison.pairs]
    np.testing.assert_allclose([p.p_holm for p in comparison.pairs], _holm(raw), rtol=1e-12)
    assert min(raw) < 0.05  # the correction is exercised on a significant pair


def test_accuracy_difference_ci_matches_newcombe_published_value() -> None:
    y_true, pred_a, pred_b = _predictions_from(CAVO)
    finalists = [
        _finalist(1, y_true, pred_a, params=1, flops=1),
        _finalist(2, y_true, pred_b, params=1, flops=1),
    ]
    (pair,) = compare_finalists(y_true, {1: pred_a, 2: pred_b}, finalists).pairs
    # Fagerland et al., Newcombe square-and-add: -0.0621 (95% CI -0.1186 to -0.0046)
    assert (pair.both_right, pair.only_a, pair.only_b, pair.both_wrong) == (59, 6, 16, 80)
    assert pair.accuracy_diff == pytest.approx(-10 / 161)
    assert pair.ci_low == pytest.approx(-0.1186, abs=5e-5)
    assert pair.ci_high == pytest.approx(-0.0046, abs=5e-5)


def test_ci_without_discordant_examples_is_a_proper_interval() -> None:
    y_true, pred_a, pred_b = _predictions_from(np.array([[90, 0], [0, 10]]))
    finalists = [
        _finalist(1, y_true, pred_a, params=1, flops=1),
        _finalist(2, y_true, pred_b, params=1, flops=1),
    ]
    (pair,) = compare_finalists(y_true, {1: pred_a, 2: pred_b}, finalists).pairs
    assert pair.accuracy_diff == 0.0
    assert -1.0 < pair.ci_low < 0.0 < pair.ci_high < 1.0


# --- the winner rule ----------------------------------------------------------------------

# A test split of 10,000 on which the cheaper model loses 4 of them: the upper 95% bound of
# its loss is about 0.14 points, well inside a margin of 1 point.
LARGE_AND_CLOSE = {"only_a": 12, "only_b": 8, "both_right": 9_500, "both_wrong": 480}


def _two_finalists(
    only_a: int, only_b: int, *, both_right: int = 300, both_wrong: int = 20
) -> tuple[np.ndarray, dict[int, np.ndarray], list[Finalist]]:
    """Trial 1: big and more accurate; trial 2: ten times cheaper."""
    y_true, pred_big, pred_small = _predictions_from(np.array([[both_right, only_a], [only_b, both_wrong]]))
    predictions = {1: pred_big, 2: pred_small}
    finalists = [
        _finalist(1, y_true, pred_big, params=50_000, flops=900_000),
        _finalist(2, y_true, pred_small, params=5_000, flops=90_000),
    ]
    return y_true, predictions, finalists


@pytest.mark.parametrize("cheaper_first", [False, True])
def test_cheaper_finalist_wins_when_non_inferior_within_the_margin(cheaper_first: bool) -> None:
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    if cheaper_first:  # the pair is then (2, 1) and the loss bound is read from the other end of the CI
        finalists.reverse()
    comparison = compare_finalists(y_true, predictions, finalists)
    (pair,) = comparison.pairs
    loss_upper = pair.ci_high if pair.trial_a == 1 else -pair.ci_low
    accuracy = {f.trial: f.accuracy for f in finalists}
    assert accuracy[1] > accuracy[2]
    assert 0 < loss_upper < 0.01
    assert comparison.winner == 2
    assert comparison.reason.startswith("Cheaper than trial 1 (5,000 vs 50,000 params")
    assert "non-inferior within 1.00 points" in comparison.reason
    assert f"upper limit of the 95% confidence interval of the loss: {100 * loss_upper:.2f} points" in comparison.reason


@pytest.mark.parametrize(("metric", "winner"), [("params", 2), ("flops", 1)])
def test_cheaper_means_the_study_s_cost_metric(metric: str, winner: int) -> None:
    # Trial 2 has fewer parameters but more FLOPs: with --cost-metric flops it is the costlier
    # one (it won as "cheaper" whatever the metric).
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    finalists[1] = dataclasses.replace(finalists[1], flops=2_000_000)
    comparison = compare_finalists(y_true, predictions, finalists, cost_metric=metric)
    assert comparison.winner == winner
    assert comparison.reason.startswith("Cheaper than trial 1" if winner == 2 else "It has the highest test accuracy")
    with pytest.raises(ValueError, match="cost_metric must be 'params' or 'flops', got 'size'"):
        compare_finalists(y_true, predictions, finalists, cost_metric="size")


def test_slightly_worse_cheaper_finalist_on_a_small_test_split_does_not_win() -> None:
    # 335 test examples; the cheaper model is 0.9 points worse, within the margin, but the
    # interval is wide (its upper bound is 3.4 points), so non-inferiority is not shown.
    y_true, predictions, finalists = _two_finalists(only_a=9, only_b=6)
    comparison = compare_finalists(y_true, predictions, finalists)
    (pair,) = comparison.pairs
    assert 0 < pair.accuracy_diff < 0.01 < pair.ci_high
    assert pair.p_holm >= 0.05  # the old rule ("not significantly worse") chose the cheaper one
    assert comparison.winner == 1
    assert "no cheaper finalist is non-inferior within 1.00 points" in comparison.reason
    assert f"trial 2 {100 * pair.ci_high:.2f}" in comparison.reason


def test_issue_example_short_digits_run_now_picks_the_more_accurate_finalist() -> None:
    # Issue 14: on a short digits run (359 test images) the old rule exported 0.357 over
    # 0.423, whose difference had the 95% CI -0.009..+0.142.
    y_true, predictions, finalists = _two_finalists(only_a=109, only_b=85, both_right=43, both_wrong=122)
    comparison = compare_finalists(y_true, predictions, finalists)
    (pair,) = comparison.pairs
    assert (round(finalists[0].accuracy, 3), round(finalists[1].accuracy, 3)) == (0.423, 0.357)
    assert (round(pair.ci_low, 3), round(pair.ci_high, 3)) == (-0.009, 0.142)
    assert pair.p_holm >= 0.05
    assert comparison.winner == 1
    assert "trial 2 14.17" in comparison.reason


def test_most_accurate_wins_when_the_cheaper_one_is_significantly_worse() -> None:
    y_true, predictions, finalists = _two_finalists(only_a=40, only_b=5)
    comparison = compare_finalists(y_true, predictions, finalists)
    assert comparison.pairs[0].p_holm < 0.05
    assert comparison.winner == 1
    assert "no cheaper finalist is non-inferior" in comparison.reason and "trial 2" in comparison.reason


def _kept_search_model(finalists: list[Finalist], trial: int) -> list[Finalist]:
    return [dataclasses.replace(f, kept_search_model=f.trial == trial) for f in finalists]


@pytest.mark.parametrize("prefer", ["cost", "accuracy"])
def test_a_search_model_does_not_win_on_a_tie_over_a_retrained_finalist(prefer: str) -> None:
    # Trial 1 is 3 examples in 1,000 more accurate, far from significant. As equals it wins
    # (prefer=accuracy; or the cheaper trial 2 wins, non-inferior, with prefer=cost); as a
    # model that was not retrained while trial 2 was, it may not win.
    y_true, predictions, finalists = _two_finalists(only_a=20, only_b=17, both_right=880, both_wrong=83)
    as_equals = compare_finalists(y_true, predictions, finalists, prefer=prefer, margin=0.05)
    assert as_equals.winner == (1 if prefer == "accuracy" else 2)
    comparison = compare_finalists(y_true, predictions, _kept_search_model(finalists, 1), prefer=prefer, margin=0.05)
    assert comparison.pairs[0].p_holm >= 0.05
    assert comparison.winner == 2
    assert "Not eligible: trial 1, compared with its search model" in comparison.reason
    assert "search model" in comparison.table()


def test_a_search_model_significantly_more_accurate_than_the_retrained_ones_may_win() -> None:
    y_true, predictions, finalists = _two_finalists(only_a=40, only_b=5)
    comparison = compare_finalists(y_true, predictions, _kept_search_model(finalists, 1))
    assert comparison.pairs[0].p_holm < 0.05
    assert comparison.winner == 1 and "Not eligible" not in comparison.reason
    assert "<- winner; search model" in comparison.table()
    # None retrained (no final training): all are equals.
    assert compare_finalists(y_true, predictions, finalists).winner == 1


def test_a_search_model_is_judged_on_its_holm_adjusted_p_value() -> None:
    # Trial 1 (its search model) beats the retrained trials 2 and 3 with p 0.021 each: below
    # alpha, but not once adjusted for the three pairs (0.063), so it may not win.
    y_true, pred_search, pred_retrained = _predictions_from(np.array([[880, 20], [7, 93]]))
    predictions = {1: pred_search, 2: pred_retrained, 3: pred_retrained.copy()}
    finalists = [
        _finalist(1, y_true, pred_search, params=900, flops=1),
        _finalist(2, y_true, pred_retrained, params=800, flops=1),
        _finalist(3, y_true, pred_retrained, params=700, flops=1),
    ]
    comparison = compare_finalists(y_true, predictions, _kept_search_model(finalists, 1), prefer="accuracy")
    pair = next(p for p in comparison.pairs if {p.trial_a, p.trial_b} == {1, 3})
    assert pair.p_value < 0.05 <= pair.p_holm
    assert comparison.winner == 3 and "Not eligible: trial 1" in comparison.reason


def test_of_cheaper_finalists_of_equal_cost_the_more_accurate_wins() -> None:
    y_true = np.zeros(1000, dtype=int)
    best = np.where(np.arange(1000) < 100, 1, 0)  # 900 right
    one_less, two_less = best.copy(), best.copy()
    one_less[100], two_less[100:102] = 1, 1
    predictions = {1: best, 2: two_less, 3: one_less}
    finalists = [
        _finalist(1, y_true, best, params=10_000, flops=1),
        _finalist(2, y_true, two_less, params=5_000, flops=1),
        _finalist(3, y_true, one_less, params=5_000, flops=1),
    ]
    assert compare_finalists(y_true, predictions, finalists, margin=0.05).winner == 3


@pytest.mark.parametrize(("margin", "winner"), [(0.0, 1), (0.01, 1), (0.05, 2)])
def test_margin_sets_how_much_a_cheaper_finalist_may_lose(margin: float, winner: int) -> None:
    y_true, predictions, finalists = _two_finalists(only_a=9, only_b=6)  # upper bound of the loss: 3.4 points
    comparison = compare_finalists(y_true, predictions, finalists, margin=margin)
    assert comparison.winner == winner and comparison.margin == margin
    assert f"within {100 * margin:.2f} points" in comparison.reason


def test_the_bounds_are_bonferroni_adjusted_for_the_cheaper_finalists() -> None:
    # Each cheaper finalist is a chance for an inferior one to win: with two, each bound is
    # at 97.5%. A margin between the 95% and the 97.5% bound lets one cheaper finalist win
    # alone, and neither of two of the same accuracy.
    y_true, predictions, finalists = _two_finalists(only_a=9, only_b=6)
    table = np.array([[300, 9], [6, 20]])
    at_95, at_975 = (_paired_difference_ci(table, confidence=c)[2] for c in (0.95, 0.975))
    assert at_95 < at_975
    margin = (at_95 + at_975) / 2

    alone = compare_finalists(y_true, predictions, finalists, margin=margin)
    predictions[3] = predictions[2].copy()
    finalists.append(_finalist(3, y_true, predictions[3], params=6_000, flops=90_000))
    two = compare_finalists(y_true, predictions, finalists, margin=margin)

    assert alone.winner == 2 and "upper limit of the 95% confidence interval of the loss:" in alone.reason
    assert two.winner == 1
    assert "97.5% confidence interval of the loss, Bonferroni-adjusted for 2 cheaper finalists" in two.reason
    assert f"trial 2 {100 * at_975:.2f}, trial 3 {100 * at_975:.2f}" in two.reason


def test_the_reason_of_a_winner_does_not_contradict_the_finalists_that_may_not_win() -> None:
    # Trial 1 kept its search model and is cheaper than the retrained trial 2. Significantly
    # less accurate, it may not win, yet the reason said "no finalist is cheaper" and that its
    # p-value was at least 0.05. More accurate but not significantly, it may not win either,
    # and the winner's accuracy is the highest only of those that may.
    def finalists_of(only_a: int, only_b: int) -> tuple[np.ndarray, dict[int, np.ndarray], list[Finalist]]:
        y_true, pred_1, pred_2 = _predictions_from(np.array([[880, only_a], [only_b, 83]]))
        kept = dataclasses.replace(_finalist(1, y_true, pred_1, params=5_000, flops=90_000), kept_search_model=True)
        return y_true, {1: pred_1, 2: pred_2}, [kept, _finalist(2, y_true, pred_2, params=50_000, flops=900_000)]

    worse = compare_finalists(*finalists_of(only_a=2, only_b=40))
    assert worse.winner == 2 and worse.pairs[0].p_holm < 0.05
    assert "It has the highest test accuracy (" in worse.reason
    assert "no finalist that may win is cheaper" in worse.reason
    assert "trial 1 is not more accurate" in worse.reason and ">=" not in worse.reason

    better = compare_finalists(*finalists_of(only_a=20, only_b=17))
    assert better.winner == 2
    assert "It has the highest test accuracy of the finalists that may win (" in better.reason
    p_holm = better.pairs[0].p_holm
    assert f"trial 1 is more accurate, but not significantly (Holm-adjusted p {p_holm:.3g} >= 0.05)" in better.reason


def test_prefer_accuracy_turns_the_cost_rule_off() -> None:
    y_true, predictions, finalists = _two_finalists(only_a=9, only_b=6)
    comparison = compare_finalists(y_true, predictions, finalists, prefer="accuracy")
    assert comparison.winner == 1
    assert "prefer=accuracy" in comparison.reason


def test_cheapest_of_several_non_inferior_finalists_wins() -> None:
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    predictions[3] = predictions[2].copy()
    finalists.append(_finalist(3, y_true, predictions[3], params=5_000, flops=50_000))  # equal params, fewer FLOPs
    assert compare_finalists(y_true, predictions, finalists).winner == 3


def test_ties_are_broken_by_validation_accuracy_then_parameters() -> None:
    y_true = np.zeros(50, dtype=int)
    predictions = {1: y_true.copy(), 2: y_true.copy(), 3: y_true.copy()}
    finalists = [
        _finalist(1, y_true, predictions[1], params=300, flops=1, val=0.90),
        _finalist(2, y_true, predictions[2], params=200, flops=1, val=0.95),
        _finalist(3, y_true, predictions[3], params=100, flops=1, val=0.95),
    ]
    comparison = compare_finalists(y_true, predictions, finalists, prefer="accuracy")
    assert comparison.winner == 3


def test_single_finalist_wins_without_pairs() -> None:
    y_true = np.array([0, 1, 1])
    finalist = _finalist(4, y_true, y_true, params=10, flops=10)
    comparison = compare_finalists(y_true, {4: y_true}, [finalist])
    assert comparison.pairs == () and comparison.winner == 4
    assert "no finalist is cheaper" in comparison.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prefer": "speed"}, "'speed'"),
        ({"alpha": 1.5}, "1.5"),
        ({"margin": -0.01}, "-0.01"),
        ({"margin": 1.0}, "margin must be in .* got 1.0"),
        ({"margin": float("nan")}, "nan"),
        ({"finalists": []}, "at least 1 finalist"),
        ({"predictions": {1: np.zeros(4, dtype=int)}}, "trial 2"),
        ({"predictions": {1: np.zeros(4, dtype=int), 2: np.zeros(5, dtype=int)}}, r"\(5,\)"),
        ({"y_true": np.zeros((4, 1), dtype=int)}, r"\(4, 1\)"),
        ({"y_true": np.zeros(0, dtype=int), "predictions": {1: np.zeros(0), 2: np.zeros(0)}}, r"one or more, .*\(0,\)"),
        ({"alpha": 1e-20}, r"alpha must be in \[1e-09, 1\), got 1e-20"),  # its intervals were [nan, nan]
        # Scored silently: every example wrong.
        ({"predictions": {1: np.array(["0"] * 4), 2: np.zeros(4, dtype=int)}}, "trial 1 must be class indices"),
        ({"predictions": {1: np.zeros(4), 2: np.zeros(4, dtype=int)}}, "got dtype float64"),
        ({"predictions": {1: np.full(4, -1), 2: np.zeros(4, dtype=int)}}, "from 0, got -1"),
        ({"y_true": np.zeros(4)}, "y_true must be class indices"),
    ],
)
def test_compare_finalists_rejects_bad_input(change: dict, message: str) -> None:
    y_true = np.zeros(4, dtype=int)
    arguments = {
        "y_true": y_true,
        "predictions": {1: y_true, 2: y_true},
        "finalists": [_finalist(t, y_true, y_true, params=1, flops=1) for t in (1, 2)],
        **change,
    }
    options = {key: arguments.pop(key) for key in ("prefer", "alpha", "margin") if key in arguments}
    with pytest.raises(ValueError, match=message):
        compare_finalists(**arguments, **options)


def test_a_finalist_s_accuracy_must_be_what_its_predictions_score() -> None:
    # The winner rule ranks by ``Finalist.accuracy``: one that its predictions do not score
    # picked a winner that the pair table showed no better.
    y_true = np.arange(20) % 3
    finalists = [_finalist(1, y_true, y_true, params=1, flops=1), _finalist(2, y_true, y_true, params=1, flops=1)]
    finalists[0] = dataclasses.replace(finalists[0], accuracy=0.5)
    with pytest.raises(ValueError, match="trial 1 has accuracy 0.5 but its predictions score 1.0"):
        compare_finalists(y_true, {1: y_true, 2: y_true}, finalists)
    # within one example of what they score (0.05 of 20) is taken; one and a half is not
    compare_finalists(y_true, {1: y_true, 2: y_true}, [dataclasses.replace(finalists[0], accuracy=0.951), finalists[1]])
    with pytest.raises(ValueError, match="trial 1 has accuracy 0.925"):
        compare_finalists(
            y_true, {1: y_true, 2: y_true}, [dataclasses.replace(finalists[0], accuracy=0.925), finalists[1]]
        )


@pytest.mark.parametrize(
    ("labels", "accuracy"),
    [
        (lambda y: y, lambda a: float(np.float32(a))),  # Keras' evaluate gives a float32
        (lambda y: y, lambda a: round(a, 4)),
        (lambda y: y.astype(bool), lambda a: a),  # two classes as booleans
        (lambda y: y.astype(object), lambda a: a),  # integers as pandas holds them
    ],
)
def test_class_indices_and_accuracies_as_callers_have_them_are_taken(labels, accuracy) -> None:
    y_true = labels(np.arange(30) % 2)
    predicted = labels(np.where(np.arange(30) < 7, 1 - (np.arange(30) % 2), np.arange(30) % 2))
    finalists = [_finalist(1, y_true, y_true, params=1, flops=1), _finalist(2, y_true, predicted, params=1, flops=1)]
    finalists[1] = dataclasses.replace(finalists[1], accuracy=accuracy(finalists[1].accuracy))
    comparison = compare_finalists(y_true, {1: y_true, 2: predicted}, finalists)
    assert comparison.pairs[0].only_a == 7 and comparison.winner == 1


def test_the_interval_of_a_test_split_of_hundreds_of_thousands_is_computed() -> None:
    # The product of the table's margins passed 2**64 (200,000 examples at 70%): NumPy's sqrt
    # of that Python int raised a TypeError after the whole search had run.
    table = np.array([[120_000, 20_000], [19_000, 41_000]])
    diff, low, high = _paired_difference_ci(table, confidence=0.95)
    assert diff == pytest.approx(1_000 / 200_000)
    assert low < diff < high and high - low < 0.005


def test_repeated_trial_is_rejected() -> None:
    y_true = np.zeros(4, dtype=int)
    finalist = _finalist(1, y_true, y_true, params=1, flops=1)
    with pytest.raises(ValueError, match=r"\[1, 1\]"):
        compare_finalists(y_true, {1: y_true}, [finalist, finalist])


# --- output -------------------------------------------------------------------------------


@pytest.fixture
def comparison() -> Comparison:
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    return compare_finalists(y_true, predictions, finalists, margin=0.02)


def test_to_dict_is_json_with_the_documented_keys(comparison: Comparison) -> None:
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["winner"] == 2 and data["reason"] == comparison.reason
    assert (data["alpha"], data["prefer"], data["margin"]) == (0.05, "cost", 0.02)
    assert [f["trial"] for f in data["finalists"]] == [1, 2]
    pair = data["pairs"][0]
    assert {"trial_a", "trial_b", "only_a", "only_b", "statistic", "p_value", "p_holm", "exact"} <= set(pair)
    assert (pair["only_a"], pair["only_b"], pair["exact"]) == (12, 8, True)


def test_table_shows_finalists_pairs_margin_and_winner(comparison: Comparison) -> None:
    text = comparison.table()
    assert "50,000" in text and "5,000" in text
    assert f"{comparison.pairs[0].p_holm:.4g}" in text
    assert "Non-inferiority margin: 2.00 points" in text
    assert f"Winner: trial 2. {comparison.reason}" in text
    assert "within 2.00 points" in comparison.reason


def test_table_of_prefer_accuracy_shows_no_margin() -> None:
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    text = compare_finalists(y_true, predictions, finalists, prefer="accuracy").table()
    assert "margin" not in text and "Winner: trial 1." in text


def test_table_names_a_finalist_of_averaged_members() -> None:
    y_true, predictions, finalists = _two_finalists(**LARGE_AND_CLOSE)
    finalists = [dataclasses.replace(finalists[0], members=2), finalists[1]]
    text = compare_finalists(y_true, predictions, finalists, prefer="accuracy").table()
    row = next(line for line in text.splitlines() if line.startswith(f"    {finalists[0].trial} "))
    assert "2 averaged members (cost of all)" in row
    assert compare_finalists(y_true, predictions, finalists).to_dict()["finalists"][0]["members"] == 2


def test_the_confusion_matrix_of_many_classes_stays_a_readable_size(tmp_path) -> None:
    # It grew 0.45 inches a class: 300 classes drew 16,680 pixels a side in 7.6 GB (1,000
    # would have run out of memory after the search).
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 300, 3_000)
    path = plot_confusion_matrix(y_true, y_true, [f"class {i}" for i in range(300)], tmp_path / "cm.png")
    with Image.open(path) as image:
        assert max(image.size) <= (MAX_CONFUSION_INCHES + 1) * 120  # at 120 dpi


def test_plots_are_png_files(comparison: Comparison, tmp_path) -> None:
    heatmap = plot_pvalue_heatmap(comparison, tmp_path / "plots" / "pvalues.png")
    y_true = np.array([0, 1, 2, 2, 1])
    matrix = plot_confusion_matrix(y_true, np.array([0, 2, 2, 2, 1]), ["a", "b", "c"], tmp_path / "cm.png")
    for path in (heatmap, matrix):
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "cm.png",
        "plots",
        "pvalues.png",
    ]  # no temp files left
