"""Augmentation in spawn-started processes: same images as in threads, and a clear error when a process dies."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipelines import AugmentPolicy, DataError
from pipelines._augment import augment_example
from pipelines._processes import _pool, augment_in_processes, shutdown_pools

pytestmark = pytest.mark.usefixtures("albumentations_warnings_are_errors")


@pytest.fixture(autouse=True)
def _fresh_pools():
    shutdown_pools()
    yield
    shutdown_pools()


def _batch() -> tuple[np.ndarray, np.ndarray]:
    images = np.random.default_rng(1).integers(0, 256, size=(6, 9, 9, 3), dtype=np.uint8)
    return images, np.arange(10, 16)


def test_a_batch_comes_back_as_each_image_augmented_from_its_own_stream() -> None:
    policy = AugmentPolicy(hflip_p=0.5, dropout_p=0.5)
    images, indices = _batch()
    got = augment_in_processes(2, policy, images.copy(), indices, seed=5, epoch=1)
    pipeline = policy.build()
    expected = [
        augment_example(pipeline, img.copy(), seed=5, epoch=1, index=int(i))
        for img, i in zip(images, indices, strict=True)
    ]
    np.testing.assert_array_equal(got, np.stack(expected))
    assert not np.array_equal(got, images)


def test_a_dead_process_is_a_clear_error_and_the_next_batch_gets_a_new_pool() -> None:
    policy = AugmentPolicy()
    images, indices = _batch()
    broken = _pool(1)
    with pytest.raises(BaseException):  # noqa: B017, PT011 - the pool breaks when its process exits
        broken.submit(os._exit, 1).result()
    with pytest.raises(DataError, match="augmentation process died"):
        augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    again = augment_in_processes(1, policy, images.copy(), indices, seed=0, epoch=0)
    assert again.shape == images.shape
