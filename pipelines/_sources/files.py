"""Reading a list of labelled image files into one ``Dataset`` (shared by folder and CSV sources)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line
from pipelines._image import (
    ImageProbe,
    check_fits_in_memory,
    deep_value_map,
    float_value_map,
    load_image,
    probe_image,
)

__all__ = [
    "ImageFiles",
    "read_image_files",
    "load_image_files",
    "load_split_image_files",
    "check_no_empty_class",
    "repeated_files",
]

_T = TypeVar("_T")

#: Threads that decode image files of at least ``THREADED_MIN_PIXELS`` (the most common size
#: among them). Pillow decodes and resizes those without the GIL: on 2 cores, 320x240 JPEGs
#: load 1.6 times as fast. Smaller files are mostly Python's work, which threads only slow
#: down (0.8-0.9 times as fast at 32x32 and 64x64), so they are read on one thread
#: (bench/bench_image_loading.py).
READ_THREADS = min(8, os.cpu_count() or 1)
THREADED_MIN_PIXELS = 100 * 100


@dataclass(frozen=True, kw_only=True)
class ImageFiles:
    """What ``read_image_files`` read: the pixels, which of the files they are, what was skipped.

    Attributes:
        images: uint8 ``(M, H, W, C)``, one per readable file, in the order of the files.
        kept: the index in the list of files of each image, ``(M,)``.
        skipped: ``(path, reason)`` of each unreadable file.
        value_map: how the values of 16-bit files that use only their low bits, or of float
            files, became pixels (``deep_value_map``, ``float_value_map``; a
            ``Dataset.value_map``; ``AS_PIXELS`` where they were pixels), or None (no such file).
        resized: for people, how many files of other sizes were resized, and stretched
            (``Dataset.conversions``); empty when the size was inferred and all had it.
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: tuple[tuple[str, str], ...]
    value_map: tuple[float, float] | None = None
    resized: tuple[str, ...] = ()


def read_image_files(
    paths: Sequence[Path],
    *,
    source: str,
    image_size: tuple[int, int] | None,
    strict: bool,
    threads: int | None = None,
) -> ImageFiles:
    """Read image files of possibly mixed sizes and colour modes into one array.

    Images are resized to ``image_size``, or else to the most common size among them, and
    are all grey if every file is grey, else all RGB. The headers are read first, then the
    pixels, by ``threads`` at once (default: ``READ_THREADS`` for files of at least
    ``THREADED_MIN_PIXELS``, else one); the result, skipped files included, is in the order
    of ``paths`` whatever their number.

    Raises:
        DataError: an unreadable file in strict mode (the first in ``paths``), or no
            readable file at all, naming ``source``.
    """
    skipped: list[tuple[str, str]] = []
    probed = _read_all(map, probe_image, paths, strict, skipped)
    probes = {path: probe for path, probe in zip(paths, probed, strict=True) if probe is not None}
    if not probes:
        raise _none_readable(source, len(paths), skipped)
    common = Counter(probe.size for probe in probes.values()).most_common(1)[0][0]
    size = image_size or common
    channels = 1 if all(probe.gray for probe in probes.values()) else 3
    check_fits_in_memory(len(probes), (*size, channels))
    value_map = _value_map(probes)
    read = partial(load_image, image_size=size, channels=channels, value_map=value_map)
    readable = [i for i, path in enumerate(paths) if path in probes]
    if threads is None:
        threads = READ_THREADS if common[0] * common[1] >= THREADED_MIN_PIXELS else 1
    with ThreadPoolExecutor(max_workers=threads) as pool:
        loaded = _read_all(pool.map, read, [paths[i] for i in readable], strict, skipped)
    kept = [i for i, image in zip(readable, loaded, strict=True) if image is not None]
    if not kept:
        raise _none_readable(source, len(paths), skipped)
    images = np.stack([image for image in loaded if image is not None])
    return ImageFiles(
        images=images,
        kept=np.asarray(kept, dtype=np.int64),
        skipped=tuple(skipped),
        value_map=value_map,
        resized=_resizing([probes[paths[i]].size for i in kept], size, given=image_size is not None),
    )


def _resizing(sizes: list[tuple[int, int]], size: tuple[int, int], *, given: bool) -> tuple[str, ...]:
    """What resizing ``sizes`` to ``size`` (H, W) did, for people: how many files were of
    another size, and how many of them were stretched (another aspect ratio, by more than
    ``STRETCH``); nothing where the size was inferred and none differed, or it was ``given``
    and none was stretched."""
    size = (int(size[0]), int(size[1]))
    other = [s for s in sizes if tuple(s) != size]
    stretched = sum(abs(math.log(s[1] * size[0] / (s[0] * size[1]))) > math.log(1 + STRETCH) for s in other)
    if not stretched and (given or not other):
        return ()
    said = f"{len(other)} of {len(sizes)} images of other sizes resized to {size[0]}x{size[1]} (height x width)"
    if stretched:
        said += f", {stretched} of them stretched to its shape (crop or pad them first to keep their proportions)"
    return (said,)


# An aspect ratio changed by more than this fraction is a stretch worth telling.
STRETCH = 0.05


def _value_map(probes: dict[Path, ImageProbe]) -> tuple[float, float] | None:
    """How the values of ``probes`` become pixels: ``deep_value_map`` of the 16-bit grey files,
    or ``float_value_map`` of the float ones; none where there are both (one map would change
    the values of both) or neither."""
    deep = [path for path, probe in probes.items() if probe.mode.startswith("I")]
    floats = [path for path, probe in probes.items() if probe.mode == "F"]
    if deep and floats:
        return None
    return deep_value_map(deep) if deep else float_value_map(floats) if floats else None


def _read_all(
    mapper: Callable[..., Iterator[tuple[_T | None, DataError | None]]],
    read: Callable[[Path], _T],
    paths: Sequence[Path],
    strict: bool,
    skipped: list[tuple[str, str]],
) -> list[_T | None]:
    """``read`` of each path through ``mapper`` (``map``, a pool's ``map``), in order; ``None``
    for an unreadable file, which is noted in ``skipped`` (when ``strict``, the first one raises)."""
    outcomes = list(mapper(partial(_attempt, read), paths))
    results: list[_T | None] = []
    for path, (value, error) in zip(paths, outcomes, strict=True):
        if error is not None:
            if strict:
                raise error
            skipped.append((str(path), one_line(error.__cause__ or error)))
        results.append(value)
    return results


def _attempt(read: Callable[[Path], _T], path: Path) -> tuple[_T | None, DataError | None]:
    try:
        return read(path), None
    except DataError as exc:
        return None, exc


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
    return dataclasses.replace(dataset, value_map=read.value_map, conversions=dataset.conversions + read.resized)


def load_split_image_files(
    paths: Sequence[Path],
    labels: np.ndarray,
    splits: np.ndarray,
    *,
    source: str,
    image_size: tuple[int, int] | None,
    strict: bool,
    class_names: tuple[str, ...] | None = None,
    skipped: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """Load labelled image files of given splits (``splits[i]``: ``"train"``, ``"val"`` or
    ``"test"``) into one ``Dataset``, read together (one size, one colour mode), as
    ``load_image_files`` does; ``skipped`` lists the files left out before reading.

    Raises:
        DataError: what ``load_image_files`` raises.
    """
    read = read_image_files(paths, source=source, image_size=image_size, strict=strict)
    kept_labels, kept_splits = labels[read.kept], splits[read.kept]
    parts = {split: (read.images[kept_splits == split], kept_labels[kept_splits == split]) for split in set(splits)}
    x_val, y_val = parts.get("val", (None, None))
    x_test, y_test = parts.get("test", (None, None))
    dataset = dataset_from_arrays(
        *parts["train"],
        x_test,
        y_test,
        x_val=x_val,
        y_val=y_val,
        source=source,
        class_names=class_names,
        skipped=skipped + read.skipped,
    )
    check_no_empty_class(dataset)
    return dataclasses.replace(dataset, value_map=read.value_map, conversions=dataset.conversions + read.resized)


def repeated_files(paths: Sequence[Path]) -> list[list[int]]:
    """The indices of ``paths`` that are one file, each known by its real path (``./a.png``,
    ``a.png`` and a link to it are one): a group per file listed more than once, in the order
    of their first listing."""
    indices: dict[str, list[int]] = {}
    for index, path in enumerate(paths):
        indices.setdefault(os.path.realpath(path), []).append(index)
    return [found for found in indices.values() if len(found) > 1]


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
            f"(skipped files: {len(dataset.skipped)}{_first_skipped(dataset.skipped, empty[0])}); add images or "
            "remove the class"
        )


def _first_skipped(skipped: tuple[tuple[str, str], ...], class_name: str) -> str:
    """``", first: 'PATH': REASON"`` for the first skipped file, one in a folder named as the
    class where there is one (an image folder's), or "" when none was skipped."""
    if not skipped:
        return ""
    path, reason = next((s for s in skipped if class_name in Path(s[0]).parts), skipped[0])
    return f", first: '{path}': {reason}"
