"""The augmentation policy executed on whole batches with NumPy: the host's fast path.

The third interpreter of ``AugmentPolicy``, beside albumentations' per-image pipeline
(``policy.build()``) and the on-device Keras layers (``pipelines._device_augment``).
Whole-pixel shifts, flips, brightness and contrast, and cut-outs are a few array operations
on a whole batch, where albumentations spends about 50 microseconds of Python per image,
holding the GIL. On a 2-core CPU that was about 2.5 s of every 18 s epoch of full
Fashion-MNIST, taken from the training beside it (bench/RESULTS.md, "Augmenting whole batches").

A policy is split at its first active transform without a batch builder (``affine``, which
resamples): the transforms before it run here, on the whole batch, and the rest run per
image in albumentations (``BatchAugmentation.rest``), so the policy's order is kept.

Each transform acts on an image with the policy's probability and draws its parameters from
the same distributions as albumentations (``tests/pipelines/test_device_augment.py``
measures the executors against each other). The draws come from one generator per batch,
which the ``Feeder`` seeds from ``(seed, epoch, batch)``: batches are the same whichever
thread builds them, and the executors agree in distribution, not image by image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipelines._augment import _TRANSFORMS, AugmentPolicy

__all__ = ["BatchAugmentation", "batch_augmentation"]

_MAX_VALUE = 255.0

# A transform on a batch: the policy, uint8 images (N, H, W, C), which of them it acts on
# (N,) and the batch's generator give the new images.
BatchTransform = Callable[[AugmentPolicy, np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class BatchAugmentation:
    """A policy split between whole-batch NumPy and albumentations.

    Attributes:
        policy: the whole policy.
        on_batch: names of the transforms applied to whole batches here, in order.
        rest: the policy's other transforms, for albumentations after these (the identity
            when every active transform runs here).
    """

    policy: AugmentPolicy
    on_batch: tuple[str, ...]
    rest: AugmentPolicy

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The ``on_batch`` transforms of uint8 ``images`` (N, H, W, C), drawn from ``rng``.

        Like ``augment_batch``, it may change ``images`` in place; use the result.

        Raises:
            ValueError: ``images`` are not a uint8 batch of (N, H, W, C), quoted.
        """
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 batch (N, H, W, C), got {images.dtype} {images.shape}")
        for name in self.on_batch:
            chosen = rng.random(len(images)) < getattr(self.policy, _TRANSFORMS[name][0])
            images = _BATCH_BUILDERS[name](self.policy, images, chosen, rng)
        return images


def batch_augmentation(policy: AugmentPolicy) -> BatchAugmentation:
    """Split ``policy`` at its first active transform that has no batch builder."""
    on_batch: list[str] = []
    for name in policy.transforms:
        if name not in _BATCH_BUILDERS:
            break
        on_batch.append(name)
    return BatchAugmentation(policy=policy, on_batch=tuple(on_batch), rest=policy.without(tuple(on_batch)))


# ---------------------------------------------------------------- the transforms
def _pad_crop(p: AugmentPolicy, images: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whole-pixel shift of up to ``pad_px`` per axis with zero fill: pad, then crop at a random offset."""
    n, height, width, _ = images.shape
    pad = p.pad_px
    shifts = rng.integers(-pad, pad + 1, size=(2, n)) * chosen  # (rows, cols); 0 where not chosen
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = pad - shifts[0][:, None] + np.arange(height)  # output row r reads input row r - shift
    cols = pad - shifts[1][:, None] + np.arange(width)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _hflip(p: AugmentPolicy, images: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    images[chosen] = images[chosen, :, ::-1]
    return images


def _color(p: AugmentPolicy, images: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x * (1 + c) + b * 255``, c ~ U(-contrast, contrast) and b ~ U(-brightness, brightness)
    per image, as albumentations' ``RandomBrightnessContrast`` (``brightness_by_max=True``)."""
    count = int(chosen.sum())
    gain = 1.0 + rng.uniform(-p.contrast, p.contrast, size=(count, 1, 1, 1))
    shift = _MAX_VALUE * rng.uniform(-p.brightness, p.brightness, size=(count, 1, 1, 1))
    changed = np.rint(np.clip(images[chosen] * gain + shift, 0.0, _MAX_VALUE))
    images[chosen] = changed.astype(np.uint8)
    return images


def _dropout(p: AugmentPolicy, images: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1..``dropout_holes`` zeroed squares of ``int(side * dropout_size)`` pixels at uniform
    positions where they fit (possibly overlapping), as albumentations' ``CoarseDropout``."""
    n, height, width, _ = images.shape
    hole_height, hole_width = int(height * p.dropout_size), int(width * p.dropout_size)
    if min(hole_height, hole_width) < 1:  # albumentations erases nothing then
        return images
    holes = p.dropout_holes
    count = rng.integers(1, holes + 1, size=(n, 1))
    used = (np.arange(holes)[None, :] < count) & chosen[:, None]  # (N, holes)
    in_rows = _spans(rng.integers(0, height - hole_height + 1, size=(n, holes)), hole_height, height)
    in_cols = _spans(rng.integers(0, width - hole_width + 1, size=(n, holes)), hole_width, width)
    erased = (in_rows[:, :, :, None] & in_cols[:, :, None, :] & used[:, :, None, None]).any(axis=1)
    images[erased] = 0
    return images


def _spans(starts: np.ndarray, size: int, side: int) -> np.ndarray:
    """(N, holes, side): which of ``side`` pixels each ``size``-pixel span from ``starts`` covers."""
    pixels = np.arange(side)[None, None, :]
    return (pixels >= starts[..., None]) & (pixels < starts[..., None] + size)


# Transform name (a key of ``_TRANSFORMS``) -> its batch version. A transform missing here
# (``affine``) and every transform after it run per image in albumentations.
_BATCH_BUILDERS: dict[str, BatchTransform] = {
    "pad_crop": _pad_crop,
    "hflip": _hflip,
    "color": _color,
    "dropout": _dropout,
}
