"""Memory over a long search: the search's process grown trial after trial, with and without
moving the trials to fresh processes past a limit (``automl._recycle``).

The same search (default: the built-in digits, 30 trials of 2 epochs, random sampler with
the same seed, no pruner, no final training or export) runs twice: with
``AUTOML_RECYCLE_AFTER_MB=0`` (every trial in the search's process) and with the given
limit. A side thread samples, every half second, the resident memory of the search's
process and of all its processes together. The script prints, for each run, the peak of
both, the wall time and the trials run, then their ratios (recycled / in one process): the
memory saved and the time the fresh processes cost.

Run: ``python bench/bench_memory.py`` (about 10 minutes on 2 CPU cores);
``--trials 60 --limit-mb 2048`` for a longer one; ``--backend jax`` for another backend;
``--workers 2`` for a search with a helper process, which keeps to the limit as well.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import _common  # sets the import path and quiets TensorFlow's start-up

from automl._recycle import rss_mb


@dataclass(frozen=True, kw_only=True)
class Run:
    """One search: its limit, and what its processes held at most."""

    limit_mb: int
    seconds: float
    trials: int
    peak_search_mb: float
    peak_total_mb: float


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="trials per search (default 30)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial (default 2)")
    parser.add_argument("--limit-mb", type=int, default=1024, help="the recycled run's limit (default 1024)")
    parser.add_argument("--data", default="digits", help="data source (default: the built-in digits)")
    parser.add_argument("--backend", default=None, help="Keras backend (default: tensorflow)")
    parser.add_argument("--workers", type=int, default=1, help="the searches' --workers (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the searches' seed (default 0)")
    args = parser.parse_args()
    if min(args.trials, args.epochs, args.limit_mb, args.workers) < 1:
        parser.error(
            "need positive --trials, --epochs, --limit-mb, --workers, "
            f"got {args.trials}, {args.epochs}, {args.limit_mb}, {args.workers}"
        )
    return args


def _descendants(pid: int) -> list[int]:
    """``pid``'s children, theirs, and so on (from ``/proc``)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _watch(process: subprocess.Popen, peaks: dict[str, float]) -> None:
    while process.poll() is None:
        own = rss_mb(process.pid) or 0.0
        total = own + sum(rss_mb(pid) or 0.0 for pid in _descendants(process.pid))
        peaks["search"], peaks["total"] = max(peaks["search"], own), max(peaks["total"], total)
        time.sleep(0.5)


def _run(limit_mb: int, args: argparse.Namespace, home: Path) -> Run:
    name = f"memory-{limit_mb}"
    command = [sys.executable, "-m", "automl", "search", "--study-name", name, "--data", args.data]
    command += ["--trials", str(args.trials), "--epochs", str(args.epochs), "--seed", str(args.seed)]
    command += ["--sampler", "random", "--pruner", "none", "--no-final-training", "--no-export", "--quiet"]
    command += ["--backend", args.backend] if args.backend else []
    command += ["--workers", str(args.workers)] if args.workers > 1 else []
    env = {**os.environ, "AUTOML_HOME": str(home), "AUTOML_RECYCLE_AFTER_MB": str(limit_mb)}
    peaks = {"search": 0.0, "total": 0.0}
    start = time.perf_counter()
    with (home / f"{name}.log").open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=home, env=env)
        watcher = threading.Thread(target=_watch, args=(process, peaks), daemon=True)
        watcher.start()
        code = process.wait()
        watcher.join()
    seconds = time.perf_counter() - start
    if code:
        raise SystemExit(f"the search failed ({code}):\n{(home / f'{name}.log').read_text()[-3000:]}")
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{home / 'optuna.db'}")
    done = sum(t.state.is_finished() for t in study.trials)
    return Run(
        limit_mb=limit_mb, seconds=seconds, trials=done, peak_search_mb=peaks["search"], peak_total_mb=peaks["total"]
    )


def main() -> None:
    args = _parse_args()
    _common.print_provenance(args.seed)
    print(f"command: python bench/bench_memory.py {' '.join(sys.argv[1:])}".rstrip())
    with _common.study_home("memory") as home:
        runs = [_run(0, args, home), _run(args.limit_mb, args, home)]
    header = ["limit MB", "trials", "wall s", "peak search MB", "peak all MB"]
    rows = [
        [r.limit_mb or "none", r.trials, f"{r.seconds:.1f}", f"{r.peak_search_mb:.0f}", f"{r.peak_total_mb:.0f}"]
        for r in runs
    ]
    print(_common.format_table(header, rows))
    one, recycled = runs
    print(
        f"recycled / not recycled: peak search memory {recycled.peak_search_mb / one.peak_search_mb:.2f}, "
        f"peak of all processes {recycled.peak_total_mb / one.peak_total_mb:.2f}, wall time "
        f"{recycled.seconds / one.seconds:.2f}"
    )


if __name__ == "__main__":
    main()
