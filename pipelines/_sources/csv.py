"""A CSV file listing image paths and their labels."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line
from pipelines._image import IMAGE_SUFFIXES
from pipelines._sources.files import load_image_files, load_split_image_files, repeated_files
from pipelines._sources.split_folder import split_of_folder

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_csv", "check_csv"]


def load_csv(
    path: Path,
    *,
    image_size: tuple[int, int] | None,
    strict: bool,
    path_column: str,
    label_column: str,
) -> Dataset:
    """Read the CSV with pandas and load the images it lists.

    Relative image paths are resolved against the CSV file's folder, so a data set folder
    can be moved as a whole. When the table has no ``path_column`` and ``label_column``
    (``path`` and ``label`` by default), the columns are found by their content
    (``_found_columns``): ``filename,class`` reads as well as ``path,label``. A column
    named ``split`` (or ``subset``, ``partition``) holds given splits: each row's
    ``train``, ``val`` or ``test`` (as a folder of splits names them: ``training``,
    ``valid``, ``testing``...), kept as the study's splits.

    Raises:
        DataError: the CSV cannot be parsed, lacks a column, has empty cells in them, lists
            files that do not exist, or has a split column whose cells name no split.
    """
    files, labels, splits = _listing(path, path_column=path_column, label_column=label_column)
    source = f"CSV '{path}'"
    if splits is None:
        return load_image_files(files, labels, source=source, image_size=image_size, strict=strict)
    return load_split_image_files(files, labels, splits, source=source, image_size=image_size, strict=strict)


def check_csv(path: Path, *, path_column: str, label_column: str) -> None:
    """Fail as ``load_csv`` would on a CSV that does not parse, lacks its columns or lists
    missing files, reading no image.

    Raises:
        DataError: what ``load_csv`` raises for those.
    """
    _listing(path, path_column=path_column, label_column=label_column)


def _listing(path: Path, *, path_column: str, label_column: str) -> tuple[list[Path], np.ndarray, np.ndarray | None]:
    """The image files the CSV lists, resolved, their labels, and their given splits (None
    without a split column)."""

    table = _read_table(path)
    path_column, label_column = _columns(table, path, path_column, label_column)
    split_column = _split_column(table, (path_column, label_column))
    columns = [c for c in (path_column, label_column, split_column) if c is not None]
    table = table[columns]
    if table.empty:
        raise DataError(f"CSV '{path}' has no rows; list one image path and label per row")
    blank = table.index[(table == "").any(axis=1)]
    if len(blank):
        raise DataError(
            f"CSV '{path}' has rows with an empty {' or '.join(map(repr, columns))} cell "
            f"({len(blank)}, first: data row {blank[0] + 1}); fill them in or delete those rows"
        )
    files = [_resolve(path.parent, str(p)) for p in table[path_column]]
    absent = [f for f in files if not f.is_file()]
    folders = [f for f in absent if f.is_dir()]
    if folders:
        raise DataError(
            f"CSV '{path}' lists folders, not image files ({len(folders)}, first: '{folders[0]}'); "
            "list one image file per row (a folder of class sub-folders is given to --data itself)"
        )
    if absent:
        raise DataError(
            f"CSV '{path}' lists files that do not exist ({len(absent)}, first: '{absent[0]}'); "
            "fix the paths (relative paths are read from the CSV's folder)"
        )
    _refuse_repeated_files(path, files, table[label_column].tolist())
    splits = None if split_column is None else _splits(path, split_column, table[split_column].tolist())
    return files, _labels(table[label_column].to_numpy()), splits


# Names a column of given splits goes by, matched without regard to case.
SPLIT_COLUMN_NAMES = ("split", "subset", "partition")


def _split_column(table: pd.DataFrame, used: tuple[Column, Column]) -> Column | None:
    """The column of given splits: the first other than ``used`` named as in ``SPLIT_COLUMN_NAMES``."""
    named = {str(c).lower(): c for c in table.columns if c not in used}
    return next((named[n] for n in SPLIT_COLUMN_NAMES if n in named), None)


def _splits(path: Path, column: Column, cells: list[str]) -> np.ndarray:
    """Each row's split (``"train"``, ``"val"``, ``"test"``) as the split column names it.

    Raises:
        DataError: a cell names no split, or no row is in the training split.
    """
    named = {cell: split_of_folder(cell) for cell in set(cells)}
    unknown = sorted(cell for cell, split in named.items() if split is None)
    if unknown:
        raise DataError(
            f"CSV '{path}': its {column!r} column holds given splits, but {', '.join(map(repr, unknown[:3]))} "
            "name(s) no split; write train, val or test in it (or training, valid, validation, testing), or "
            "rename the column to leave it unused"
        )
    if "train" not in named.values():
        raise DataError(
            f"CSV '{path}': no row of its {column!r} column is in the training split (train or training); "
            "every class needs training images"
        )
    return np.asarray([named[cell] for cell in cells])


def _read_table(path: Path) -> pd.DataFrame:
    """The CSV's cells as written, stripped: a label "None" or "NA" is a class, not a missing
    value, "007" is not 7, and "cat " is "cat". A first row that names an image file is a
    row of data, not a header (a CSV written without one lost its first image)."""
    import pandas as pd

    options = {"dtype": str, "keep_default_na": False, "skipinitialspace": True, "encoding": _encoding(path)}
    try:
        table = pd.read_csv(path, **options)
        if any(_names_image(str(name).strip()) for name in table.columns):
            table = pd.read_csv(path, **options, header=None)
    except (OSError, ValueError) as exc:  # pandas parse errors are ValueErrors
        raise DataError(
            f"cannot read CSV '{path}': {one_line(exc)}; write a header row naming the path and label "
            "columns, then one row per image"
        ) from exc
    return table.apply(lambda column: column.str.strip())


def _encoding(path: Path) -> str:
    """The CSV's text encoding: UTF-8 (with or without a byte-order mark), else Windows-1252,
    as Excel's plain "CSV" saves it on Windows (read as UTF-8, its accents were a pandas
    traceback that advised a header row).

    Raises:
        DataError: it is in neither, naming the line and byte where UTF-8 fails.
    """
    try:
        body = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except OSError:
        return "utf-8-sig"  # pandas says what is wrong with the path
    try:
        body.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        where = exc.start
    try:
        body.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    line = body[:where].count(b"\n") + 1
    raise DataError(
        f"cannot read CSV '{path}': it is neither UTF-8 nor Windows-1252 text (line {line}, byte 0x{body[where]:02x}); "
        "save it as UTF-8 (Excel: CSV UTF-8)"
    )


def _refuse_repeated_files(path: Path, files: list[Path], labels: list[str]) -> None:
    """Refuse a CSV that lists an image more than once: its copies could land in both the
    training and the test split, and with two labels it would train as both classes. The
    files exist: each is known by its real path (``./a.png`` and ``a.png`` are one)."""
    repeated = repeated_files(files)
    if not repeated:
        return
    first = repeated[0]
    seen = ", ".join(f"data row {row + 1} ({labels[row]!r})" for row in first[:3])
    raise DataError(
        f"CSV '{path}' lists {len(repeated)} image file(s) more than once (first: '{files[first[0]]}' on {seen}); "
        "list each image once: a copy could land in both the training and the test split"
    )


def _labels(cells: np.ndarray) -> np.ndarray:
    """The label cells: integers when every one is written as an integer (so classes sort as
    numbers: 2 before 10), else the text of each."""
    try:
        numbers = np.asarray([int(cell) for cell in cells], dtype=np.int64)
    except (ValueError, OverflowError):
        return cells.astype(str)
    as_written = all(str(n) == cell for n, cell in zip(numbers.tolist(), cells, strict=True))
    return numbers if as_written else cells.astype(str)


def _resolve(folder: Path, image_path: str) -> Path:
    candidate = Path(image_path).expanduser()
    return candidate if candidate.is_absolute() else folder / candidate


# The column names used when none is given: a table without them has its columns found.
DEFAULT_PATH_COLUMN = "path"
DEFAULT_LABEL_COLUMN = "label"
# Names a label column goes by, matched without regard to case, in the order they are preferred.
LABEL_NAMES = ("label", "labels", "class", "class_name", "category", "target", "y")
# Separators a CSV written with another one shows in its single column's name.
_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "bars"}

Column = Any  # a pandas column label: a header's text, or a position in a file without one


def _columns(table: pd.DataFrame, path: Path, path_column: str, label_column: str) -> tuple[Column, Column]:
    """The table's path and label columns. A column named other than by default must be
    there (a header-less file's columns are named by position: 0, 1, ...); a default one
    that is not there is found by content (``_found_columns``), beside a named one kept."""
    path_found, label_found = _named(table, path_column), _named(table, label_column)
    for role, name, found, default in (
        ("path", path_column, path_found, DEFAULT_PATH_COLUMN),
        ("label", label_column, label_found, DEFAULT_LABEL_COLUMN),
    ):
        if found is None and name != default:
            raise DataError(
                f"CSV '{path}' has no {role} column {name!r} (it has: {_listed(table)}); "
                f"name one of those{_separator_hint(table)}"
            )
    if path_found is not None and label_found is not None:
        return path_found, label_found
    return _found_columns(table, path, path_found, label_found)


def _names_image(cell: object) -> bool:
    return Path(str(cell)).suffix.lower() in IMAGE_SUFFIXES


def _named(table: pd.DataFrame, name: str) -> Column | None:
    """The column called ``name``: by its header, or by its position in a file without one."""
    return next((c for c in table.columns if str(c) == name), None)


def _listed(table: pd.DataFrame) -> str:
    return ", ".join(map(repr, table.columns))


def _separator_hint(table: pd.DataFrame) -> str:
    """Advice for a table read as one column because its cells are separated by another character."""
    if len(table.columns) != 1:
        return ""
    header = str(table.columns[0])
    used = [name for sep, name in _OTHER_SEPARATORS.items() if sep in header]
    return f"; its cells look separated by {used[0]}, not commas: write it with commas" if used else ""


def _label_candidates(others: list[Column]) -> list[Column]:
    """The label column among the columns that do not name files: the only one, else the
    first named as in ``LABEL_NAMES`` (none: ``[]``)."""
    if len(others) == 1:
        return others
    named = {str(c).lower(): c for c in others}
    return [named[n] for n in LABEL_NAMES if n in named][:1]


def _found_columns(
    table: pd.DataFrame, path: Path, path_column: Column | None, label_column: Column | None
) -> tuple[Column, Column]:
    """The path and label columns of a table without the default names, the one found by name
    (``path_column`` or ``label_column``, else None) kept: the only column whose first cell
    names an image file (by its suffix), and the only other column or, among several, the
    first named as in ``LABEL_NAMES``."""
    first = table.iloc[0] if len(table) else None
    names_file = [c for c in table.columns if first is not None and _names_image(first[c])]
    paths = [path_column] if path_column is not None else names_file
    others = [c for c in table.columns if c not in paths and c not in names_file]
    labels = [label_column] if label_column is not None else _label_candidates(others)
    if len(paths) != 1 or not labels:
        defaults = ((DEFAULT_PATH_COLUMN, path_column), (DEFAULT_LABEL_COLUMN, label_column))
        missing = [name for name, column in defaults if column is None]
        raise DataError(
            f"CSV '{path}' has no column {' or '.join(map(repr, missing))} "
            f"(it has: {_listed(table)}) and its columns could not be told apart{_separator_hint(table)}; "
            "name the path and label columns (path_column=/label_column=, or --path-column/--label-column; "
            "a file without a header row names them by position: 0, 1, ...)"
        )
    return paths[0], labels[0]
