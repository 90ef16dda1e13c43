"""Mirror symmetry: whether a data set's classes look the same in a mirror, so that flips may augment it.

A horizontal flip keeps the label of a photograph of an object (a car facing left is a car)
and breaks that of a digit, a letter or a sign (a mirrored 3 is no digit; "keep left"
mirrored is "keep right"). On colour digits (``mnist_colour`` in ``bench/bench_quality.py``,
5,000 images, 2 minutes) the convnet warm start scored 0.76 with flips and 0.91 without.

The test: if each class's images were as likely as their mirror images, each class's mean
image would be mirror-symmetric. It is measured on edge maps (the gradient magnitude of the
grey image, scaled to a mean of 1 in each image), so that the colours and the contrast
polarity, which vary from image to image in photographs and house numbers, do not average
the shapes away. The asymmetry is the share of the class means' differences from their
average (in squared norm) that a mirror reverses, estimated from two random halves of the
images (the product of two independent estimates carries no noise bias): 0 for a data set
whose images are mirrored at random, 0.16-0.26 for digits (MNIST, USPS, colour digits),
0.09-0.13 for clothes, whose shoes all face left (Fashion-MNIST, grey and colour).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mirror_asymmetry", "may_flip", "MIRROR_ASYMMETRY_LIMIT"]

#: Below this asymmetry a data set's classes look the same in a mirror: flips may augment it.
MIRROR_ASYMMETRY_LIMIT = 0.1

# The least correlation between the two halves' centred class means for the asymmetry to be
# told: 0.37-0.67 on 100 images of MNIST, Fashion-MNIST or USPS (10 a class), 0.95 and more on
# 2,000; -0.15-0.21 for two classes whose edge maps do not differ (a bright left half against
# a bright right one), where the ratio ranged -16.5 to 5.1 and flips came on.
MIN_AGREEMENT = 0.3

_SAMPLE = 5_000  # images measured; the estimate moved by 0.01-0.05 between 1,000 and 20,000
_PER_CLASS = 100  # and at least this many per class, where there are many classes
# Images turned into edge maps at a time: 256, or as many as hold 2**22 pixels. Each pixel
# takes about 22 bytes there (float32 grey, gradients, magnitude): 256 images of 512x512
# took 1.5 GB, about 90 MB now.
_CHUNK = 256
_CHUNK_PIXELS = 2**22


def mirror_asymmetry(x: np.ndarray, y: np.ndarray, *, seed: int = 0, sample: int = _SAMPLE) -> float | None:
    """The share of the differences between class means that a mirror reverses (0: symmetric).

    Args:
        x: images ``(N, H, W, C)``, any numeric type.
        y: their integer labels ``(N,)``.
        seed: which images are measured, and how they are halved.
        sample: how many images are measured (or 100 per class, if more), at most all.

    Returns:
        The asymmetry, about 0 to 1 (noise can take it a little below 0), or ``None`` when it
        cannot be told: fewer than two classes with images in both halves (a class missing
        from either half is left out, so that one rare class does not hide the others' symmetry),
        images one pixel wide or high, or class means that do not differ beyond noise (the two
        halves' means agree less than ``MIN_AGREEMENT``).
    """
    if x.ndim != 4 or min(x.shape[1:3]) < 2 or len(x) != len(y):
        return None
    classes, labels = np.unique(y, return_inverse=True)
    chosen = np.random.default_rng(seed).permutation(len(y))[: max(sample, _PER_CLASS * len(classes))]
    sums = np.zeros((2, len(classes), *x.shape[1:3]))
    groups_sums = sums.reshape(2 * len(classes), *x.shape[1:3])  # a view: (half, class) -> one group
    counts = np.zeros((2, len(classes)))
    step = min(_CHUNK, max(1, _CHUNK_PIXELS // (x.shape[1] * x.shape[2])))
    for start in range(0, len(chosen), step):
        rows = chosen[start : start + step]
        half = np.arange(start, start + len(rows)) % 2  # the order is random: alternate rows halve it
        groups = half * len(classes) + labels[rows]
        edges = _edges(x[rows])
        for group in np.unique(groups):  # a sum per group: np.add.at over whole images is 10 times slower
            groups_sums[group] += edges[groups == group].sum(axis=0, dtype=np.float64)
        np.add.at(counts, (half, labels[rows]), 1)
    told = (counts > 0).all(axis=0)  # a class of an image or two (or none in the sample) is left out
    if told.sum() < 2:
        return None
    means = sums[:, told] / counts[:, told, None, None]
    centred = means - means.mean(axis=1, keepdims=True)
    reversed_part = (centred - centred[..., ::-1]) / 2
    total = float(np.sum(centred[0] * centred[1]))
    if total <= MIN_AGREEMENT * float(np.sqrt(np.sum(centred[0] ** 2) * np.sum(centred[1] ** 2))):
        return None  # the halves' class means hardly agree: noise, whose ratio below can be anything
    return float(np.sum(reversed_part[0] * reversed_part[1])) / total


def may_flip(asymmetry: float | None) -> bool:
    """Whether images of this ``mirror_asymmetry`` may be flipped: only where it was told, and
    is below ``MIRROR_ASYMMETRY_LIMIT``."""
    return asymmetry is not None and asymmetry < MIRROR_ASYMMETRY_LIMIT


def _edges(images: np.ndarray) -> np.ndarray:
    """The gradient magnitude of each image's grey level, scaled to a mean of 1 (all 0 for a flat
    image). Central differences inside and one-sided ones at the border: a mirror image's map
    is the mirror image of its map."""
    grey = images[..., 0].astype(np.float32)  # the channels' sum: the scaling below makes it their mean
    for channel in range(1, images.shape[-1]):  # eight times as fast as a mean over the last axis
        grey += images[..., channel]
    dy, dx = np.gradient(grey, axis=(1, 2))
    magnitude = np.hypot(dy, dx)
    return magnitude / np.maximum(magnitude.mean(axis=(1, 2), keepdims=True), 1e-6)
