"""The study's trial queue: exactly ``trials`` trials, claimed atomically by any worker.

A study's trials are enqueued as WAITING when it is created (or when its total is
raised), and workers only run trials they claim from that queue. So the total is exact
however many workers share the study, and a retried trial (a stale trial of a dead
worker, failed by Optuna's heartbeat) re-enters the queue as a fresh WAITING copy.

A worker that finds the queue empty while trials still run elsewhere waits for them: one
of them may belong to a dead worker, go stale and come back as a retry, and leaving early
would leave that retry unrun (and the study short of its total).

Optuna exposes claiming and heartbeats only through ``Study.optimize``, whose loop
creates new trials when the queue is empty; the private helpers used here
(``Study._pop_waiting_trial_id`` and ``optuna.storages._heartbeat``) are the ones
``optimize`` itself uses (pinned by ``optuna>=5.0,<5.1`` in ``pyproject.toml``).
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled
from optuna.trial import TrialState

from automl._records import enqueued_attrs, record_claim
from automl._stores import MAX_RETRY

__all__ = [
    "claim_trial",
    "heartbeat",
    "enqueue_up_to",
    "effective_trials",
    "process_identity",
    "retry_of",
    "requeue",
    "may_retry",
    "total_reached",
    "RETRY_ATTR",
    "RETRY_HISTORY_ATTR",
]

RETRY_ATTR = "failed_trial"  # system attr Optuna's RetryHeartbeatStaleTrialCallback puts on a retry copy
RETRY_HISTORY_ATTR = "retry_history"  # ... with the numbers of the copies before it, the first one first
_FIXED = "fixed_params"  # system attr of a trial enqueued with parameters (``Study.enqueue_trial``)


def process_identity(pid: int | None = None) -> str:
    """This process (or the process ``pid`` of this host) as trials and studies record it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def retry_of(trial: optuna.Trial) -> int | None:
    """The number of the failed trial (its worker died, or it was interrupted) that
    ``trial`` runs again, if any: the first of a series of copies."""
    number = trial.study._storage.get_trial_system_attrs(trial._trial_id).get(RETRY_ATTR)
    return int(number) if number is not None else None


def effective_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """All trials except failed ones that were retried (their copy stands in for them)."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get(RETRY_HISTORY_ATTR, ())}
    retried |= {t.system_attrs[RETRY_ATTR] for t in trials if RETRY_ATTR in t.system_attrs}
    return [t for t in trials if not (t.state == TrialState.FAIL and t.number in retried)]


def may_retry(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the failed ``trial`` may be queued again: it is not yet the ``MAX_RETRY``-th
    copy of its configuration, as Optuna's heartbeat counts a dead worker's retries."""
    return len(trial.system_attrs.get(RETRY_HISTORY_ATTR, ())) < MAX_RETRY


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Queue a WAITING copy of the failed ``trial``: its parameters and where it came from
    (``enqueued_attrs``), as Optuna's heartbeat queues a dead worker's trial. An interrupted
    trial so runs again when its study resumes, the study's total unchanged."""
    history = [*trial.system_attrs.get(RETRY_HISTORY_ATTR, ()), trial.number]
    copy = optuna.create_trial(
        state=TrialState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=enqueued_attrs(trial),
        system_attrs={RETRY_ATTR: history[0], RETRY_HISTORY_ATTR: history},
    )
    study.add_trial(copy)


def enqueue_up_to(study: optuna.Study, total: int, user_attrs: list[dict] | None = None) -> int:
    """Enqueue WAITING trials until the study holds ``total``; returns how many were added.

    ``user_attrs[i]`` (if given) goes on the i-th new trial, e.g. a seed architecture.
    """
    missing = total - len(effective_trials(study))
    extra = list(user_attrs or [])
    for i in range(max(missing, 0)):
        study.enqueue_trial({}, user_attrs=extra[i] if i < len(extra) else None, skip_if_exists=False)
    return max(missing, 0)


def claim_trial(study: optuna.Study, *, deadline: float | None = None, total: int | None = None) -> optuna.Trial | None:
    """Claim one WAITING trial, waiting while the queue is empty but trials still run elsewhere.

    With ``total``, the queue counts as empty once the study's trials that ran or run
    (``total_reached``) make that total: a study resumed with a lower total than its queue
    holds stops there, yet runs again the trial of a worker that dies before the end.

    Returns None once nothing is WAITING or RUNNING, or when ``deadline`` (a
    ``time.monotonic()`` value) has passed; it polls once per heartbeat interval. Without
    heartbeats (journal storage) a dead worker's trial never goes stale, so there it returns
    None as soon as the queue is empty. The claim is stamped with the worker
    (``TrialRecord.worker``: host and process id) and a first heartbeat, so a worker killed right after claiming is
    detected too.
    """
    storage = study._storage
    beats = is_heartbeat_enabled(storage)
    while True:
        trial = _claim_once(study, total)
        if trial is not None:
            if beats:
                storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
            record_claim(trial, process_identity())
            return trial
        expired = deadline is not None and time.monotonic() >= deadline
        if expired or not (beats and study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
            return None
        time.sleep(storage.get_heartbeat_interval())  # type: ignore[attr-defined]


def _claim_once(study: optuna.Study, total: int | None) -> optuna.Trial | None:
    """Fail stale trials of dead workers (re-queueing their retries), then pop one WAITING
    trial, unless the study has its ``total``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if total is not None and total_reached(study, total):
        return None
    trial_id = _pop_waiting(study)
    if trial_id is None:
        return None
    _restore_fixed_params(study, trial_id)
    return optuna.Trial(study, trial_id)


def _restore_fixed_params(study: optuna.Study, trial_id: int) -> None:
    """Give a retry copy the parameters its first trial was enqueued with (a warm start's, a
    neighbour's: ``fixed_params``). A copy (``requeue``, or Optuna's heartbeat) holds the
    parameters its trial had drawn; one stopped before it drew them all (an interrupt just
    after its claim) ran as a new draw, not as the configuration queued."""
    storage = study._storage
    attrs = storage.get_trial_system_attrs(trial_id)
    if RETRY_ATTR not in attrs or _FIXED in attrs:
        return
    first = storage.get_trial_id_from_study_id_trial_number(study._study_id, int(attrs[RETRY_ATTR]))
    fixed = storage.get_trial_system_attrs(first).get(_FIXED)
    if fixed:
        storage.set_trial_system_attr(trial_id, _FIXED, fixed)


def _pop_waiting(study: optuna.Study) -> int | None:
    """Claim a WAITING trial (``Study._pop_waiting_trial_id``), the run again of a failed one
    (interrupted, or its worker died) first: a resumed study runs it before its other trials."""
    storage = study._storage
    waiting = storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,))
    for trial in sorted(waiting, key=lambda t: (RETRY_ATTR not in t.system_attrs, t.number)):
        try:  # False: another process claimed it; the error: it ran and finished meanwhile
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def total_reached(study: optuna.Study, total: int) -> bool:
    """Whether ``total`` of the study's trials (``effective_trials``) have run or run now: a
    study resumed with a lower total than its queue holds stops there, its other trials left
    WAITING (a later, larger total runs them)."""
    return sum(t.state != TrialState.WAITING for t in effective_trials(study)) >= total


@contextmanager
def heartbeat(trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat while it runs (a no-op on storages without heartbeats)."""
    with get_heartbeat_thread(trial._trial_id, trial.study._storage):
        yield
