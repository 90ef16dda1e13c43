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
from pipelines._sources.files import load_image_files

__all__ = [
    "load_folder",
    "check_folder",
    "check_has_images",
    "class_folders",
    "class_images",
    "image_files",
    "image_paths",
]


# The folder of resource forks that macOS adds to a zip archive ("__MACOSX/class/._img.jpg").
_MACOS_ZIP = "__MACOSX"


def load_folder(folder: Path, *, image_size: tuple[int, int] | None, strict: bool) -> Dataset:
    """Classes are the sub-folder names (sorted); images are found at any depth below each.

    Hidden folders and files (``.git``, ``.DS_Store``), macOS's ``__MACOSX`` and files that
    are not images are ignored. Images beside the class folders, in none of them, have no
    class: they are left out, and listed in ``Dataset.skipped``.

    Raises:
        DataError: the folder has no class sub-folders, or a class folder has no images.
    """
    class_dirs = _class_dirs(folder)
    paths: list[Path] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        files = class_images(class_dir)
        paths.extend(files)
        labels.extend([label] * len(files))
    dataset = load_image_files(
        paths,
        np.asarray(labels, dtype=np.int64),
        source=f"image folder '{folder}'",
        image_size=image_size,
        strict=strict,
        class_names=tuple(d.name for d in class_dirs),
    )
    loose = tuple((str(path), _NO_CLASS) for path in _loose_images(folder))
    return dataclasses.replace(dataset, skipped=loose + dataset.skipped) if loose else dataset


_NO_CLASS = "in no class folder"  # why an image beside the class folders is left out


def _loose_images(folder: Path) -> list[Path]:
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
    return class_dirs


def class_folders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` that are not hidden (nor ``__MACOSX``, which macOS puts in
    the zip archives it makes), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != _MACOS_ZIP)


def image_files(folder: Path) -> list[Path]:
    """The image files (``IMAGE_SUFFIXES``) at any depth below ``folder`` (not hidden), sorted."""
    return sorted(_image_files_below(folder))


def _image_files_below(folder: Path) -> Iterator[Path]:
    """The image files below ``folder``, through linked folders too (``Path.rglob`` skipped
    them, and their images, without a word), each real folder walked once (a link to a folder
    above it would loop); hidden files and folders are left out."""
    walked: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            dirs.clear()
            continue
        walked.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                yield path


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


def class_images(class_dir: Path) -> list[Path]:
    """``image_files(class_dir)``.

    Raises:
        DataError: there are none, naming the folder.
    """
    files = image_files(class_dir)
    if not files:
        raise _no_images(class_dir)
    return files


def check_has_images(class_dir: Path) -> None:
    """Fail as ``class_images`` would on a folder without images, listing files only until
    the first image."""
    if next(_image_files_below(class_dir), None) is None:
        raise _no_images(class_dir)


def _no_images(class_dir: Path) -> DataError:
    return DataError(
        f"class folder '{class_dir}' contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
        "add images or remove the folder"
    )
