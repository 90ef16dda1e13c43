"""A NumPy ``.npz`` file: training images and labels, and optionally given validation and test splits.

The arrays may be named as Keras' datasets (``x_train``, ``y_train``, ``x_val``, ...), as
MedMNIST's files (``train_images``, ``train_labels``, ...), as scikit-learn's examples
(``X_train``, ...) or plainly (``x``/``y``, ``X``/``y``, ``images``/``labels`` for training, the given splits named
as in the convention they come from): ``NAMINGS``, tried in that order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import zipfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line

__all__ = ["load_npz", "check_npz", "dataset_from_named_arrays", "NAMINGS"]

Pair = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class Naming:
    """One convention's names of the (images, labels) arrays of each split."""

    train: Pair
    val: Pair
    test: Pair

    @classmethod
    def suffixed(cls, images: str, labels: str) -> Naming:
        """``images_train``/``labels_train``, ``..._val`` and ``..._test`` (Keras' and scikit-learn's way)."""
        return cls(**{s: (f"{images}_{s}", f"{labels}_{s}") for s in ("train", "val", "test")})

    @classmethod
    def prefixed(cls, images: str, labels: str) -> Naming:
        """``train_images``/``train_labels``, ``val_...`` and ``test_...`` (MedMNIST's way)."""
        return cls(**{s: (f"{s}_{images}", f"{s}_{labels}") for s in ("train", "val", "test")})

    def trained_on(self, images: str, labels: str) -> Naming:
        """This naming with the training arrays named plainly ``images`` and ``labels``."""
        return dataclasses.replace(self, train=(images, labels))


_KERAS = Naming.suffixed("x", "y")
_MEDMNIST = Naming.prefixed("images", "labels")
_SKLEARN = Naming.suffixed("X", "y")
NAMINGS: tuple[Naming, ...] = (
    _KERAS,
    _MEDMNIST,
    _SKLEARN,
    _KERAS.trained_on("x", "y"),
    _SKLEARN.trained_on("X", "y"),
    _MEDMNIST.trained_on("images", "labels"),
)
"""The accepted names, in the order they are tried: the first whose training pair is in the file is used."""


# What NumPy raises on a zip archive that is not a readable .npz, opened or read.
_UNREADABLE = (OSError, ValueError, zipfile.BadZipFile)


def load_npz(path: Path) -> Dataset:
    """Labels may be any values (their sorted distinct training values become the classes).

    The test and validation arrays of the file's naming (``NAMINGS``), when present, are the
    test and validation splits; nothing else is carved out of the training arrays in their place.

    Raises:
        DataError: the file is not a readable ``.npz``, has no training images and labels
            under any accepted name, has only one of a given pair, or a given split has a
            label the training split lacks.
    """
    with _opened(path) as archive:
        arrays = {key: _array(archive, key, path) for key in archive.files}
    return dataset_from_named_arrays(arrays, source=f"npz '{path}'")


def _array(archive: NpzFile, key: str, path: Path) -> np.ndarray:
    """Array ``key`` of the ``.npz``; one of Python objects (a pandas column saved as it is)
    is refused naming it, since reading it would run pickle."""
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise _unreadable(path, exc) from exc
        raise DataError(
            f"cannot read '{path}': its array {key!r} holds Python objects (dtype object, as a pandas column "
            "does), which only pickle reads; save it as numbers or text, e.g. y.astype(str) or y.astype(int)"
        ) from None
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from exc


def check_npz(path: Path) -> None:
    """Fail as ``load_npz`` would on a file that is no ``.npz`` or lacks the arrays' names, reading no array.

    Raises:
        DataError: what ``load_npz`` raises for those.
    """
    with _opened(path) as archive:
        _naming(f"npz '{path}'", archive.files)


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[NpzFile]:
    if not zipfile.is_zipfile(path):
        raise DataError(f"'{path}' is not a .npz file (not a zip archive); save the arrays with numpy.savez")
    try:
        archive = np.load(path, allow_pickle=False)
    except _UNREADABLE as exc:
        raise _unreadable(path, exc) from exc
    with archive:
        yield archive


def _unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(f"cannot read '{path}' as .npz: {one_line(exc)}; save it with numpy.savez")


def dataset_from_named_arrays(arrays: Mapping[str, np.ndarray], *, source: str) -> Dataset:
    """The data set in ``arrays``, keyed as an ``.npz`` file's arrays are (``NAMINGS``).

    ``source`` names where they are (``npz 'PATH'``, or a description) in every error.

    Raises:
        DataError: no training images and labels under any accepted name, only one of a
            given pair, or anything ``dataset_from_arrays`` rejects.
    """
    naming = _naming(source, arrays)
    _refuse_unread_images(source, arrays, naming)
    (x, y), (x_val, y_val), (x_test, y_test) = naming.train, naming.val, naming.test
    return dataset_from_arrays(
        arrays[x],
        arrays[y],
        arrays.get(x_test),
        arrays.get(y_test),
        x_val=arrays.get(x_val),
        y_val=arrays.get(y_val),
        source=source,
    )


def _refuse_unread_images(source: str, arrays: Mapping[str, np.ndarray], naming: Naming) -> None:
    """Refuse arrays of images (3 or more dimensions) that ``naming`` would leave unread: a
    split under another name (``x_valid``, ``x_tset``, two namings mixed) would be dropped
    without a word. Other arrays (class names, metadata) are left alone.

    Raises:
        DataError: naming the unread arrays, their shapes, and the names that are read.
    """
    read = {*naming.train, *naming.val, *naming.test}
    unread = {key: np.shape(value) for key, value in arrays.items() if key not in read}
    if not any(len(shape) >= 3 for shape in unread.values()):
        return
    listed = ", ".join(f"{key} {shape}" for key, shape in sorted(unread.items()))
    raise DataError(
        f"{source} has arrays it would not read: {listed}. With training arrays {'/'.join(naming.train)}, "
        f"given splits are {'/'.join(naming.val)} (validation) and {'/'.join(naming.test)} (test): "
        "rename them, or leave them out of the file"
    )


def _naming(source: str, names: Collection[str]) -> Naming:
    """The first of ``NAMINGS`` whose training images and labels are both among ``names``.

    Raises:
        DataError: none is, or the naming's validation or test pair has one array without the other.
    """
    for naming in NAMINGS:
        if all(key in names for key in naming.train):
            break
    else:
        accepted = ", ".join("/".join(naming.train) for naming in NAMINGS)
        raise DataError(
            f"{source} has no training images and labels (it has: {', '.join(sorted(names)) or 'nothing'}); "
            f"save them as one of these pairs: {accepted}"
        )
    for pair in (naming.val, naming.test):
        present = [key for key in pair if key in names]
        if len(present) == 1:
            raise DataError(
                f"{source} has {present[0]} but not its partner; save both {pair[0]} and {pair[1]}, or neither"
            )
    return naming
