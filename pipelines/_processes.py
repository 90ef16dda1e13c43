"""Augmentation in spawn-started processes, for when threads cannot keep up.

albumentations spends most of its time on small images in Python, holding the GIL, so
feeder threads top out near one core (about 2,000 MNIST images/s measured on an H100
host, bench/RESULTS.md). A pool of processes scales with the host's cores instead.

The processes are started with ``spawn``, never ``fork``: forking a process that has
started TensorFlow, JAX or CUDA threads is unsafe. They import only NumPy, albumentations
and this package (no Keras), once per pool; the pool lives as long as the process that
asked for it, so a study pays the start-up once, not once per trial. A batch travels as
its uint8 images and indices, and comes back augmented; each image is augmented from its
own ``(seed, epoch, index)`` stream, so results equal the in-thread ones exactly.
"""

from __future__ import annotations

import atexit
import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from pipelines._augment import AugmentPolicy, augment_example
from pipelines._errors import DataError

__all__ = ["augment_in_processes", "shutdown_pools"]

_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_PIPELINE: list[tuple[AugmentPolicy, object]] = []  # in a pool process: the last policy and its pipeline


def augment_in_processes(
    processes: int, policy: AugmentPolicy, images: np.ndarray, indices: np.ndarray, *, seed: int, epoch: int
) -> np.ndarray:
    """Augment one batch in the shared pool of ``processes`` processes; returns the new images.

    Raises:
        DataError: a pool process died (killed for memory, for example).
    """
    try:
        return _pool(processes).submit(_augment_batch, policy, images, indices, seed, epoch).result()
    except BrokenProcessPool as exc:
        _discard(processes)
        raise DataError(f"an augmentation process died ({exc}); the host may be short of memory") from None


def shutdown_pools() -> None:
    """Stop every pool this process started (also done at exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(processes: int) -> ProcessPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(processes)
        if pool is None:
            context = multiprocessing.get_context("spawn")
            pool = _POOLS[processes] = ProcessPoolExecutor(
                max_workers=processes, mp_context=context, initializer=_ignore_interrupts
            )
        return pool


def _discard(processes: int) -> None:
    with _POOLS_LOCK:
        pool = _POOLS.pop(processes, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group: the study handles it, the pool just stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _augment_batch(policy: AugmentPolicy, images: np.ndarray, indices: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Runs in a pool process: the same per-image augmentation as the feeder's threads."""
    if not _PIPELINE or _PIPELINE[0][0] != policy:
        _PIPELINE[:] = [(policy, policy.build())]
    pipeline = _PIPELINE[0][1]
    for row, index in enumerate(indices):
        images[row] = augment_example(pipeline, images[row], seed=seed, epoch=epoch, index=int(index))
    return images


atexit.register(shutdown_pools)
