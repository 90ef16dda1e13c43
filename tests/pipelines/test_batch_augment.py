"""The NumPy batch executor's contract: where a policy is split, and what the feeder runs where.

Its distributions are measured against albumentations in ``test_device_augment.py``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from pipelines import AugmentPolicy
from pipelines._augment import augment_batch
from pipelines._batch_augment import batch_augmentation
from pipelines._feeder import _BATCH_STREAM, Feeder


def test_a_policy_is_split_at_its_first_transform_without_a_batch_builder() -> None:
    default = batch_augmentation(AugmentPolicy())  # pad_crop, affine, color
    assert default.on_batch == ("pad_crop",)
    assert default.rest.transforms == ("affine", "color")
    assert default.rest.to_dict() == {**AugmentPolicy().to_dict(), "pad_crop_p": 0.0}

    no_affine = AugmentPolicy(hflip_p=0.5, affine_p=0.0, dropout_p=0.25)
    whole = batch_augmentation(no_affine)
    assert whole.on_batch == ("pad_crop", "hflip", "color", "dropout") and whole.rest.is_identity

    assert batch_augmentation(AugmentPolicy.none()).on_batch == ()


def test_only_the_batch_part_is_applied_and_the_shape_and_dtype_are_kept() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(64, 12, 12, 3), dtype=np.uint8)
    only_affine = dataclasses.replace(AugmentPolicy.none(), affine_p=1.0, shift=0.1)
    untouched = batch_augmentation(only_affine).apply(images.copy(), np.random.default_rng(1))
    np.testing.assert_array_equal(untouched, images)

    shifted = batch_augmentation(AugmentPolicy(affine_p=0.0, color_p=0.0)).apply(
        images.copy(), np.random.default_rng(1)
    )
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    assert not np.array_equal(shifted, images)


@pytest.mark.parametrize(
    ("images", "quoted"),
    [(np.zeros((2, 4, 4, 1), np.float32), "float32"), (np.zeros((4, 4, 1), np.uint8), "(4, 4, 1)")],
)
def test_other_than_a_uint8_batch_is_quoted(images: np.ndarray, quoted: str) -> None:
    with pytest.raises(ValueError, match=r"uint8 batch.*" + re.escape(quoted)):
        batch_augmentation(AugmentPolicy()).apply(images, np.random.default_rng(0))


def test_the_feeder_runs_the_batch_part_then_albumentations_on_the_rest() -> None:
    x = np.random.default_rng(2).integers(0, 256, size=(24, 10, 10, 3), dtype=np.uint8)
    y = np.arange(24) % 3
    policy = AugmentPolicy(hflip_p=0.5)  # pad_crop, hflip on batches; affine, color per image
    feeder = Feeder(x, y, batch_size=8, normalization=None, policy=policy, seed=7, shuffle=False)
    feeder.set_epoch(3)
    split = batch_augmentation(policy)
    indices = np.arange(8, 16)
    expected = split.apply(x[indices], np.random.default_rng([7, 3, 1, _BATCH_STREAM]))
    expected = augment_batch(split.rest.build(), expected, indices, seed=7, epoch=3)
    np.testing.assert_array_equal(feeder[1][0], expected.astype(np.float32))
