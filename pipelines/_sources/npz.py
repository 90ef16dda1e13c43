"""A NumPy ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_val``, ``y_val``, ``x_test``, ``y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line

__all__ = ["load_npz"]

_REQUIRED = ("x_train", "y_train")
# The optional given splits, each an images/labels pair saved together or not at all.
_GIVEN = (("x_val", "y_val"), ("x_test", "y_test"))


def load_npz(path: Path) -> Dataset:
    """Labels may be any values (their sorted distinct training values become the classes).

    ``x_test``/``y_test`` are the test split and ``x_val``/``y_val`` the validation split
    when present; nothing else is carved out of the training arrays in their place.

    Raises:
        DataError: the file is not a readable ``.npz``, lacks ``x_train``/``y_train``, has
            only one of a given pair, or a given split has a label the training split lacks.
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
    for pair in _GIVEN:
        present = [key for key in pair if key in arrays]
        if len(present) == 1:
            raise DataError(
                f"'{path}' has {present[0]} but not its partner; save both {pair[0]} and {pair[1]}, or neither"
            )
    return dataset_from_arrays(
        arrays["x_train"],
        arrays["y_train"],
        arrays.get("x_test"),
        arrays.get("y_test"),
        x_val=arrays.get("x_val"),
        y_val=arrays.get("y_val"),
        source=f"npz '{path}'",
    )
