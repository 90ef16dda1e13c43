"""Training settings: the spec's checks and stored form, the sampled ranges, the schedule's plan."""

from __future__ import annotations

import math

import optuna
import pytest

from automl._hparams import (
    ADAM_LEARNING_RATES,
    SGD_LEARNING_RATES,
    TrainingSpec,
    batch_sizes,
    sample_training,
    steps_per_epoch,
)


def _sampled(num_train: int, max_epochs: int = 4, n: int = 60) -> list[TrainingSpec]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    specs = []
    for _ in range(n):
        trial = study.ask()
        specs.append(sample_training(trial, max_epochs=max_epochs, num_train=num_train))
        study.tell(trial, 0.0)
    return specs


def test_a_spec_round_trips_through_its_dict() -> None:
    spec = TrainingSpec(optimizer="sgd", learning_rate=0.05, schedule="warmup_cosine", warmup=0.1, steps_per_epoch=7)
    assert TrainingSpec.from_dict(spec.to_dict()) == spec


def test_a_record_from_before_schedules_loads_as_a_constant_rate() -> None:
    old = {"optimizer": "adam", "learning_rate": 0.002, "weight_decay": 0.0, "momentum": 0.9, "batch_size": 32,
           "label_smoothing": 0.1, "epochs": 3}  # fmt: skip
    spec = TrainingSpec.from_dict(old)
    assert spec.schedule == "constant" and spec.steps_per_epoch is None and spec.learning_rate == 0.002


@pytest.mark.parametrize(
    ("changes", "quoted"),
    [
        ({"schedule": "linear"}, "got 'linear'"),
        ({"schedule": "warmup_cosine"}, "needs steps_per_epoch, got None"),
        ({"warmup": 1.0}, "got 1.0"),
        ({"steps_per_epoch": 0}, "got 0"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\), got 1.0"),
        ({"learning_rate": 0.0}, "learning_rate must be positive, got 0.0"),
        ({"epochs": 0}, "batch_size and epochs must be >= 1, got 64, 0"),
        ({"batch_size": 0}, "batch_size and epochs must be >= 1, got 0, "),
    ],
)
def test_bad_settings_are_quoted(changes: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        TrainingSpec(**changes)


def test_unknown_stored_settings_are_quoted() -> None:
    with pytest.raises(ValueError, match=r"unknown training setting\(s\) \['lr'\]"):
        TrainingSpec.from_dict({"lr": 0.1})


@pytest.mark.parametrize("num_train", [1_078, 3_250, 40_000])
def test_sampled_specs_plan_a_schedule_over_their_own_steps(num_train: int) -> None:
    for spec in _sampled(num_train):
        assert spec.schedule == "warmup_cosine" and 0 < spec.warmup < 0.5
        assert spec.batch_size in batch_sizes(num_train)
        assert spec.steps_per_epoch == math.ceil(num_train / spec.batch_size)
        assert spec.total_steps == spec.epochs * spec.steps_per_epoch
        assert 2 <= spec.epochs <= 4


def test_batch_sizes_grow_with_the_training_set_and_a_grid_takes_the_middle_one() -> None:
    assert batch_sizes(4_999) == (16, 32, 64) and batch_sizes(5_000) == (32, 64, 128)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    spec = sample_training(study.ask(), max_epochs=3, num_train=4_000, grid=True)
    assert spec.batch_size == 32 and spec.epochs == 3 and spec.steps_per_epoch == 125


def test_sampled_label_smoothing_stays_light() -> None:
    assert all(0.0 <= spec.label_smoothing <= 0.2 for spec in _sampled(3_250))


def test_sampled_learning_rates_stay_in_each_optimizers_range() -> None:
    specs = _sampled(3_250, n=80)
    assert {s.optimizer for s in specs} == {"adam", "adamw", "sgd"}
    for spec in specs:
        low, high = SGD_LEARNING_RATES if spec.optimizer == "sgd" else ADAM_LEARNING_RATES
        assert low <= spec.learning_rate <= high
        assert (spec.weight_decay > 0) == (spec.optimizer != "adam")
        assert spec.optimizer != "sgd" or 0.8 <= spec.momentum <= 0.95


def test_steps_per_epoch_counts_the_short_last_batch() -> None:
    assert steps_per_epoch(100, 32) == 4
    assert steps_per_epoch(96, 32) == 3
    with pytest.raises(ValueError, match="got 0, 32"):
        steps_per_epoch(0, 32)
