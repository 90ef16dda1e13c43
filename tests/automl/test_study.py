"""The study driver on real data (scikit-learn digits): failures, MLflow contents, resume."""

from __future__ import annotations

import json

import keras
import mlflow
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import searchspace as ss
from automl._config import StudyConfig
from automl._driver import run_study
from automl._errors import Infeasible, NonFiniteLoss, OutOfMemory, StudyStopped, TrialFailed
from automl._progress import Progress
from automl._queue import effective_trials
from automl._records import StudyRecord, TrialRecord
from tests.automl.helpers import stores


def _config(workdir, **overrides) -> StudyConfig:
    values = {"study_name": "t", "trials": 3, "epochs": 2, "seed": 1, **stores(workdir), **overrides}
    return StudyConfig(**values)


def _run(config: StudyConfig):
    return run_study(config, progress=Progress(total=config.trials, quiet=True))


def _trial_runs(config: StudyConfig, study: optuna.Study) -> list:
    client = MlflowClient(tracking_uri=config.tracking_uri)
    experiment = client.get_experiment_by_name(config.study_name)
    parent = StudyRecord.of(study).parent_run_id
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")


def test_injected_failures_are_recorded_and_the_study_goes_on(workdir, monkeypatch):
    monkeypatch.setenv("AUTOML_INJECT_FAULT", "error@0,nan@1,oom@2")
    config = _config(workdir, trials=4, pruner="none")
    result = _run(config)
    trials = {t.number: t for t in result.study.trials}
    assert [trials[n].state for n in range(4)] == [TrialState.FAIL] * 3 + [TrialState.COMPLETE]
    assert "injected failure" in trials[0].user_attrs["fail_reason"]
    assert "non-finite training loss" in trials[1].user_attrs["fail_reason"]
    assert trials[2].user_attrs["fail_reason"].startswith("out of memory")
    # The out-of-memory configuration is remembered so it is never retried.
    assert trials[2].user_attrs["config_digest"] in result.study.user_attrs["oom_digests"]
    # The kinds of failure are types, read back from the storage.
    kinds = [TrialRecord.of(trials[n]).failure for n in range(4)]
    assert kinds == [TrialFailed, NonFiniteLoss, OutOfMemory, None]
    assert 0.0 <= trials[3].values[0] <= 1.0
    runs = {int(r.data.tags["optuna.trial_number"]): r for r in _trial_runs(config, result.study)}
    assert [runs[n].info.status for n in range(4)] == ["FAILED"] * 3 + ["FINISHED"]
    assert "non-finite" in runs[1].data.tags["fail_reason"]
    assert not any(t.state == TrialState.RUNNING for t in result.study.trials)


def test_over_budget_architectures_are_never_built(workdir):
    config = _config(workdir, trials=2, max_params=10)
    result = _run(config)
    for trial in result.study.trials:
        assert trial.state == TrialState.FAIL
        assert trial.user_attrs["fail_reason"].startswith("infeasible")
        assert TrialRecord.of(trial).failure is Infeasible
        assert "fit" not in trial.user_attrs["timings"]  # rejected before any build


def test_samples_over_the_budget_train_narrowed_to_it(workdir):
    # They failed as infeasible: with --max-params 3,000 on digits, every trial did.
    config = _config(workdir, trials=4, epochs=1, max_params=3_000, pruner="none")
    result = _run(config)
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    runs = {int(r.data.tags["optuna.trial_number"]): r for r in _trial_runs(config, result.study)}
    scales = []
    for trial in trials:
        architecture = TrialRecord.of(trial).architecture
        assert ss.analyze(architecture, (8, 8, 1), 10).params == trial.user_attrs["params"] <= 3_000
        scales.append(float(runs[trial.number].data.params.get("architecture.width_scale", 1)))
    assert min(scales) < 1  # the warm starts, at least, are far wider as sampled
    assert all(0 < scale <= 1 for scale in scales)


def test_consecutive_failures_stop_the_study_with_the_last_reason(workdir, monkeypatch):
    monkeypatch.setenv("AUTOML_INJECT_FAULT", "error@0,error@1")
    config = _config(workdir, trials=4, max_consecutive_failures=2)
    with pytest.raises(StudyStopped, match="injected failure"):
        _run(config)
    study = optuna.load_study(study_name="t", storage=config.storage)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 2 and states.count(TrialState.WAITING) == 2


def test_mlflow_has_one_nested_run_per_trial_with_params_metrics_artifacts(workdir):
    config = _config(workdir, trials=3, epochs=2, pruner="none")
    result = _run(config)
    runs = _trial_runs(config, result.study)
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in runs) == [0, 1, 2]
    client = MlflowClient(tracking_uri=config.tracking_uri)
    for run in runs:
        number = int(run.data.tags["optuna.trial_number"])
        trial = result.study.trials[number]
        assert trial.state == TrialState.COMPLETE
        # every sampled parameter, readable, plus the architecture digest
        for name, value in trial.params.items():
            assert run.data.params[name] == str(value)
        assert "architecture.digest" in run.data.params
        assert "architecture.width_scale" not in run.data.params  # no cost budget: none was narrowed
        # where it came from: the study's first trials are its warm starts
        assert run.data.params.get("origin.warm_start") == trial.user_attrs.get("warm_start")
        assert run.data.metrics["params"] == trial.user_attrs["params"]
        assert run.data.metrics["val_accuracy_final"] == pytest.approx(trial.values[0])
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [m.step for m in history] == list(range(trial.user_attrs["training"]["epochs"]))
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"architecture.json", "model_summary.txt"} <= artifacts
        spec_text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/architecture.json")
        assert json.loads(spec_text) == json.loads(trial.user_attrs["architecture"])
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["study.trials"] == "3"
    assert config.backend is None and parent.data.params["study.backend"] == keras.backend.backend()
    parent_artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"search_space.json", "versions.json", "data"} <= parent_artifacts


def test_same_seed_same_sampled_sequence(workdir, monkeypatch):
    monkeypatch.setenv("AUTOML_INJECT_FAULT", "")
    first = _run(_config(workdir, study_name="a", trials=3, epochs=1, max_params=10))
    second = _run(_config(workdir, study_name="b", trials=3, epochs=1, max_params=10))
    assert [t.params for t in first.study.trials] == [t.params for t in second.study.trials]
    assert len(effective_trials(first.study)) == 3


def test_the_largest_seed_numpy_takes_trains_its_trials(workdir):
    result = _run(_config(workdir, trials=1, epochs=1, seed=2**32 - 1))  # each trial's seed is derived from it
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE], result.study.trials[0].user_attrs


def _nested_layers(model):
    for layer in model.layers:
        yield layer
        yield from _nested_layers(layer) if hasattr(layer, "layers") else ()


def test_every_trial_trains_under_the_mixed_precision_the_runtime_chose(workdir, monkeypatch):
    import keras

    from automl import _trial

    compiled = []

    def compile_model(model, *args, **kwargs):  # what each trial's model computes in
        convs = [layer for layer in _nested_layers(model) if isinstance(layer, keras.layers.Conv2D)]
        first_conv = convs[0]
        compiled.append((first_conv.compute_dtype, model.output.dtype))
        return _compile(model, *args, **kwargs)

    _compile = _trial.compile_model
    monkeypatch.setattr(_trial, "compile_model", compile_model)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # as configure_runtime sets it on an accelerator
    try:
        _run(_config(workdir, trials=2, epochs=1, pruner="none"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert compiled == [("bfloat16", "float32")] * 2  # a float32 softmax, as Keras advises


def test_each_epoch_is_in_mlflow_when_it_is_reported_and_the_model_has_the_last(workdir):
    config = _config(workdir, trials=1, epochs=3, pruner="none")
    client = MlflowClient(tracking_uri=config.tracking_uri)
    seen = []

    class Watching(Progress):  # what the MLflow UI shows while the trial trains
        def epoch(self, number, epoch, epochs):
            experiment = client.get_experiment_by_name(config.study_name)
            (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.`mlflow.parentRunId` != ''")
            seen.append([m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")])

    result = run_study(config, progress=Watching(total=1, quiet=True))
    assert seen == [[0], [0, 1], [0, 1, 2]]
    (run,) = _trial_runs(config, result.study)
    (output,) = run.outputs.model_outputs
    logged = {m.key: m for m in client.get_logged_model(output.model_id).metrics}
    assert logged["val_accuracy"].step == 2 and logged["val_accuracy"].value == result.study.trials[0].values[0]
    assert logged["params"].value == result.study.trials[0].user_attrs["params"]


def test_timeout_stops_the_study_between_trials(workdir):
    result = run_study(_config(workdir, trials=5, epochs=3, timeout=1), progress=Progress(total=5, quiet=True))
    assert result.stopped_early == "timeout reached"
    states = [t.state for t in result.study.trials]
    assert states.count(TrialState.COMPLETE) == 1 and states.count(TrialState.WAITING) == 4
    # The first model is cut to the time, and says what cut it (not a time budget: there is none),
    # whether in its first epoch or at its end (a slower machine: "1.0 epochs ... the timeout left").
    reason = TrialRecord.of(result.study.trials[0]).reason
    assert "the timeout" in reason and "budget" not in reason, reason


@pytest.mark.parametrize(
    ("trials", "budget", "expected"),
    [
        (5, None, "resuming study (3 of 5 trials finished)"),
        (2, None, "resuming study (3 trials finished, more than the 2 asked for)"),
        (10_000, 60.0, "resuming study (3 trials finished)"),
    ],
)
def test_the_resume_header_counts_the_finished_trials_against_the_asked_for(trials, budget, expected):
    from automl._studies import header

    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.6, 0.7):
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=value))
    study.enqueue_trial({})

    line = header(StudyConfig(trials=trials, time_budget=budget), created=False, study=study)

    assert line.startswith(f"{expected} 'default': data ")


def test_only_costly_failures_in_a_row_stop_the_study():
    from automl._driver import _Failures

    failures = _Failures(limit=2)
    failures.count(NonFiniteLoss, "nan at epoch 2")
    failures.count(Infeasible, "over --max-params")  # cost nothing: ends the run of failures
    failures.count(NonFiniteLoss, None)
    failures.count(None, None)  # a trial that completed ends it too
    failures.count(OutOfMemory, "out of memory")
    with pytest.raises(StudyStopped, match="^2 trials failed in a row; the last one: out of memory$"):
        failures.count(NonFiniteLoss, None)  # no reason of its own: the last one given is quoted
