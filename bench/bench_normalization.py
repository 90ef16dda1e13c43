"""The normalisation's statistics on large images: ``Normalization.fit`` against NumPy's own
per-channel ``mean`` and ``std``, in time and in the memory each takes.

A study fits the per-channel mean and standard deviation of its training split before its
first trial, inside the time budget. Until 2026-12-05 ``fit`` converted 4,096 images at a
time to float64: at 224x224x3 that is 4.9 GB per chunk, and a 2-minute search on 1,701
such images spent 33 s of its budget there. It now counts each channel's 256 byte values
(``np.bincount``), a bounded number of pixel values at a time.

Synthetic uint8 images (random values; the statistics' cost does not depend on them).
Prints seconds and peak extra memory (``tracemalloc``) for each, and their ratios.

Run: ``python bench/bench_normalization.py`` (about 40 s on 2 CPU cores; before the change, 2 minutes);
``--images 500 --size 96`` for other shapes.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import _common
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1701, help="the training split of the 2-minute search above")
    parser.add_argument("--size", type=int, default=224, help="height and width")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="timed runs of each, the fastest counts (1: a fresh run, as a study fits once)",
    )
    args = parser.parse_args()
    _common.print_provenance(0)

    from pipelines import Normalization

    x = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    print(f"images: {args.images:,} of {args.size}x{args.size}x3 uint8 ({x.nbytes / 1e6:,.0f} MB)\n")

    def numpy_statistics() -> tuple[np.ndarray, np.ndarray]:
        return x.mean(axis=(0, 1, 2), dtype=np.float64), x.std(axis=(0, 1, 2), dtype=np.float64)

    ours_s, ours_mb, ours = _measure(lambda: Normalization.fit(x), args.repeats)
    numpy_s, numpy_mb, (mean, std) = _measure(numpy_statistics, args.repeats)
    assert np.allclose(ours.mean, mean, rtol=1e-9) and np.allclose(ours.std, std, rtol=1e-6)
    rows = [
        ("Normalization.fit", f"{ours_s:.2f}", f"{ours_mb:,.0f}"),
        ("numpy mean + std (float64)", f"{numpy_s:.2f}", f"{numpy_mb:,.0f}"),
    ]
    print(_common.format_table(("statistics", "seconds", "peak extra MB"), rows))
    print(f"\nfit / numpy: {ours_s / numpy_s:.2f}x the time, {ours_mb / max(numpy_mb, 1e-9):.2f}x the memory")


def _measure(work: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """The fastest of ``repeats`` runs' seconds, the peak memory allocated in one, and its result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return best, peak, result


if __name__ == "__main__":
    main()
