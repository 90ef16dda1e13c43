"""An image folder with one sub-folder of PNG/JPEG files per class."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from pipelines._dataset import Dataset, check_classes
from pipelines._errors import DataError
from pipelines._image import IMAGE_SUFFIXES
from pipelines._sources.files import load_image_files, repeated_files

__all__ = [
    "load_folder",
    "check_folder",
    "check_has_images",
    "class_folders",
    "class_files",
    "loose_images",
    "NO_CLASS",
    "refuse_repeated_files",
    "image_files",
    "image_paths",
]


# The folder of resource forks that macOS adds to a zip archive ("__MACOSX/class/._img.jpg").
_MACOS_ZIP = "__MACOSX"


def load_folder(folder: Path, *, image_size: tuple[int, int] | None, strict: bool) -> Dataset:
    """Classes are the sub-folder names (sorted); images are found at any depth below each.

    Hidden folders and files (``.git``, ``.DS_Store``), macOS's ``__MACOSX`` and files that
    are not images are ignored. Images beside the class folders, in none of them, have no
    class: they are left out, and listed in ``Dataset.skipped``, as are images of formats
    not read here (HEIC, RAW) and broken links.

    Raises:
        DataError: the folder has no class sub-folders, a class folder has no images, or an
            image file is in it twice (through a link).
    """
    class_dirs = _class_dirs(folder)
    paths: list[Path] = []
    labels: list[int] = []
    unread: list[tuple[str, str]] = []
    for label, class_dir in enumerate(class_dirs):
        files, others = class_files(class_dir)
        paths.extend(files)
        labels.extend([label] * len(files))
        unread.extend(others)
    source = f"image folder '{folder}'"
    refuse_repeated_files(paths, source)
    dataset = load_image_files(
        paths,
        np.asarray(labels, dtype=np.int64),
        source=source,
        image_size=image_size,
        strict=strict,
        class_names=tuple(d.name for d in class_dirs),
    )
    skipped = tuple((str(path), NO_CLASS) for path in loose_images(folder)) + tuple(unread)
    return dataclasses.replace(dataset, skipped=skipped + dataset.skipped) if skipped else dataset


NO_CLASS = "in no class folder"  # why an image beside the class folders is left out


def loose_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (not hidden), sorted."""
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


def check_folder(folder: Path) -> None:
    """Fail as ``load_folder`` would on a folder without two class folders of images, reading
    no image and listing no more files than it takes to find one in each class.

    Raises:
        DataError: what ``load_folder`` raises for those.
    """
    class_dirs = _class_dirs(folder)
    for class_dir in class_dirs:
        check_has_images(class_dir)
    check_classes([d.name for d in class_dirs], f"image folder '{folder}'")


def _class_dirs(folder: Path) -> list[Path]:
    class_dirs = class_folders(folder)
    if not class_dirs:
        raise DataError(
            f"image folder '{folder}' has no class sub-folders; put each class's PNG/JPEG images "
            "in a sub-folder named after the class"
        )
    inner = class_folders(class_dirs[0]) if len(class_dirs) == 1 else []
    if len(inner) >= 2:  # a folder around the data set's (as an archive unpacks): one class of all
        raise DataError(
            f"image folder '{folder}' has one sub-folder, '{class_dirs[0].name}', whose sub-folders "
            f"({', '.join(repr(d.name) for d in inner[:3])}{', ...' if len(inner) > 3 else ''}) look like the "
            f"classes: give '{class_dirs[0]}' as the data"
        )
    return class_dirs


def class_folders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` that are not hidden (nor ``__MACOSX``, which macOS puts in
    the zip archives it makes), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != _MACOS_ZIP)


def image_files(folder: Path) -> list[Path]:
    """The image files (``IMAGE_SUFFIXES``) at any depth below ``folder`` (not hidden), sorted."""
    return sorted(path for path, why in _files_below(folder) if why is None)


# Image files of formats that Pillow does not read without a plug-in: in a class folder they
# are listed as skipped, where a text file is left out without a word.
_UNREAD_IMAGE_SUFFIXES = frozenset(
    {".heic", ".heif", ".jxl", ".svg", ".raw", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2"}
)
_BROKEN_LINK = "a link to a file that does not exist"


def _files_below(folder: Path) -> Iterator[tuple[Path, str | None]]:
    """The image files below ``folder`` (reason None), and the files that look like images
    but are not read (with the reason: a format Pillow does not read, a broken link).

    Linked folders are walked too (``Path.rglob`` skipped them, and their images, without a
    word), each real folder once, but not a link to ``folder`` or a folder above it (whose
    other folders, other classes, would become this one's). Hidden files and folders are left
    out.
    """
    top = os.path.realpath(folder)
    walked: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            dirs.clear()
            continue
        walked.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not _holds(os.path.join(root, d), top)]
        for name in files:
            if name.startswith("."):
                continue
            path = Path(root) / name
            suffix = path.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                yield path, None if path.is_file() else _BROKEN_LINK
            elif suffix in _UNREAD_IMAGE_SUFFIXES:
                yield path, f"a {suffix} image, a format not read here: convert it to PNG or JPEG"


def _holds(directory: str, top: str) -> bool:
    """Whether ``directory`` (a link, say) is really ``top`` or a folder above it."""
    real = os.path.realpath(directory)
    return os.path.commonpath([real, top]) == real


def refuse_repeated_files(paths: list[Path], source: str) -> None:
    """Refuse image files reached twice through links (in two classes, or twice in one): a
    copy could land in both the training and the test split, and in two classes it would
    train as both.

    Raises:
        DataError: naming the first file and its two paths.
    """
    repeated = repeated_files(paths)
    if repeated:
        first, again = (paths[i] for i in repeated[0][:2])
        raise DataError(
            f"{source}: '{first}' and '{again}' are one image file (through a link); keep each image in one "
            "class folder once: a copy could land in both the training and the test split"
        )


_DATA_FILE_SUFFIXES = (".npz", ".npy", ".csv")  # data sets a search reads, not images


def image_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    """``paths`` as given, with each folder among them replaced by its ``image_files``.

    Raises:
        DataError: a folder holds no image file, or a path is a data set file (``.npz``,
            ``.npy``, ``.csv``), naming it.
    """
    found: list[str | os.PathLike[str]] = []
    for path in paths:
        if Path(path).suffix.lower() in _DATA_FILE_SUFFIXES and Path(path).is_file():
            raise DataError(
                f"'{path}' is a {Path(path).suffix.lower()} data file, not an image: give image files or folders of "
                f"them ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        if not Path(path).is_dir():
            found.append(path)
            continue
        files = image_files(Path(path))
        if not files:
            raise DataError(f"folder '{path}' contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        found.extend(files)
    return found


def class_files(class_dir: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """``image_files(class_dir)``, and ``(path, reason)`` of the files that look like
    images but are not read (a format Pillow does not read, a broken link), each sorted.

    Raises:
        DataError: there are no image files, naming the folder.
    """
    found = sorted(_files_below(class_dir), key=lambda entry: entry[0])
    files = [path for path, why in found if why is None]
    if not files:
        raise _no_images(class_dir)
    return files, [(str(path), why) for path, why in found if why is not None]


def check_has_images(class_dir: Path) -> None:
    """Fail as ``class_files`` would on a folder without images, listing files only until
    the first image."""
    if next((path for path, why in _files_below(class_dir) if why is None), None) is None:
        raise _no_images(class_dir)


def _no_images(class_dir: Path) -> DataError:
    return DataError(
        f"class folder '{class_dir}' contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
        "add images or remove the folder"
    )
