"""Training hyperparameters: a frozen spec and its Optuna sampling (parameters ``train.*``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TrainingSpec",
    "sample_training",
    "batch_sizes",
    "steps_per_epoch",
    "OPTIMIZERS",
    "SCHEDULES",
    "GRID",
]

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "warmup_cosine")
"""``constant``: the rate throughout; ``warmup_cosine``: a linear warm-up over the first
``warmup`` share of the planned steps, then a cosine decay to zero at the last one."""

WARMUP = 0.1  # share of a sampled trial's steps spent warming up

# Learning-rate ranges of the search, per optimizer. Trials train for a few epochs only:
# below these floors a trial is still near chance after its first epoch (SGD at 1e-3 was,
# in bench/bench_first_epoch.py), and above them training is unstable.
ADAM_LEARNING_RATES = (1e-3, 1e-2)
SGD_LEARNING_RATES = (1e-2, 0.2)
SGD_MOMENTA = (0.8, 0.95)
# Decoupled weight decay is multiplied by the learning rate, which is 10-100x larger for SGD.
ADAMW_WEIGHT_DECAYS = (1e-4, 1e-1)
SGD_WEIGHT_DECAYS = (1e-5, 1e-3)

# The grid sampler's space: classic architectures (added by the driver) x these values.
GRID: dict[str, list[Any]] = {"train.learning_rate": [1e-3, 3e-3]}


def batch_sizes(num_train: int) -> tuple[int, ...]:
    """Batch sizes offered for a training split of ``num_train`` images.

    A search trains each candidate for a few epochs only, so small datasets need small
    batches to take enough steps (1,200 digits at batch 128 are 9 steps an epoch), and
    large ones need large batches to finish an epoch quickly.
    """
    if num_train < 5_000:
        return (16, 32, 64)
    if num_train < 50_000:
        return (32, 64, 128)
    return (64, 128, 256)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    """Training steps in one epoch over ``num_train`` images (the last batch may be short)."""
    if num_train < 1 or batch_size < 1:
        raise ValueError(f"num_train and batch_size must be >= 1, got {num_train!r}, {batch_size!r}")
    return math.ceil(num_train / batch_size)


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """How one trial trains its model.

    Attributes:
        optimizer: one of ``OPTIMIZERS``; ``momentum`` is SGD's (Nesterov), ``weight_decay``
            is decoupled (AdamW, SGD).
        learning_rate: the constant rate, or the peak of a schedule.
        schedule: one of ``SCHEDULES``; a schedule spans ``epochs * steps_per_epoch`` steps,
            so it needs ``steps_per_epoch``.
        warmup: the share of those steps spent warming up linearly (``warmup_cosine``).
        steps_per_epoch: optimizer steps in one epoch (``steps_per_epoch(num_train, batch_size)``).

    Stored specs without ``schedule`` (written before schedules existed) load as ``constant``,
    which is how they trained.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    batch_size: int = 64
    label_smoothing: float = 0.0
    epochs: int = 5
    schedule: str = "constant"
    warmup: float = 0.0
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size!r}, {self.epochs!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1 or None, got {self.steps_per_epoch!r}")
        if self.schedule != "constant" and self.steps_per_epoch is None:
            raise ValueError(f"schedule {self.schedule!r} needs steps_per_epoch, got None")

    @property
    def total_steps(self) -> int | None:
        """The planned optimizer steps, when ``steps_per_epoch`` is known."""
        return None if self.steps_per_epoch is None else self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSpec:
        """The inverse of ``to_dict``; fields left out keep their defaults (older records)."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown} in {data!r}")
        return cls(**data)


def sample_training(trial: Any, *, max_epochs: int, num_train: int, grid: bool = False) -> TrainingSpec:
    """Sample training hyperparameters define-by-run (momentum exists only for SGD).

    Every sampled spec warms up and then decays its rate over its own planned steps
    (``warmup_cosine``). With ``grid`` only the ``GRID`` parameters are sampled, the rest
    keep their defaults and the middle batch size.
    """
    sizes = batch_sizes(num_train)
    if grid:
        batch_size = sizes[len(sizes) // 2]
        return _scheduled(
            TrainingSpec(
                learning_rate=trial.suggest_categorical("train.learning_rate", GRID["train.learning_rate"]),
                batch_size=batch_size,
                epochs=max_epochs,
            ),
            num_train,
        )
    optimizer = trial.suggest_categorical("train.optimizer", list(OPTIMIZERS))
    momentum, weight_decay = 0.9, 0.0
    if optimizer == "sgd":
        learning_rate = trial.suggest_float("train.sgd_learning_rate", *SGD_LEARNING_RATES, log=True)
        momentum = trial.suggest_float("train.momentum", *SGD_MOMENTA)
        weight_decay = trial.suggest_float("train.sgd_weight_decay", *SGD_WEIGHT_DECAYS, log=True)
    else:
        learning_rate = trial.suggest_float("train.learning_rate", *ADAM_LEARNING_RATES, log=True)
    if optimizer == "adamw":
        weight_decay = trial.suggest_float("train.weight_decay", *ADAMW_WEIGHT_DECAYS, log=True)
    spec = TrainingSpec(
        optimizer=optimizer,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        momentum=momentum,
        batch_size=trial.suggest_categorical("train.batch_size", list(sizes)),
        label_smoothing=trial.suggest_float("train.label_smoothing", 0.0, 0.2),
        # Every trial plans the study's epochs (its schedule spans them); the pruner decides
        # how many it gets (successive halving promotes the promising ones).
        epochs=max_epochs,
    )
    return _scheduled(spec, num_train)


def _scheduled(spec: TrainingSpec, num_train: int) -> TrainingSpec:
    """``spec`` with a warm-up and cosine decay over its epochs of ``num_train`` images."""
    return dataclasses.replace(
        spec,
        schedule="warmup_cosine",
        warmup=WARMUP,
        steps_per_epoch=steps_per_epoch(num_train, spec.batch_size),
    )
