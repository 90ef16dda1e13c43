"""How fast an image folder loads: the file reader as it is, against one thread.

An image folder (or a CSV of paths) is read in full before a search starts, inside the
time budget. The reader decodes files of at least ``THREADED_MIN_PIXELS`` on
``READ_THREADS`` threads and smaller ones on one. This writes two folders and times
``pipelines.load_dataset`` on each, as it is and held to one thread, best of
``--repeats``:

- photos: ``--photos`` JPEGs of 320x240 RGB in 10 classes, resized to 96x96 on reading;
- small: ``--small`` PNGs of 28x28 grey in 10 classes, kept at their size.

The pixels are Fashion-MNIST images from ``../shared/datasets`` (upscaled and tinted for
the photos) when present, else random. It prints images/s and the ratio of the two.

Run: ``python bench/bench_image_loading.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common
import numpy as np
from PIL import Image

import pipelines
from pipelines._sources import files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=1000, help="JPEG files of 320x240 RGB")
    parser.add_argument("--small", type=int, default=5000, help="PNG files of 28x28 grey")
    parser.add_argument("--repeats", type=int, default=3, help="timings per case (the best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    pixels = _pixels(max(args.photos, args.small), args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-loading-") as folder:
        cases = {
            "photos 320x240 RGB JPEG -> 96x96": (
                _write(Path(folder) / "photos", pixels[: args.photos], _photo, "jpg"),
                (96, 96),
            ),
            "small 28x28 grey PNG": (
                _write(Path(folder) / "small", pixels[: args.small], Image.fromarray, "png"),
                None,
            ),
        }
        for name, (root, size) in cases.items():
            count = sum(1 for _ in root.rglob(f"*.{'jpg' if size else 'png'}"))
            one = _best(args.repeats, functools.partial(_load, root, size, threads=1))
            default = _best(args.repeats, functools.partial(_load, root, size, threads=files.READ_THREADS))
            rows.append((name, count, count / one, count / default, one / default))
            print(
                f"{name}: {count} files, one thread {count / one:,.0f} images/s, "
                f"as it is {count / default:,.0f} images/s",
                flush=True,
            )
    print()
    print(
        _common.format_table(
            ("case", "files", "one thread img/s", "as it is img/s", "speed-up"),
            [(n, c, f"{a:,.0f}", f"{b:,.0f}", f"{r:.2f}x") for n, c, a, b, r in rows],
        )
    )
    print(f"as it is: {files.READ_THREADS} threads for files of {files.THREADED_MIN_PIXELS:,} pixels or more")


def _pixels(count: int, seed: int) -> list[np.ndarray]:
    """``count`` 28x28 grey images with their labels' order kept: Fashion-MNIST or random."""
    source = _common.SHARED_DATASETS / "fashion_mnist.npz"
    if source.is_file():
        with np.load(source) as data:
            return list(data["x_train"][:count])
    return list(np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8))


def _photo(image: np.ndarray) -> Image.Image:
    """A 320x240 colour picture of a 28x28 grey image: upscaled and tinted."""
    big = np.asarray(Image.fromarray(image).resize((320, 240), Image.BILINEAR), dtype=np.float32) / 255
    tint = np.array([0.9, 0.6, 0.3], dtype=np.float32)
    return Image.fromarray((big[..., None] * tint * 255).astype(np.uint8))


def _write(root: Path, images: list[np.ndarray], to_image: Callable[[np.ndarray], Image.Image], ext: str) -> Path:
    for i, image in enumerate(images):
        path = root / f"class{i % 10}" / f"{i}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        to_image(image).save(path)
    return root


def _load(root: Path, size: tuple[int, int] | None, *, threads: int) -> None:
    """``load_dataset`` with the reader's ``READ_THREADS`` set to ``threads`` for the call."""
    default = files.READ_THREADS
    files.READ_THREADS = threads
    try:
        pipelines.load_dataset(str(root), image_size=size)
    finally:
        files.READ_THREADS = default


def _best(repeats: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    main()
