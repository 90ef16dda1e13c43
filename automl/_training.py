"""Compile and train one candidate: backend-agnostic Keras 3 (no backend-specific calls).

The trained model is self-contained: it takes raw images in the 0..255 scale and holds
its own ``Normalization`` layer (statistics of the training split), so exporting and
predicting need no separate preprocessing step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import keras
import numpy as np
from keras import ops

import pipelines
from automl._backends import compiles_per_shape, list_devices, steps_per_execution, tune_backend
from automl._errors import NonFiniteLoss, OutOfMemory, TrialFailed
from automl._hparams import TrainingSpec
from automl._inference import inference_batch_size
from automl._interrupts import raise_if_interrupted
from automl._settings import runtime_settings
from automl._stores import scrub

__all__ = [
    "wrap_with_normalization",
    "compile_model",
    "make_optimizer",
    "learning_rate_schedule",
    "make_loss",
    "inference_batch_size",
    "TrialCallback",
    "EpochClock",
    "FitToDeadline",
    "HalfwayReplan",
    "CosineTail",
    "continue_replanned",
    "fit_looking_halfway",
    "FinalWindow",
    "FirstEpochCut",
    "continue_cut",
    "EpochResult",
    "is_out_of_memory",
    "on_accelerator",
    "steps_per_call",
    "configure_runtime",
    "clear_session",
    "train_model",
    "augmentation_target",
    "StopAt",
    "EpochCount",
    "FAULTS",
    "augment_processes",
    "default_augment_processes",
]

ACCELERATOR_STEPS_PER_EXECUTION = 10
_OOM_MARKERS = (
    "RESOURCE_EXHAUSTED",  # TensorFlow, JAX (XLA)
    "out of memory",  # PyTorch on CUDA, TensorFlow
    "OOM when allocating",
    "CUDA_ERROR_OUT_OF_MEMORY",
    "can't allocate memory",  # PyTorch's CPU allocator: "DefaultCPUAllocator: can't allocate memory"
)


@keras.saving.register_keras_serializable(package="automl")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing (Keras' sparse loss has none)."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true: Any, y_pred: Any) -> Any:
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}


LearningRate: TypeAlias = float | keras.optimizers.schedules.LearningRateSchedule

# Optimizer name -> builder(spec, learning rate or schedule).
_OPTIMIZERS: dict[str, Callable[[TrainingSpec, LearningRate], keras.optimizers.Optimizer]] = {
    "adam": lambda t, lr: keras.optimizers.Adam(learning_rate=lr),
    "adamw": lambda t, lr: keras.optimizers.AdamW(learning_rate=lr, weight_decay=t.weight_decay),
    "sgd": lambda t, lr: keras.optimizers.SGD(
        learning_rate=lr, momentum=t.momentum, nesterov=True, weight_decay=t.weight_decay or None
    ),
}
WARMUP_START = 0.1  # a warm-up starts at this fraction of the peak rate: its first step is not wasted


def on_accelerator() -> bool:
    """Whether Keras sees a GPU or TPU (backend-agnostic)."""
    return any(not d.lower().startswith("cpu") for d in list_devices())


def steps_per_call() -> int:
    """Training steps per compiled call: ``ACCELERATOR_STEPS_PER_EXECUTION`` on an
    accelerator, as many of them as the backend allows; 1 on a CPU."""
    return steps_per_execution(ACCELERATOR_STEPS_PER_EXECUTION) if on_accelerator() else 1


def augment_processes() -> int:
    """Processes that augment training batches: 0 (threads) on a CPU, where the model trains
    on the same cores, and ``min(8, cores - 1)`` beside an accelerator, which threads cannot
    keep fed; ``RuntimeSettings.augment_processes`` overrides both.
    """
    configured = runtime_settings().augment_processes
    if configured is not None:
        return configured
    return default_augment_processes(accelerated=on_accelerator())


def default_augment_processes(*, accelerated: bool) -> int:
    return min(8, (os.cpu_count() or 1) - 1) if accelerated else 0


def configure_runtime() -> dict[str, str]:
    """Mixed precision on accelerators (bfloat16: no loss scaling needed); XLA is left to
    ``jit_compile="auto"``, which Keras resolves to XLA on GPUs and JAX, and off on a TF CPU.

    Returns the settings in force, for the study's provenance.
    """
    accelerated = on_accelerator()
    if accelerated:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return {
        "backend": keras.backend.backend(),
        "devices": ",".join(list_devices()),
        "mixed_precision": keras.mixed_precision.global_policy().name,
        "jit_compile": "auto",
        "augment_processes": str(augment_processes()),
        **tune_backend(keras.backend.backend(), accelerated=accelerated),
    }


def clear_session(*, free_memory: bool) -> None:
    """``keras.backend.clear_session``, keeping the global dtype policy ``configure_runtime``
    chose: Keras 3 resets it to float32 there, so every trial after the first, and the
    finalists, would have trained without mixed precision on an accelerator."""
    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session(free_memory=free_memory)
    keras.mixed_precision.set_global_policy(policy)


def wrap_with_normalization(
    core: keras.Model, input_shape: tuple[int, int, int], mean: tuple[float, ...], std: tuple[float, ...]
) -> keras.Model:
    """Prefix ``core`` with a constant per-channel ``Normalization`` layer (no trainable weights)."""
    inputs = keras.Input(shape=input_shape, name="image")
    variance = [max(s, 1e-3) ** 2 for s in std]
    x = keras.layers.Normalization(mean=list(mean), variance=variance, name="normalize")(inputs)
    return keras.Model(inputs, core(x), name="candidate")


def make_optimizer(training: TrainingSpec) -> keras.optimizers.Optimizer:
    """The optimizer of ``training``, its rate following ``training.schedule``."""
    return _OPTIMIZERS[training.optimizer](training, learning_rate_schedule(training))


def learning_rate_schedule(training: TrainingSpec) -> LearningRate:
    """The learning rate as a constant or, for ``warmup_cosine``, a Keras schedule over the planned steps.

    The warm-up rises linearly from ``WARMUP_START`` of the peak to the peak over the first
    ``training.warmup`` share of the steps; the cosine then decays it to zero at the last
    planned step (a trial stopped early by the pruner never reaches the low rates).
    """
    if training.schedule == "constant":
        return training.learning_rate
    total = training.total_steps
    if total is None:  # TrainingSpec refuses a schedule without steps; kept for type checkers
        raise ValueError(f"schedule {training.schedule!r} needs steps_per_epoch, got {training!r}")
    warmup = min(round(total * training.warmup), total - 1)
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(training.learning_rate, decay_steps=total)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=training.learning_rate * WARMUP_START,
        decay_steps=total - warmup,
        warmup_target=training.learning_rate,
        warmup_steps=warmup,
    )


def make_loss(training: TrainingSpec, num_classes: int) -> keras.losses.Loss:
    if training.label_smoothing > 0:
        return SmoothedSparseCrossentropy(num_classes, training.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()


def compile_model(model: keras.Model, training: TrainingSpec, num_classes: int) -> None:
    model.compile(
        optimizer=make_optimizer(training),
        loss=make_loss(training, num_classes),
        # A metric object, not the string: Keras would create its variables while tracing
        # the first step, and TensorFlow then traces the whole step a second time.
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile="auto",
        # Small models on an accelerator are limited by dispatch: several steps per call
        # measured 1.03-1.26x the images/s on an H100 (bench/RESULTS.md, "The GPU path").
        steps_per_execution=steps_per_call(),
    )
    # Likewise for the optimizer's slots: created now, they stay out of the traced step.
    model.optimizer.build(model.trainable_variables)


@dataclass(frozen=True, kw_only=True)
class EpochResult:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass(frozen=True, kw_only=True)
class FirstEpochCut:
    """The study's first training, stopped in its first epoch because it would end past
    ``until`` (a ``time.monotonic()`` value) or, if ``epoch_fits``, no second epoch would fit
    before it: ``steps_done`` of its ``steps``, each later step taking ``step_s`` seconds, its
    first ``tracing_s`` more, and the validation after the stop ``validation_s``.

    ``steps_done == steps``: stopped after its whole first epoch, with time for only a few
    more (``SHORT_REST_EPOCHS``), whose steps then fill the time to ``until`` instead of
    whole epochs that leave up to one unused."""

    steps_done: int
    steps: int
    step_s: float
    tracing_s: float
    validation_s: float
    until: float
    epoch_fits: bool = False

    def plan_rest(self) -> tuple[int, int]:
        """The rest as ``(epochs, steps)``: epochs of ``steps`` each (at most an epoch of the
        data) that end before ``until``, after another tracing and a validation after each;
        ``(0, 0)`` when no step fits."""
        left = self.until - time.monotonic() - self.tracing_s
        epochs = 1
        while True:
            fit = int((left - epochs * self.validation_s) // max(self.step_s, 1e-9))
            if fit < epochs:
                return (0, 0) if epochs == 1 else (epochs - 1, self.steps)
            if fit <= epochs * self.steps:
                return epochs, fit // epochs
            epochs += 1


# The study's first training looks at its first epoch's pace after this many steps past the
# first one (which traces the step): enough to time a step, early enough to re-plan the rest.
FIRST_LOOK_STEPS = 20

# When at most this many epochs in all fit, the study's first training continues after its
# first epoch with the steps that fit (``FirstEpochCut``), not whole epochs: rounding down
# to whole epochs would leave up to a third of its time unused, or all of it when no whole
# second epoch fits (the first epoch ran slower than its look foresaw). Longer rests keep
# whole epochs, which are looked at again half-way (``HalfwayReplan``).
SHORT_REST_EPOCHS = 4


@dataclass(frozen=True, kw_only=True)
class FinalWindow:
    """The end of a time budget's final training, offered to a study's first trial.

    Its retraining on train+validation costs ``retrain_cost`` times its own epochs' time.
    When that retraining would not fit between the trial's end and ``until``, the window
    would go unused (large data or a short budget); when the trial's planned epochs do not
    fit before the search's deadline, it takes the whole search time and no retraining in
    the window could train it as long as going on through it. Either way the trial trains
    through the window, for up to ``max_stretch`` times its planned epochs, and its own
    model is the final one.
    """

    until: float
    retrain_cost: float
    max_stretch: float


class EpochClock(keras.callbacks.Callback):
    """Times the current epoch and its first call of the training step, which carries the
    step's tracing.

    A call runs ``steps_per_execution`` steps (10 on an accelerator), and Keras calls
    ``on_train_batch_end`` once a call with the index of its last step: the first call's
    steps, ``_first_steps``, are then left out of the steady pace with it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch_start = time.perf_counter()
        self._first_batch_end: float | None = None
        self._first_steps = 1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        raise_if_interrupted()  # a Ctrl-C or SIGTERM whose interrupt was lost in a finalizer
        self._epoch_start = time.perf_counter()
        self._first_batch_end = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        raise_if_interrupted()
        if self._first_batch_end is None:
            self._first_batch_end = time.perf_counter()
            self._first_steps = batch + 1

    def epoch_seconds(self) -> float:
        """Seconds since the current epoch began."""
        return time.perf_counter() - self._epoch_start

    def steady_epoch_seconds(self) -> float:
        """The current epoch's time so far without its first batch, scaled to all its steps:
        what each later epoch of the same step takes."""
        steps = (self.params or {}).get("steps") or 0
        if self._first_batch_end is None or steps <= self._first_steps:
            return self.epoch_seconds()
        return (time.perf_counter() - self._first_batch_end) * steps / (steps - self._first_steps)

    @staticmethod
    def epochs_by(
        deadline: float, epoch_s: float, extra_s: float = 0.0, *, done: int = 1, ended: float | None = None
    ) -> int:
        """When epoch ``done`` ends (now, or at ``ended``): the epochs trained by ``deadline``,
        those done and the later ones of ``epoch_s`` seconds that fit after ``extra_s`` more."""
        ended = time.monotonic() if ended is None else ended
        return done + int(max(deadline - ended - extra_s, 0.0) // epoch_s)


@dataclass
class TrialCallback(EpochClock):
    """Per-epoch reporting, pruning and NaN detection for one trial.

    ``report(epoch_result)`` returns True when the trial should be pruned (it is called
    once per epoch); a non-finite training loss raises ``NonFiniteLoss`` at once.
    ``fault`` (one of ``FAULTS``, tests only) is injected after every batch. Past
    ``deadline`` (a ``time.monotonic()`` value) training stops, once ``min_epochs`` epochs are
    done, and ``out_of_time`` is set.

    With a deadline and ``planned`` epochs, the first epoch's time tells whether they fit:
    if only ``k`` do (``k >= 2``), training stops after the first one and ``fits`` is set
    to ``k``, so that the caller continues with a schedule that ends at epoch ``k`` instead
    of one the deadline cuts at its high rates; if no second epoch fits, training stops
    after the first (``out_of_time``). Given the final ``window`` (the study's first trial),
    that deadline is the window's end when the trial trains through it (``FinalWindow``).

    The study's first training (``min_epochs`` 1) may not stop before its first epoch ends; on
    large data under a short budget that epoch alone may end past the budget, or end with no
    time for a second, at the high rates of a schedule planned for many epochs.
    ``FIRST_LOOK_STEPS`` steps into it, the steps so far time what the first epoch's end
    would decide; if it would end past its deadline (the window's end when it would train
    through the window), or no second epoch would fit, training stops at once and ``cut`` is
    set (``FirstEpochCut``): the caller continues on a schedule of its own that ends at that
    deadline (``continue_cut``). When its whole first epoch leaves time for only a few more
    (``SHORT_REST_EPOCHS`` in all) or for no whole one, ``cut`` is set the same way after
    it, all its steps done: the rest is the steps that fit, not whole epochs.
    """

    report: Callable[[EpochResult], bool]
    fault: str | None = None
    deadline: float | None = None
    min_epochs: int = 0
    planned: int = 0
    window: FinalWindow | None = None
    epochs: list[EpochResult] = field(default_factory=list)
    pruned_at: int | None = None
    out_of_time: bool = False
    fits: int | None = None
    through_window: bool = False
    cut: FirstEpochCut | None = None
    _last_batch_end: float | None = field(default=None, init=False, repr=False)
    _looked: bool = field(default=False, init=False, repr=False)
    # Set by the look that cuts: when it stopped the epoch, and the cut but for its validation.
    _cutting: tuple[float, FirstEpochCut] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__init__()
        # A per-batch hook makes Keras wait for every batch's loss (4-33% of the throughput
        # on an H100). On accelerators the check runs on Keras' callback threads instead; a
        # non-finite loss then surfaces one batch later, which is harmless.
        self.async_safe = on_accelerator()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        super().on_train_batch_end(batch, logs)
        self._last_batch_end = time.perf_counter()
        logs = logs if logs is not None else {}
        if self.fault:
            FAULTS[self.fault](logs)
        if self.min_epochs and not self.epochs and self.deadline is not None:
            self._look_at_first_epoch(batch)
        if self.deadline is not None and time.monotonic() > self.deadline and len(self.epochs) >= self.min_epochs:
            self.out_of_time = True
            self.model.stop_training = True
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(
                f"non-finite training loss ({float(loss)}) at epoch {len(self.epochs) + 1}, batch {batch}"
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        result = EpochResult(
            epoch=epoch,
            loss=float(logs.get("loss", math.nan)),
            accuracy=float(logs.get("accuracy", math.nan)),
            val_loss=float(logs.get("val_loss", math.nan)),
            val_accuracy=float(logs.get("val_accuracy", math.nan)),
            seconds=self.epoch_seconds(),
        )
        self.epochs.append(result)
        if self._cutting is not None and self.cut is None:
            stopped, cut = self._cutting
            self.cut = dataclasses.replace(cut, validation_s=time.monotonic() - stopped)
        # A cut epoch is not judged: it ended early for the budget, not for its accuracy.
        if self.report(result) and self.cut is None:
            self.pruned_at = epoch
            self.model.stop_training = True
        elif len(self.epochs) == 1 and self.deadline is not None and self.planned > 1 and self.cut is None:
            self._fit_to_deadline(self.deadline)

    def _look_at_first_epoch(self, batch: int) -> None:
        """``FIRST_LOOK_STEPS`` steps after the first one: stop now if the first epoch would
        end past the deadline it would then train to, or with no time for a second epoch."""
        done = batch + 1 - self._first_steps  # the steps since the first call's
        if done < FIRST_LOOK_STEPS or self._first_batch_end is None or self._looked:
            return
        self._looked = True
        assert self.deadline is not None  # checked by the caller
        steps = (self.params or {}).get("steps") or 0
        step_s = (time.perf_counter() - self._first_batch_end) / done
        end = time.monotonic() + (steps - batch - 1) * step_s
        epoch_s = max(steps * step_s, 1e-9)
        tracing_s = (self._first_batch_end - self._epoch_start) - self._first_steps * step_s
        fit, until, through = self._after_first_epoch(end, tracing_s + epoch_s, epoch_s)
        if end <= until and (fit >= 2 or self.planned < 2):
            return
        self.model.stop_training = True
        self.deadline, self.through_window = until, through
        cut = FirstEpochCut(
            steps_done=batch + 1,
            steps=steps or batch + 1,
            step_s=step_s,
            tracing_s=max(tracing_s, 0.0),
            validation_s=0.0,  # measured when the epoch ends
            until=until,
            epoch_fits=end <= until,
        )
        self._cutting = (time.monotonic(), cut)

    def _fit_to_deadline(self, deadline: float) -> None:
        """After the first epoch: stop if the planned epochs do not fit before ``deadline``
        (or, through the final window, if more fit before its end)."""
        epoch_s = max(self.steady_epoch_seconds(), 1e-9)
        fit, self.deadline, self.through_window = self._after_first_epoch(
            time.monotonic(), self.epoch_seconds(), epoch_s, deadline
        )
        if fit == self.planned or (fit > self.planned and not self.through_window):
            return
        self.model.stop_training = True
        if self.min_epochs and fit <= SHORT_REST_EPOCHS and (rest := self._rest_in_steps()) is not None:
            self.cut = rest  # the steps that fit, even when no whole second epoch does
        elif fit < 2:
            self.out_of_time = True
        else:
            self.fits = fit

    def _rest_in_steps(self) -> FirstEpochCut | None:
        """After a whole first epoch, timed by its batches: the rest as steps that fill the
        time to the deadline (``FirstEpochCut`` with all its steps done)."""
        steps = (self.params or {}).get("steps") or 0
        if steps <= self._first_steps:  # no call after the first to time a step by
            return None
        # A whole epoch has ended, after ``_fit_to_deadline`` set the deadline.
        assert self._first_batch_end is not None and self._last_batch_end is not None and self.deadline is not None
        step_s = max((self._last_batch_end - self._first_batch_end) / (steps - self._first_steps), 1e-9)
        return FirstEpochCut(
            steps_done=steps,
            steps=steps,
            step_s=step_s,
            tracing_s=max(self._first_batch_end - self._epoch_start - self._first_steps * step_s, 0.0),
            validation_s=max(time.perf_counter() - self._last_batch_end, 0.0),
            until=self.deadline,
            epoch_fits=True,
        )

    @property
    def most(self) -> int:
        """The most epochs it may train: up to ``window.max_stretch`` times the planned ones
        through the final window, the planned ones otherwise."""
        if self.through_window and self.window is not None:
            return self._stretched(self.window)
        return self.planned

    def _stretched(self, window: FinalWindow) -> int:
        return max(self.planned, int(window.max_stretch * self.planned))

    def _after_first_epoch(
        self, end: float, first_s: float, epoch_s: float, deadline: float | None = None
    ) -> tuple[int, float, bool]:
        """For a first epoch that ends at ``end`` (``first_s`` long, later ones ``epoch_s``):
        the epochs that fit before ``deadline`` (default: the trial's), or before the window's
        end when the trial would train through it; that deadline; and whether it is the
        window's end.

        It trains through the window when its planned epochs do not fit before the deadline
        (it then takes the search's whole time, and its retraining could train no longer than
        the window, while it can train on through it), or when retraining them would not fit
        in the window."""
        deadline = deadline if deadline is not None else self.deadline
        assert deadline is not None  # only called with a deadline
        fit = self.epochs_by(deadline, epoch_s, ended=end)
        window = self.window
        if window is None or (
            fit >= self.planned and not self._retraining_misses(window, self.planned, end, first_s, epoch_s)
        ):
            return fit, deadline, False
        return min(self._stretched(window), self.epochs_by(window.until, epoch_s, ended=end)), window.until, True

    @staticmethod
    def _retraining_misses(window: FinalWindow, epochs: int, end: float, first_s: float, epoch_s: float) -> bool:
        """Whether retraining on train+validation for ``epochs`` would end past the window, after
        this trial has run its ``epochs`` from its first epoch's ``end`` (timed as the
        retraining will be: with a first epoch that traces)."""
        trial_end = end + (epochs - 1) * epoch_s
        retraining = (first_s + (epochs - 1) * epoch_s) * window.retrain_cost
        return trial_end + retraining > window.until


class FitToDeadline(EpochClock):
    """Re-plan a training (a finalist's retraining) to end at ``deadline`` after its first epoch.

    The epochs were planned from an estimate (the trial's time, validation and tracing
    included); the first epoch measures them. When the ``planned`` epochs would end past
    ``deadline``, or more of them (up to ``most``) fit before it, training stops after the
    first epoch and ``fits`` is set: the caller continues with a schedule that ends at epoch
    ``fits`` (``continue_replanned``). Otherwise training goes on as planned. A re-plan
    traces the step again (the first epoch's extra time, counted) and restarts the
    optimizer's moments, which an epoch more is worth.
    """

    def __init__(self, *, deadline: float, planned: int, most: int) -> None:
        super().__init__()
        self.deadline, self.planned, self.most = deadline, planned, most
        self.fits: int | None = None
        self.epoch_s: float | None = None  # a later epoch's time, measured when it re-plans

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch != 0 or self.planned < 2:
            return
        epoch_s = max(self.steady_epoch_seconds(), 1e-9)
        self._replan(1, epoch_s, tracing_s=max(self.epoch_seconds() - epoch_s, 0.0))

    def _replan(self, done: int, epoch_s: float, tracing_s: float) -> None:
        """After ``done`` epochs, with later ones of ``epoch_s`` seconds: stop and set ``fits``
        if the planned epochs would end past the deadline, or more fit after a tracing."""
        self.epoch_s = epoch_s
        as_planned = self.epochs_by(self.deadline, epoch_s, done=done)
        replanned = min(self.most, self.epochs_by(self.deadline, epoch_s, tracing_s, done=done))
        if as_planned >= self.planned and replanned <= self.planned:
            return
        if done < replanned != self.planned:
            self.fits = replanned
            self.model.stop_training = True


class HalfwayReplan(FitToDeadline):
    """Look at a training planned to end by ``deadline`` once more, half-way through its
    epochs after ``start``.

    Its plan timed all epochs by the first one (or by its trial's); on a shared machine an
    epoch's time varies by about 8% from one to the next, so a plan of 16 epochs could leave
    one or two unused or be cut by ``deadline`` before its rate reached zero. Half-way, the
    mean of the epochs after the first one it saw (whose extra time is the tracing) times
    the rest: a single one of them for a training of 3 or 4 epochs after ``start``. For one
    of 2, the look comes after the only epoch it saw, whose batches after the first time the
    rest, as ``FitToDeadline`` times a first epoch. Short trainings are
    where the plan's rounding down costs most: on a slow CPU a whole Fashion-MNIST epoch of
    2 minutes. When more epochs fit after one more tracing (up to ``most``), or the planned
    ones would end past ``deadline``, training stops after this epoch and ``fits`` is set:
    the caller continues to epoch ``fits`` on the tail of the same cosine (``CosineTail``).
    Nothing is re-planned once another callback has stopped the training, nor after the
    planned last epoch, whose cosine has reached zero.
    """

    def __init__(self, *, deadline: float, planned: int, most: int, start: int) -> None:
        super().__init__(deadline=deadline, planned=planned, most=most)
        self.look_after = start + (planned - start + 1) // 2  # epochs done when it looks
        self.seconds: list[float] = []
        # Only whole epochs are timed: the clock's per-batch hook may run on Keras' callback
        # threads, so that an accelerator is not made to wait for every batch.
        self.async_safe = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(self.epoch_seconds())
        done = epoch + 1
        if done != self.look_after or done >= self.planned or self.model.stop_training:
            return
        later = self.seconds[1:]
        epoch_s = max(sum(later) / len(later) if later else self.steady_epoch_seconds(), 1e-9)
        self._replan(done, epoch_s, tracing_s=max(self.seconds[0] - epoch_s, 0.0))


@keras.saving.register_keras_serializable(package="automl")
class CosineTail(keras.optimizers.schedules.LearningRateSchedule):
    """The rest of a cosine decay from ``peak``, stretched or shrunk: at ``start_step`` the
    rate is the cosine's at ``start_phase`` (0: the peak, 1: zero), and it reaches zero at
    ``end_step``. The rate is continuous where a re-planned training switches to it."""

    def __init__(self, peak: float, start_step: int, start_phase: float, end_step: int) -> None:
        self.peak, self.start_step, self.start_phase, self.end_step = peak, start_step, start_phase, end_step

    def __call__(self, step: Any) -> Any:
        span = float(max(self.end_step - self.start_step, 1))
        progress = ops.clip((ops.cast(step, "float32") - float(self.start_step)) / span, 0.0, 1.0)
        phase = self.start_phase + (1.0 - self.start_phase) * progress
        return self.peak * 0.5 * (1.0 + ops.cos(math.pi * phase))

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "start_step": self.start_step,
            "start_phase": self.start_phase,
            "end_step": self.end_step,
        }


def cosine_phase(training: TrainingSpec, step: int) -> float:
    """Where ``step`` is on ``training``'s cosine (``learning_rate_schedule``): 0 at the end of
    its warm-up, 1 at its last planned step."""
    total = training.total_steps or 1
    warmup = min(round(total * training.warmup), total - 1)
    return min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)


def continue_replanned(
    model: keras.Model,
    training: TrainingSpec,
    epochs: int,
    num_classes: int,
    fit: Callable[..., None],
    callbacks: Sequence[keras.callbacks.Callback] = (),
    *,
    deadline: float | None = None,
    most: int | None = None,
    on_replan: Callable[[TrainingSpec], None] = lambda training: None,
) -> TrainingSpec:
    """Continue a training stopped after its first epoch, for ``epochs`` in all: the epochs
    after the first follow a schedule of their own that ends with them. ``fit`` is
    ``train_model`` with the model and data bound; returns the re-planned recipe.

    With a ``deadline``, the epochs are looked at again half-way (``fit_looking_halfway``).
    """
    training = dataclasses.replace(training, epochs=epochs)
    schedule = dataclasses.replace(training, epochs=epochs - 1)
    compile_model(model, schedule, num_classes)
    return fit_looking_halfway(
        model, training, fit, callbacks, schedule=schedule, start=1, deadline=deadline, most=most, on_replan=on_replan
    )


def continue_cut(
    model: keras.Model,
    training: TrainingSpec,
    cut: FirstEpochCut,
    num_classes: int,
    fit: Callable[..., None],
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> int:
    """Continue a training whose first epoch was ``cut``: the recipe's warm-up and cosine over
    the steps that fit before ``cut.until`` (a fresh optimizer, as ``continue_replanned``), as
    epochs of at most the data's steps after the cut one. ``fit`` is ``train_model`` with the
    model and data bound; returns the steps it planned (0: none fit, nothing is trained).
    """
    epochs, steps = cut.plan_rest()
    if not epochs:
        return 0
    schedule = dataclasses.replace(training, epochs=epochs, steps_per_epoch=steps)
    compile_model(model, schedule, num_classes)
    # A fit each: within one, Keras' epochs of fewer steps than the data's run on one pass of
    # it, and the one that reaches its end stops there.
    for epoch in range(1, 1 + epochs):
        if time.monotonic() >= cut.until:
            break
        fit(
            training=dataclasses.replace(schedule, epochs=1 + epochs),
            initial_epoch=epoch,
            epochs=epoch + 1,
            steps=steps,
            callbacks=list(callbacks),
        )
    return epochs * steps


def fit_looking_halfway(
    model: keras.Model,
    training: TrainingSpec,
    fit: Callable[..., None],
    callbacks: Sequence[keras.callbacks.Callback] = (),
    *,
    schedule: TrainingSpec,
    start: int = 0,
    deadline: float | None = None,
    most: int | None = None,
    on_replan: Callable[[TrainingSpec], None] = lambda training: None,
) -> TrainingSpec:
    """Fit ``training`` from epoch ``start``, its rate following ``schedule``'s (compiled, its
    steps counted from ``start``); returns the recipe it ended with.

    With a ``deadline`` and a cosine, the epochs are looked at again half-way
    (``HalfwayReplan``, up to ``most``): if they change, the training goes on with the
    optimizer it has, on the tail of its cosine over the new epochs, and ``on_replan`` is
    told the new recipe.
    """
    halfway = None
    if deadline is not None and schedule.schedule == "warmup_cosine":
        halfway = HalfwayReplan(deadline=deadline, planned=training.epochs, most=most or training.epochs, start=start)
    fit(training=training, initial_epoch=start, callbacks=[*callbacks, *([halfway] if halfway else [])])
    if halfway is None or halfway.fits is None:
        return training
    step = int(model.optimizer.iterations.numpy())
    steps = (halfway.fits - halfway.look_after) * (training.steps_per_epoch or 1)
    model.optimizer.learning_rate = CosineTail(training.learning_rate, step, cosine_phase(schedule, step), step + steps)
    model.make_train_function(force=True)  # the traced step holds the schedule it was traced with
    training = dataclasses.replace(training, epochs=halfway.fits)
    on_replan(training)
    fit(training=training, initial_epoch=halfway.look_after, callbacks=list(callbacks))
    return training


class EpochCount(keras.callbacks.Callback):
    """The epochs a training ran, over all the fits it is given to (the last one perhaps cut)."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs += 1


class StopAt(keras.callbacks.Callback):
    """Stop training after the batch that ends past ``deadline`` (a ``time.monotonic()`` value)."""

    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.model.stop_training = True


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error from any backend or the host."""
    return isinstance(exc, MemoryError) or any(marker in str(exc) for marker in _OOM_MARKERS)


def as_trial_failure(exc: BaseException) -> TrialFailed:
    """Classify an exception raised by training into a ``TrialFailed`` with a clear reason,
    any URL's password in it masked (MLflow's errors quote the tracking server's URL; the
    reason is stored with the trial and logged to MLflow)."""
    if isinstance(exc, TrialFailed):
        return exc
    first_line = scrub((str(exc).strip().splitlines() or [""])[0][:500])
    if is_out_of_memory(exc):
        return OutOfMemory(f"out of memory: {type(exc).__name__}: {first_line}")
    return TrialFailed(f"{type(exc).__name__}: {first_line}")


# --- faults injected by tests of the failure paths (RuntimeSettings.faults) ---


def _nan_loss(logs: dict) -> None:
    logs["loss"] = np.float32("nan")


def _out_of_memory(logs: dict) -> None:
    raise RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor (injected by AUTOML_INJECT_FAULT)")


def _error(logs: dict) -> None:
    raise RuntimeError("injected failure (AUTOML_INJECT_FAULT)")


def _slow(logs: dict) -> None:
    time.sleep(0.5)


def _kill(logs: dict) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the system's out-of-memory killer ends a process


FAULTS: dict[str, Callable[[dict], None]] = {
    "nan": _nan_loss,
    "oom": _out_of_memory,
    "error": _error,
    "slow": _slow,
    "kill": _kill,
}


def augmentation_target(
    model: keras.Model, policy: pipelines.AugmentPolicy, *, seed: int
) -> tuple[keras.Model, pipelines.AugmentPolicy]:
    """The model to compile and fit, and the policy left to the host's feeder.

    Beside an accelerator (or with ``RuntimeSettings.device_augmentation``) the policy runs
    inside the compiled training step as Keras layers in front of ``model`` (they share its
    weights, and ``model``, which is what gets saved, holds no augmentation layer): the
    host's per-image loop cannot keep a GPU fed. On a CPU the host's feeder augments.
    """
    on_device = runtime_settings().device_augmentation
    if not (on_accelerator() if on_device is None else on_device) or policy.is_identity:
        return model, policy
    augmentation = pipelines.device_augmentation(policy, tuple(model.input_shape[1:]), seed=seed)
    return pipelines.training_model(model, augmentation), augmentation.host_policy


def batches_for_backend(
    train: tuple[np.ndarray, np.ndarray], batch_size: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``train`` as a training of ``batch_size`` batches is given it: with its last batch filled
    (``whole_batches``) where the backend compiles its step for each batch shape (JAX), as it is
    elsewhere. A short last batch was compiled again in every JAX trial's first epoch, whose
    time then planned the rest of its training (the digits: 3.3 s an epoch foreseen, 0.14 s
    taken; a one-minute search ran one trial through its final window). Made once a training
    (a copy of the images): not in ``train_model``, which a cut or re-planned training calls
    again for its later epochs."""
    return whole_batches(*train, batch_size, seed=seed) if compiles_per_shape() else train


def whole_batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` with examples drawn at random (by ``seed``) repeated to fill their last
    batch, so every batch of an epoch has ``batch_size`` examples and as many batches as before."""
    short = -len(x) % batch_size
    if short == 0:
        return x, y
    extra = np.random.default_rng(seed).choice(len(x), size=short, replace=short > len(x))
    return np.concatenate([x, x[extra]]), np.concatenate([y, y[extra]])


def train_model(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    *,
    training: TrainingSpec,
    seed: int,
    policy: pipelines.AugmentPolicy | None = None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
    initial_epoch: int = 0,
    steps: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> None:
    """Fit a compiled ``model`` on raw ``train`` images: the one training loop of the project.

    ``initial_epoch`` continues a training that stopped after that many epochs (Keras'
    ``fit`` runs epochs ``initial_epoch`` to ``epochs - 1``; augmentation follows them).
    ``steps`` limits the epoch to that many batches (default: all of ``train``); it takes one
    epoch a call: within one ``fit``, Keras runs epochs of fewer steps on one pass of the data,
    which the feeder reshuffles at each epoch's end (images were repeated and others skipped).

    Trials (with validation, pruning callbacks and their augmentation ``policy``) and the
    retraining of finalists call it. Without augmentation, plain arrays are the fastest
    path into every backend; with it, ``pipelines.Feeder`` augments batches reproducibly
    from ``seed`` (per epoch and image), so Keras must not reshuffle them.

    Trials and retrainings give it ``train`` as ``batches_for_backend`` makes it, once each.

    Images go in as they are, uint8: the model's float32 ``Input`` casts each batch inside
    the compiled step. A float32 copy of the arrays took four times their memory and, on
    TensorFlow, seconds of every ``fit`` to become a dataset (``bench/bench_fit_input.py``).
    """
    x, y = train
    epochs = epochs or training.epochs
    if steps is not None and epochs - initial_epoch > 1:
        raise ValueError(f"steps ({steps}) limits one epoch a call, got epochs {initial_epoch} to {epochs}")
    fit_options: dict = {"epochs": epochs, "initial_epoch": initial_epoch, "callbacks": list(callbacks), "verbose": 0}
    if steps is not None:
        fit_options["steps_per_epoch"] = steps
    if validation is not None:
        fit_options["validation_data"] = validation
        fit_options["validation_batch_size"] = inference_batch_size(training.batch_size, x.shape[1:])
    if policy is None or policy.is_identity:
        model.fit(x, y, batch_size=training.batch_size, shuffle=True, **fit_options)
        return
    feeder = pipelines.Feeder(
        x,
        y,
        batch_size=training.batch_size,
        normalization=None,
        policy=policy,
        seed=seed,
        processes=augment_processes(),
    )
    feeder.set_epoch(initial_epoch)
    try:
        model.fit(feeder, shuffle=False, **fit_options)
    finally:
        feeder.close()
