"""End-of-study reporting: the trials table (printed, and logged as CSV) and the plots."""

from __future__ import annotations

import textwrap

import optuna
import pandas as pd
from optuna.trial import TrialState

from automl._plots import close_figure, study_plots
from automl._queue import effective_trials
from automl._records import TrialRecord
from automl._studies import study_rows
from automl._tables import render_table
from automl._tracking import Tracker, TrialRun

__all__ = ["trials_frame", "format_table", "log_study_report", "study_summary"]

_COLUMNS = ("trial", "state", "val_accuracy", "params", "flops", "seconds", "reason")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """A pandas frame with one readable row per trial."""
    rows = [{k: row[k] for k in _COLUMNS} for row in study_rows(study)]
    return pd.DataFrame(rows, columns=list(_COLUMNS))


def _number(value: object, pattern: str) -> str:
    return "-" if value is None or value != value else pattern.format(value)


def format_table(frame: pd.DataFrame, max_reason: int = 60) -> str:
    """The trials table as text: one row per trial, numbers with thousands separators."""
    rows = [
        (
            row["trial"],
            row["state"],
            _number(row["val_accuracy"], "{:.4f}"),
            _number(row["params"], "{:,.0f}"),
            _number(row["flops"], "{:,.0f}"),
            f"{row['seconds']:.2f}",
            textwrap.shorten(str(row["reason"]), max_reason, placeholder=" ..."),  # at a word, not mid-number
        )
        for row in frame.to_dict("records")
    ]
    return render_table(_COLUMNS, rows, left=(6,))


def study_summary(study: optuna.Study) -> dict[str, float]:
    """What the study's row in the MLflow UI's runs table shows: its trials that completed,
    were pruned or failed (a retried one once), and the best validation accuracy."""
    trials = effective_trials(study)
    summary: dict[str, float] = {
        f"trials_{name}": sum(t.state == state for t in trials)
        for name, state in (
            ("complete", TrialState.COMPLETE),
            ("pruned", TrialState.PRUNED),
            ("failed", TrialState.FAIL),
        )
    }
    scores = [TrialRecord.of(t).val_accuracy for t in trials if t.state == TrialState.COMPLETE]
    if any(score is not None for score in scores):
        summary["best_val_accuracy"] = max(score for score in scores if score is not None)
    return summary


def log_study_report(study: optuna.Study, tracker: Tracker, run_id: str, *, pareto: bool) -> list[str]:
    """Log the trials table (CSV), the plots (PNG) and the summary metrics (``study_summary``,
    at the number of trials that ran as their step); returns the artifact names logged."""
    summary = study_summary(study)
    ran = int(summary["trials_complete"] + summary["trials_pruned"] + summary["trials_failed"])
    run = TrialRun(tracker, run_id)
    for key, value in summary.items():
        run.add_metric(key, value, step=ran)  # a resumed study's next report is a later point
    run.flush()
    tracker.log_dataframe(run_id, trials_frame(study), "trials.csv")
    logged = ["trials.csv"]
    for name, drawn in study_plots(study, pareto=pareto).items():
        if isinstance(drawn, str):  # e.g. importances need more than one distinct value
            tracker.log_text(run_id, f"{name} not drawn: {drawn}", name.replace(".png", ".txt"))
            continue
        tracker.log_figure(run_id, drawn, name)
        close_figure(drawn)
        logged.append(name)
    return logged
