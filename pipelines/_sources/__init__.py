"""The registry of data sources: named data sets and path kinds, one module each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pipelines._dataset import Dataset
from pipelines._errors import DataError
from pipelines._image import check_image_size, resize_images
from pipelines._sources.csv import check_csv, load_csv
from pipelines._sources.digits import load_digits
from pipelines._sources.folder import check_folder, image_paths, load_folder
from pipelines._sources.in_memory import ArrayData, is_saved_arrays, save_arrays
from pipelines._sources.keras_datasets import KERAS_CLASS_NAMES, load_keras_dataset
from pipelines._sources.npz import check_npz, load_npz
from pipelines._sources.split_folder import check_split_folder, is_split_folder, load_split_folder

__all__ = [
    "load_dataset",
    "check_source",
    "save_arrays",
    "is_saved_arrays",
    "ArrayData",
    "NAMED_SOURCES",
    "DEFAULT_SOURCE",
    "image_paths",
]

DEFAULT_SOURCE = "digits"


@dataclass(frozen=True, kw_only=True)
class _Options:
    """What ``load_dataset`` passes on to path sources."""

    image_size: tuple[int, int] | None
    strict: bool
    path_column: str
    label_column: str


@dataclass(frozen=True, kw_only=True)
class _PathKind:
    """A kind of path a source reads: how to recognise it, how to load it, and how to check
    it cheaply (reading no image) before anything else is done."""

    name: str
    matches: Callable[[Path], bool]
    load: Callable[[Path, _Options], Dataset]
    check: Callable[[Path, _Options], None]


# Name -> loader of a data set known by name.
NAMED_SOURCES: dict[str, Callable[[], Dataset]] = {
    DEFAULT_SOURCE: load_digits,
    **{name: partial(load_keras_dataset, name) for name in KERAS_CLASS_NAMES},
}

# The first kind that matches reads the path: a folder of given splits before a plain one.
_PATH_KINDS = (
    _PathKind(
        name="an image folder of splits (train/, test/ [, val/])",
        matches=is_split_folder,
        load=lambda path, o: load_split_folder(path, image_size=o.image_size, strict=o.strict),
        check=lambda path, o: check_split_folder(path),
    ),
    _PathKind(
        name="an image folder",
        matches=Path.is_dir,
        load=lambda path, o: load_folder(path, image_size=o.image_size, strict=o.strict),
        check=lambda path, o: check_folder(path),
    ),
    _PathKind(
        name="a .npz file",
        matches=lambda p: p.suffix.lower() == ".npz",
        load=lambda path, o: load_npz(path),
        check=lambda path, o: check_npz(path),
    ),
    _PathKind(
        name="a .csv file",
        matches=lambda p: p.suffix.lower() == ".csv",
        load=lambda path, o: load_csv(
            path,
            image_size=o.image_size,
            strict=o.strict,
            path_column=o.path_column,
            label_column=o.label_column,
        ),
        check=lambda path, o: check_csv(path, path_column=o.path_column, label_column=o.label_column),
    ),
)


def load_dataset(
    source: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    strict: bool = False,
    path_column: str = "path",
    label_column: str = "label",
) -> Dataset:
    """Load labelled images from a named data set, an image folder, a ``.npz`` or a ``.csv``.

    Args:
        source: ``None`` or ``"digits"`` (scikit-learn's 8x8 digits, the default, no network);
            ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ``"cifar100"`` (``keras.datasets``,
            downloaded on first use, with their official test split); or a path: a folder
            with one sub-folder of PNG/JPEG images per class, a folder of given splits
            (``train/<class>/``, ``test/<class>/`` and optionally ``val/<class>/``, also
            spelled ``valid/`` or ``validation/``, or named with one of those words, as
            ``training_set/``), a ``.npz`` with ``x_train``, ``y_train``
            (and optionally ``x_val``, ``y_val``, ``x_test``, ``y_test``), or a CSV with an
            image-path and a label column. Names win over paths: write ``./mnist`` for a
            folder called ``mnist``.
        image_size: ``(H, W)`` to resize every image to; by default image folders and CSVs
            use their most common size and arrays keep theirs.
        strict: raise on an unreadable image file instead of skipping it (skipped files are
            listed in ``Dataset.skipped``).
        path_column, label_column: the CSV's column names.

    Returns:
        The data set, uint8 images ``(N, H, W, C)`` and int64 labels; a given test or
        validation split is in ``x_test``/``y_test`` or ``x_val``/``y_val``.

    Raises:
        DataError: a one-line message naming the bad path or value and what to do.

    Example:
        >>> ds = load_dataset()  # doctest: +SKIP
        >>> ds.input_shape, ds.num_classes  # doctest: +SKIP
        ((8, 8, 1), 10)
    """
    if image_size is not None:
        image_size = check_image_size(image_size)
    name = DEFAULT_SOURCE if source is None else source
    options = _Options(image_size=image_size, strict=strict, path_column=path_column, label_column=label_column)
    dataset = NAMED_SOURCES[name]() if name in NAMED_SOURCES else _load_path(Path(name).expanduser(), options)
    if image_size is not None and dataset.input_shape[:2] != image_size:
        dataset = dataclasses.replace(
            dataset,
            x=resize_images(dataset.x, image_size),
            x_val=None if dataset.x_val is None else resize_images(dataset.x_val, image_size),
            x_test=None if dataset.x_test is None else resize_images(dataset.x_test, image_size),
        )
    return dataset


def check_source(source: str | None, *, path_column: str = "path", label_column: str = "label") -> None:
    """Fail fast, reading no image, if ``load_dataset(source, ...)`` cannot even start.

    A command checks its ``--data`` with this before it creates a study or imports Keras,
    so a mistyped path or a file of the wrong kind costs a second and leaves no store behind.

    Raises:
        DataError: ``source`` is neither a known name nor a path of a kind that is read; or
            it is an image folder without two class folders of images, a ``.npz`` that is
            not one or lacks the arrays' names, or a CSV that does not parse, lacks its
            columns or lists missing files.
    """
    if source is None or source in NAMED_SOURCES:
        return
    path = Path(source).expanduser()
    options = _Options(image_size=None, strict=False, path_column=path_column, label_column=label_column)
    _path_kind(path).check(path, options)


def _path_kind(path: Path) -> _PathKind:
    kinds = ", ".join(kind.name for kind in _PATH_KINDS)
    if not path.exists():
        raise DataError(
            f"no such file or folder: '{path}'; give {kinds}, or one of the names {', '.join(NAMED_SOURCES)}"
        )
    for kind in _PATH_KINDS:
        if kind.matches(path):
            return kind
    raise DataError(f"cannot tell how to read '{path}'; give {kinds}")


def _load_path(path: Path, options: _Options) -> Dataset:
    return _path_kind(path).load(path, options)
