"""The in-memory labelled image dataset every source produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines._errors import DataError

__all__ = ["Dataset", "check_classes", "class_counts", "value_map_formula"]


def class_counts(y: np.ndarray, class_names: tuple[str, ...]) -> dict[str, int]:
    """Number of examples of each class, keyed by class name (every class listed, even at 0)."""
    counts = np.bincount(y, minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts, strict=True)}


# How far float images "in 0..1" may stray past it: a bicubic or Lanczos resize overshoots
# at sharp edges (values of 1.02 or -0.01). Such images are scaled by 255 and clipped; read
# as numbers in 0..255 they would be black.
FLOAT_SLACK = 0.25


def in_unit_range(low: float, high: float) -> bool:
    """Whether float values from ``low`` to ``high`` are 0..1 (give or take ``FLOAT_SLACK``)."""
    return -FLOAT_SLACK <= low and high <= 1 + FLOAT_SLACK


def value_map_formula(low: float, factor: float, digits: int = 6) -> str:
    """``Dataset.value_map`` as arithmetic on ``value``: ``(value + 4.494) * 25.64``."""
    sign = "-" if low >= 0 else "+"
    return f"(value {sign} {abs(low):.{digits}g}) * {factor:.{digits}g}"


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """Labelled images held in memory, as a source loaded them.

    Attributes:
        x: images, ``uint8`` in 0..255, shape ``(N, H, W, C)`` with ``C`` 1 or 3.
        y: labels, ``int64`` in ``0..K-1``, shape ``(N,)``.
        x_val, y_val: a validation split that came with the data (same layout), or ``None``.
            When given it is the validation split, and no other is carved out of ``x``.
        x_test, y_test: a test split that came with the data (same layout), or ``None``.
            When given it is the test split and is never used for search decisions.
        class_names: the name of each label, ``class_names[k]`` for label ``k``.
        source: where the data came from, for people (``"image folder /data/pets"``).
        skipped: ``(path, reason)`` of each file that was left out (unreadable, or of no class).
        value_map: ``(low, factor)`` when the source's values were not pixels (standardized or
            16-bit arrays) and became ``x`` as ``(value - low) * factor``, clipped to 0..255;
            None when they were pixels already (``AS_PIXELS`` where 16-bit or float files held
            pixels: a file of the same kind is read so again, ``maps_values``).
        conversions: what was changed in the arrays as given to read them, for people
            (one-hot labels, channels-first images, image files of other sizes resized);
            empty when nothing was.

    Raises:
        DataError: when the arrays do not fit together (dtypes, shapes, lengths, labels),
            naming ``source``.
    """

    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: tuple[str, ...]
    source: str
    skipped: tuple[tuple[str, str], ...] = ()
    value_map: tuple[float, float] | None = None
    conversions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_pair(self.x, self.y, self.class_names, self.source, "training")
        self._check_given("validation", self.x_val, self.y_val)
        self._check_given("test", self.x_test, self.y_test)
        check_classes(self.class_names, self.source)

    def _check_given(self, split: str, x: np.ndarray | None, y: np.ndarray | None) -> None:
        """A given split holds images and labels like the training ones, or neither."""
        if (x is None) != (y is None):
            raise DataError(f"{self.source}: {split} images and {split} labels must be given together")
        if x is None or y is None:
            return
        _check_pair(x, y, self.class_names, self.source, split)
        if x.shape[1:] != self.x.shape[1:]:
            raise DataError(
                f"{self.source}: {split} images have shape {x.shape[1:]} but training images "
                f"have {self.x.shape[1:]}; every split must have the same image shape"
            )

    @property
    def given_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The splits that came with the data besides the training images: ``"val"``, ``"test"`` -> ``(x, y)``."""
        pairs = {"val": (self.x_val, self.y_val), "test": (self.x_test, self.y_test)}
        return {name: (x, y) for name, (x, y) in pairs.items() if x is not None and y is not None}

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        h, w, c = self.x.shape[1:]
        return int(h), int(w), int(c)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: counts per class, shapes, value range, given splits, skipped files.

        ``num_images`` and ``class_counts`` are of the training images; a given split has its
        own ``num_{val,test}_images`` and ``{val,test}_class_counts`` (``None`` when not given).
        """
        return {
            "source": self.source,
            "num_images": int(len(self.x)),
            "given_splits": list(self.given_splits),
            "num_val_images": None if self.x_val is None else int(len(self.x_val)),
            "num_test_images": None if self.x_test is None else int(len(self.x_test)),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "class_counts": class_counts(self.y, self.class_names),
            "val_class_counts": None if self.y_val is None else class_counts(self.y_val, self.class_names),
            "test_class_counts": None if self.y_test is None else class_counts(self.y_test, self.class_names),
            "value_range": [int(self.x.min()), int(self.x.max())],
            "skipped": len(self.skipped),
            "value_map": None if self.value_map is None else dict(zip(("low", "factor"), self.value_map, strict=True)),
            "conversions": list(self.conversions),
        }


def _check_pair(x: np.ndarray, y: np.ndarray, class_names: tuple[str, ...], source: str, split: str) -> None:
    """Raise ``DataError`` unless ``x``/``y`` are uint8 NHWC images with int64 labels in range."""
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{source}: {split} images must be uint8 with shape (N, H, W, 1 or 3), got {x.dtype} {x.shape}")
    if y.dtype != np.int64 or y.ndim != 1:
        raise DataError(f"{source}: {split} labels must be int64 with shape (N,), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"{source}: {len(x)} {split} images but {len(y)} {split} labels; "
            "images and labels must have the same length"
        )
    if len(x) == 0:
        raise DataError(f"{source}: there are no {split} images")
    if y.min() < 0 or y.max() >= len(class_names):
        raise DataError(
            f"{source}: {split} labels must be in 0..{len(class_names) - 1}, got values from {y.min()} to {y.max()}"
        )


def check_classes(class_names: Sequence[str], source: str) -> None:
    """Raise unless there are two classes or more (``source`` names the data in the error).

    Raises:
        DataError: fewer than two classes, quoted.
    """
    if len(class_names) < 2:
        raise DataError(
            f"{source}: found only one class ({', '.join(map(repr, class_names)) or 'none'}); "
            "a classifier needs at least two classes"
        )
