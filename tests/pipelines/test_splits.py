"""Stratified, seeded splits that respect a given test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines import ALLOCATIONS, DataError, Dataset, split_dataset


def _dataset(counts: list[int], with_test: bool = False, with_val: bool = False) -> Dataset:
    """Images that carry their own index (pixels [0,0,0] and [0,1,0]), ``counts[k]`` of class k.

    A given test split is a copy of the first 3 images, a given validation split of the last 2.
    """
    y = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    x = np.zeros((len(y), 2, 2, 1), np.uint8)
    x[:, 0, 0, 0], x[:, 0, 1, 0] = np.arange(len(y)) // 256, np.arange(len(y)) % 256
    extra = {"x_test": x[:3].copy(), "y_test": y[:3].copy()} if with_test else {}
    extra |= {"x_val": x[-2:].copy(), "y_val": y[-2:].copy()} if with_val else {}
    return Dataset(x=x, y=y, class_names=tuple(f"c{k}" for k in range(len(counts))), source="test", **extra)


def _indices(x: np.ndarray) -> np.ndarray:
    return x[:, 0, 0, 0].astype(int) * 256 + x[:, 0, 1, 0]


def test_splits_partition_the_data_with_labels_kept() -> None:
    ds = _dataset([300, 120, 40])
    splits = split_dataset(ds, val_fraction=0.15, test_fraction=0.2, seed=0)
    parts = [_indices(x) for x, _ in (splits.train, splits.val, splits.test)]
    everything = np.concatenate(parts)
    assert len(everything) == len(ds.y) and len(np.unique(everything)) == len(ds.y)
    for (_, y), idx in zip((splits.train, splits.val, splits.test), parts, strict=True):
        assert np.array_equal(y, ds.y[idx])
    assert splits.class_names == ds.class_names


def test_every_split_keeps_the_class_proportions() -> None:
    counts = [300, 120, 40]
    splits = split_dataset(_dataset(counts), val_fraction=0.15, test_fraction=0.2, seed=3)
    for (_, y), fraction in ((splits.val, 0.15), (splits.test, 0.2), (splits.train, 0.65)):
        per_class = np.bincount(y, minlength=3)
        assert np.all(np.abs(per_class - np.array(counts) * fraction) <= 1), (fraction, per_class)


def test_same_seed_same_split_other_seed_other_split() -> None:
    ds = _dataset([50, 50])
    first, again, other = (split_dataset(ds, seed=s) for s in (7, 7, 8))
    assert np.array_equal(_indices(first.val[0]), _indices(again.val[0]))
    assert not np.array_equal(_indices(first.val[0]), _indices(other.val[0]))


def test_a_given_test_split_is_kept_and_only_train_is_divided() -> None:
    ds = _dataset([40, 40], with_test=True)
    splits = split_dataset(ds, val_fraction=0.25, test_fraction=0.5, seed=0)
    assert splits.test[0] is ds.x_test and splits.test[1] is ds.y_test
    assert len(splits.train[1]) + len(splits.val[1]) == 80 and len(splits.val[1]) == 20
    assert splits.summary()["test_given"] and splits.summary()["test_fraction"] is None


def test_the_per_class_allocation_draws_the_same_split_as_before_given_splits_existed() -> None:
    # Recorded from the split_dataset of commit 4d22dce, before given validation splits:
    # the allocation studies recorded before the proportional one keep.
    splits = split_dataset(_dataset([13, 8, 5]), seed=0, allocation="per_class")
    assert _indices(splits.train[0]).tolist() == [0, 2, 3, 4, 5, 7, 10, 12, 14, 15, 16, 19, 20, 21, 24, 25]
    assert _indices(splits.val[0]).tolist() == [6, 9, 13, 23]
    assert _indices(splits.test[0]).tolist() == [1, 8, 11, 17, 18, 22]
    assert splits.summary()["origin"] == {"val": "carved", "test": "carved"}
    assert not splits.summary()["val_given"] and not splits.summary()["test_given"]


def test_a_given_validation_split_is_kept_and_test_is_carved_from_train() -> None:
    ds = _dataset([40, 40], with_val=True)
    splits = split_dataset(ds, val_fraction=0.5, test_fraction=0.25, seed=0)
    assert splits.val[0] is ds.x_val and splits.val[1] is ds.y_val
    assert len(splits.train[1]) == 60 and len(splits.test[1]) == 20
    assert np.bincount(splits.test[1]).tolist() == [10, 10]
    assert splits.val_fraction is None and splits.test_fraction == 0.25 and splits.given == ("val",)
    assert splits.summary()["origin"] == {"val": "given", "test": "carved"}


def test_given_validation_and_test_splits_leave_all_training_images_to_train() -> None:
    ds = _dataset([7, 5], with_test=True, with_val=True)
    splits = split_dataset(ds, seed=0)
    assert np.array_equal(_indices(splits.train[0]), np.arange(12))
    assert splits.given == ("val", "test") and splits.summary()["sizes"] == {"train": 12, "val": 2, "test": 3}


def test_fractions_of_given_splits_are_not_used() -> None:
    # Only the carved fractions are checked: 0.9 for a given test split would otherwise exceed 1 with val.
    splits = split_dataset(_dataset([20, 20], with_test=True), val_fraction=0.5, test_fraction=0.9)
    assert len(splits.val[1]) == 20


@pytest.mark.parametrize("allocation", ALLOCATIONS)
def test_a_tiny_class_keeps_a_training_image(allocation: str) -> None:
    splits = split_dataset(_dataset([100, 1, 2]), val_fraction=0.3, test_fraction=0.3, seed=0, allocation=allocation)
    assert set(np.unique(splits.train[1])) == {0, 1, 2}


def test_summary_is_json_and_counts_match_the_arrays() -> None:
    splits = split_dataset(_dataset([30, 20]), val_fraction=0.2, test_fraction=0.1, seed=5)
    summary = json.loads(json.dumps(splits.summary()))
    assert summary["seed"] == 5 and summary["val_fraction"] == 0.2 and summary["test_fraction"] == 0.1
    for name, (_, y) in {"train": splits.train, "val": splits.val, "test": splits.test}.items():
        assert summary["sizes"][name] == len(y)
        assert summary["class_counts"][name] == {"c0": int((y == 0).sum()), "c1": int((y == 1).sum())}


@pytest.mark.parametrize(
    ("val", "test", "quoted"), [(0.0, 0.2, "0.0"), (1.0, 0.0, "1.0"), (0.2, -0.1, "-0.1"), (0.5, 0.5, "0.5 + 0.5")]
)
def test_bad_fractions_are_quoted(val: float, test: float, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted.replace("+", r"\+")):
        split_dataset(_dataset([10, 10]), val_fraction=val, test_fraction=test)


def test_too_few_images_for_a_validation_split() -> None:
    with pytest.raises(DataError, match="too few"):
        split_dataset(_dataset([2, 2]), val_fraction=0.1, test_fraction=0.1)


def test_too_few_images_for_a_test_split_beside_a_given_validation_split() -> None:
    # One image a class, which each class keeps for training: no test image. The search
    # trained every trial, then failed comparing on no images.
    with pytest.raises(DataError, match=r"test: 3 images are too few to hold out a test split of 0.2 \(each of its 3"):
        split_dataset(_dataset([1, 1, 1], with_val=True), test_fraction=0.2)
    assert len(split_dataset(_dataset([1, 1, 1], with_val=True), test_fraction=0.0).test[1]) == 0
    assert len(split_dataset(_dataset([2, 2], with_val=True), test_fraction=0.2).test[1]) == 1


@pytest.mark.parametrize(
    "counts",
    [[3] * 300, [3] * 50 + [200], [2] * 100 + [300], [4] * 250, [13, 8, 5], [300, 120, 40]],
    ids=["300 classes of 3", "50 of 3 and one of 200", "100 of 2 and one of 300", "250 of 4", "13-8-5", "300-120-40"],
)
def test_carved_splits_take_their_fractions_of_all_the_images(counts: list[int]) -> None:
    # Each class rounded its own share: 300 classes of 3 images had no validation image at
    # all ("too few images"), 250 classes of 4 split 50/25/25 instead of 65/15/20, and 50
    # classes of 3 beside one of 200 had validation images of the large class only.
    splits = split_dataset(_dataset(counts), seed=0)
    n = sum(counts)
    assert [len(splits.val[1]), len(splits.test[1])] == [round(n * 0.15), round(n * 0.2)]
    assert set(np.unique(splits.train[1])) == set(range(len(counts)))  # every class trains
    for (_, y), fraction in ((splits.val, 0.15), (splits.test, 0.2)):
        assert np.all(np.abs(np.bincount(y, minlength=len(counts)) - np.array(counts) * fraction) < 1)
    small = np.array(counts) < 10
    if small.sum() > 10:  # the small classes' remainders are shared among them, not all dropped
        assert 0 < np.isin(splits.val[1], np.flatnonzero(small)).sum()


def test_an_unknown_allocation_is_quoted() -> None:
    with pytest.raises(ValueError, match="got 'even'"):
        split_dataset(_dataset([10, 10]), allocation="even")


def test_capped_splits_take_about_the_cap_and_train_on_the_rest() -> None:
    ds = _dataset([300, 120, 40])  # 460 images: 69 for validation and 92 for testing uncapped
    splits = split_dataset(ds, max_val_images=30, max_test_images=46, seed=0)
    sizes = [len(y) for _, y in (splits.train, splits.val, splits.test)]
    assert sizes[1:] == [30, 46]
    assert sizes[0] == 460 - sizes[1] - sizes[2]
    everything = np.concatenate([_indices(x) for x, _ in (splits.train, splits.val, splits.test)])
    assert len(np.unique(everything)) == 460
    assert np.bincount(splits.val[1]).tolist() == [19, 8, 3]  # stratified: 30 / 460 of each class (19.6, 7.8, 2.6)
    assert splits.val_fraction == 30 / 460 and splits.test_fraction == 46 / 460


def test_caps_above_the_fractions_change_nothing() -> None:
    ds = _dataset([300, 120, 40])
    capped, uncapped = (split_dataset(ds, max_val_images=cap, max_test_images=cap, seed=4) for cap in (92, None))
    for name in ("train", "val", "test"):
        (x, y), (x2, y2) = getattr(capped, name), getattr(uncapped, name)
        assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_large_data_holds_out_5000_images_each_by_default() -> None:
    splits = split_dataset(_dataset([24_000, 16_000]), seed=0)
    assert [len(y) for _, y in (splits.train, splits.val, splits.test)] == [30_000, 5_000, 5_000]


@pytest.mark.parametrize("cap", [0, -5, 2.5, True])
def test_bad_caps_are_quoted(cap: object) -> None:
    with pytest.raises(ValueError, match=f"max_test_images must be .* got {cap!r}"):
        split_dataset(_dataset([10, 10]), max_test_images=cap)  # type: ignore[arg-type]
