"""Stratified, seeded train / validation / test splits that keep the splits the data came with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines._dataset import Dataset, class_counts
from pipelines._errors import DataError

__all__ = ["Splits", "split_dataset", "MAX_HELD_OUT", "ALLOCATIONS", "DEFAULT_ALLOCATION"]

Arrays = tuple[np.ndarray, np.ndarray]

#: The most images a carved validation or test split takes by default. Past a few thousand
#: images a held-out split measures little better (the standard error of an accuracy near
#: 0.9 is 0.4 points at 5,000 images, 0.3 at 10,000), while every image it holds is one the
#: exported model never trains on: 60,000 images at the default fractions keep 21,000 out.
MAX_HELD_OUT = 5000

#: How a new split shares its images among the classes (a name in ``ALLOCATIONS``).
DEFAULT_ALLOCATION = "proportional"


@dataclass(frozen=True, kw_only=True)
class Splits:
    """The three splits of a data set, each ``(x, y)`` with uint8 images and int64 labels.

    Only ``train`` is fitted on (normalisation statistics too) and only ``val`` guides the
    search; ``test`` is for the final report.

    Attributes:
        seed: how the carved splits were drawn.
        val_fraction: the share of the images carved out for validation (after its cap:
            see ``split_dataset``), or ``None`` when the data came with a validation split.
        test_fraction: the share carved out for testing (after its cap), or ``None`` when
            the data came with a test split.
    """

    train: Arrays
    val: Arrays
    test: Arrays
    class_names: tuple[str, ...]
    seed: int = 0
    val_fraction: float | None = 0.15
    test_fraction: float | None = 0.2

    @property
    def given(self) -> tuple[str, ...]:
        """The splits that came with the data (``"val"``, ``"test"``) rather than carved out of it."""
        return tuple(name for name, f in (("val", self.val_fraction), ("test", self.test_fraction)) if f is None)

    def summary(self) -> dict[str, Any]:
        """A JSON-able record of the split: sizes and class counts per split, seed, fractions.

        ``origin`` says of each split whether it was ``"given"`` with the data or
        ``"carved"`` out of the training images (``train`` is what is left of those).
        """
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "val_given": "val" in self.given,
            "test_given": "test" in self.given,
            "origin": {name: "given" if name in self.given else "carved" for name in ("val", "test")},
            "sizes": {name: int(len(y)) for name, (_, y) in splits.items()},
            "class_counts": {name: class_counts(y, self.class_names) for name, (_, y) in splits.items()},
        }


_SPLIT_NAMES = {"val": "validation", "test": "test"}


def split_dataset(
    ds: Dataset,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    max_val_images: int | None = MAX_HELD_OUT,
    max_test_images: int | None = MAX_HELD_OUT,
    seed: int = 0,
    allocation: str = DEFAULT_ALLOCATION,
) -> Splits:
    """Split ``ds`` into train / validation / test parts, keeping the splits it came with.

    A test or validation split that came with ``ds`` (``ds.x_test``, ``ds.x_val``) is that
    split, untouched, and its fraction is not used. Only the splits not given are carved
    out of the training images, stratified: each takes its fraction of the images, shared
    among the classes in proportion to their sizes (``_proportional``), so every split keeps
    the class proportions (up to rounding) and every class keeps at least one training image.

    Args:
        ds: the data set.
        val_fraction: share of the training images held out for validation, in (0, 1);
            unused when ``ds`` came with a validation split.
        test_fraction: share of the training images held out for testing, in [0, 1);
            unused when ``ds`` came with a test split. The carved fractions must sum to
            less than 1.
        max_val_images: the most images the carved validation split takes (about: each
            class rounds its share), ``None`` for no cap. On large data the fraction
            shrinks to it, and the images it leaves are trained on.
        max_test_images: likewise for the carved test split.
        seed: the same seed gives the same split.
        allocation: how a carved split is shared among the classes (``ALLOCATIONS``).

    Raises:
        ValueError: fractions out of range, quoting them.
        DataError: too few images for a validation split, or for a test split of a fraction
            above 0, naming the source.
    """
    given = ds.given_splits
    carved = {name: f for name, f in (("val", val_fraction), ("test", test_fraction)) if name not in given}
    _check_fractions(carved)
    caps = {"val": _check_cap("max_val_images", max_val_images), "test": _check_cap("max_test_images", max_test_images)}
    carved = {name: _capped(f, caps[name], len(ds.y)) for name, f in carved.items()}
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    train, *held_out = _stratified(ds.y, tuple(carved.values()), np.random.default_rng(seed), allocation)
    parts = {name: (ds.x[idx], ds.y[idx]) for name, idx in zip(carved, held_out, strict=True)} | given
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        if len(parts[name][1]) == 0 and (name == "val" or fraction > 0):
            raise DataError(f"{ds.source}: {_too_few(ds.y, name, fraction)}")
    return Splits(
        train=(ds.x[train], ds.y[train]),
        val=parts["val"],
        test=parts["test"],
        class_names=ds.class_names,
        seed=seed,
        val_fraction=carved.get("val"),
        test_fraction=carved.get("test"),
    )


def _too_few(y: np.ndarray, name: str, fraction: float) -> str:
    """Why no image could be held out for split ``name``, and what to do."""
    classes = len(np.unique(y))
    why = (
        f"each of its {classes} classes has one image, which stays in training"
        if classes == len(y)
        else f"{fraction} of them rounds to none"
    )
    return (
        f"{len(y)} images are too few to hold out a {_SPLIT_NAMES[name]} split of {fraction} ({why}); add images, "
        f"give the split with the data (a {name}/ folder or x_{name}/y_{name} arrays), or raise {name}_fraction "
        "in a study file"
    )


def _stratified(
    y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator, allocation: str
) -> list[np.ndarray]:
    """Sorted indices of the rest (training) and of one part per fraction, class by class
    (``ALLOCATIONS[allocation]`` says how many of each class each part takes)."""
    labels, counts = np.unique(y, return_counts=True)
    sizes = ALLOCATIONS[allocation](counts, fractions, rng)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label, count, taken in zip(labels, counts, sizes, strict=True):
        members = rng.permutation(np.flatnonzero(y == label))
        bounds = np.cumsum([count - taken.sum(), *taken])[:-1]
        for part, chunk in zip(parts, np.split(members, bounds), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(part)) for part in parts]


def _per_class(counts: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """``(classes, parts)``: each class's share of each part rounded on its own, shrunk (largest
    first) until one is left for training. How studies recorded before ``_proportional`` split."""
    return np.array([_part_sizes(int(n), fractions) for n in counts], dtype=np.int64).reshape(len(counts), -1)


def _part_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    sizes = [round(n * f) for f in fractions]
    while sum(sizes) > n - 1:
        sizes[int(np.argmax(sizes))] -= 1
    return sizes


def _proportional(counts: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """``(classes, parts)``: how many images of each class (``counts``) each part takes.

    Each part takes its fraction of all the images, rounded, shared among the classes in
    proportion to their sizes: the whole numbers first, then one more for the largest
    remainders (ties drawn at random), as long as every class keeps one training image.
    Rounded class by class instead, classes of a few images held out nothing, or too much:
    300 classes of 3 images had no validation image at all.
    """
    room = counts - 1  # each class keeps one training image
    sizes = np.zeros((len(counts), len(fractions)), dtype=np.int64)
    for part, fraction in enumerate(fractions):
        quota = counts * fraction
        taken = np.minimum(np.floor(quota).astype(np.int64), room)
        extra = min(round(counts.sum() * fraction), int(room.sum())) - int(taken.sum())
        remainder = quota - np.floor(quota)
        order = np.lexsort((rng.random(len(counts)), -remainder))  # largest remainder first
        while extra > 0:
            for c in order[room[order] > taken[order]][:extra]:
                taken[c] += 1
                extra -= 1
        sizes[:, part] = taken
        room = room - taken
    return sizes


#: How a carved split's images are shared among the classes: name -> ``(counts, fractions,
#: rng) -> (classes, parts)`` sizes. ``proportional`` is the default; ``per_class`` is how
#: studies that recorded their data before it split (they keep their splits).
ALLOCATIONS: dict[str, Callable[[np.ndarray, tuple[float, ...], np.random.Generator], np.ndarray]] = {
    "proportional": _proportional,
    "per_class": _per_class,
}


def _capped(fraction: float, cap: int | None, n: int) -> float:
    """``fraction`` of ``n`` images, lowered to take about ``cap`` of them at most."""
    return fraction if cap is None or fraction * n <= cap else cap / n


def _check_cap(name: str, cap: int | None) -> int | None:
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ValueError(f"{name} must be a whole number of at least 1 or None, got {cap!r}")
    return cap


def _check_fractions(carved: dict[str, float]) -> None:
    """The fractions of the splits to carve (``"val"``, ``"test"``): each in range, summing below 1."""
    if "val" in carved and not 0.0 < carved["val"] < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {carved['val']!r}")
    if "test" in carved and not 0.0 <= carved["test"] < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {carved['test']!r}")
    if len(carved) == 2 and sum(carved.values()) >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {carved['val']!r} + {carved['test']!r}")
