"""One trial's own decisions, on small stand-ins: its note, its pruning, its MLflow run's close, its memory."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from automl import _trial
from automl._config import StudyConfig
from automl._errors import KnownOutOfMemory, NonFiniteLoss
from automl._hparams import TrainingSpec
from automl._queue import requeue
from automl._records import StudyRecord, record_analysis
from automl._training import EpochResult, FirstEpochCut
from tests.automl.helpers import RecordingRun


class _Spec:
    def to_json(self) -> str:
        return '{"blocks": []}'


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _draw(epochs: int) -> Any:
    policy = SimpleNamespace(to_dict=lambda: {})
    return SimpleNamespace(spec=_Spec(), training=TrainingSpec(epochs=epochs), policy=policy)


def _callback(**overrides: Any) -> Any:
    values = {"cut": None, "out_of_time": False, "pruned_at": None, "through_window": False, "fits": None}
    return SimpleNamespace(**{"epochs": [None] * 3, **values, **overrides})


def _note(callback: Any, *, planned: int = 5, ran: int | None = None, limit: str = "time budget") -> str | None:
    trial = optuna.create_study().ask()
    training = TrainingSpec(epochs=planned if ran is None else ran)
    return _trial._finished_note(trial, _draw(planned), training, callback, 0, 0.5, limit=limit)


def test_a_trial_s_note_says_how_its_training_ended():
    assert _note(_callback()) is None  # its recipe as drawn
    assert _note(_callback(pruned_at=1)) == "pruned after epoch 2 (val_accuracy 0.5000)"
    assert _note(_callback(through_window=True)).startswith("3 epochs (planned 5) through the final window")
    assert _note(_callback(fits=3), ran=3, limit="timeout") == "3 of 5 epochs, to fit the timeout"
    assert _note(_callback(fits=5), ran=5) is None  # a re-plan that kept them all says nothing


def test_a_trial_stopped_by_the_deadline_records_the_epochs_it_ran():
    study = optuna.create_study()
    trial = study.ask()
    callback = _callback(out_of_time=True, fits=4, through_window=True, epochs=[None, None])
    note = _trial._finished_note(trial, _draw(6), TrainingSpec(epochs=4), callback, 0, 0.25, limit="timeout")
    assert note == (
        "stopped by the timeout after epoch 2 (val_accuracy 0.2500, re-planned from 6 to 4 epochs, "
        "through the final window)"
    )
    assert trial.user_attrs["training"]["epochs"] == 2  # its retraining is timed by what it ran


def _cut(steps_done: int, *, epoch_fits: bool = False) -> FirstEpochCut:
    return FirstEpochCut(
        steps_done=steps_done, steps=10, step_s=0.1, tracing_s=1, validation_s=1, until=0, epoch_fits=epoch_fits
    )


def test_a_first_trial_cut_to_the_deadline_says_why_and_what_it_ran():
    whole = _trial._cut_note(_cut(10), 25, 0.5, planned=5, through=True, limit="time budget")
    assert whole == (
        "3.5 epochs (planned 5): after its first epoch of 10 steps, then 25 on a schedule that ends with "
        "the time budget (val_accuracy 0.5000, through the final window)"
    )
    timed_out = _trial._cut_note(_cut(10), 25, 0.5, planned=5, through=False, limit="timeout")
    assert "then 25 on a schedule that ends with the timeout (val_accuracy" in timed_out  # it said "the budget"
    whole_only = _trial._cut_note(_cut(10), 0, 0.5, planned=5, through=False, limit="timeout")
    assert whole_only == (  # it did not say what left no time
        "1.0 epochs (planned 5): after its first epoch of 10 steps, the timeout left no time for more "
        "(val_accuracy 0.5000)"
    )
    past = _trial._cut_note(_cut(4), 0, 0.5, planned=5, through=False, limit="timeout")
    assert past == (
        "stopped by the timeout in its first epoch, which would have ended past it: 4 of 10 steps, "
        "no time left for more (val_accuracy 0.5000)"
    )
    short = _trial._cut_note(_cut(4, epoch_fits=True), 6, 0.5, planned=5, through=False, limit="time budget")
    assert short.startswith("stopped by the time budget in its first epoch, with no time for a second: 4 of 10")


def _epoch(epoch: int, val_accuracy: float = 0.5) -> EpochResult:
    return EpochResult(epoch=epoch, loss=1.0, accuracy=0.5, val_loss=1.0, val_accuracy=val_accuracy, seconds=0.1)


def _context(objective: str = "accuracy") -> Any:
    return SimpleNamespace(multi_objective=objective == "pareto", progress=SimpleNamespace(epoch=lambda *args: None))


def test_a_trial_may_be_pruned_before_its_last_epoch_only():
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    trial = study.ask()
    run = RecordingRun()
    assert _trial._report_epoch(trial, _context(), run, _epoch(0), 3)
    assert not _trial._report_epoch(trial, _context(), run, _epoch(2), 3)  # its model is done: kept
    study.tell(trial, 0.5)
    assert study.trials[0].intermediate_values == {1: 0.5, 3: 0.5}  # reported by the epochs it trained
    assert run.metrics["val_accuracy"] == [(0.5, 0), (0.5, 2)]


def test_a_multi_objective_trial_or_a_non_finite_accuracy_is_never_pruned():
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    trial = study.ask()
    assert not _trial._report_epoch(trial, _context("pareto"), RecordingRun(), _epoch(0), 3)
    assert not _trial._report_epoch(trial, _context(), RecordingRun(), _epoch(0, math.nan), 3)


def _finished(
    outcome: _trial.Outcome, mlflow_status: str | None = None
) -> tuple[optuna.trial.FrozenTrial, RecordingRun]:
    study = optuna.create_study()
    trial, run = study.ask(), RecordingRun()
    _trial._finish(trial, run, outcome, mlflow_status)
    return study.trials[0], run


def test_a_finished_trial_s_run_is_closed_with_its_state_and_reason():
    failed, run = _finished(_trial.Outcome(state=TrialState.FAIL, failure=NonFiniteLoss("non-finite training loss")))
    assert run.status == "FAILED" and run.tags == {"state": "FAIL", "fail_reason": "non-finite training loss"}
    assert failed.user_attrs["failure_kind"] == "non_finite_loss"

    note = "pruned after epoch 2 (val_accuracy 0.5000)"
    _, run = _finished(_trial.Outcome(state=TrialState.PRUNED, note=note, timings={"fit": 2.0}))
    assert run.status == "FINISHED" and run.tags == {"state": "PRUNED", "note": note}
    assert run.metrics["time.fit"] == [(2.0, 0)] and "val_accuracy_final" not in run.metrics

    _, run = _finished(_trial.Outcome(state=TrialState.COMPLETE, values=[0.75, 100.0]))
    assert run.status == "FINISHED" and run.tags == {"state": "COMPLETE"}
    assert run.metrics["val_accuracy_final"] == [(0.75, 0)]

    _, run = _finished(_trial.Outcome(state=TrialState.FAIL, note="interrupted"), mlflow_status="KILLED")
    assert run.status == "KILLED" and run.tags["state"] == "FAIL"


def test_a_configuration_that_ran_out_of_memory_is_refused_to_later_trials():
    study = optuna.create_study()
    first = study.ask()
    record_analysis(first, params=10, flops=20, config_digest="abc:32")
    _trial._remember_oom(first)
    assert StudyRecord.of(study).oom_digests == {"abc:32": 0}
    later = study.ask()
    with pytest.raises(KnownOutOfMemory, match="ran out of memory in trial 0"):
        _trial._refuse_known_oom(later, "abc:32")
    _trial._refuse_known_oom(later, "abc:64")  # another batch size may fit


def test_a_retried_trial_trains_with_the_seed_of_the_trial_it_runs_again():
    study = optuna.create_study()
    first = study.ask()
    study.tell(first, state=TrialState.FAIL)  # interrupted, or its worker died
    other = study.ask()
    study.tell(other, 0.5)
    requeue(study, study.trials[0])
    retry = study.ask()
    study.tell(retry, state=TrialState.FAIL)
    requeue(study, study.trials[2])  # a copy of the copy: still the first trial's
    again = study.ask()
    config = StudyConfig(seed=3)
    assert [_trial._trial_seed(t, config) for t in (retry, again)] == [_trial._trial_seed(first, config)] * 2
    assert _trial._trial_seed(other, config) != _trial._trial_seed(first, config)
    assert _trial._trial_seed(first, StudyConfig(seed=4)) != _trial._trial_seed(first, config)
