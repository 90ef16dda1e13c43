"""What a study computes on its images before its first trial, on large images:
``Normalization.fit`` against NumPy's own per-channel ``mean`` and ``std`` (time and memory),
and ``mirror_asymmetry`` (whether flips may augment them) against a limit, 2% of a
2-minute budget.

Both run inside the time budget. Until 2026-12-05 ``fit`` converted 4,096 images at a
time to float64: at 224x224x3 that is 4 GB for 1,701 images, and a 2-minute search on them
spent 33 s of its budget there. It now counts each channel's 256 byte values
(``np.bincount``), a bounded number of pixel values at a time. ``mirror_asymmetry`` took
8 s on 2,000 such images (``np.add.at`` over whole edge maps, and a float mean over the
channel axis); it now sums each group of images and adds the channels one by one.

Synthetic uint8 images and labels (random values; the cost does not depend on them).
Prints seconds and peak extra memory (``tracemalloc``) of one fresh run each, as a study
computes them once.

Run: ``python bench/bench_data_statistics.py`` (about 40 s on 2 CPU cores);
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

    from pipelines import Normalization, mirror_asymmetry

    x = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    print(f"images: {args.images:,} of {args.size}x{args.size}x3 uint8 ({x.nbytes / 1e6:,.0f} MB)\n")

    def numpy_statistics() -> tuple[np.ndarray, np.ndarray]:
        return x.mean(axis=(0, 1, 2), dtype=np.float64), x.std(axis=(0, 1, 2), dtype=np.float64)

    ours_s, ours_mb, ours = _measure(lambda: Normalization.fit(x), args.repeats)
    numpy_s, numpy_mb, (mean, std) = _measure(numpy_statistics, args.repeats)
    assert np.allclose(ours.mean, mean, rtol=1e-9) and np.allclose(ours.std, std, rtol=1e-6)
    y = np.random.default_rng(1).integers(0, 10, len(x))
    mirror_s, mirror_mb, _ = _measure(lambda: mirror_asymmetry(x, y), args.repeats)
    rows = [
        ("Normalization.fit", f"{ours_s:.2f}", f"{ours_mb:,.0f}"),
        ("numpy mean + std (float64)", f"{numpy_s:.2f}", f"{numpy_mb:,.0f}"),
        ("mirror_asymmetry", f"{mirror_s:.2f}", f"{mirror_mb:,.0f}"),
    ]
    print(_common.format_table(("statistics", "seconds", "peak extra MB"), rows))
    print(f"\nfit / numpy: {ours_s / numpy_s:.2f}x the time, {ours_mb / max(numpy_mb, 1e-9):.2f}x the memory")
    share = mirror_s / 120
    print(f"mirror_asymmetry: {share:.1%} of a 2-minute budget ({'within' if share <= 0.02 else 'over'} the 2% limit)")


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
