"""Local worker processes sharing one study (``automl search --workers N``).

The main process creates the study, its trial queue and its MLflow parent run, then starts
N ``automl worker`` processes: the same command a worker on another machine runs, so one
code path serves one host and many.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys

from optuna.trial import TrialState

from automl._config import StudyConfig
from automl._queue import effective_trials
from automl._stores import check_connection_budget, redact
from automl._study import StudyRun, run_study

__all__ = ["run_local_workers", "worker_command", "prepare_study"]


def worker_command(config: StudyConfig) -> list[str]:
    """The ``automl worker`` command line that joins ``config``'s study with the same stores."""
    command = [sys.executable, "-m", "automl", "worker", "--study", config.study_name]
    for flag, value in (
        ("--storage", config.storage),
        ("--tracking-uri", config.tracking_uri),
        ("--backend", config.backend),
    ):
        if value:
            command += [flag, value]
    return command


def prepare_study(config: StudyConfig) -> StudyRun:
    """Create (or top up) the study, its trial queue and its MLflow parent run; run no trial.

    This is ``automl search --create-only``: the step that must happen once, before workers
    on any machine join the study. Prints how many trials wait and how to join.
    """
    prepared = run_study(config, max_trials=0)
    waiting = sum(t.state == TrialState.WAITING for t in effective_trials(prepared.study))
    join = ["automl"] + [redact(p) if p == config.storage else p for p in worker_command(prepared.config)[3:]]
    print(f"study {config.study_name!r} is ready: {waiting} trial(s) waiting; join it with:", flush=True)
    print("  " + " ".join(join), flush=True)
    return prepared


def run_local_workers(config: StudyConfig) -> StudyRun:
    """Create the study, its queue and its parent run here, then run ``config.workers`` workers.

    The study and its schema are created once, before any worker starts, so workers
    never race to create them. A worker that dies leaves its trial to the heartbeat: the
    others fail it once it is stale and run its retry.

    Raises:
        UserError: the database server has too few free connections for the workers.
    """
    check_connection_budget(config.storage, config.workers + 1)
    prepared = prepare_study(config)
    print(f"study {config.study_name!r}: starting {config.workers} worker processes", flush=True)
    workers = [subprocess.Popen(worker_command(prepared.config) + ["--quiet"]) for _ in range(config.workers)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        for w in workers:
            w.send_signal(signal.SIGINT)
        for w in workers:
            w.wait()
        raise
    failed = [c for c in codes if c != 0]
    stopped = f"{len(failed)} worker(s) exited with an error" if failed else None
    return dataclasses.replace(prepared, stopped_early=stopped)
