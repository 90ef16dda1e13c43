"""Training hyperparameters: a frozen spec and its Optuna sampling (parameters ``train.*``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainingSpec", "sample_training", "batch_sizes", "OPTIMIZERS", "GRID"]

OPTIMIZERS = ("adam", "adamw", "sgd")

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


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """How one trial trains its model."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    batch_size: int = 64
    label_smoothing: float = 0.0
    epochs: int = 5

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError(f"batch_size and epochs must be >= 1, got {self.batch_size!r}, {self.epochs!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSpec:
        return cls(**data)


def sample_training(trial: Any, *, max_epochs: int, num_train: int, grid: bool = False) -> TrainingSpec:
    """Sample training hyperparameters define-by-run (momentum exists only for SGD).

    With ``grid`` only the ``GRID`` parameters are sampled, the rest keep their defaults
    and the middle batch size.
    """
    sizes = batch_sizes(num_train)
    if grid:
        return TrainingSpec(
            learning_rate=trial.suggest_categorical("train.learning_rate", GRID["train.learning_rate"]),
            batch_size=sizes[len(sizes) // 2],
            epochs=max_epochs,
        )
    optimizer = trial.suggest_categorical("train.optimizer", list(OPTIMIZERS))
    if optimizer == "sgd":
        learning_rate = trial.suggest_float("train.sgd_learning_rate", 1e-3, 0.3, log=True)
        momentum = trial.suggest_float("train.momentum", 0.5, 0.95)
    else:
        learning_rate = trial.suggest_float("train.learning_rate", 3e-4, 1e-2, log=True)
        momentum = 0.9
    weight_decay = 0.0
    if optimizer in ("adamw", "sgd"):
        weight_decay = trial.suggest_float("train.weight_decay", 1e-6, 1e-2, log=True)
    return TrainingSpec(
        optimizer=optimizer,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        momentum=momentum,
        batch_size=trial.suggest_categorical("train.batch_size", list(sizes)),
        label_smoothing=trial.suggest_float("train.label_smoothing", 0.0, 0.2),
        epochs=trial.suggest_int("train.epochs", (max_epochs + 1) // 2, max_epochs),
    )
