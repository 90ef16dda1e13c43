"""One trial: sample, analyse, build, compile, train with pruning, save, log.

``run_trial`` never raises for a failing candidate: it returns an ``Outcome`` whose state
and reason the driver hands to Optuna. Only ``KeyboardInterrupt`` escapes, after the
trial's MLflow run has been closed as KILLED.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import TrialState

import pipelines
import searchspace
from automl._bundle import save_inference_model
from automl._errors import OutOfMemory, TrialFailed
from automl._hparams import TrainingSpec, sample_training
from automl._progress import Progress
from automl._tracking import Tracker, TrialRun
from automl._training import (
    EpochResult,
    TrialCallback,
    as_trial_failure,
    augment_processes,
    compile_model,
    inference_batch_size,
    on_accelerator,
    wrap_with_normalization,
)

__all__ = ["StudyContext", "Outcome", "run_trial", "OOM_DIGESTS_ATTR", "SEED_ATTR"]

OOM_DIGESTS_ATTR = "oom_digests"
SEED_ATTR = "seed_architecture"


@dataclass(frozen=True, kw_only=True)
class StudyContext:
    """What every trial of a study shares: settings, data, stores."""

    config: Any  # StudyConfig
    splits: pipelines.Splits
    normalization: pipelines.Normalization
    space: searchspace.SearchSpace
    tracker: Tracker
    progress: Progress
    model_dir: Any  # Path

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.splits.train[0].shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.splits.class_names)

    @property
    def multi_objective(self) -> bool:
        return self.config.objective == "pareto"


@dataclass
class Outcome:
    state: TrialState
    values: list[float] | None = None
    reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start


def run_trial(trial: optuna.Trial, ctx: StudyContext) -> Outcome:
    """Run one trial to completion, pruning or failure; see the module docstring."""
    outcome = Outcome(state=TrialState.FAIL)
    free_memory = on_accelerator()
    run = ctx.tracker.start_trial(ctx.config.study_name, trial.number)
    trial.set_user_attr("mlflow_run_id", run.run_id)
    ctx.progress.trial_started(trial.number)
    try:
        _train_candidate(trial, ctx, run, outcome)
    except KeyboardInterrupt:
        outcome.reason = "interrupted by the user (Ctrl-C)"
        _finish(trial, ctx, run, outcome, mlflow_status="KILLED")
        raise
    except optuna.TrialPruned:
        outcome.state = TrialState.PRUNED
    except Exception as exc:  # every failure of a candidate is recorded, never raised
        failure = as_trial_failure(exc)
        outcome.reason = str(failure)
        if isinstance(failure, OutOfMemory):
            _remember_oom(trial)
            free_memory = True
    finally:
        # A full garbage collection walks every object of TensorFlow, Keras and MLflow
        # (0.3-0.8 s on a CPU): pay it only where memory is scarce (accelerators) or short.
        keras.backend.clear_session(free_memory=free_memory)
    _finish(trial, ctx, run, outcome)
    return outcome


def _train_candidate(trial: optuna.Trial, ctx: StudyContext, run: TrialRun, outcome: Outcome) -> None:
    timings = outcome.timings
    with _timed(timings, "sample"):
        spec, training, policy = _sample(trial, ctx)
        run.log_params({**trial.params, "architecture.digest": spec.digest()})
        run.log_text(spec.to_json(), "architecture.json")
    with _timed(timings, "analyse"):
        try:
            analysis = searchspace.analyze(spec, input_shape=ctx.input_shape, num_classes=ctx.num_classes)
            searchspace.check_budget(analysis, max_params=ctx.config.max_params, max_flops=ctx.config.max_flops)
        except searchspace.InfeasibleArchitecture as exc:
            raise TrialFailed(f"infeasible: {exc}") from None
        trial.set_user_attr("params", analysis.params)
        trial.set_user_attr("flops", analysis.flops)
        run.add_metric("params", analysis.params)
        run.add_metric("flops", analysis.flops)
        _refuse_known_oom(trial, spec, training)
    with _timed(timings, "build"):
        keras.utils.set_random_seed(ctx.config.seed * 100_003 + trial.number)
        core = searchspace.build_model(spec, input_shape=ctx.input_shape, num_classes=ctx.num_classes)
        model = wrap_with_normalization(core, ctx.input_shape, ctx.normalization.mean, ctx.normalization.std)
    with _timed(timings, "compile"):
        compile_model(model, training, ctx.num_classes)
    callback = TrialCallback(trial.number, lambda epoch: _report_epoch(trial, ctx, run, epoch, training.epochs))
    with _timed(timings, "fit"):
        _fit(model, ctx, training, policy, trial.number, callback)
    if not callback.epochs:
        raise TrialFailed("training ran no epoch")
    val_accuracy = callback.epochs[-1].val_accuracy
    trial.set_user_attr("val_accuracy", val_accuracy)
    if callback.pruned_at is not None:
        outcome.reason = f"pruned after epoch {callback.pruned_at + 1} (val_accuracy {val_accuracy:.4f})"
        raise optuna.TrialPruned(outcome.reason)
    with _timed(timings, "save"):
        path = ctx.model_dir / f"trial_{trial.number}.keras"
        save_inference_model(model, path)  # no optimizer or custom loss: plain Keras loads it
        trial.set_user_attr("model_path", str(path.resolve()))
        run.log_text(_summary(model), "model_summary.txt")
    outcome.state = TrialState.COMPLETE
    cost = analysis.params if ctx.config.cost_metric == "params" else analysis.flops
    outcome.values = [val_accuracy, float(cost)] if ctx.multi_objective else [val_accuracy]


def _sample(trial: optuna.Trial, ctx: StudyContext) -> tuple[Any, TrainingSpec, pipelines.AugmentPolicy]:
    grid = ctx.config.sampler == "grid"
    seed_name = trial.user_attrs.get(SEED_ATTR)
    if grid:
        seed_name = trial.suggest_categorical("arch.classic", sorted(searchspace.CLASSICS))
    if seed_name:
        spec = searchspace.classic(seed_name, ctx.input_shape, ctx.num_classes)
    else:
        spec = searchspace.sample_architecture(
            trial, ctx.space, input_shape=ctx.input_shape, num_classes=ctx.num_classes
        )
    training = sample_training(trial, max_epochs=ctx.config.epochs, num_train=len(ctx.splits.train[1]), grid=grid)
    policy = (
        pipelines.AugmentPolicy.none() if grid else pipelines.sample_augmentation(trial, input_shape=ctx.input_shape)
    )
    trial.set_user_attr("architecture", spec.to_json())
    trial.set_user_attr("training", training.to_dict())
    trial.set_user_attr("augmentation", policy.to_dict())
    return spec, training, policy


def _fit(
    model: keras.Model,
    ctx: StudyContext,
    training: TrainingSpec,
    policy: pipelines.AugmentPolicy,
    number: int,
    callback: TrialCallback,
) -> None:
    x_train, y_train = ctx.splits.train
    x_val, y_val = ctx.splits.val
    val = (x_val.astype("float32"), y_val)
    val_batch = inference_batch_size(training.batch_size, ctx.input_shape)
    if policy.is_identity:
        # No augmentation: plain arrays are the fastest path into every backend.
        model.fit(
            x_train.astype("float32"),
            y_train,
            batch_size=training.batch_size,
            epochs=training.epochs,
            validation_data=val,
            validation_batch_size=val_batch,
            shuffle=True,
            callbacks=[callback],
            verbose=0,
        )
        return
    feeder = pipelines.Feeder(
        x_train,
        y_train,
        batch_size=training.batch_size,
        normalization=None,
        policy=policy,
        seed=ctx.config.seed * 100_003 + number,
        processes=augment_processes(),
    )
    # The feeder shuffles itself, reproducibly from (seed, epoch); Keras must not reshuffle batches.
    model.fit(
        feeder,
        epochs=training.epochs,
        validation_data=val,
        validation_batch_size=val_batch,
        callbacks=[callback],
        shuffle=False,
        verbose=0,
    )


def _report_epoch(trial: optuna.Trial, ctx: StudyContext, run: TrialRun, epoch: EpochResult, epochs: int) -> bool:
    """Log one epoch and tell whether the trial should be pruned."""
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        run.add_metric(key, getattr(epoch, key), step=epoch.epoch)
    run.add_metric("epoch_seconds", epoch.seconds, step=epoch.epoch)
    ctx.progress.epoch(trial.number, epoch, epochs)
    if ctx.multi_objective or not np.isfinite(epoch.val_accuracy):
        return False
    trial.report(epoch.val_accuracy, epoch.epoch)
    return trial.should_prune()


def _finish(
    trial: optuna.Trial, ctx: StudyContext, run: TrialRun, outcome: Outcome, mlflow_status: str | None = None
) -> None:
    """Record the outcome on the trial (user attrs) and close its MLflow run."""
    try:
        trial.set_user_attr("timings", {k: round(v, 4) for k, v in outcome.timings.items()})
        if outcome.reason:
            trial.set_user_attr("fail_reason" if outcome.state == TrialState.FAIL else "note", outcome.reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        outcome.reason = "failed as stale by another process while it ran; result dropped"
        mlflow_status = "KILLED"
    for phase, seconds in outcome.timings.items():
        run.add_metric(f"time.{phase}", seconds)
    if outcome.values:
        run.add_metric("val_accuracy_final", outcome.values[0])
    tags = {"state": outcome.state.name if mlflow_status is None else "FAIL"}
    if outcome.reason:
        tags["fail_reason" if tags["state"] == "FAIL" else "note"] = outcome.reason
    run.set_tags(tags)
    status = mlflow_status or ("FINISHED" if outcome.state != TrialState.FAIL else "FAILED")
    run.end(status)


def _config_digest(spec: Any, training: TrainingSpec) -> str:
    return f"{spec.digest()}:{training.batch_size}"


def _refuse_known_oom(trial: optuna.Trial, spec: Any, training: TrainingSpec) -> None:
    digest = _config_digest(spec, training)
    trial.set_user_attr("config_digest", digest)
    known = trial.study.user_attrs.get(OOM_DIGESTS_ATTR, {})
    if digest in known:
        raise TrialFailed(f"skipped: the same configuration ran out of memory in trial {known[digest]}")


def _remember_oom(trial: optuna.Trial) -> None:
    digest = trial.user_attrs.get("config_digest")
    if digest:
        known = dict(trial.study.user_attrs.get(OOM_DIGESTS_ATTR, {}))
        known[digest] = trial.number
        trial.study.set_user_attr(OOM_DIGESTS_ATTR, known)


def _summary(model: keras.Model) -> str:
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, *args, **kwargs: buffer.write(line + "\n"), expand_nested=True)
    return buffer.getvalue()


def describe_trial(frozen: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The readable record of a finished trial used by tables and comparisons."""
    return {
        "trial": frozen.number,
        "state": frozen.state.name.lower(),
        "val_accuracy": frozen.user_attrs.get("val_accuracy"),
        "params": frozen.user_attrs.get("params"),
        "flops": frozen.user_attrs.get("flops"),
        "seconds": round(sum(frozen.user_attrs.get("timings", {}).values()), 2),
        "reason": frozen.user_attrs.get("fail_reason") or frozen.user_attrs.get("note") or "",
        "architecture": json.loads(frozen.user_attrs["architecture"]) if "architecture" in frozen.user_attrs else None,
    }
