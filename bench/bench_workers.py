"""Trials per hour with 1 and with 4 ``automl worker`` processes on the same small study.

For each worker count, a fresh study with the same settings and seed is created with
``automl search --create-only`` (default: the built-in digits, 8 trials, 1 epoch, random
sampler, no pruner), then N ``automl worker`` processes are started together and timed
until the last one exits. Worker start-up (importing TensorFlow, loading the data) is
inside the timing: it is part of what a worker costs. The script prints trials per hour
for each count, their ratio and the mean wall time of one trial, which shows how much the
workers slow each other down when they share the same cores.

Run: ``python bench/bench_workers.py`` (about 3 minutes on 2 CPU cores);
``--workers 1,2,4 --trials 16`` for more points; ``--storage postgresql://...`` to time a
PostgreSQL study instead of the default SQLite file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _common  # sets the import path and quiets TensorFlow's start-up
import optuna


@dataclass(frozen=True, kw_only=True)
class Timing:
    """One timed run: N workers on a fresh study."""

    workers: int
    trials: int
    seconds: float
    mean_trial_seconds: float

    @property
    def trials_per_hour(self) -> float:
        return self.trials * 3600.0 / self.seconds


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,4", help="worker counts to time, comma-separated (default 1,4)")
    parser.add_argument("--trials", type=int, default=8, help="trials per study (default 8)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial (default 1)")
    parser.add_argument("--data", default="digits", help="data source (default: the built-in digits)")
    parser.add_argument("--seed", type=int, default=0, help="the studies' seed (default 0)")
    parser.add_argument("--storage", default=None, help="Optuna storage (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if not counts or min(counts) < 1 or args.trials < 1 or args.epochs < 1:
        parser.error(f"need positive --workers, --trials, --epochs, got {args.workers!r}, {args.trials}, {args.epochs}")
    args.counts = counts
    return args


def _automl(*args: str) -> list[str]:
    return [sys.executable, "-m", "automl", *args]


def _env() -> dict[str, str]:
    """The environment that gives a child process the settings in force (its stores' folder)."""
    from automl._settings import runtime_settings

    return {**os.environ, **runtime_settings().to_env()}


def _run(n: int, args: argparse.Namespace, home: Path) -> Timing:
    """Create the study ``bench-Nw-...`` and time N workers running all of its trials."""
    study_name = f"bench-{n}w-{int(time.time())}"
    stores = ["--storage", args.storage] if args.storage else []
    settings = ["--data", args.data, "--trials", str(args.trials), "--epochs", str(args.epochs)]
    settings += ["--seed", str(args.seed), "--sampler", "random", "--pruner", "none"]
    subprocess.run(
        _automl("search", "--study-name", study_name, *settings, *stores, "--create-only"),
        check=True,
        capture_output=True,
        cwd=_common.ROOT,
        env=_env(),
    )
    logs = [(home / f"{study_name}-worker-{i}.log").open("w") for i in range(n)]
    start = time.perf_counter()
    workers = [
        subprocess.Popen(
            _automl("worker", "--study", study_name, "--quiet", *stores),
            stdout=log,
            stderr=log,
            cwd=_common.ROOT,
            env=_env(),
        )
        for log in logs
    ]
    codes = [w.wait() for w in workers]
    seconds = time.perf_counter() - start
    for log in logs:
        log.close()
    if any(codes):
        tails = "\n".join(Path(log.name).read_text()[-1500:] for log in logs)
        raise SystemExit(f"a worker failed (exit codes {codes}):\n{tails}")
    return Timing(
        workers=n, trials=args.trials, seconds=seconds, mean_trial_seconds=_mean_trial_seconds(study_name, args)
    )


def _mean_trial_seconds(study_name: str, args: argparse.Namespace) -> float:
    from automl._stores import default_storage

    storage = args.storage or default_storage()
    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials if t.datetime_complete]
    return sum(spans) / len(spans)


def main() -> None:
    args = _parse_args()
    _common.print_provenance(args.seed)
    timings = []
    for n in args.counts:
        with _common.study_home(f"workers-{n}") as home:
            timings.append(_run(n, args, home))
    rows = [
        (
            t.workers,
            t.trials,
            t.seconds,
            t.trials_per_hour,
            t.mean_trial_seconds,
            t.trials_per_hour / timings[0].trials_per_hour,
        )
        for t in timings
    ]
    header = ("workers", "trials", "wall s", "trials/hour", "s per trial", f"ratio vs {timings[0].workers}")
    print(_common.format_table(header, rows))
    cores = os.cpu_count() or 1
    print(
        f"\nThis machine has {cores} CPU cores and every worker trains on all of them: past {cores} workers the "
        "ratio cannot grow, and TensorFlow's start-up in each worker is paid once per worker. Expect a ratio "
        "near the number of machines (or accelerators) when the workers run on separate ones."
    )


if __name__ == "__main__":
    main()
