"""Feeding batches to ``fit``: shuffling, augmentation in worker threads, normalisation."""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import keras
import numpy as np

from pipelines._augment import AugmentPolicy, augment_batch
from pipelines._batch_augment import batch_augmentation
from pipelines._normalization import Normalization
from pipelines._processes import augment_in_processes

__all__ = ["Feeder"]

# Keep a batch's NumPy draws, ``(seed, epoch, batch, _BATCH_STREAM)``, and an epoch's order,
# ``(seed, epoch, 0, _ORDER_STREAM)``, apart from the per-image streams of ``(seed, epoch,
# index)``: NumPy pads a seed with zeros, so ``(seed, epoch)`` would be image 0's stream.
_BATCH_STREAM = 1
_ORDER_STREAM = 2

# Backends whose Keras trainer never asks for a batch outside an epoch (Keras 3.15): there
# Keras' worker threads build the batches; under the others the feeder's own threads do.
_KERAS_BUILDS_AHEAD = frozenset({"tensorflow"})


class Feeder(keras.utils.PyDataset):
    """Batches ``(x, y int64)`` for ``model.fit``, prepared ahead in worker threads.

    The next batches are built in ``workers`` threads while the model trains, so
    augmentation overlaps training on every backend (threads, never forked processes, which
    are unsafe with JAX). Under JAX and torch the threads are the feeder's own: Keras asks
    for one batch after another, and a batch built ahead is handed out only in the epoch it
    was built for. (Keras' worker threads keep what they have built when an epoch ends and
    serve it first in the next one, and under these backends the first ``fit`` of a model
    peeks at a batch before its first epoch: with them, every epoch of that ``fit`` began
    with batches of the one before and missed as many of its own.) Under TensorFlow, which
    does not peek, Keras' threads build the batches (without them its ``tf.data`` prefetch
    stalled up to a second at the end of a ``fit``).

    The policy's leading transforms that NumPy does on whole batches (shifts, flips,
    brightness and contrast, cut-outs) run so, drawn from ``(seed, epoch, batch)``
    (``pipelines._batch_augment``); the rest run per image in albumentations, each example
    from ``(seed, epoch, index)``. With ``processes`` the threads hand that per-image part
    to that many worker processes, which scale past the one core that albumentations'
    Python loop holds (see ``pipelines._processes``). The order of examples is a
    permutation drawn from ``(seed, epoch)``, so batches are the same whichever thread or
    process builds them. Pass ``shuffle=False`` to ``fit`` as well: Keras would otherwise
    also shuffle the order of whole batches, from Python's global random state.

    Keras' ``fit`` calls ``on_epoch_end`` once before its first epoch, so Keras epoch ``k``
    gets epoch ``k + 1`` of the feeder; to resume at Keras epoch ``k`` with the same
    batches, call ``set_epoch(k)`` before ``fit(..., initial_epoch=k)``.

    Args:
        x: uint8 images ``(N, H, W, C)``.
        y: int64 labels ``(N,)``.
        batch_size: examples per batch (the last batch may be smaller).
        normalization: applied to whole batches (float32); ``None`` gives the uint8 images,
            which a model's float32 ``Input`` casts inside its compiled step (a quarter of
            the bytes to copy and to move to an accelerator).
        policy: augmentation; ``AugmentPolicy.none()`` for validation and test.
        seed: fixes the shuffling and the augmentation.
        shuffle: draw a new order each epoch (else keep the given order).
        workers: threads preparing batches (1 prepares them in the training loop).
        processes: augment in this many processes (0: in the threads); at least as many
            threads as processes are started, to keep every process busy.

    The feeder's own threads build two batches each ahead of the one asked for; ``close()``
    stops them (they also end when the feeder is collected).

    Raises:
        ValueError: mismatched or malformed arrays, a non-positive ``batch_size`` or
            ``workers``, or a negative ``processes``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        batch_size: int,
        normalization: Normalization | None,
        policy: AugmentPolicy,
        seed: int,
        shuffle: bool = True,
        workers: int = 2,
        processes: int = 0,
    ) -> None:
        _check_arrays(x, y)
        if batch_size < 1 or workers < 1 or processes < 0:
            raise ValueError(
                f"batch_size and workers must be positive and processes >= 0, "
                f"got {batch_size!r}, {workers!r} and {processes!r}"
            )
        self.threads = max(workers, processes)
        keras_builds = keras.backend.backend() in _KERAS_BUILDS_AHEAD
        super().__init__(workers=self.threads if keras_builds else 1, use_multiprocessing=False)
        self._builds_ahead = self.threads > 1 and not keras_builds
        self.processes = processes
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.normalization = normalization
        self.policy = policy
        self._split = batch_augmentation(policy)
        self.seed = seed
        self.shuffle = shuffle
        self._pipelines = threading.local()  # one albumentations pipeline per thread
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[int, Future] = {}  # batch -> its build for the current epoch
        self.set_epoch(0)

    @property
    def epoch(self) -> int:
        """The epoch whose order and augmentation the batches currently follow."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Follow ``epoch``'s order and augmentation (to resume a run at that epoch)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch, 0, _ORDER_STREAM]).permutation(len(self.x))
        else:
            order = np.arange(len(self.x))
        with self._lock:
            self._epoch, self._order = epoch, order
            self._drop_ahead()

    def on_epoch_end(self) -> None:
        self.set_epoch(self._epoch + 1)

    def close(self) -> None:
        """Drop the batches built ahead and stop the threads, this feeder's and Keras' (the
        feeder stays usable)."""
        with self._lock:
            self._drop_ahead()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._stop_keras_threads()

    def _stop_keras_threads(self) -> None:
        """Stop the worker threads of Keras still serving this feeder (``_KERAS_BUILDS_AHEAD``).

        Keras stops them at an epoch's end only: a ``fit`` stopped mid-epoch (a deadline, a
        NaN loss, an error) left six threads blocked on a full queue of its batches, trial
        after trial. Keras' enqueuer is found through its thread's target; another Keras that
        hides it leaves its threads be.
        """
        for thread in threading.enumerate():
            enqueuer: Any = getattr(getattr(thread, "_target", None), "__self__", None)
            if enqueuer is not None and getattr(enqueuer, "py_dataset", None) is self:
                enqueuer.stop()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= batch < len(self):
            raise IndexError(f"batch {batch} out of range for {len(self)} batches")
        if self._builds_ahead:
            return self._build_ahead(batch).result()
        with self._lock:
            epoch, order = self._epoch, self._order
        return self._build(epoch, order, batch)

    def _build_ahead(self, batch: int) -> Future:
        """``batch``'s build in the current epoch, the next ones' started in the threads."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="feeder")
            for ahead in range(batch, min(len(self), batch + 1 + 2 * self.threads)):
                if ahead not in self._ahead:
                    self._ahead[ahead] = self._pool.submit(self._build, self._epoch, self._order, ahead)
            return self._ahead.pop(batch)

    def _drop_ahead(self) -> None:
        """Cancel the builds ahead (of an epoch that ended); those running finish unseen."""
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()

    def _build(self, epoch: int, order: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        indices = order[batch * self.batch_size : (batch + 1) * self.batch_size]
        images = self.x[indices]
        if not self.policy.is_identity:
            images = self._augment(images, indices, epoch, batch)
        x = images if self.normalization is None else self.normalization.apply(images)
        return x, self.y[indices].astype(np.int64, copy=False)

    def _augment(self, images: np.ndarray, indices: np.ndarray, epoch: int, batch: int) -> np.ndarray:
        """Augment batch number ``batch``: its NumPy part, then each image from its own stream."""
        rng = np.random.default_rng([self.seed, epoch, batch, _BATCH_STREAM])
        images = self._split.apply(images, rng)
        rest = self._split.rest
        if rest.is_identity:
            return images
        if self.processes:
            return augment_in_processes(self.processes, rest, images, indices, seed=self.seed, epoch=epoch)
        pipeline = getattr(self._pipelines, "pipeline", None)
        if pipeline is None:
            pipeline = self._pipelines.pipeline = rest.build()
        return augment_batch(pipeline, images, indices, seed=self.seed, epoch=epoch)


def _check_arrays(x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype != np.uint8 or x.ndim != 4:
        raise ValueError(f"x must be uint8 images (N, H, W, C), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must hold one label per image ({len(x)}), got shape {y.shape}")
