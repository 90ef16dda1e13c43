"""End-of-study reporting: the trials table (printed, and logged as CSV) and the plots."""

from __future__ import annotations

import textwrap

import optuna
import pandas as pd

from automl._plots import close_figure, study_plots
from automl._studies import study_rows
from automl._tables import render_table
from automl._tracking import Tracker

__all__ = ["trials_frame", "format_table", "log_study_report"]

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


def log_study_report(study: optuna.Study, tracker: Tracker, run_id: str, *, pareto: bool) -> list[str]:
    """Log the trials table (CSV) and the plots (PNG); returns the artifact names logged."""
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
