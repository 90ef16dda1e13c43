"""MLflow tracking: trial parameters as MLflow params, metrics as MLflow takes them (``automl._tracking``)."""

from __future__ import annotations

import math

import pytest

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


def test_a_resumed_study_reopens_its_parent_run_and_a_closed_run_keeps_its_tags(workdir):
    from automl._tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}", "resumed")
    parent = tracker.open_parent("resumed", None)
    tracker.close_parent("KILLED")  # Ctrl-C
    assert tracker.run_status(parent) == "KILLED"
    assert tracker.open_parent("resumed", parent) == parent and tracker.run_status(parent) == "RUNNING"
    trial = tracker.start_trial("resumed", 0).run_id
    tracker.close_run(trial, "KILLED", tags={"fail_reason": "its worker stopped sending heartbeats"})
    run = tracker._client.get_run(trial)
    assert run.info.status == "KILLED" and run.data.tags["fail_reason"] == "its worker stopped sending heartbeats"


def test_a_local_store_keeps_its_artifacts_beside_it_and_only_models_uris_name_a_model(workdir):
    from automl._stores import artifact_root
    from automl._tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}", "local")
    # Not ./mlartifacts, where MLflow puts them by default: the store's folder holds all of it.
    assert tracker._client.get_experiment(tracker.experiment_id).artifact_location == artifact_root()
    assert tracker.model_id_of("models:/m-123") == "m-123"
    for uri in ("models:/", "runs:/abc/model", "m-123"):
        with pytest.raises(ValueError, match="not a models:/ URI"):
            tracker.model_id_of(uri)
