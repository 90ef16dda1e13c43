"""A NumPy ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line

__all__ = ["load_npz"]

_REQUIRED = ("x_train", "y_train")
_TEST = ("x_test", "y_test")


def load_npz(path: Path) -> Dataset:
    """Labels may be any values (their sorted distinct values become the classes).

    Raises:
        DataError: the file is not a readable ``.npz``, lacks ``x_train``/``y_train``, or has
            only one of ``x_test``/``y_test``.
    """
    if not zipfile.is_zipfile(path):
        raise DataError(f"'{path}' is not a .npz file (not a zip archive); save the arrays with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read '{path}' as .npz: {one_line(exc)}; save it with numpy.savez") from exc
    missing = [key for key in _REQUIRED if key not in arrays]
    if missing:
        raise DataError(
            f"'{path}' has no {' or '.join(missing)} array (it has: {', '.join(sorted(arrays)) or 'nothing'}); "
            "save the training images as x_train and their labels as y_train"
        )
    given_test = [key for key in _TEST if key in arrays]
    if len(given_test) == 1:
        raise DataError(f"'{path}' has {given_test[0]} but not its partner; save both x_test and y_test, or neither")
    return dataset_from_arrays(
        arrays["x_train"],
        arrays["y_train"],
        arrays.get("x_test"),
        arrays.get("y_test"),
        source=f"npz '{path}'",
    )
