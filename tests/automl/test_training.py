"""Compiling and training one candidate: one trace per model, batch sizes, runtime settings."""

from __future__ import annotations

import dataclasses
import math
import time
import tracemalloc
from collections.abc import Callable

import keras
import numpy as np
import pytest

from automl._backends import tune_backend
from automl._errors import OutOfMemory, UserError
from automl._hparams import OPTIMIZERS, TrainingSpec
from automl._settings import AUGMENT_PROCESSES_ENV, RuntimeSettings, use_settings
from automl._training import (
    CosineTail,
    EpochCount,
    FinalWindow,
    FirstEpochCut,
    FitToDeadline,
    TrialCallback,
    as_trial_failure,
    augment_processes,
    compile_model,
    continue_cut,
    continue_replanned,
    cosine_phase,
    default_augment_processes,
    fit_looking_halfway,
    inference_batch_size,
    learning_rate_schedule,
    make_optimizer,
    train_model,
    whole_batches,
)


def _small_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_compiled_model_traces_its_training_step_once(optimizer: str) -> None:
    """Metric and optimizer variables exist before ``fit``, so no backend traces the step twice."""
    model = _small_model()
    compile_model(model, TrainingSpec(optimizer=optimizer, batch_size=8, epochs=2), num_classes=3)
    assert len(model.optimizer.variables) > 1  # the slots, not only the iteration counter
    traced = []
    step = model.train_step
    model.train_step = lambda *args: traced.append(1) or step(*args)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 32)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(traced) == 1
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    keras.backend.clear_session()


@pytest.mark.parametrize(("n", "batch_size"), [(100, 32), (96, 32), (5, 32), (1, 8)])
def test_whole_batches_repeat_drawn_examples_to_fill_the_last_batch(n: int, batch_size: int) -> None:
    x, y = np.arange(n * 2).reshape(n, 2), np.arange(n)
    filled_x, filled_y = whole_batches(x, y, batch_size, seed=0)

    assert len(filled_x) == len(filled_y) == math.ceil(n / batch_size) * batch_size  # as many batches, all whole
    np.testing.assert_array_equal(filled_x[:n], x)  # every example once, in order
    np.testing.assert_array_equal(filled_x[:, 0] // 2, filled_y)  # the repeats are whole examples
    assert set(filled_y[n:]) <= set(y) and len(set(filled_y[n:])) == min(
        len(filled_y) - n, n
    )  # drawn anew while they last
    np.testing.assert_array_equal(whole_batches(x, y, batch_size, seed=0)[1], filled_y)  # by the seed


@pytest.mark.parametrize(
    ("batch_size", "shape", "expected"),
    [
        (32, (8, 8, 1), 1024),  # small images: capped at 1,024
        (64, (28, 28, 1), 1024),
        (32, (32, 32, 3), 341),  # about a million input values
        (16, (224, 224, 3), 16),  # never below the training batch
        (128, (64, 64, 3), 128),
    ],
)
def test_inference_batches_are_large_but_bounded(batch_size: int, shape: tuple, expected: int) -> None:
    assert inference_batch_size(batch_size, shape) == expected


def test_augmentation_processes_default_to_threads_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUGMENT_PROCESSES_ENV, raising=False)
    assert default_augment_processes(accelerated=False) == 0
    assert 0 <= default_augment_processes(accelerated=True) <= 8
    monkeypatch.setenv(AUGMENT_PROCESSES_ENV, "3")
    assert augment_processes() == 3
    with use_settings(RuntimeSettings(augment_processes=1)):  # explicit settings win over the environment
        assert augment_processes() == 1


def test_a_bad_augmentation_process_count_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUGMENT_PROCESSES_ENV, "many")
    with pytest.raises(UserError, match="'many'"):
        augment_processes()


def test_backend_settings_apply_only_where_a_backend_has_them() -> None:
    assert tune_backend("no-such-backend", accelerated=False) == {}
    assert tune_backend("tensorflow", accelerated=True) == {}  # Grappler stays on beside a GPU
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        before = tf.config.optimizer.get_experimental_options()
        try:
            assert tune_backend("tensorflow", accelerated=False) == {"graph_optimizer": "off"}
            assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"] is True
        finally:
            tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **before})


def _rates(schedule, steps: list[int]) -> list[float]:
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_a_constant_spec_keeps_its_rate() -> None:
    assert learning_rate_schedule(TrainingSpec(learning_rate=0.003)) == 0.003


def test_the_schedule_warms_up_then_decays_to_zero_at_the_last_planned_step() -> None:
    spec = TrainingSpec(learning_rate=0.01, epochs=2, steps_per_epoch=50, schedule="warmup_cosine", warmup=0.1)
    schedule = learning_rate_schedule(spec)
    start, mid_warmup, peak, half, end = _rates(schedule, [0, 5, 10, 55, 100])
    assert start == pytest.approx(0.001)  # WARMUP_START of the peak, not 0: the first step counts
    assert start < mid_warmup < peak == pytest.approx(0.01)
    assert half == pytest.approx(0.005, rel=1e-3)  # half-way through the cosine
    assert end == pytest.approx(0.0, abs=1e-9)
    decay = _rates(schedule, list(range(10, 101, 10)))
    assert decay == sorted(decay, reverse=True)


@pytest.mark.parametrize("warmup", [0.1, 0.9])
def test_a_single_step_plan_has_no_warmup(warmup: float) -> None:
    spec = TrainingSpec(learning_rate=0.01, epochs=1, steps_per_epoch=1, schedule="warmup_cosine", warmup=warmup)
    assert _rates(learning_rate_schedule(spec), [0]) == [pytest.approx(0.01)]
    assert cosine_phase(spec, 0) == 0.0


def _rest(steps: int, step_s: float, validation_s: float, left: float) -> tuple[int, int]:
    until = time.monotonic() + left
    cut = FirstEpochCut(steps_done=1, steps=steps, step_s=step_s, tracing_s=0.0, validation_s=validation_s, until=until)
    return cut.plan_rest()


def test_the_rest_of_a_cut_training_fills_its_time_with_epochs_of_at_most_its_steps() -> None:
    # 8.5 s of 1 s steps: two whole epochs of 4 fit exactly (not three of 2)
    assert _rest(steps=4, step_s=1.0, validation_s=0.0, left=8.5) == (2, 4)
    # 12.5 s, and 0.5 s to validate each epoch: three epochs, 3 steps each (11 steps fit)
    assert _rest(steps=4, step_s=1.0, validation_s=0.5, left=12.5) == (3, 3)
    # each epoch's validation counts: a second epoch of its one step would end past the time
    assert _rest(steps=1, step_s=1.0, validation_s=1.0, left=3.5) == (1, 1)
    assert _rest(steps=4, step_s=1.0, validation_s=0.0, left=0.5) == (0, 0)


def test_a_retraining_misses_the_window_only_if_it_would_end_past_it() -> None:
    # The trial's 3 epochs end 20 s after its first (at 10 s): 30 s; the retraining's, with a
    # first epoch that traces (5 s), 25 s more: 55 s.
    misses = TrialCallback._retraining_misses
    assert not misses(FinalWindow(until=60.0, retrain_cost=1.0, max_stretch=2.0), 3, 10.0, 5.0, 10.0)
    assert misses(FinalWindow(until=54.0, retrain_cost=1.0, max_stretch=2.0), 3, 10.0, 5.0, 10.0)
    assert misses(FinalWindow(until=60.0, retrain_cost=1.5, max_stretch=2.0), 3, 10.0, 5.0, 10.0)


def test_a_memory_error_is_out_of_memory_whatever_it_says() -> None:
    assert isinstance(as_trial_failure(MemoryError()), OutOfMemory)
    assert type(as_trial_failure(ValueError("bad shape"))).__name__ == "TrialFailed"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_follows_the_schedule(optimizer: str) -> None:
    spec = TrainingSpec(optimizer=optimizer, weight_decay=1e-4, epochs=1, steps_per_epoch=4, schedule="warmup_cosine")
    rate = make_optimizer(spec).learning_rate
    assert float(keras.ops.convert_to_numpy(rate)) == pytest.approx(spec.learning_rate)  # step 0, no warm-up


class _Clock:
    """A clock that moves only when a batch ends: one second per batch."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    monotonic = perf_counter


class _Tick(keras.callbacks.Callback):
    """Moves the clock one second per batch, ``first_batch_s`` for the first one (its tracing).

    Keras calls it once per call of the training step, which may run several steps
    (``steps_per_execution``), with the index of the call's last one.
    """

    def __init__(self, clock: _Clock, first_batch_s: float = 1.0) -> None:
        super().__init__()
        self.clock, self.first_batch_s = clock, first_batch_s
        self._last = -1

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._last = -1

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        steps, self._last = batch - self._last, batch
        self.clock.now += steps + (self.first_batch_s - 1.0 if self.clock.now == 0.0 else 0.0)


class _SlowingTick(_Tick):
    """As ``_Tick``, but the batches after the 21st take 2 s."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        super().on_train_batch_end(batch, logs)
        self.clock.now += 1.0 if batch > 20 else 0.0


def _first_fit(
    monkeypatch: pytest.MonkeyPatch, deadline: float, window: FinalWindow | None = None, steps_per_call: int = 1
) -> tuple[TrialCallback, keras.Model, tuple[np.ndarray, np.ndarray]]:
    """A trial planned for 9 epochs of 4 batches, one second each (the first epoch ends at 4 s),
    ``steps_per_call`` of them a call (10 on an accelerator)."""
    clock = _Clock()
    monkeypatch.setattr("automl._training.time", clock)
    monkeypatch.setattr("automl._training.steps_per_call", lambda: steps_per_call)
    model = _small_model()
    spec = TrainingSpec(batch_size=8, epochs=9)
    compile_model(model, spec, num_classes=3)
    callback = TrialCallback(report=lambda epoch: False, deadline=deadline, planned=9, window=window)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (32, 8, 8, 1)).astype("uint8"), rng.integers(0, 3, 32)
    train_model(model, data, training=spec, seed=0, validation=data, callbacks=[_Tick(clock), callback])
    return callback, model, data


@pytest.mark.parametrize(
    ("seconds_left", "fits", "out_of_time", "epochs"),
    [
        (100.0, None, False, 9),  # 9 epochs of 4 s fit: trained as planned
        (14.0, 3, False, 1),  # 10 s left after the first epoch: 2 more fit, so stop and re-plan 3
        (6.0, None, True, 1),  # no second epoch fits: stop after the first, out of time
    ],
)
@pytest.mark.parametrize("steps_per_call", [1, 2])  # its first epoch's time, less its first call's, paces the rest
def test_a_trial_stops_after_its_first_epoch_when_its_planned_epochs_do_not_fit(
    monkeypatch: pytest.MonkeyPatch,
    seconds_left: float,
    fits: int | None,
    out_of_time: bool,
    epochs: int,
    steps_per_call: int,
) -> None:
    callback, model, data = _first_fit(monkeypatch, seconds_left, steps_per_call=steps_per_call)
    assert (callback.fits, callback.out_of_time, len(callback.epochs)) == (fits, out_of_time, epochs)
    if fits:  # the caller continues from the second epoch with a schedule of its own
        spec = TrainingSpec(batch_size=8, epochs=fits)
        train_model(model, data, training=spec, seed=0, initial_epoch=1, callbacks=[callback])
        assert [e.epoch for e in callback.epochs] == [0, 1, 2]
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("deadline", "until", "stretch", "fits", "epochs"),
    [
        # 9 epochs end at 36 s; retraining them (36 s x 1.25 = 45 s) ends at 81 s.
        (100.0, 200.0, 3.0, None, 9),  # it fits the window: trained as planned, retrained later
        (38.0, 200.0, 3.0, None, 9),  # exactly its 9 epochs fit the deadline (36 s): the same
        (100.0, 60.0, 3.0, 15, 1),  # it does not: 15 epochs of 4 s fit before the window ends
        (100.0, 80.0, 2.0, 18, 1),  # 20 would fit; at most twice the planned 9
        # Only 3 of the 9 fit the deadline (12 s): the trial takes the search's whole time.
        # Their retraining (15 s) would fit the window (27 s), but the trial trains on
        # through it instead, to 10 epochs...
        (14.0, 40.0, 3.0, 10, 1),
        (14.0, 25.0, 3.0, 6, 1),  # ...or 6 when the window ends sooner
    ],
)
def test_a_first_trial_whose_retraining_would_not_fit_trains_through_the_final_window(
    monkeypatch: pytest.MonkeyPatch, deadline: float, until: float, stretch: float, fits: int | None, epochs: int
) -> None:
    window = FinalWindow(until=until, retrain_cost=1.25, max_stretch=stretch)
    callback, _, _ = _first_fit(monkeypatch, deadline, window)
    assert (callback.fits, len(callback.epochs), callback.out_of_time) == (fits, epochs, False)
    assert callback.through_window == (fits is not None and fits > 3)
    assert callback.deadline == (until if callback.through_window else deadline)
    keras.backend.clear_session()


def _scheduled(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[_Clock, keras.Model, TrainingSpec, tuple[np.ndarray, np.ndarray]]:
    """A model compiled for 9 epochs of 4 batches on a warm-up and cosine, its data, and the
    clock its training is timed by."""
    clock = _Clock()
    monkeypatch.setattr("automl._training.time", clock)
    model = _small_model()
    spec = TrainingSpec(batch_size=8, epochs=9, schedule="warmup_cosine", warmup=0.1, steps_per_epoch=4)
    compile_model(model, spec, num_classes=3)
    rng = np.random.default_rng(0)
    return clock, model, spec, (rng.integers(0, 255, (32, 8, 8, 1)).astype("uint8"), rng.integers(0, 3, 32))


@pytest.mark.parametrize(
    ("deadline", "most", "first_batch_s", "fits", "epochs"),
    [
        # 4 batches of 1 s: the first epoch ends at 4 s, 9 planned epochs at 36 s.
        (100.0, 27, 1.0, 25, 1),  # 25 fit before the deadline: re-planned longer
        (100.0, 18, 1.0, 18, 1),  # at most ``most``
        (36.0, 27, 1.0, None, 9),  # 9 fit: as planned
        (40.0, 27, 1.0, 10, 1),  # 10 fit: one more is worth a re-plan
        (44.0, 27, 5.0, None, 9),  # the first batch traced for 4 s more: after a second tracing, 9 fit
        (20.0, 27, 1.0, 5, 1),  # 9 would end past the deadline: re-planned shorter
        (5.0, 27, 1.0, None, 9),  # no second epoch fits: nothing to re-plan (StopAt stops it)
        (100.0, 9, 1.0, None, 9),  # no longer than planned
    ],
)
def test_a_retraining_is_re_planned_after_its_first_epoch_to_end_at_its_deadline(
    monkeypatch: pytest.MonkeyPatch, deadline: float, most: int, first_batch_s: float, fits: int | None, epochs: int
) -> None:
    clock, model, spec, data = _scheduled(monkeypatch)
    replan = FitToDeadline(deadline=deadline, planned=9, most=most)
    trained = EpochCount()
    train_model(model, data, training=spec, seed=0, callbacks=[_Tick(clock, first_batch_s), replan, trained])
    assert (replan.fits, trained.epochs) == (fits, epochs)
    if fits:  # continued from the second epoch with a schedule that ends with the re-planned epochs
        spec = continue_replanned(model, spec, fits, 3, lambda **kw: train_model(model, data, seed=0, **kw), [trained])
        assert (spec.epochs, trained.epochs) == (fits, fits)
        # A new schedule over the epochs after the first: it ends at their last step.
        assert _steps(model) == (fits - 1) * 4
        assert _rate(model) == pytest.approx(0.0, abs=1e-6)
    keras.backend.clear_session()


class _Pace(keras.callbacks.Callback):
    """Moves the clock by ``seconds(epoch, batch)`` when a batch ends."""

    def __init__(self, clock: _Clock, seconds: Callable[[int, int], float]) -> None:
        super().__init__()
        self.clock, self.seconds, self.epoch = clock, seconds, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.clock.now += self.seconds(self.epoch, batch)


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epochs:
            self.model.stop_training = True


def _rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _steps(model: keras.Model) -> int:
    return int(model.optimizer.iterations.numpy())


@pytest.mark.parametrize(
    ("deadline", "most", "later_batch_s", "stop_after", "epochs", "replanned"),
    [
        # Epochs of 4 batches; the first continued one (epoch 2) traces for 2 s more. The
        # half-way look is after epoch 5 (of 9), at 4 + 6 + 2 x 4 = 22 s at 1 s a batch.
        (60.0, 27, 1.0, None, 14, 14),  # 38 s left, 9 epochs of 4 s after a tracing: longer
        (60.0, 12, 1.0, None, 12, 12),  # ...up to ``most``
        (40.0, 27, 1.0, None, 9, None),  # the 4 planned epochs fit and no fifth after a tracing
        (40.0, 27, 1.5, None, 7, 7),  # epochs 3-5 took 6 s: only 2 more fit by 40 s
        (60.0, 27, 1.0, 5, 5, None),  # another callback stopped the training: nothing re-planned
    ],
)
def test_a_re_planned_training_is_looked_at_again_half_way(
    monkeypatch: pytest.MonkeyPatch,
    deadline: float,
    most: int,
    later_batch_s: float,
    stop_after: int | None,
    epochs: int,
    replanned: int | None,
) -> None:
    clock, model, spec, data = _scheduled(monkeypatch)
    fit = lambda **kw: train_model(model, data, seed=0, **kw)  # noqa: E731
    pace = _Pace(clock, lambda epoch, batch: 3.0 if (epoch, batch) == (1, 0) else 1.0 if epoch < 2 else later_batch_s)
    trained = EpochCount()
    fit(training=spec, epochs=1, callbacks=[pace, trained])
    rates: list[float] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: rates.append(_rate(model)))
    told: list[int] = []
    callbacks = [pace, trained, record] + ([_StopAfter(stop_after)] if stop_after else [])
    spec = continue_replanned(
        model,
        spec,
        9,
        3,
        fit,
        callbacks,
        deadline=deadline,
        most=most,
        on_replan=lambda recipe: told.append(recipe.epochs),
    )
    assert (spec.epochs if stop_after is None else trained.epochs, trained.epochs) == (epochs, epochs)
    assert told == ([replanned] if replanned else [])
    if stop_after is None:
        assert clock.now <= deadline  # ends by the deadline, on its last step...
        assert _steps(model) == (epochs - 1) * 4
        assert _rate(model) == pytest.approx(0.0, abs=1e-6)  # ...at the end of the schedule
    if replanned:  # the schedule of epochs 2-9 until the look after epoch 5 (step 16), then its tail
        old = dataclasses.replace(spec, epochs=8)
        tail = CosineTail(spec.learning_rate, 16, cosine_phase(old, 16), 16 + (replanned - 5) * 4)
        assert rates[3] == pytest.approx(_rates(learning_rate_schedule(old), [16])[0], rel=1e-5)
        assert rates[4] == pytest.approx(_rates(tail, [20])[0], rel=1e-5)
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("planned", "deadline", "most", "epochs", "replanned"),
    [
        # Continued to 3 epochs, it looks after epoch 2, the only one it timed: that epoch
        # traced (its first batch took 3 s), so its other batches time an epoch at 4 s. It
        # ends at 4 + 6 = 10 s.
        (3, 22.0, 27, 4, 4),  # 12 s left: a fourth epoch fits after a tracing of 2 s
        (3, 16.0, 27, 3, None),  # the third fits, no fourth
        (3, 22.0, 3, 3, None),  # ...up to ``most``
        (2, 100.0, 27, 2, None),  # the look would follow the last epoch, at the cosine's zero
        # Continued to 4 epochs, it looks after epoch 3 (at 14 s), timed by that one epoch of
        # 4 s after the one that traced: 16 s left hold 3 more after a tracing.
        (4, 30.0, 27, 6, 6),
    ],
)
def test_a_short_re_planned_training_is_timed_half_way_by_the_one_epoch_it_saw(
    monkeypatch: pytest.MonkeyPatch, planned: int, deadline: float, most: int, epochs: int, replanned: int | None
) -> None:
    clock, model, spec, data = _scheduled(monkeypatch)
    fit = lambda **kw: train_model(model, data, seed=0, **kw)  # noqa: E731
    pace = _Pace(clock, lambda epoch, batch: 3.0 if (epoch, batch) == (1, 0) else 1.0)
    trained = EpochCount()
    fit(training=spec, epochs=1, callbacks=[pace, trained])
    told: list[int] = []
    spec = continue_replanned(
        model,
        spec,
        planned,
        3,
        fit,
        [pace, trained],
        deadline=deadline,
        most=most,
        on_replan=lambda recipe: told.append(recipe.epochs),
    )
    assert (spec.epochs, trained.epochs) == (epochs, epochs)
    assert told == ([replanned] if replanned else [])
    assert clock.now <= deadline
    assert _steps(model) == (epochs - 1) * 4
    assert _rate(model) == pytest.approx(0.0, abs=1e-6)
    keras.backend.clear_session()


@pytest.mark.parametrize(("deadline", "epochs"), [(60.0, 14), (30.0, 6), (42.0, 9)])
def test_a_training_planned_to_a_deadline_is_looked_at_half_way_too(
    monkeypatch: pytest.MonkeyPatch, deadline: float, epochs: int
) -> None:
    """Not re-planned after its first epoch (6 s with its tracing): after epoch 5, at 22 s,
    the later epochs' 4 s time the rest."""
    clock, model, spec, data = _scheduled(monkeypatch)
    pace = _Pace(clock, lambda epoch, batch: 3.0 if (epoch, batch) == (0, 0) else 1.0)
    trained = EpochCount()
    fit = lambda **kw: train_model(model, data, seed=0, **kw)  # noqa: E731
    spec = fit_looking_halfway(model, spec, fit, [pace, trained], schedule=spec, deadline=deadline, most=27)
    assert (spec.epochs, trained.epochs) == (epochs, epochs)
    assert clock.now <= deadline
    assert _steps(model) == epochs * 4
    assert _rate(model) == pytest.approx(0.0, abs=1e-6)
    keras.backend.clear_session()


def _long_first_epoch(
    monkeypatch: pytest.MonkeyPatch,
    deadline: float,
    window: FinalWindow | None,
    first_batch_s: float = 1.0,
    *,
    prune: bool = True,
    slower: bool = False,
    steps_per_call: int = 1,
) -> tuple[_Clock, TrialCallback, EpochCount, TrainingSpec, Callable[..., None]]:
    """The study's first trial (``min_epochs`` 1), planned for 9 epochs of 32 batches of
    1 s on a warm-up and cosine (its first epoch ends at 32 s), fitted until it stops; and
    ``fit`` to continue it with. Its pruner prunes every epoch it judges, if ``prune``;
    ``slower``: its batches after the 21st take 2 s (the epoch ends at 43 s)."""
    clock = _Clock()
    monkeypatch.setattr("automl._training.time", clock)
    monkeypatch.setattr("automl._training.steps_per_call", lambda: steps_per_call)
    model = _small_model()
    spec = TrainingSpec(batch_size=8, epochs=9, schedule="warmup_cosine", warmup=0.1, steps_per_epoch=32)
    compile_model(model, spec, num_classes=3)
    callback = TrialCallback(report=lambda epoch: prune, deadline=deadline, min_epochs=1, planned=9, window=window)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (256, 8, 8, 1)).astype("uint8"), rng.integers(0, 3, 256)
    counted = EpochCount()
    fit = lambda **kw: train_model(model, data, seed=0, validation=(data[0][:16], data[1][:16]), **kw)  # noqa: E731
    tick = (_SlowingTick if slower else _Tick)(clock, first_batch_s)
    fit(training=spec, callbacks=[tick, callback, counted])
    return clock, callback, counted, spec, fit


@pytest.mark.parametrize(
    ("deadline", "until", "first_batch_s", "epoch_fits", "through", "rest"),
    [
        # 20 steps after the first, at 21 s, the epoch would end at 32 s: past a deadline at
        # 25 s. Cut at once; the rest is ``rest``: epochs of that many steps of 1 s.
        (25.0, None, 1.0, False, False, [4]),  # 4 steps fit before the deadline
        (25.0, 30.0, 1.0, False, True, [9]),  # its retraining would miss the window: through it
        # Its retraining (40 s) would fit a window that ends at 75 s; but the trial takes the
        # search's whole time, and trained on through the window it has time for a second
        # epoch: not cut.
        (25.0, 75.0, 1.0, None, False, []),
        (30.0, None, 5.0, False, False, [1]),  # the first batch traced for 4 s: another is kept aside
        (21.0, None, 1.0, False, False, []),  # no step fits: nothing more is trained
        # The epoch would end in time, but with no time for a second: cut to the deadline.
        (50.0, None, 1.0, True, False, [29]),
        (60.0, None, 1.0, True, False, [19, 19]),  # 39 steps: two epochs, each within the data's
        (80.0, None, 1.0, None, False, []),  # a second epoch fits: not cut
    ],
)
def test_a_first_trial_with_no_time_for_its_first_two_epochs_is_cut_and_continued_to_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
    deadline: float,
    until: float | None,
    first_batch_s: float,
    epoch_fits: bool | None,
    through: bool,
    rest: list[int],
) -> None:
    window = None if until is None else FinalWindow(until=until, retrain_cost=1.25, max_stretch=3.0)
    clock, callback, counted, spec, fit = _long_first_epoch(monkeypatch, deadline, window, first_batch_s)
    if epoch_fits is None:
        # Judged as any epoch: ``report`` prunes it.
        assert callback.cut is None and callback.pruned_at == 0 and counted.epochs == 1 and clock.now == 32
        keras.backend.clear_session()
        return
    end = until if through else deadline
    assert callback.cut == FirstEpochCut(
        steps_done=21,
        steps=32,
        step_s=1.0,
        tracing_s=first_batch_s - 1.0,
        validation_s=0.0,  # the clock moves only with training batches
        until=end,
        epoch_fits=epoch_fits,
    )
    # The cut epoch is reported, but not pruned though ``report`` says so: it ended for the budget.
    assert callback.pruned_at is None and counted.epochs == 1 and callback.through_window == through
    model = callback.model
    assert continue_cut(model, spec, callback.cut, 3, fit, [_Tick(clock), callback, counted]) == sum(rest)
    assert counted.epochs == 1 + len(rest) and clock.now <= end
    if rest:  # a fresh schedule over the steps left, which ends at the last one
        assert _steps(model) == sum(rest)
        assert _rate(model) == pytest.approx(0.0, abs=1e-6)
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("deadline", "until", "slower", "through", "rest", "fits"),
    [
        # After its whole first epoch (32 s), one more epoch fits a deadline at 80 s, with
        # 16 s to spare: the rest is 48 steps, as two epochs of 24, to the deadline.
        (80.0, None, False, False, [24, 24], None),
        # Only one epoch fits a deadline at 50 s, 3 through a window that ends at 110 s: the
        # rest is 78 steps, to the window's end.
        (50.0, 110.0, False, True, [26, 26, 26], None),
        (200.0, None, False, False, [], 6),  # 6 whole epochs fit: whole epochs, looked at half-way
        # Its look (at 21 s) foresaw a second epoch by 70 s, but its later batches took 2 s:
        # the epoch ended at 43 s, with no time for a whole second one. The 19 steps of
        # 1.35 s that fit (the epoch's pace) are trained.
        (70.0, None, True, False, [19], None),
    ],
)
def test_a_first_trial_with_time_for_a_few_epochs_fills_it_with_steps(
    monkeypatch: pytest.MonkeyPatch,
    deadline: float,
    until: float | None,
    slower: bool,
    through: bool,
    rest: list[int],
    fits: int | None,
) -> None:
    window = None if until is None else FinalWindow(until=until, retrain_cost=1.25, max_stretch=3.0)
    clock, callback, counted, spec, fit = _long_first_epoch(monkeypatch, deadline, window, prune=False, slower=slower)
    assert counted.epochs == 1 and clock.now == (43 if slower else 32) and callback.fits == fits
    if fits is not None:
        assert callback.cut is None
        keras.backend.clear_session()
        return
    end = until if through else deadline
    step_s = 42 / 31 if slower else 1.0  # the epoch's batches after its first
    assert callback.cut == FirstEpochCut(
        steps_done=32, steps=32, step_s=step_s, tracing_s=0.0, validation_s=0.0, until=end, epoch_fits=True
    )
    assert callback.through_window == through and not callback.out_of_time
    model = callback.model
    assert continue_cut(model, spec, callback.cut, 3, fit, [_Tick(clock), callback, counted]) == sum(rest)
    assert counted.epochs == 1 + len(rest) and clock.now == (62 if slower else end)
    assert _steps(model) == sum(rest) and _rate(model) == pytest.approx(0.0, abs=1e-6)
    keras.backend.clear_session()


def test_a_cosine_tail_continues_the_cosine_from_where_it_was() -> None:
    spec = TrainingSpec(
        learning_rate=0.01, batch_size=8, epochs=10, schedule="warmup_cosine", warmup=0.1, steps_per_epoch=10
    )
    schedule = learning_rate_schedule(spec)
    phase = cosine_phase(spec, 40)
    assert phase == pytest.approx(30 / 90)  # 30 of the 90 steps after 10 of warm-up
    tail = CosineTail(0.01, 40, phase, 200)  # the 60 steps left stretched to 160
    assert _rates(tail, [40]) == pytest.approx(_rates(schedule, [40]), rel=1e-5)
    assert _rates(tail, [200, 250]) == pytest.approx([0.0, 0.0], abs=1e-7)
    assert _rates(tail, [120]) == pytest.approx([0.005 * (1 + math.cos(math.pi * (phase + (1 - phase) / 2)))], rel=1e-5)
    assert CosineTail.from_config(tail.get_config()).get_config() == tail.get_config()
    assert cosine_phase(spec, 0) == 0.0 and cosine_phase(spec, 100) == 1.0


def _trained_weights(x: np.ndarray, y: np.ndarray, validation: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
    keras.utils.set_random_seed(0)
    model = _small_model()
    spec = TrainingSpec(batch_size=8, epochs=2)
    compile_model(model, spec, num_classes=3)
    keras.utils.set_random_seed(1)
    train_model(model, (x, y), training=spec, seed=0, validation=validation)
    weights = [np.asarray(w) for w in model.get_weights()]
    keras.backend.clear_session()
    return weights


def test_uint8_images_train_the_model_exactly_as_their_float32_copy_would() -> None:
    """``train_model`` hands Keras the uint8 images: the model's float32 ``Input`` casts them."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, 64)
    as_bytes = _trained_weights(x, y, (x[:16], y[:16]))
    as_floats = _trained_weights(x.astype("float32"), y, (x[:16].astype("float32"), y[:16]))
    assert len(as_bytes) == len(as_floats) and not np.allclose(as_bytes[0], _small_model().get_weights()[0])
    for got, expected in zip(as_bytes, as_floats, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _compiled_with_bytes(n: int, spec: TrainingSpec) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """``_small_model`` compiled for ``spec``, and ``n`` random uint8 8x8 images of 3 classes."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, n)
    model = _small_model()
    compile_model(model, spec, num_classes=3)
    return model, x, y


def test_training_from_arrays_makes_no_float32_copy_of_them() -> None:
    """A float32 copy of the training and validation images took four times their memory."""
    spec = TrainingSpec(batch_size=64, epochs=1)
    model, x, y = _compiled_with_bytes(60_000, spec)
    train_model(model, (x[:64], y[:64]), training=spec, seed=0, steps=1)  # traced before measuring
    tracemalloc.start()
    try:
        train_model(model, (x, y), training=spec, seed=0, validation=(x[:6_000], y[:6_000]), steps=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    keras.backend.clear_session()
    assert peak < 3 * x.nbytes, f"fit allocated {peak:,} bytes for {x.nbytes:,} bytes of images"


def test_steps_limit_one_epoch_a_call() -> None:
    # Two epochs of 2 of 4 batches, in one fit: Keras ran them on one pass of the data, which
    # the feeder reshuffled between them (94 distinct images of 128, 34 of them twice).
    spec = TrainingSpec(batch_size=32, epochs=2)
    model, x, y = _compiled_with_bytes(128, spec)
    with pytest.raises(ValueError, match="steps \\(2\\) limits one epoch a call, got epochs 0 to 2"):
        train_model(model, (x, y), training=spec, seed=0, steps=2)
    train_model(model, (x, y), training=spec, seed=0, steps=2, initial_epoch=1)  # the second epoch alone


def test_memory_the_torch_host_allocator_refuses_is_out_of_memory() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError) as refused:
        torch.empty(2**48, dtype=torch.uint8)  # 256 TiB
    failure = as_trial_failure(refused.value)
    assert isinstance(failure, OutOfMemory) and str(failure).startswith("out of memory: RuntimeError"), failure


def test_a_first_epoch_run_several_steps_a_call_paces_its_rest_by_the_calls_after_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 4 steps a call (an accelerator runs 10): the first call, at 6 s, holds 4 steps and 2 s of tracing.
    _, callback, counted, _, _ = _long_first_epoch(monkeypatch, 80.0, None, 3.0, prune=False, steps_per_call=4)
    assert counted.epochs == 1 and callback.fits is None
    assert callback.cut == FirstEpochCut(
        steps_done=32, steps=32, step_s=1.0, tracing_s=2.0, validation_s=0.0, until=80.0, epoch_fits=True
    )
    keras.backend.clear_session()
