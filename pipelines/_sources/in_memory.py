"""Arrays given in memory (the Python API's ``data=(x, y)``), kept as an ``.npz`` file.

A study names its data by a path or a name, so that it can resume and workers can join it:
arrays given in memory are saved once, under a name taken from their contents
(``arrays-<digest>.npz``), and the study reads that file like any other ``.npz``. The
same arrays given again name the same file, so the same study resumes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, TypeGuard

import numpy as np

from pipelines._errors import DataError, one_line
from pipelines._sources.npz import dataset_from_named_arrays

__all__ = ["ArrayData", "save_arrays", "is_saved_arrays", "named_arrays"]

_SAVED_PREFIX = "arrays-"
_SAVED_NAME = rf"{_SAVED_PREFIX}[0-9a-f]+\.npz"  # what save_arrays names a file

ArrayData: TypeAlias = Sequence[Any] | Mapping[str, Any]
"""``(x, y)``, ``(x, y, x_test, y_test)``, ``((x, y), (x_test, y_test))`` as
``keras.datasets.*.load_data()`` returns, or a mapping keyed as an ``.npz`` file is
(``x_train``, ``y_train``, ``x_val``, ... : ``pipelines._sources.npz.NAMINGS``)."""

_SHAPES = "(x, y), (x, y, x_test, y_test), ((x, y), (x_test, y_test)) or a dict of named arrays"
_POSITIONAL_KEYS = ("x_train", "y_train", "x_test", "y_test")
DIGEST_CHARS = 16
"""Hex digits of the contents' SHA-256 in the file's name."""


def named_arrays(data: ArrayData) -> dict[str, np.ndarray]:
    """``data`` as NumPy arrays keyed as in an ``.npz`` file.

    Raises:
        DataError: ``data`` has none of the accepted shapes, or an array of Python objects.
    """
    if isinstance(data, Mapping):
        given = {str(key): value for key, value in data.items()}
    elif _is_sequence(data):
        parts = list(data)
        if len(parts) == 2 and all(_is_split(part) for part in parts):
            parts = [*parts[0], *parts[1]]  # keras.datasets' ((x, y), (x_test, y_test))
        if len(parts) not in (2, 4):
            raise DataError(f"in-memory data must be {_SHAPES}; got a {type(data).__name__} of {len(parts)} items")
        given = dict(zip(_POSITIONAL_KEYS, parts, strict=False))
    else:
        raise DataError(f"data must be a path, a data set name, or {_SHAPES}; got {type(data).__name__}")
    return {key: _plain_array(key, value) for key, value in given.items()}


def save_arrays(data: ArrayData, folder: str | os.PathLike[str]) -> Path:
    """Check ``data`` and save it as ``folder/arrays-<digest>.npz``; returns the file's absolute path.

    The arrays are checked as a data set first, so bad ones are refused before anything is
    written. A file of the same contents is reused as it is: it was checked when written.

    Raises:
        DataError: ``data`` is not of an accepted shape, or not a usable data set (naming why).
    """
    arrays = named_arrays(data)
    path = Path(folder).expanduser().resolve() / f"{_SAVED_PREFIX}{_digest(arrays)}.npz"
    if not path.exists():
        dataset_from_named_arrays(arrays, source="data (in memory)")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")  # savez keeps a .npz suffix
        np.savez(partial, **arrays)  # type: ignore[arg-type]  # numpy types **kwds as allow_pickle
        os.replace(partial, path)  # whole or absent, even with two processes saving at once
    return path


def is_saved_arrays(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file that ``save_arrays`` writes into ``folder`` (by its name)."""
    path = Path(path)
    return path.parent == Path(folder).expanduser().resolve() and re.fullmatch(_SAVED_NAME, path.name) is not None


def _is_sequence(data: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(data, Sequence) and not isinstance(data, (str, bytes))


def _is_split(part: object) -> bool:
    """Whether ``part`` is one split's ``(x, y)``: two items, the first a batch (2 dimensions or
    more: images, or vectors that are refused later saying so). Of two images and their labels,
    ``([image, image], [label, label])``, the labels are not one: their first is one label."""
    return _is_sequence(part) and len(part) == 2 and _dimensions(part[0]) >= 2


def _dimensions(value: object) -> int:
    """``np.ndim(value)``, read from the first item of each level: a list of images of several
    shapes makes no array, which ``_plain_array`` refuses saying why."""
    if _is_sequence(value):
        return 1 + (_dimensions(value[0]) if len(value) else 0)
    return int(getattr(value, "ndim", 0))  # an array or a tensor of any library; a label has none


def _plain_array(key: str, value: object) -> np.ndarray:
    """``value`` as an array ``np.load`` reads back without pickles (labels as strings if need be)."""
    try:
        array = np.asarray(value)
    except ValueError as exc:  # a list of arrays of different shapes
        raise DataError(
            f"the array {key!r} cannot be made of its items ({one_line(exc)}); give images of one shape "
            "(resize them, or save them as files in class folders, which are resized to their most common size)"
        ) from exc
    if array.dtype == object:
        array = np.asarray(array.tolist())
    if array.dtype == object:
        raise DataError(f"the array {key!r} holds Python objects of mixed types; give numbers or strings")
    return array


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' names, types, shapes and bytes."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.data)
    return digest.hexdigest()[:DIGEST_CHARS]
