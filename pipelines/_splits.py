"""Stratified, seeded train / validation / test splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines._dataset import Dataset, class_counts
from pipelines._errors import DataError

__all__ = ["Splits", "split_dataset"]

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, kw_only=True)
class Splits:
    """The three splits of a data set, each ``(x, y)`` with uint8 images and int64 labels.

    Only ``train`` is fitted on (normalisation statistics too) and only ``val`` guides the
    search; ``test`` is for the final report.

    Attributes:
        seed, val_fraction: how the split was drawn.
        test_fraction: the held-out fraction, or ``None`` when the data came with a test split.
    """

    train: Arrays
    val: Arrays
    test: Arrays
    class_names: tuple[str, ...]
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float | None = 0.2

    def summary(self) -> dict[str, Any]:
        """A JSON-able record of the split: sizes and class counts per split, seed and fractions."""
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "test_given": self.test_fraction is None,
            "sizes": {name: int(len(y)) for name, (_, y) in splits.items()},
            "class_counts": {name: class_counts(y, self.class_names) for name, (_, y) in splits.items()},
        }


def split_dataset(ds: Dataset, *, val_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """Split ``ds`` into stratified train / validation / test parts.

    Each class is split on its own, so every split keeps the class proportions (up to
    rounding) and every class keeps at least one training image. When ``ds`` came with a
    test split, that is the test split untouched and ``test_fraction`` is not used: only
    the training images are divided into train and validation.

    Args:
        ds: the data set.
        val_fraction: share of the images held out for validation, in (0, 1) (a share of
            the training images when ``ds`` came with a test split).
        test_fraction: share of the images held out for testing, in [0, 1); the two
            fractions must sum to less than 1.
        seed: the same seed gives the same split.

    Raises:
        ValueError: fractions out of range, quoting them.
        DataError: too few images for a validation split, naming the source.
    """
    given_test = ds.x_test is not None and ds.y_test is not None
    _check_fractions(val_fraction, 0.0 if given_test else test_fraction)
    rng = np.random.default_rng(seed)
    if given_test:
        train, val = _stratified(ds.y, (val_fraction,), rng)
        test = (ds.x_test, ds.y_test)
    else:
        train, val, held_out = _stratified(ds.y, (val_fraction, test_fraction), rng)
        test = (ds.x[held_out], ds.y[held_out])
    if len(val) == 0:
        raise DataError(
            f"{ds.source}: {len(ds.y)} images are too few to hold out a validation split of "
            f"{val_fraction}; add images or raise val_fraction"
        )
    return Splits(
        train=(ds.x[train], ds.y[train]),
        val=(ds.x[val], ds.y[val]),
        test=test,
        class_names=ds.class_names,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=None if given_test else test_fraction,
    )


def _stratified(y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Sorted indices of the rest (training) and of one part per fraction, class by class."""
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        sizes = _part_sizes(len(members), fractions)
        bounds = np.cumsum([len(members) - sum(sizes), *sizes])[:-1]
        for part, chunk in zip(parts, np.split(members, bounds), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(part)) for part in parts]


def _part_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Rounded part sizes of ``n`` members, shrunk (largest first) until one is left for training."""
    sizes = [round(n * f) for f in fractions]
    while sum(sizes) > n - 1:
        sizes[int(np.argmax(sizes))] -= 1
    return sizes


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {val_fraction!r} + {test_fraction!r}")
