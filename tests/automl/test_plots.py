"""``study_plots``: Optuna's figures of a study, drawn without changing the other figures' style."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import optuna
import pytest

from automl import _plots
from automl._mcnemar import Finalist, compare_finalists
from automl._plots import close_figure, plot_confusion_matrix, plot_pvalue_heatmap, study_plots


def _study(params: int, trials: int = 6) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: sum(t.suggest_float(f"p{i}", 0, 1) for i in range(params)), n_trials=trials)
    return study


def _style() -> dict:
    return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}  # study_plots picks Agg


def test_optunas_ggplot_style_stays_with_its_own_plots() -> None:
    before = _style()
    figures = study_plots(_study(3), pareto=False)
    assert set(figures) == {"optimization_history.png", "param_importances.png"}
    for figure in figures.values():
        close_figure(figure)
    assert _style() == before  # the comparison's heatmaps, drawn next, have no grid lines


def test_the_importance_plot_grows_with_the_parameters_so_each_label_can_be_read() -> None:
    heights = {}
    for params in (3, 60):
        figures = study_plots(_study(params), pareto=False)
        heights[params] = figures["param_importances.png"].get_size_inches()[1]
        for figure in figures.values():
            close_figure(figure)
    assert heights[3] == 5.0 and heights[60] >= 0.25 * 60


@pytest.fixture
def drawn(monkeypatch) -> Iterator[list[Any]]:
    """The figures the plots save, in order (saved nowhere; closed after the test)."""
    figures: list[Any] = []
    monkeypatch.setattr(_plots, "_save_png", lambda figure, path: figures.append(figure) or Path(path))
    yield figures
    for figure in figures:
        close_figure(figure)


def test_the_heatmap_shows_each_pairs_holm_p_value_in_the_finalists_order(drawn) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    predictions = {
        5: y.copy(),
        2: np.where(rng.random(400) < 0.3, (y + 1) % 3, y),
        9: np.where(np.arange(400) < 2, (y + 1) % 3, y),  # two errors more than trial 5: p = 0.5 exactly
    }
    finalists = [
        Finalist(trial=t, accuracy=float(np.mean(p == y)), val_accuracy=0.9, params=100, flops=1000)
        for t, p in predictions.items()
    ]
    comparison = compare_finalists(y, predictions, finalists, alpha=0.5)
    plot_pvalue_heatmap(comparison, Path("pvalues.png"))
    (ax, _) = drawn[-1].axes  # the heatmap and its colour bar
    labels = ["trial 5", "trial 2", "trial 9"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in ax.get_yticklabels()] == labels
    cells = {tuple(t.get_position()): t.get_text() for t in ax.texts}
    index = {5: 0, 2: 1, 9: 2}
    expected = {}
    for pair in comparison.pairs:
        text = f"{pair.p_holm:.3g}" + ("*" if pair.p_holm < 0.5 else "")
        a, b = index[pair.trial_a], index[pair.trial_b]
        expected[(a, b)] = expected[(b, a)] = text
    assert cells == expected
    assert cells[(0, 2)] == "0.5"  # not below alpha: no star
    assert ax.get_title() == "McNemar p-values (Holm), * = p < 0.5"


def test_the_confusion_matrix_has_a_row_and_a_column_for_every_class_even_unseen_ones(drawn) -> None:
    plot_confusion_matrix(np.array([0, 0, 1, 1, 1]), np.array([1, 0, 1, 1, 1]), ["a", "b", "c"], Path("cm.png"))
    (ax, _) = drawn[-1].axes
    # Rows are the true classes, columns the predicted ones: one "a" was taken for a "b".
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 1, 0], [0, 3, 0], [0, 0, 0]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in ax.get_yticklabels()] == list("abc")
    assert ax.get_title() == "Confusion matrix (5 test examples)"


def test_the_confusion_matrix_of_many_classes_names_every_k_th_class(drawn) -> None:
    names = [f"class {i}" for i in range(120)]
    plot_confusion_matrix(np.arange(120), np.arange(120), names, Path("cm.png"))
    (ax, _) = drawn[-1].axes
    assert [t.get_text() for t in ax.get_yticklabels()] == names[::2]  # 60 names at most


def test_a_study_of_one_trial_has_no_importance_plot() -> None:
    figures = study_plots(_study(3, trials=1), pareto=False)
    assert set(figures) == {"optimization_history.png"}
    for figure in figures.values():
        close_figure(figure)


def test_the_history_of_a_study_with_a_cost_objective_plots_the_validation_accuracy() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), 100 + t.suggest_float("b", 0, 1)), n_trials=3)
    figures = study_plots(study, pareto=True)
    assert set(figures) == {"optimization_history.png", "param_importances.png", "pareto_front.png"}
    history = figures["optimization_history.png"].axes[0]
    plotted = history.collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(plotted, [t.values[0] for t in study.trials])
    for figure in figures.values():
        close_figure(figure)
