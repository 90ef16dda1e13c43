"""Every figure the study logs: McNemar p-values, the winner's confusion matrix, and Optuna's plots."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.trial import TrialState

from automl._atomic import write_atomically
from automl._mcnemar import Comparison

__all__ = ["plot_pvalue_heatmap", "plot_confusion_matrix", "study_plots", "close_figure"]


def plot_pvalue_heatmap(comparison: Comparison, path: Path) -> Path:
    """Save a heatmap of the Holm-adjusted pairwise p-values as a PNG; returns ``path``.

    Low p-values (significant differences) are red; a ``*`` marks p < alpha.
    """
    trials = [f.trial for f in comparison.finalists]
    index = {t: i for i, t in enumerate(trials)}
    matrix = np.full((len(trials), len(trials)), np.nan)
    for p in comparison.pairs:
        matrix[index[p.trial_a], index[p.trial_b]] = matrix[index[p.trial_b], index[p.trial_a]] = p.p_holm
    size = 2.5 + 0.8 * len(trials)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdYlGn", vmin=0.0, vmax=1.0)
    for (i, j), value in np.ndenumerate(matrix):
        if not np.isnan(value):
            mark = "*" if value < comparison.alpha else ""
            ax.text(j, i, f"{value:.3g}{mark}", ha="center", va="center", fontsize=9)
    labels = [f"trial {t}" for t in trials]
    ax.set_xticks(range(len(trials)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(trials)), labels)
    ax.set_title(f"McNemar p-values (Holm), * = p < {comparison.alpha:g}")
    fig.colorbar(image, ax=ax, label="Holm-adjusted p")
    return _save_png(fig, path)


# The confusion matrix's height in inches (at 120 dpi) and the most classes it names on an axis.
MAX_CONFUSION_INCHES = 24.0
MAX_NAMED_CLASSES = 60


def plot_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], path: Path) -> Path:
    """Save the confusion matrix (rows: true class, columns: predicted) as a PNG; returns ``path``."""
    from sklearn.metrics import confusion_matrix

    n = len(class_names)
    matrix = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(n)))
    size = min(3.0 + 0.45 * n, MAX_CONFUSION_INCHES)  # uncapped, 300 classes drew 16,680 px a side in 7.6 GB
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    if n <= 30:  # beyond that the numbers are unreadable; the colours still show the pattern
        threshold = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if count > threshold else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)
    named = range(0, n, math.ceil(n / MAX_NAMED_CLASSES))  # each class's name while they fit, every k-th past that
    ax.set_xticks(named, [class_names[i] for i in named], rotation=45, ha="right")
    ax.set_yticks(named, [class_names[i] for i in named])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({matrix.sum():,} test examples)")
    fig.colorbar(image, ax=ax, label="examples")
    return _save_png(fig, path)


def _save_png(fig: Any, path: Path) -> Path:
    return write_atomically(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def study_plots(study: optuna.Study, *, pareto: bool) -> dict[str, Figure | str]:
    """Optuna's plots of a study, by file name: a figure, or why it could not be drawn.

    Close each figure with ``close_figure`` once it is saved.
    """
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    target = (lambda t: t.values[0]) if pareto else None
    plots: dict[str, Callable[[], Any]] = {}
    if complete:
        plots["optimization_history.png"] = lambda: ovm.plot_optimization_history(
            study, target=target, target_name="val_accuracy"
        )
    if len(complete) >= 2:
        plots["param_importances.png"] = lambda: ovm.plot_param_importances(
            study, target=target, target_name="val_accuracy"
        )
    if pareto and complete:
        plots["pareto_front.png"] = lambda: ovm.plot_pareto_front(study, target_names=["val_accuracy", "cost"])
    drawn: dict[str, Figure | str] = {}
    for name, make in plots.items():
        # Optuna's plots switch pyplot to its ggplot style for good, which would draw grid
        # lines through the numbers of the comparison's heatmaps: keep it to these.
        with matplotlib.rc_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                axes = make()
            except (ValueError, RuntimeError) as exc:
                drawn[name] = str(exc)
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes
            figure.set_size_inches(8, _height(axes))
            figure.tight_layout()
        drawn[name] = figure
    return drawn


def _height(axes: Any) -> float:
    """Inches of a plot's height: a quarter inch a bar where one bar is drawn per parameter
    (a search space has dozens), 5 otherwise."""
    labels = len(axes.get_yticklabels()) if hasattr(axes, "get_yticklabels") else 0
    return max(5.0, 1.5 + 0.25 * labels)


def close_figure(figure: Figure) -> None:
    """Release a figure drawn through pyplot (Optuna's plots are)."""
    import matplotlib.pyplot as plt

    plt.close(figure)
