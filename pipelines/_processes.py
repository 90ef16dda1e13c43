"""Augmentation in worker processes, for when threads cannot keep up.

albumentations spends most of its time on small images in Python, holding the GIL, so
feeder threads top out near one core (about 2,000 MNIST images/s measured on an H100
host, bench/RESULTS.md). A pool of processes scales with the host's cores instead.

Each worker is a fresh interpreter running ``python -m pipelines._augment_worker``, fed
batches through its stdin and answering on its stdout. Not ``multiprocessing``: forking a
process that runs TensorFlow, JAX or CUDA threads is unsafe, and ``spawn`` re-imports the
user's main script in every child, which would run an unguarded script's whole study
again in each of them. Workers import only NumPy, albumentations and this package (no
Keras); a pool lives as long as the process that asked for it, so a study starts it once,
not once per trial. A batch travels as its uint8 images and indices and comes back
augmented; each image is augmented from its own ``(seed, epoch, index)`` stream, so the
results equal the in-thread ones exactly.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from pipelines._augment import AugmentPolicy
from pipelines._errors import DataError

__all__ = ["augment_in_processes", "shutdown_pools"]

_POOLS: dict[int, _Pool] = {}
_POOLS_LOCK = threading.Lock()
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def augment_in_processes(
    processes: int, policy: AugmentPolicy, images: np.ndarray, indices: np.ndarray, *, seed: int, epoch: int
) -> np.ndarray:
    """Augment one batch in the shared pool of ``processes`` workers; returns the new images.

    Raises:
        DataError: the worker died (killed for memory, for example); it is replaced, so
            the next batch gets a live one.
    """
    return _pool(processes).run((policy, images, indices, seed, epoch))


def shutdown_pools() -> None:
    """Stop every pool this process started (also done at exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


def _pool(processes: int) -> _Pool:
    with _POOLS_LOCK:
        pool = _POOLS.get(processes)
        if pool is None:
            pool = _POOLS[processes] = _Pool(processes)
        return pool


class _Worker:
    """One ``pipelines._augment_worker`` process and its pipes."""

    def __init__(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            "NO_ALBUMENTATIONS_UPDATE": "1",
        }
        # -P: not the current folder first on the worker's path, where a user's own
        # ``pipelines`` module or package (a common name) was imported in place of this one.
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "pipelines._augment_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def call(self, request: tuple) -> tuple[bool, object]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes (Popen above)
        pickle.dump(request, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        stdin.flush()
        return pickle.load(stdout)

    def close(self) -> None:
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()  # the worker exits at the end of its input
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


class _Pool:
    """``size`` workers; each call borrows an idle one, so up to ``size`` batches run at once."""

    def __init__(self, size: int) -> None:
        self._workers = [_Worker() for _ in range(size)]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._workers:
            self._idle.put(worker)

    def run(self, request: tuple) -> np.ndarray:
        worker = self._idle.get()
        try:
            ok, payload = worker.call(request)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            code = worker.process.poll()
            self._replace(worker)
            raise DataError(
                f"an augmentation process died (exit code {code}, {type(exc).__name__}); "
                "the host may be short of memory"
            ) from None
        except BaseException:  # Ctrl-C, or memory short here: its pipes may hold half a message
            self._replace(worker)
            raise
        self._idle.put(worker)
        if not ok:
            raise RuntimeError(f"augmenting a batch failed in a worker process: {payload}")
        return payload  # type: ignore[return-value]

    def _replace(self, dead: _Worker) -> None:
        """Close ``dead`` (its process killed if it does not end) and put a fresh worker in
        its place, so the pool keeps its size."""
        dead.process.kill()
        dead.close()
        fresh = _Worker()
        self._workers[self._workers.index(dead)] = fresh
        self._idle.put(fresh)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()


atexit.register(shutdown_pools)
