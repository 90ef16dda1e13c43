"""End-of-study reporting on the parent MLflow run: trials table and plots."""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.trial import TrialState

from automl._study import study_rows
from automl._tracking import Tracker

__all__ = ["trials_frame", "format_table", "log_study_report"]

_COLUMNS = ("trial", "state", "val_accuracy", "params", "flops", "seconds", "reason")


def trials_frame(study: optuna.Study) -> Any:
    """A pandas frame with one readable row per trial."""
    import pandas as pd

    rows = [{k: row[k] for k in _COLUMNS} for row in study_rows(study)]
    return pd.DataFrame(rows, columns=list(_COLUMNS))


def format_table(frame: Any, max_reason: int = 60) -> str:
    shown = frame.copy()
    shown["reason"] = shown["reason"].astype(str).str.slice(0, max_reason)
    shown["val_accuracy"] = shown["val_accuracy"].map(lambda v: "-" if v is None or v != v else f"{v:.4f}")
    for column in ("params", "flops"):
        shown[column] = shown[column].map(lambda v: "-" if v is None or v != v else f"{int(v):,}")
    return shown.to_string(index=False)


def log_study_report(study: optuna.Study, tracker: Tracker, run_id: str, *, pareto: bool) -> list[str]:
    """Log the trials table (CSV) and the plots (PNG); returns the artifact names logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    frame = trials_frame(study)
    tracker.log_dataframe(run_id, frame, "trials.csv")
    logged = ["trials.csv"]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots: dict[str, Any] = {}
    target = (lambda t: t.values[0]) if pareto else None
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
    for name, make in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = make()
        except (ValueError, RuntimeError) as exc:  # e.g. importances need >1 distinct value
            tracker.client.log_text(run_id, f"{name} not drawn: {exc}", name.replace(".png", ".txt"))
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        tracker.log_figure(run_id, figure, name)
        plt.close(figure)
        logged.append(name)
    return logged
