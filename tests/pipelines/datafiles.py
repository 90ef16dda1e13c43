"""Files the pipeline tests write for themselves: images, image folders, CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, shape: tuple[int, ...], seed: int = 0, fmt: str | None = None) -> np.ndarray:
    """Write random pixels of ``shape`` ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB); return them."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def write_pngs(folder: Path, count: int) -> None:
    """``count`` 5x5 colour images ``0.png``, ``1.png`` ... in ``folder``, each of its own seed:
    the files a CSV of paths and labels names."""
    for i in range(count):
        write_image(folder / f"{i}.png", (5, 5), seed=i)


def write_corrupt(path: Path) -> Path:
    """A file named like an image that holds no image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a PNG")
    return path


def make_folder(root: Path, classes: dict[str, int], shape: tuple[int, ...] = (12, 10, 3)) -> Path:
    """An image folder with ``classes[name]`` PNG images of ``shape`` per class."""
    for c, (name, count) in enumerate(classes.items()):
        for i in range(count):
            write_image(root / name / f"{i}.png", shape, seed=100 * c + i)
    return root


def make_split_folder(root: Path, splits: dict[str, dict[str, int]], shape: tuple[int, ...] = (12, 10, 3)) -> Path:
    """A folder of given splits: ``root/<split>/<class>/`` with ``splits[split][class]`` images each."""
    for s, (split, classes) in enumerate(splits.items()):
        for c, (name, count) in enumerate(classes.items()):
            for i in range(count):
                write_image(root / split / name / f"{i}.png", shape, seed=10_000 * s + 100 * c + i)
    return root
