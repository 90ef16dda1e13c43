"""Image folders laid out as given splits: ``train/<class>/``, ``test/<class>/`` [, ``val/<class>/``]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines import DataError, load_dataset, split_dataset
from tests.pipelines.datafiles import make_folder, make_split_folder, write_corrupt, write_image


def test_train_and_test_folders_are_read_as_given_splits(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "pets", {"train": {"cat": 6, "dog": 4}, "test": {"cat": 2, "dog": 3}})
    ds = load_dataset(str(root))
    assert ds.class_names == ("cat", "dog")  # not ("test", "train")
    assert ds.x.shape == (10, 12, 10, 3) and np.bincount(ds.y).tolist() == [6, 4]
    assert ds.x_test is not None and ds.y_test is not None and ds.y_test.tolist() == [0, 0, 1, 1, 1]
    assert ds.x_val is None and list(ds.given_splits) == ["test"]
    written = write_image(tmp_path / "probe.png", (12, 10, 3), seed=10_000 + 100 * 1 + 2)  # test/dog/2.png
    assert np.array_equal(ds.x_test[4], written)
    summary = ds.summary()
    assert summary["given_splits"] == ["test"] and summary["num_test_images"] == 5
    assert summary["test_class_counts"] == {"cat": 2, "dog": 3} and summary["num_val_images"] is None


@pytest.mark.parametrize("names", [("training", "testing"), ("Training", "test")])
def test_training_and_testing_folders_are_splits_too(tmp_path: Path, names: tuple[str, str]) -> None:
    # mnist_png's layout: its two top folders were read as the classes "testing" and "training".
    root = make_split_folder(tmp_path / "d", {names[0]: {"0": 4, "1": 3}, names[1]: {"0": 2, "1": 1}})
    ds = load_dataset(str(root))
    assert ds.class_names == ("0", "1") and np.bincount(ds.y).tolist() == [4, 3]
    assert ds.y_test is not None and ds.y_test.tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "names",
    [
        ("training_set", "test_set", "validation_set"),
        ("seg_train", "seg_test", "seg_val"),
        ("Train Set", "Test-Set", "Valid"),
    ],
)
def test_folders_named_with_a_split_word_are_splits(tmp_path: Path, names: tuple[str, str, str]) -> None:
    # Kaggle's "Cat and Dog" (training_set/, test_set/) and Intel's scenes (seg_train/,
    # seg_test/): read as two classes, "test_set" and "training_set", without a word.
    layout = {names[0]: {"cat": 4, "dog": 3}, names[1]: {"cat": 2, "dog": 1}, names[2]: {"cat": 1, "dog": 1}}
    ds = load_dataset(str(make_split_folder(tmp_path / "d", layout)))
    assert ds.class_names == ("cat", "dog") and np.bincount(ds.y).tolist() == [4, 3]
    assert ds.y_test is not None and ds.y_test.tolist() == [0, 0, 1]
    assert ds.y_val is not None and ds.y_val.tolist() == [0, 1]


def test_a_folder_named_with_two_split_words_is_refused_beside_the_splits(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 2, "b": 2}, "train_val": {"a": 1, "b": 1}})
    with pytest.raises(DataError, match=r"but it also has train_val/"):
        load_dataset(str(root))


def test_a_given_test_folder_is_the_test_split_and_validation_is_carved_from_train(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 20, "b": 20}, "test": {"a": 3, "b": 4}})
    ds = load_dataset(str(root))
    splits = split_dataset(ds, val_fraction=0.25, test_fraction=0.2, seed=0)
    assert splits.test[0] is ds.x_test and splits.test[1] is ds.y_test
    assert [len(splits.train[1]), len(splits.val[1]), len(splits.test[1])] == [30, 10, 7]
    summary = splits.summary()
    assert summary["origin"] == {"val": "carved", "test": "given"}
    assert summary["test_given"] and not summary["val_given"] and summary["test_fraction"] is None


@pytest.mark.parametrize("val_name", ["val", "valid", "validation", "Validation"])
def test_a_given_validation_folder_is_the_validation_split(tmp_path: Path, val_name: str) -> None:
    layout = {"Train": {"a": 8, "b": 6}, val_name: {"a": 2, "b": 1}, "TEST": {"a": 1, "b": 2}}
    ds = load_dataset(str(make_split_folder(tmp_path / "d", layout)))
    assert ds.class_names == ("a", "b") and list(ds.given_splits) == ["val", "test"]
    assert ds.y_val is not None and ds.y_val.tolist() == [0, 0, 1]
    splits = split_dataset(ds, seed=3)
    assert splits.val[0] is ds.x_val and splits.test[0] is ds.x_test
    assert np.array_equal(splits.train[0], ds.x) and np.array_equal(splits.train[1], ds.y)  # nothing carved
    summary = splits.summary()
    assert summary["origin"] == {"val": "given", "test": "given"}
    assert summary["val_fraction"] is None and summary["test_fraction"] is None
    assert summary["sizes"] == {"train": 14, "val": 3, "test": 3}


def test_train_and_val_without_test_carve_the_test_split_from_train(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 10, "b": 10}, "val": {"a": 2, "b": 2}})
    splits = split_dataset(load_dataset(str(root)), test_fraction=0.2, seed=0)
    assert splits.summary()["origin"] == {"val": "given", "test": "carved"}
    assert splits.summary()["sizes"] == {"train": 16, "val": 4, "test": 4}
    assert np.bincount(splits.test[1]).tolist() == [2, 2]  # stratified


def test_a_class_missing_from_test_is_allowed(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 3, "b": 3, "c": 3}, "test": {"b": 2}})
    ds = load_dataset(str(root))
    assert ds.class_names == ("a", "b", "c") and ds.y_test is not None and ds.y_test.tolist() == [1, 1]
    assert ds.summary()["test_class_counts"] == {"a": 0, "b": 2, "c": 0}


def test_all_splits_share_one_size_and_colour_mode(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 3, "b": 2}}, shape=(12, 10))  # grey
    make_split_folder(root, {"test": {"a": 1, "b": 1}}, shape=(24, 20, 3))  # bigger and RGB
    ds = load_dataset(str(root))
    assert ds.x.shape == (5, 12, 10, 3) and ds.x_test is not None and ds.x_test.shape == (2, 12, 10, 3)
    resized = load_dataset(str(root), image_size=(6, 5))
    assert resized.x.shape[1:] == resized.x_test.shape[1:] == (6, 5, 3)


def test_image_size_resizes_a_given_validation_split(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 2, "b": 2}, "val": {"a": 1, "b": 1}})
    ds = load_dataset(str(root), image_size=(7, 9))
    assert ds.x_val is not None and ds.x_val.shape == (2, 7, 9, 3)


def test_unreadable_file_in_a_given_split_is_skipped_and_reported(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 2, "b": 2}, "test": {"a": 2, "b": 1}})
    bad = write_corrupt(root / "test" / "a" / "broken.png")
    ds = load_dataset(str(root))
    assert ds.skipped and ds.skipped[0][0] == str(bad)
    assert ds.y_test is not None and len(ds.y_test) == 3


def test_a_folder_whose_train_folder_holds_only_images_is_a_plain_class_folder(tmp_path: Path) -> None:
    # Classes that happen to be called "train" and "test": no class sub-folders below them.
    root = make_folder(tmp_path / "d", {"train": 3, "test": 2})
    ds = load_dataset(str(root))
    assert ds.class_names == ("test", "train") and ds.x_test is None


def test_images_beside_the_splits_or_their_class_folders_are_left_out_and_listed(tmp_path: Path) -> None:
    root = make_split_folder(tmp_path / "d", {"train": {"a": 2, "b": 2}, "test": {"a": 1, "b": 1}})
    write_image(root / "stray.png", (12, 10, 3))
    write_image(root / "test" / "stray.png", (12, 10, 3))
    ds = load_dataset(str(root))
    assert len(ds.x) == 4 and ds.y_test is not None and len(ds.y_test) == 2
    assert ds.skipped == (
        (str(root / "stray.png"), "in no class folder"),
        (str(root / "test" / "stray.png"), "in no class folder"),
    )
