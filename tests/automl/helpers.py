"""Helpers shared by the driver tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any


def stores(workdir: Path) -> dict[str, str]:
    """Optuna and MLflow stores inside ``workdir``."""
    return {
        "storage": f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}",
        "tracking_uri": f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}",
    }


def cli_env(**extra: str) -> dict[str, str]:
    # PYTHONFAULTHANDLER: a SIGABRT makes the process print every thread's stack (``output_within``).
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "2", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return {**os.environ, **quiet, "PYTHONFAULTHANDLER": "1", **extra}


def output_within(proc: subprocess.Popen, timeout: float) -> str:
    """``proc``'s output (its stdout, with its stderr) once it has exited.

    One still running after ``timeout`` seconds fails the test with the stacks of its threads
    and its children's (``cli_env`` starts them with the fault handler, which prints them on
    a SIGABRT): where it hangs, not a bare ``TimeoutExpired``.
    """
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        for pid in [*_descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGABRT)
        output = proc.communicate(timeout=60)[0]
        raise AssertionError(f"still running {timeout:.0f} s on; its stacks:\n{output[-30000:]}") from None


def _descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and theirs (Linux: read from ``/proc``)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def run_cli(args: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m automl ARGS`` in ``cwd`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class RecordingRun:
    """An MLflow run as the driver's code uses it (``automl._tracking``'s run): what it was told."""

    def __init__(self, run_id: str = "run") -> None:
        self.run_id = run_id
        self.metrics: dict[str, list[tuple[float, int]]] = {}
        self.tags: dict[str, Any] = {}
        self.status: str | None = None

    def add_metric(self, key: str, value: float, step: int = 0) -> None:
        self.metrics.setdefault(key, []).append((value, step))

    def flush(self) -> None:
        pass

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update(tags)

    def end(self, status: str) -> None:
        self.status = status
