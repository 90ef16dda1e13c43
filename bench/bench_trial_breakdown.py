"""Where a trial's time goes: everything other than training steps, per trial and in total.

Runs a small study in-process with our driver (``automl._driver.run_study``; default: the
built-in digits, 6 trials, at most 3 epochs, random sampler, no pruner) and prints, per
trial and in total, the share of the trial's wall time (Optuna's ``datetime_start`` to
``datetime_complete``) spent in each phase the driver records (``timings``: sample,
analyse, build, compile, fit, save) and outside them (storage, MLflow run start/end, clean-up).

Inside ``fit`` it separates, from per-batch timestamps:

- trace: the first training batch and the first validation pass minus a steady one (the
  time Keras spends tracing and compiling the train and test functions);
- steps: the training steps at the steady rate (what we want the trial to be made of; in
  an augmented trial they include any wait for the feeder's batches);
- validation: the validation passes at the steady rate;
- loop: the rest of ``fit`` (data iteration between batches, callbacks, Optuna's epoch
  report and pruning check, Keras set-up).

Across phases it also sums the time in MLflow calls, in Optuna's storage, in
``keras.backend.clear_session`` and in ``gc.collect``, measured by wrapping those functions
with timers. The instrumentation subclasses the driver's ``TrialCallback`` and wraps
functions in place; it changes no behaviour.

The target is "everything other than training steps under 10% of the trial".

Run: ``python bench/bench_trial_breakdown.py`` (about 1-2 minutes on 2 CPU cores);
``--data mnist --train-images 6000`` for a larger image dataset from ``../shared/datasets``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common

PHASES = ("sample", "analyse", "build", "compile", "fit", "save")
FIT_PARTS = ("trace", "steps", "validation", "loop")
CROSS_CUTTING = ("mlflow", "optuna", "clear_session", "gc")
TARGET = 0.10


@dataclass
class FitRecord:
    """Timestamps of one ``fit`` taken by the instrumented callback."""

    batches: list[float] = field(default_factory=list)
    validations: list[float] = field(default_factory=list)
    epoch_spans: list[float] = field(default_factory=list)
    _batch_start: float = 0.0
    _test_start: float = 0.0

    def parts(self, fit_seconds: float) -> dict[str, float]:
        """Split ``fit_seconds`` into trace, steady steps, steady validation and the rest."""
        if not self.batches:
            return {"trace": 0.0, "steps": 0.0, "validation": 0.0, "loop": fit_seconds}
        train_trace = max(self.batches[0] - statistics.median(self.batches[1:] or self.batches), 0.0)
        later = self.validations[1:] or self.validations
        val_trace = max(self.validations[0] - statistics.median(later), 0.0) if self.validations else 0.0
        steps = sum(self.batches) - train_trace
        validation = sum(self.validations) - val_trace
        trace = train_trace + val_trace
        loop = fit_seconds - trace - steps - validation
        return {"trace": trace, "steps": steps, "validation": validation, "loop": loop}


class Recorder:
    """Collects per-trial fit records and the time spent in wrapped methods, by category."""

    def __init__(self) -> None:
        self.trial: int | None = None
        self.fits: dict[int, FitRecord] = defaultdict(FitRecord)
        self.seconds: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._depth = 0

    def wrap(self, owner: Any, name: str, category: str) -> None:
        """Replace ``owner.name`` with a timed call that adds its duration to ``category``."""
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # Count only the outermost wrapped call of the trial loop's thread: the heartbeat
            # thread's storage writes overlap the trial rather than add to it.
            if self._depth or self.trial is None or threading.current_thread() is not threading.main_thread():
                return original(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[self.trial][category] += time.perf_counter() - start
                self._depth -= 1

        setattr(owner, name, timed)


def instrument(recorder: Recorder) -> None:
    """Install the timers: a ``TrialCallback`` subclass, MLflow, Optuna storage and clean-up wrappers."""
    import gc

    import keras
    from optuna.storages import RDBStorage

    import automl._trial as trial_module
    from automl._tracking import Tracker, TrialRun

    trial_module.TrialCallback = _timed_callback(recorder, trial_module.TrialCallback)
    run_trial = trial_module.run_trial

    def run_trial_recorded(trial: Any, ctx: Any) -> Any:
        recorder.trial = trial.number
        try:
            return run_trial(trial, ctx)
        finally:
            recorder.trial = None  # storage calls between trials belong to no trial

    trial_module.run_trial = run_trial_recorded
    recorder.wrap(Tracker, "start_trial", "mlflow")
    for name in ("log_params", "log_text", "set_tags", "end"):
        recorder.wrap(TrialRun, name, "mlflow")
    for name in [n for n in vars(RDBStorage) if not n.startswith("_") and callable(getattr(RDBStorage, n))]:
        recorder.wrap(RDBStorage, name, "optuna")
    recorder.wrap(keras.backend, "clear_session", "clear_session")  # its own gc.collect counts here
    recorder.wrap(gc, "collect", "gc")


def _timed_callback(recorder: Recorder, base: type) -> type:
    """A subclass of the driver's callback that also records batch and validation timestamps."""

    class TimedCallback(base):  # type: ignore[misc, valid-type]
        def _record(self) -> FitRecord:
            return recorder.fits[self.trial_number]

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self._record()._batch_start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            super().on_train_batch_end(batch, logs)  # reads the loss, so the step has finished
            record = self._record()
            record.batches.append(time.perf_counter() - record._batch_start)

        def on_test_begin(self, logs: dict | None = None) -> None:
            self._record()._test_start = time.perf_counter()

        def on_test_end(self, logs: dict | None = None) -> None:
            record = self._record()
            record.validations.append(time.perf_counter() - record._test_start)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self._record().epoch_spans.append(time.perf_counter() - self._epoch_start)
            super().on_epoch_end(epoch, logs)

    return TimedCallback


def trial_rows(study: Any, recorder: Recorder) -> list[dict[str, Any]]:
    """One record per finished trial: wall time, phases, parts of fit, MLflow and Optuna time."""
    from automl._records import TrialRecord

    rows = []
    for frozen in study.trials:
        if frozen.datetime_start is None or frozen.datetime_complete is None:
            continue
        record = TrialRecord.of(frozen)
        timings = record.timings
        phases = {phase: timings.get(phase, 0.0) for phase in PHASES}
        wall = (frozen.datetime_complete - frozen.datetime_start).total_seconds()
        fit = recorder.fits.get(frozen.number, FitRecord())
        rows.append(
            {
                "trial": frozen.number,
                "state": frozen.state.name.lower(),
                "augmented": _augmented(record),
                "epochs": len(fit.epoch_spans),
                "batches": len(fit.batches),
                "wall": wall,
                **phases,
                "outside": wall - sum(phases.values()),
                **fit.parts(phases["fit"]),
                **{key: recorder.seconds[frozen.number][key] for key in CROSS_CUTTING},
            }
        )
    return rows


def _augmented(record: Any) -> str:
    """Whether the trial trained through the augmenting feeder (its batches then include augmentation)."""
    import pipelines

    policy = record.augmentation
    return "-" if policy is None else "no" if pipelines.AugmentPolicy.from_dict(policy).is_identity else "yes"


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall", *PHASES, "outside", *FIT_PARTS, *CROSS_CUTTING, "epochs", "batches")
    return {"trial": "total", "state": "", "augmented": "", **{key: sum(row[key] for row in rows) for key in keys}}


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole > 0 else "-"


def print_tables(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Print the phase shares and the parts of fit, per trial and in total; returns the total."""
    total = _total(rows)
    everything = [*rows, total]
    print("Share of each trial's wall time by driver phase (outside = storage, MLflow run start/end, clean-up)")
    header = ["trial", "state", "wall s", *PHASES, "outside"]
    print(
        _common.format_table(
            header,
            [
                [r["trial"], r["state"], f"{r['wall']:.2f}", *(_pct(r[k], r["wall"]) for k in (*PHASES, "outside"))]
                for r in everything
            ],
        )
    )
    print()
    print("Inside fit, and across phases (share of the trial's wall time; seconds for fit)")
    header = ["trial", "augmented", "epochs", "batches", "fit s", *FIT_PARTS, *CROSS_CUTTING, "non-step"]
    print(
        _common.format_table(
            header,
            [
                [
                    r["trial"],
                    r["augmented"],
                    r["epochs"],
                    r["batches"],
                    f"{r['fit']:.2f}",
                    *(_pct(r[k], r["wall"]) for k in (*FIT_PARTS, *CROSS_CUTTING)),
                    _pct(r["wall"] - r["steps"], r["wall"]),
                ]
                for r in everything
            ],
        )
    )
    print(
        "trace = first batch + first validation pass minus a steady one; loop = data iteration, "
        "callbacks, epoch report, Keras set-up;\nmlflow, optuna (storage calls), clear_session (with its "
        "gc.collect) and gc (the driver's own gc.collect after it) are spread over the phases"
    )
    return total


def run(args: argparse.Namespace) -> None:
    from automl._config import StudyConfig
    from automl._driver import run_study
    from automl._progress import Progress

    recorder = Recorder()
    instrument(recorder)
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir, _common.study_home("breakdown"):
        data = _data_source(args, Path(data_dir))
        config = StudyConfig(
            study_name="breakdown",
            data=data,
            trials=args.trials,
            epochs=args.epochs,
            sampler=args.sampler,
            pruner=args.pruner,
            seed=args.seed,
        )
        start = time.perf_counter()
        study_run = run_study(config, progress=Progress(total=args.trials, quiet=True))
        study_seconds = time.perf_counter() - start
    print(f"data: {data or 'digits'}; {args.trials} trials, at most {args.epochs} epochs, "
          f"sampler {args.sampler}, pruner {args.pruner}\n")  # fmt: skip
    total = print_tables(trial_rows(study_run.study, recorder))
    setup = study_seconds - total["wall"]
    non_step = total["wall"] - total["steps"]
    print()
    print(f"run_study wall time: {study_seconds:.2f} s, of which trials {total['wall']:.2f} s and study set-up / "
          f"between trials {setup:.2f} s ({_pct(setup, study_seconds)})")  # fmt: skip
    verdict = "MET" if non_step / total["wall"] < TARGET else "NOT MET"
    print(f"everything other than training steps: {_pct(non_step, total['wall'])} of trial time "
          f"({_pct(study_seconds - total['steps'], study_seconds)} counting study set-up); "
          f"target < {TARGET:.0%}: {verdict}")  # fmt: skip


def _data_source(args: argparse.Namespace, folder: Path) -> str | None:
    if args.data == "digits":
        return None
    path = _common.subsampled_npz(args.data, folder, train=args.train_images, test=1000, seed=args.seed)
    if path is None:
        raise SystemExit(f"{_common.SHARED_DATASETS / args.data}.npz is absent; use --data digits")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits", choices=("digits", *_common.IMAGE_DATASETS))
    parser.add_argument("--train-images", type=int, default=6000, help="subsample of an image dataset's train split")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sampler", default="random", choices=("random", "tpe"))
    parser.add_argument("--pruner", default="none", choices=("none", "median", "hyperband"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    run(args)


if __name__ == "__main__":
    main()
