"""The built-in default: scikit-learn's 8x8 handwritten digits (bundled, no network)."""

from __future__ import annotations

import numpy as np

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset

__all__ = ["load_digits"]

_DIGITS_MAX = 16  # load_digits pixels are counts 0..16 of a 4x4 block of a 32x32 bitmap


def load_digits() -> Dataset:
    """The 1,797 digits as ``(1797, 8, 8, 1)`` uint8, rescaled from 0..16 to 0..255."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = np.rint(bunch.images * (255.0 / _DIGITS_MAX)).astype(np.uint8)
    return dataset_from_arrays(
        x,
        bunch.target,
        source="digits (scikit-learn)",
        class_names=tuple(str(name) for name in bunch.target_names),
    )
