"""The study's trial queue: exactly ``trials`` trials, claimed atomically by any worker.

A study's trials are enqueued as WAITING when it is created (or when its total is
raised), and workers only run trials they claim from that queue. So the total is exact
however many workers share the study, and a retried trial (a stale trial of a dead
worker, failed by Optuna's heartbeat) re-enters the queue as a fresh WAITING copy.

Optuna exposes claiming and heartbeats only through ``Study.optimize``, whose loop
creates new trials when the queue is empty; the two private helpers used here are the
ones ``optimize`` itself uses (pinned by ``optuna>=5.0,<5.1`` in ``pyproject.toml``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState

__all__ = ["claim_trial", "heartbeat", "enqueue_up_to", "effective_trials", "RETRY_ATTR"]

RETRY_ATTR = "failed_trial"  # system attr Optuna's RetryFailedTrialCallback puts on a retry copy


def effective_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """All trials except failed ones that were retried (their copy stands in for them)."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs[RETRY_ATTR] for t in trials if RETRY_ATTR in t.system_attrs}
    return [t for t in trials if not (t.state == TrialState.FAIL and t.number in retried)]


def enqueue_up_to(study: optuna.Study, total: int, user_attrs: list[dict] | None = None) -> int:
    """Enqueue WAITING trials until the study holds ``total``; returns how many were added.

    ``user_attrs[i]`` (if given) goes on the i-th new trial, e.g. a seed architecture.
    """
    missing = total - len(effective_trials(study))
    extra = list(user_attrs or [])
    for i in range(max(missing, 0)):
        study.enqueue_trial({}, user_attrs=extra[i] if i < len(extra) else None, skip_if_exists=False)
    return max(missing, 0)


def claim_trial(study: optuna.Study) -> optuna.Trial | None:
    """Fail stale trials of dead workers, then claim one WAITING trial (None if the queue is empty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trial_id = study._pop_waiting_trial_id()
    if trial_id is None:
        return None
    return optuna.Trial(study, trial_id)


@contextmanager
def heartbeat(trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat while it runs (a no-op on storages without heartbeats)."""
    with get_heartbeat_thread(trial._trial_id, trial.study._storage):
        yield
