"""MLflow tracking: trial parameters as MLflow params, metrics as MLflow takes them (``automl._tracking``)."""

from __future__ import annotations

import math

from automl._tracking import MAX_PARAM_LENGTH, TrialRun, flatten_params


def test_nested_parameters_become_dotted_names_with_string_values():
    params = {"lr": 0.01, "architecture": {"stem": {"filters": 32}, "blocks": [1, 2]}, "note": "x" * 7000}
    assert flatten_params(params) == {
        "lr": "0.01",
        "architecture.stem.filters": "32",
        "architecture.blocks": "[1, 2]",
        "note": "x" * MAX_PARAM_LENGTH,  # MLflow refuses longer values
    }


def test_a_non_finite_metric_is_logged_as_nan():
    run = TrialRun(tracker=None, run_id="r")  # type: ignore[arg-type]  # nothing is sent before flush
    for value in (float("inf"), float("-inf"), None, 0.5):
        run.add_metric("loss", value, step=1)  # type: ignore[arg-type]
    values = [value for _, value, _, _ in run._metrics]
    assert [math.isnan(v) for v in values] == [True, True, True, False] and values[-1] == 0.5
