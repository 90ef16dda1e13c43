"""One trial: sample, analyse, build, compile, train with pruning, save, log.

``run_trial`` never raises for a failing candidate: it returns an ``Outcome`` whose state
and reason the driver hands to Optuna. Only ``KeyboardInterrupt`` escapes, after the
trial's MLflow run has been closed as KILLED.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import TrialState

import pipelines
import searchspace
from automl._config import StudyConfig, offset_seed
from automl._data import StudyData
from automl._errors import Infeasible, Interrupted, KnownOutOfMemory, OutOfMemory, Stale, TrialFailed
from automl._hparams import TrainingSpec, sample_training
from automl._interrupts import SignalInterrupt, interrupt_reason
from automl._models import log_model
from automl._progress import Progress
from automl._queue import retry_of
from automl._records import (
    INFEASIBLE_KEY,
    StudyRecord,
    TrialRecord,
    config_key,
    origin_of,
    record_analysis,
    record_model,
    record_oom,
    record_outcome,
    record_result,
    record_run,
    record_sample,
    seed_architecture_of,
)
from automl._settings import RuntimeSettings
from automl._tracking import STUDY_TAG, TRIAL_TAG, Tracker, TrialRun
from automl._training import (
    EpochResult,
    FinalWindow,
    FirstEpochCut,
    TrialCallback,
    as_trial_failure,
    augmentation_target,
    batches_for_backend,
    clear_session,
    compile_model,
    continue_cut,
    continue_replanned,
    on_accelerator,
    train_model,
    wrap_with_normalization,
)

__all__ = ["StudyContext", "Outcome", "run_trial", "config_key_of"]


@dataclass(frozen=True, kw_only=True)
class StudyContext:
    """What every trial of a study shares: settings, data, stores."""

    config: StudyConfig
    data: StudyData
    tracker: Tracker
    progress: Progress
    settings: RuntimeSettings

    @property
    def splits(self) -> pipelines.Splits:
        return self.data.splits

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.data.input_shape

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def multi_objective(self) -> bool:
        return self.config.objective == "pareto"


@dataclass
class Outcome:
    """How a trial ended: its state, objective values, failure (typed) or note, timings."""

    state: TrialState
    values: list[float] | None = None
    failure: TrialFailed | None = None
    note: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        return str(self.failure) if self.failure is not None else self.note


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - start


def run_trial(
    trial: optuna.Trial,
    ctx: StudyContext,
    *,
    deadline: float | None = None,
    window: FinalWindow | None = None,
    limit: str = "time budget",
) -> Outcome:
    """Run one trial to completion, pruning or failure; see the module docstring.

    Past ``deadline`` (a ``time.monotonic()`` value: a time budget) its training stops and
    it completes with the epochs it had. Given the budget's final ``window``, a trial whose
    retraining would not fit in it, or whose planned epochs do not fit before ``deadline``,
    trains through it instead (``TrialCallback``). ``limit`` names the deadline in the trial's
    note: "time budget", or "timeout" (``--timeout``).
    """
    outcome = Outcome(state=TrialState.FAIL)
    free_memory = on_accelerator()
    run = ctx.tracker.start_trial(ctx.config.study_name, trial.number)
    record_run(trial, run.run_id)
    ctx.progress.trial_started(trial.number)
    try:
        _train_or_interrupt(trial, ctx, run, outcome, _Limits(deadline=deadline, window=window, limit=limit))
    except KeyboardInterrupt as stop:
        outcome.failure = Interrupted(interrupt_reason(stop))
        _finish(trial, run, outcome, mlflow_status="KILLED")
        raise
    except optuna.TrialPruned:
        outcome.state = TrialState.PRUNED
    except Exception as exc:  # every failure of a candidate is recorded, never raised
        outcome.failure = as_trial_failure(exc)
        if isinstance(outcome.failure, OutOfMemory):
            _remember_oom(trial)
            free_memory = True
    finally:
        # A full garbage collection walks every object of TensorFlow, Keras and MLflow
        # (0.3-0.8 s on a CPU): pay it only where memory is scarce (accelerators) or short.
        clear_session(free_memory=free_memory)
    _finish(trial, run, outcome)
    return outcome


class _SigintWatch:
    """Remembers which signal stopped the trial (``signum``: SIGINT, a Ctrl-C, or a SIGTERM the
    CLI takes as one), then lets the previous handler act.

    Python's own handler raises ``KeyboardInterrupt``; when that happens inside native code
    (a TensorFlow op reached through pybind11) it may come out as some other error, e.g.
    ``RuntimeError: pybind11::error_already_set: MISMATCH ... REPLACED BY KeyboardInterrupt``.
    ``signum`` says what that error really was. Outside the main thread, or for a signal that
    is not Python's to handle, it watches nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None  # the first signal that arrived
        self._previous: dict[int, Callable[[int, FrameType | None], object]] = {}

    def __enter__(self) -> _SigintWatch:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if callable(previous):
                    self._previous[signum] = previous
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum  # a SIGTERM calls SIGINT's handler in turn
        self._previous[signum](signum, frame)


@dataclass(frozen=True, kw_only=True)
class _Limits:
    """When a trial's training must stop: the search's deadline, and the final window it may
    train through (both ``time.monotonic()`` values; ``None``: no such limit)."""

    deadline: float | None = None
    window: FinalWindow | None = None
    limit: str = "time budget"  # what the deadline is, as a trial's note names it


def _train_or_interrupt(
    trial: optuna.Trial, ctx: StudyContext, run: TrialRun, outcome: Outcome, limits: _Limits
) -> None:
    """``_train_candidate``, where any error raised after a Ctrl-C is the interrupt it hides."""
    with _SigintWatch() as sigint:
        try:
            _train_candidate(trial, ctx, run, outcome, limits)
        except (Exception, KeyboardInterrupt) as exc:
            if sigint.signum is not None:
                raise SignalInterrupt(sigint.signum) from exc
            raise


def _train_candidate(trial: optuna.Trial, ctx: StudyContext, run: TrialRun, outcome: Outcome, limits: _Limits) -> None:
    timings = outcome.timings
    with _timed(timings, "sample"):
        draw = _sample(trial, ctx)
        spec, training, policy = draw.spec, draw.training, draw.policy
        narrowed = {"architecture.width_scale": round(draw.scale, 4)} if draw.scale < 1 else {}
        run.log_params({**trial.params, **origin_of(trial), "architecture.digest": spec.digest(), **narrowed})
        run.log_text(spec.to_json(), "architecture.json")
    with _timed(timings, "analyse"):
        analysis = draw.analysis  # of the architecture as drawn: narrowed to the cost budget
        digest = f"{spec.digest()}:{training.batch_size}"
        record_analysis(trial, params=analysis.params, flops=analysis.flops, config_digest=digest)
        run.add_metric("params", analysis.params)
        run.add_metric("flops", analysis.flops)
        _refuse_known_oom(trial, digest)
    seed = _trial_seed(trial, ctx.config)
    with _timed(timings, "build"):
        keras.utils.set_random_seed(seed)
        core = searchspace.build_model(spec, input_shape=ctx.input_shape, num_classes=ctx.num_classes)
        normalization = ctx.data.normalization
        model = wrap_with_normalization(core, ctx.input_shape, normalization.mean, normalization.std)
    with _timed(timings, "compile"):
        fit_model, host_policy = augmentation_target(model, policy, seed=seed)
        compile_model(fit_model, training, ctx.num_classes)
    planned = training.epochs
    callback = TrialCallback(
        # ``training`` is read when an epoch ends: after a re-plan, its re-planned epochs.
        report=lambda epoch: _report_epoch(trial, ctx, run, epoch, training.epochs),
        fault=ctx.settings.faults.get(trial.number),
        deadline=limits.deadline,
        # The study's first model trains at least an epoch, however short the budget.
        min_epochs=0 if trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else 1,
        planned=planned,
        window=limits.window,
    )
    train = batches_for_backend(ctx.splits.train, training.batch_size, seed=seed)
    fit = functools.partial(train_model, fit_model, train, seed=seed, policy=host_policy, validation=ctx.splits.val)

    def trains_as(recipe: TrainingSpec) -> None:
        nonlocal training  # read by the callback's report: after a re-plan, its epochs
        training = recipe
        if callback.cut is None:  # a re-plan is recorded at once, a cut's recipe when it ends
            record_sample(trial, spec, recipe, policy.to_dict())

    with _timed(timings, "fit"):
        cut_steps = _fit_within_limits(fit, fit_model, training, callback, ctx.num_classes, on_recipe=trains_as)
    if not callback.epochs:
        raise TrialFailed("training ran no epoch")
    val_accuracy = callback.epochs[-1].val_accuracy
    record_result(trial, val_accuracy, through_window=callback.through_window)
    with _timed(timings, "save"):
        _log_trial_model(trial, ctx, run, model, epochs=len(callback.epochs))
        run.log_text(_summary(model), "model_summary.txt")
    outcome.note = _finished_note(trial, draw, training, callback, cut_steps, val_accuracy, limit=limits.limit)
    if callback.pruned_at is not None:
        raise optuna.TrialPruned(outcome.note)
    outcome.state = TrialState.COMPLETE
    cost = analysis.params if ctx.config.cost_metric == "params" else analysis.flops
    outcome.values = [val_accuracy, float(cost)] if ctx.multi_objective else [val_accuracy]


def _fit_within_limits(
    fit: Callable[..., None],
    fit_model: keras.Model,
    training: TrainingSpec,
    callback: TrialCallback,
    num_classes: int,
    *,
    on_recipe: Callable[[TrainingSpec], None],
) -> int:
    """Train the trial's model by ``fit``, continued as ``callback`` decided at its first epoch:
    cut to the deadline, or re-planned to the epochs that fit. ``on_recipe`` is told each
    recipe the training turns to (a cut's epochs as its steps make them, each re-plan);
    returns the steps of a cut training's continuation (0: not cut)."""
    fit(training=training, callbacks=[callback])
    if callback.cut is not None:
        # Its first epoch would have ended past the budget, or with no time for a second
        # (or it ended with time for only a few more): the rest of the time goes to a
        # schedule that ends with it, and the trial counts as the epochs of its recipe
        # that its steps make.
        cut = callback.cut
        cut_steps = continue_cut(fit_model, training, cut, num_classes, fit, [callback])
        on_recipe(dataclasses.replace(training, epochs=max(round((cut.steps_done + cut_steps) / cut.steps), 1)))
        return cut_steps
    if callback.fits is not None:
        # Only ``fits`` epochs fit before the deadline (or the window's end): the trial
        # continues with a schedule that ends with them (again if it is re-planned half-way).
        replanned = dataclasses.replace(training, epochs=callback.fits)
        on_recipe(replanned)
        continue_replanned(
            fit_model,
            replanned,
            callback.fits,
            num_classes,
            fit,
            [callback],
            deadline=callback.deadline,
            most=callback.most,
            on_replan=on_recipe,
        )
    return 0


def _trial_seed(trial: optuna.Trial, config: StudyConfig) -> int:
    """The seed ``trial`` builds, augments and trains with: a retried trial's (its worker
    died, or it was interrupted) is the one of the trial it runs again, which it so repeats."""
    retried = retry_of(trial)
    return offset_seed(config.seed * 100_003, trial.number if retried is None else retried)


def _finished_note(
    trial: optuna.Trial,
    draw: _Draw,
    training: TrainingSpec,
    callback: TrialCallback,
    cut_steps: int,
    val_accuracy: float,
    *,
    limit: str,
) -> str | None:
    """The note of a trial whose training ended (``None``: it ran its recipe as drawn), with
    the recipe it ran recorded where it was cut short; ``limit`` names the deadline."""
    planned = draw.training.epochs
    if callback.cut is not None:
        record_sample(trial, draw.spec, training, draw.policy.to_dict())
        return _cut_note(
            callback.cut, cut_steps, val_accuracy, planned=planned, through=callback.through_window, limit=limit
        )
    if callback.out_of_time:
        # Kept with the epochs it had: it may be the best model yet (and the study's first
        # model must exist however short the budget). Its record says the epochs it trained,
        # so that its retraining is timed and scheduled by what it ran.
        epochs = len(callback.epochs)
        record_sample(trial, draw.spec, dataclasses.replace(training, epochs=epochs), draw.policy.to_dict())
        replanned = f", re-planned from {planned} to {training.epochs} epochs" if callback.fits else ""
        through = ", through the final window" if callback.through_window else ""
        return f"stopped by the {limit} after epoch {epochs} (val_accuracy {val_accuracy:.4f}{replanned}{through})"
    if callback.pruned_at is not None:
        return f"pruned after epoch {callback.pruned_at + 1} (val_accuracy {val_accuracy:.4f})"
    if callback.through_window:
        return (
            f"{len(callback.epochs)} epochs (planned {planned}) through the final window: it trains longer there "
            "than its retraining on train+validation could, so its own model is the final one"
        )
    if callback.fits is not None and training.epochs != planned:  # a re-plan that kept them all says nothing
        return f"{training.epochs} of {planned} epochs, to fit the {limit}"
    return None


def _cut_note(
    cut: FirstEpochCut, rest_steps: int, val_accuracy: float, *, planned: int, through: bool, limit: str
) -> str:
    """The note of a first trial continued in steps (``FirstEpochCut``); ``limit`` names the deadline."""
    window = ", through the final window" if through else ""
    rest = f"then {rest_steps} on a schedule that ends with the {limit}" if rest_steps else "no time left for more"
    if cut.steps_done == cut.steps:  # what ended it is named here too
        rest = rest if rest_steps else f"the {limit} left no time for more"
        return (
            f"{rest_steps / cut.steps + 1:.1f} epochs (planned {planned}): after its first epoch of "
            f"{cut.steps} steps, {rest} (val_accuracy {val_accuracy:.4f}{window})"
        )
    why = "with no time for a second" if cut.epoch_fits else "which would have ended past it"
    return (
        f"stopped by the {limit} in its first epoch, {why}: {cut.steps_done} of {cut.steps} steps, "
        f"{rest} (val_accuracy {val_accuracy:.4f}{window})"
    )


def _log_trial_model(trial: optuna.Trial, ctx: StudyContext, run: TrialRun, model: keras.Model, epochs: int) -> None:
    """Log the trained model to MLflow (any machine can then load it) and record where it is.

    Every trial that trained is logged, completed or pruned, not only the finalists: they are
    chosen after the search (``compare --top`` any number), when the machine that trained a
    trial may be gone, and a pruned trial's model stays at hand (``export --trial``, the
    MLflow UI). The model is an inference copy: no optimizer or custom loss, so plain Keras
    loads it.
    """
    logged = log_model(
        ctx.tracker,
        model,
        run_id=run.run_id,
        name=f"trial-{trial.number}",
        example=ctx.splits.val[0][:2],
        class_names=ctx.data.class_names,
        value_map=ctx.data.dataset.value_map,
        params=run.params,
        tags={STUDY_TAG: ctx.config.study_name, TRIAL_TAG: str(trial.number), "trained_on": "train"},
        step=epochs,
    )
    run.link_model(logged.model_id)
    record_model(trial, uri=logged.uri, path=str(logged.keras_path.resolve()))


@dataclass(frozen=True, kw_only=True)
class _Draw:
    """What a trial's parameters make: the architecture (narrowed to the cost budget by
    ``scale``, 1.0 where it fitted as sampled) and its analysis, the training recipe and the
    augmentation."""

    spec: searchspace.ArchitectureSpec
    analysis: searchspace.Analysis
    training: TrainingSpec
    policy: pipelines.AugmentPolicy
    scale: float = 1.0


def _sample(trial: optuna.Trial, ctx: StudyContext) -> _Draw:
    draw = _draw(trial, ctx)
    record_sample(trial, draw.spec, draw.training, draw.policy.to_dict())
    return draw


def config_key_of(params: dict[str, Any], ctx: StudyContext) -> str | None:
    """``config_key`` of the trial that these fixed ``params`` make; ``INFEASIBLE_KEY`` where
    they make an architecture that cannot be (it does not tile, or is over the cost budget
    even narrowed); None where they do not make one alone (a parameter left to the sampler)."""
    try:
        draw = _draw(optuna.trial.FixedTrial(dict(params)), ctx)
    except Infeasible:
        return INFEASIBLE_KEY
    except ValueError:
        return None
    return config_key(draw.spec.to_json(), draw.training.to_dict(), draw.policy.to_dict())


def _draw(trial: optuna.trial.BaseTrial, ctx: StudyContext) -> _Draw:
    """Raises ``Infeasible`` where the architecture does not tile, or is over the cost budget
    even narrowed."""
    grid = ctx.config.sampler == "grid"
    seed_name = seed_architecture_of(trial)
    if grid:
        seed_name = trial.suggest_categorical("arch.classic", sorted(searchspace.CLASSICS))
    if seed_name:
        spec = searchspace.classic(seed_name, ctx.input_shape, ctx.num_classes)
    else:
        spec = searchspace.sample_architecture(
            trial, ctx.config.space, input_shape=ctx.input_shape, num_classes=ctx.num_classes
        )
    try:
        fitted = searchspace.fit_budget(
            spec,
            input_shape=ctx.input_shape,
            num_classes=ctx.num_classes,
            max_params=ctx.config.max_params,
            max_flops=ctx.config.max_flops,
        )
    except searchspace.InfeasibleArchitecture as exc:
        raise Infeasible(f"infeasible: {exc}") from None
    training = sample_training(trial, max_epochs=ctx.config.epochs, num_train=len(ctx.splits.train[1]), grid=grid)
    policy = (
        pipelines.AugmentPolicy.none()
        if grid
        else pipelines.sample_augmentation(trial, input_shape=ctx.input_shape, flips=ctx.data.flips)
    )
    return _Draw(spec=fitted.spec, analysis=fitted.analysis, training=training, policy=policy, scale=fitted.scale)


def _report_epoch(trial: optuna.Trial, ctx: StudyContext, run: TrialRun, epoch: EpochResult, epochs: int) -> bool:
    """Log one epoch and tell whether the trial should be pruned."""
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        run.add_metric(key, getattr(epoch, key), step=epoch.epoch)
    run.add_metric("epoch_seconds", epoch.seconds, step=epoch.epoch)
    run.flush()
    ctx.progress.epoch(trial.number, epoch, epochs)
    if ctx.multi_objective or not np.isfinite(epoch.val_accuracy):
        return False
    trial.report(epoch.val_accuracy, epoch.epoch + 1)  # the resource: epochs trained
    # After its last epoch a trial is done: pruning it then would only throw its model away.
    return epoch.epoch + 1 < epochs and trial.should_prune()


def _finish(trial: optuna.Trial, run: TrialRun, outcome: Outcome, mlflow_status: str | None = None) -> None:
    """Record the outcome on the trial and close its MLflow run."""
    try:
        record_outcome(trial, timings=outcome.timings, failure=outcome.failure, note=outcome.note)
    except optuna.exceptions.UpdateFinishedTrialError:
        outcome.failure = Stale("failed as stale by another process while it ran; result dropped")
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


def _refuse_known_oom(trial: optuna.Trial, digest: str) -> None:
    known = StudyRecord.of(trial.study).oom_digests
    if digest in known:
        raise KnownOutOfMemory(f"skipped: the same configuration ran out of memory in trial {known[digest]}")


def _remember_oom(trial: optuna.Trial) -> None:
    digest = TrialRecord.of(trial).config_digest
    if digest:
        record_oom(trial.study, digest, trial.number)


def _summary(model: keras.Model) -> str:
    buffer = io.StringIO()
    model.summary(print_fn=lambda line, *args, **kwargs: buffer.write(line + "\n"), expand_nested=True)
    return buffer.getvalue()
