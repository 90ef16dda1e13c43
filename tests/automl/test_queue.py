"""The trial queue: exact totals, retries first and standing in for the trials they run again."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from automl._queue import (
    RETRY_ATTR,
    RETRY_HISTORY_ATTR,
    claim_trial,
    effective_trials,
    enqueue_up_to,
    requeue,
    retry_of,
    total_reached,
)


def _fail(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return study.tell(trial, state=TrialState.FAIL)


def test_a_retry_runs_first_as_its_series_first_trial_and_stands_in_for_the_failed_copies():
    study = optuna.create_study()
    assert enqueue_up_to(study, 2) == 2
    first = claim_trial(study)
    assert first is not None and first.number == 0
    requeue(study, _fail(study, first))
    again = claim_trial(study)  # the retry (trial 2) before trial 1
    assert again is not None and again.number == 2 and retry_of(again) == 0
    requeue(study, _fail(study, again))
    third = study.trials[3]
    assert third.system_attrs[RETRY_ATTR] == 0 and third.system_attrs[RETRY_HISTORY_ATTR] == [0, 2]
    assert [t.number for t in effective_trials(study)] == [1, 3]
    assert enqueue_up_to(study, 3) == 1  # two effective trials of three: one more
    assert not total_reached(study, 1)  # nothing has run that stands
    running = claim_trial(study)
    assert running is not None and running.number == 3
    assert total_reached(study, 1) and not total_reached(study, 2)


def test_a_copy_the_heartbeat_queued_stands_in_for_its_trial_too():
    # Optuna's RetryHeartbeatStaleTrialCallback marks its copy with the failed trial alone.
    study = optuna.create_study()
    enqueue_up_to(study, 1)
    trial = claim_trial(study)
    assert trial is not None
    _fail(study, trial)
    study.add_trial(optuna.create_trial(state=TrialState.WAITING, system_attrs={RETRY_ATTR: 0}))
    assert [t.number for t in effective_trials(study)] == [1]


def test_a_claim_passes_over_a_waiting_trial_that_finished_meanwhile(monkeypatch):
    # Another process ran trial 0 to its end between the listing and the claim: trial 1 is
    # claimed, not None (which told the worker the queue was empty, its trials still waiting).
    study = optuna.create_study()
    enqueue_up_to(study, 2)
    storage, first = study._storage, study.trials[0]._trial_id
    set_state = storage.set_trial_state_values

    def finished_elsewhere(trial_id, state, values=None):
        if trial_id == first:
            raise optuna.exceptions.UpdateFinishedTrialError("trial 0 has already finished")
        return set_state(trial_id, state=state, values=values)

    monkeypatch.setattr(storage, "set_trial_state_values", finished_elsewhere)
    trial = claim_trial(study)
    assert trial is not None and trial.number == 1
