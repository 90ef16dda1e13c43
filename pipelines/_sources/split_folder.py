"""An image folder of given splits: ``train/<class>/…``, ``test/<class>/…`` and optionally ``val/<class>/…``
(also named ``training/``, ``testing/``, ``valid/`` or ``validation/``, alone or as a word of
the name: Kaggle's ``training_set/`` and ``test_set/``, Intel's ``seg_train/`` and ``seg_test/``).

This is how most published image data sets are laid out. The splits are kept as given:
the test folder is the test split and the validation folder (``val/``, ``valid/`` or
``validation/``) the validation split, so none is carved out of the training images.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pipelines._dataset import Dataset
from pipelines._errors import DataError
from pipelines._sources.files import load_split_image_files
from pipelines._sources.folder import (
    NO_CLASS,
    check_has_images,
    class_files,
    class_folders,
    loose_images,
    refuse_repeated_files,
)

__all__ = ["is_split_folder", "load_split_folder", "check_split_folder"]

# A word of a folder's name (any case) -> the split it holds.
_SPLIT_OF_WORD = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
_SPLIT_ORDER = ("train", "val", "test")


def split_of_folder(name: str) -> str | None:
    """The split a folder named ``name`` holds: the one its words (split at anything but
    letters and digits) name, or None where they name none or two (``train_val``)."""
    named = {_SPLIT_OF_WORD.get(word) for word in re.split(r"[^a-z0-9]+", name.lower())} - {None}
    return named.pop() if len(named) == 1 else None


def is_split_folder(path: Path) -> bool:
    """A folder whose ``train/`` (or ``training_set/``, any case: ``split_of_folder``)
    sub-folder holds sub-folders, the classes."""
    return path.is_dir() and any(split_of_folder(d.name) == "train" and class_folders(d) for d in class_folders(path))


def load_split_folder(folder: Path, *, image_size: tuple[int, int] | None, strict: bool) -> Dataset:
    """The classes are the sub-folders of ``train/`` (sorted); each split uses the same classes.

    All images of all splits are read together, so they share one size (``image_size`` or
    the most common one) and one colour mode. A class may be missing from ``test/`` or
    ``val/``, but not from ``train/``.

    Raises:
        DataError: a top-level folder that is not a split, two folders of the same split
            (``val/`` and ``valid/``), a split without class sub-folders, a class of ``test/``
            or ``val/`` that ``train/`` lacks, or a class folder without images.
    """
    source = f"image folder '{folder}'"
    split_dirs = _split_dirs(folder)
    class_names = tuple(d.name for d in class_folders(split_dirs["train"]))
    paths: list[Path] = []
    labels: list[int] = []
    splits: list[str] = []
    unread: list[tuple[str, str]] = []
    for split, split_dir in split_dirs.items():
        for class_dir in _class_dirs(split_dir, class_names, folder):
            files, others = class_files(class_dir)
            paths.extend(files)
            labels.extend([class_names.index(class_dir.name)] * len(files))
            splits.extend([split] * len(files))
            unread.extend(others)
    refuse_repeated_files(paths, source)
    return load_split_image_files(
        paths,
        np.asarray(labels, dtype=np.int64),
        np.asarray(splits),
        source=source,
        image_size=image_size,
        strict=strict,
        class_names=class_names,
        skipped=_loose(folder, split_dirs) + tuple(unread),
    )


def _loose(folder: Path, split_dirs: dict[str, Path]) -> tuple[tuple[str, str], ...]:
    """The images beside the split folders or beside a split's class folders, in no class
    (as ``Dataset.skipped`` lists them)."""
    return tuple((str(path), NO_CLASS) for where in (folder, *split_dirs.values()) for path in loose_images(where))


def check_split_folder(folder: Path) -> None:
    """Fail as ``load_split_folder`` would on a folder of splits laid out wrongly, reading no
    image and listing no more files than it takes to find one in each class of each split.

    Raises:
        DataError: what ``load_split_folder`` raises for those.
    """
    split_dirs = _split_dirs(folder)
    class_names = tuple(d.name for d in class_folders(split_dirs["train"]))
    for split_dir in split_dirs.values():
        for class_dir in _class_dirs(split_dir, class_names, folder):
            check_has_images(class_dir)


def _split_dirs(folder: Path) -> dict[str, Path]:
    """Split name -> its folder, in the order train, val, test; only the splits present."""
    found: dict[str, list[Path]] = {}
    others: list[str] = []
    for sub in class_folders(folder):
        split = split_of_folder(sub.name)
        if split is None:
            others.append(f"{sub.name}/")
        else:
            found.setdefault(split, []).append(sub)
    if others:
        raise DataError(
            f"image folder '{folder}' has a train/ folder of class folders, so it is read as given splits, "
            f"but it also has {', '.join(others)}; keep only train/, val/ (or valid/, validation/) and test/ "
            "at its top level, or, if train/ is a class of images beside the others, rename it (e.g. train_/)"
        )
    for dirs in found.values():
        if len(dirs) > 1:
            raise DataError(
                f"image folder '{folder}' has {' and '.join(f'{d.name}/' for d in dirs)}, two folders of the "
                "same split; keep one of them"
            )
    return {split: found[split][0] for split in _SPLIT_ORDER if split in found}


def _class_dirs(split_dir: Path, class_names: tuple[str, ...], folder: Path) -> list[Path]:
    """The class folders of one split, each one a class of ``train/``."""
    class_dirs = class_folders(split_dir)
    if not class_dirs:
        raise DataError(
            f"'{split_dir}' has no class sub-folders; put its images in one sub-folder per class, named as "
            "in train/ (images without a class cannot be scored)"
        )
    unknown = [d.name for d in class_dirs if d.name not in class_names]
    if unknown:
        named = f"class {unknown[0]!r} is" if len(unknown) == 1 else f"classes {', '.join(map(repr, unknown))} are"
        raise DataError(
            f"image folder '{folder}': {named} in {split_dir.name}/ but not in train/; every class needs "
            f"training images, so add train/{unknown[0]}/ or remove {split_dir.name}/{unknown[0]}/"
        )
    return class_dirs
