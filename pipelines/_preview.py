"""Augmented samples laid out for people to look at (``automl data inspect``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipelines._augment import AugmentPolicy, augment_example

__all__ = ["augmentation_preview"]


def augmentation_preview(
    x: np.ndarray,
    y: np.ndarray,
    *,
    labels: Sequence[int],
    policy: AugmentPolicy,
    views: int = 7,
    seed: int = 0,
) -> np.ndarray:
    """One row per label: a random training image of that class, then ``views`` augmentations of it.

    The augmentations are the policy's albumentations pipeline run on that image, seeded per
    epoch ``0..views-1`` as a ``Feeder`` seeds it: draws from the distribution training sees
    (the ``Feeder`` runs its whole-pixel shifts, flips, colour and cut-outs on whole batches,
    so not the same draws). A class with no image in ``x`` gets a blank row.

    Returns:
        uint8 array ``(len(labels), 1 + views, H, W, C)``.
    """
    rng = np.random.default_rng(seed)
    pipeline = policy.build()
    grid = np.zeros((len(labels), 1 + views, *x.shape[1:]), dtype=np.uint8)
    for row, label in enumerate(labels):
        members = np.flatnonzero(y == label)
        if len(members) == 0:
            continue
        index = int(rng.choice(members))
        grid[row, 0] = x[index]
        for epoch in range(views):
            grid[row, 1 + epoch] = augment_example(pipeline, x[index], seed=seed, epoch=epoch, index=index)
    return grid
