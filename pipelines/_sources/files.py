"""Reading a list of labelled image files into one ``Dataset`` (shared by folder and CSV sources)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line
from pipelines._image import check_fits_in_memory, load_image, probe_image

__all__ = ["ImageFiles", "read_image_files", "load_image_files", "check_no_empty_class"]

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class ImageFiles:
    """What ``read_image_files`` read: the pixels, which of the files they are, what was skipped.

    Attributes:
        images: uint8 ``(M, H, W, C)``, one per readable file, in the order of the files.
        kept: the index in the list of files of each image, ``(M,)``.
        skipped: ``(path, reason)`` of each unreadable file.
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: tuple[tuple[str, str], ...]


def read_image_files(
    paths: Sequence[Path], *, source: str, image_size: tuple[int, int] | None, strict: bool
) -> ImageFiles:
    """Read image files of possibly mixed sizes and colour modes into one array.

    Images are resized to ``image_size``, or else to the most common size among them, and
    are all grey if every file is grey, else all RGB.

    Raises:
        DataError: an unreadable file in strict mode, or no readable file at all, naming ``source``.
    """
    skipped: list[tuple[str, str]] = []
    probes = {path: probe for path in paths if (probe := _try(probe_image, path, strict, skipped))}
    if not probes:
        raise _none_readable(source, len(paths), skipped)
    size = image_size or Counter(size for size, _ in probes.values()).most_common(1)[0][0]
    channels = 1 if all(gray for _, gray in probes.values()) else 3
    check_fits_in_memory(len(probes), (*size, channels))
    read = partial(load_image, image_size=size, channels=channels)
    images, kept = [], []
    for i, path in enumerate(paths):
        if path in probes:
            image = _try(read, path, strict, skipped)
            if image is not None:
                images.append(image)
                kept.append(i)
    if not images:
        raise _none_readable(source, len(paths), skipped)
    return ImageFiles(images=np.stack(images), kept=np.asarray(kept, dtype=np.int64), skipped=tuple(skipped))


def load_image_files(
    paths: Sequence[Path],
    labels: np.ndarray,
    *,
    source: str,
    image_size: tuple[int, int] | None,
    strict: bool,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Load labelled image files (read as ``read_image_files`` does) into one ``Dataset``.

    Args:
        paths: the image files.
        labels: one label per file (codes ``0..K-1`` when ``class_names`` is given, else any values).
        source: names the source in messages.
        image_size: ``(H, W)`` to resize to, or ``None`` to infer it.
        strict: raise on the first unreadable file instead of skipping it.
        class_names: names of label codes, or ``None`` to derive classes from ``labels``.

    Raises:
        DataError: an unreadable file in strict mode, or no readable file left, or a class
            left without images.
    """
    read = read_image_files(paths, source=source, image_size=image_size, strict=strict)
    dataset = dataset_from_arrays(
        read.images, labels[read.kept], source=source, class_names=class_names, skipped=read.skipped
    )
    check_no_empty_class(dataset)
    return dataset


def _try(read: Callable[[Path], _T], path: Path, strict: bool, skipped: list[tuple[str, str]]) -> _T | None:
    """``read(path)``, or ``None`` after noting the file and why in ``skipped`` (re-raising when strict)."""
    try:
        return read(path)
    except DataError as exc:
        if strict:
            raise
        skipped.append((str(path), one_line(exc.__cause__ or exc)))
        return None


def _none_readable(source: str, count: int, skipped: list[tuple[str, str]]) -> DataError:
    path, reason = skipped[0]
    return DataError(f"{source}: none of the {count} image files could be read (first: '{path}': {reason})")


def check_no_empty_class(dataset: Dataset) -> None:
    """Raise ``DataError`` naming the first class without training images (all its files were skipped)."""
    counts = np.bincount(dataset.y, minlength=dataset.num_classes)
    empty = [name for name, n in zip(dataset.class_names, counts, strict=True) if n == 0]
    if empty:
        raise DataError(
            f"{dataset.source}: class {empty[0]!r} has no readable images "
            f"(skipped files: {len(dataset.skipped)}); add images or remove the class"
        )
