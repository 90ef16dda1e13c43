"""``format_table``: the trials table the search prints."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

from automl._report import format_table, study_summary, trials_frame

REASON = "stopped by the time budget after epoch 3 (val_accuracy 0.9442, re-planned from 4 to 3 epochs)"


def test_a_long_reason_is_cut_at_a_word_and_says_so() -> None:
    frame = pd.DataFrame(
        [{"trial": 0, "state": "complete", "val_accuracy": 0.9442, "params": 1000, "flops": 2000, "seconds": 3.0,
          "reason": REASON}]
    )  # fmt: skip
    line = format_table(frame).splitlines()[-1]
    shown = line[line.index("stopped") :].rstrip()
    assert shown == "stopped by the time budget after epoch 3 (val_accuracy ..."  # not "0.944", a wrong value


def _study(*trials: tuple[TrialState, dict]) -> optuna.Study:
    """An in-memory study of finished trials with these states and user attributes."""
    study = optuna.create_study(direction="maximize")
    for state, attrs in trials:
        value = attrs.get("val_accuracy") if state == TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, value=value, user_attrs=attrs))
    return study


def test_the_trials_table_puts_each_figure_in_its_column_and_a_dash_where_there_is_none() -> None:
    study = _study(
        (TrialState.COMPLETE, {"val_accuracy": 0.9, "params": 1234567, "flops": 89012345}),
        (TrialState.PRUNED, {"val_accuracy": 0.5, "params": 2000, "flops": 6000, "fail_reason": "pruned at epoch 2"}),
        (TrialState.FAIL, {"fail_reason": "out of memory"}),
    )

    assert format_table(trials_frame(study)).splitlines() == [
        "trial     state  val_accuracy     params       flops  seconds  reason",
        "-----  --------  ------------  ---------  ----------  -------  -----------------",
        "    0  complete        0.9000  1,234,567  89,012,345     0.00",
        "    1    pruned        0.5000      2,000       6,000     0.00  pruned at epoch 2",
        "    2      fail             -          -           -     0.00  out of memory",
    ]


def test_the_summary_counts_each_state_and_keeps_the_best_completed_accuracy() -> None:
    study = _study(
        (TrialState.COMPLETE, {"val_accuracy": 0.7}),
        (TrialState.COMPLETE, {"val_accuracy": 0.9}),
        (TrialState.PRUNED, {"val_accuracy": 0.95}),  # pruned: not a result
        (TrialState.FAIL, {}),
        (TrialState.FAIL, {}),
    )

    assert study_summary(study) == {
        "trials_complete": 2,
        "trials_pruned": 1,
        "trials_failed": 2,
        "best_val_accuracy": pytest.approx(0.9),
    }
    assert "best_val_accuracy" not in study_summary(_study((TrialState.FAIL, {})))
