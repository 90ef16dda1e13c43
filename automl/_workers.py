"""Local worker processes sharing one study (``automl search --workers N``)."""

from __future__ import annotations

import subprocess
import sys

from automl._config import StudyConfig
from automl._study import StudyRun, run_study

__all__ = ["run_local_workers", "worker_command"]


def worker_command(config: StudyConfig) -> list[str]:
    command = [sys.executable, "-m", "automl", "worker", "--study", config.study_name]
    for flag, value in (("--storage", config.storage), ("--tracking-uri", config.tracking_uri), ("--backend", config.backend)):
        if value:
            command += [flag, value]
    return command


def run_local_workers(config: StudyConfig) -> StudyRun:
    """Create the study, its queue and its parent run here, then run ``config.workers`` workers.

    The study and its schema are created once, before any worker starts, so workers
    never race to create them.
    """
    prepared = run_study(config, max_trials=0)
    print(f"study {config.study_name!r}: starting {config.workers} worker processes", flush=True)
    workers = [subprocess.Popen(worker_command(prepared.config) + ["--quiet"]) for _ in range(config.workers)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        for w in workers:
            w.send_signal(subprocess.signal.SIGINT)
        for w in workers:
            w.wait()
        raise
    failed = [c for c in codes if c != 0]
    stopped = f"{len(failed)} worker(s) exited with an error" if failed else None
    return StudyRun(
        study=prepared.study,
        config=prepared.config,
        ran=prepared.ran,
        parent_run_id=prepared.parent_run_id,
        stopped_early=stopped,
    )
