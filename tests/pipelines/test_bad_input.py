"""Every kind of bad input gives a one-line ``DataError`` naming the file or value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import DataError, check_source, load_dataset, load_image
from pipelines._sources import files
from pipelines._sources.files import read_image_files
from tests.pipelines.datafiles import make_folder, make_split_folder, write_corrupt, write_image


def _missing(tmp: Path) -> str:
    return str(tmp / "nowhere")


def _empty_folder(tmp: Path) -> str:
    (tmp / "empty").mkdir()
    return str(tmp / "empty")


def _images_without_class_folders(tmp: Path) -> str:
    write_image(tmp / "flat" / "a.png", (4, 4))
    return str(tmp / "flat")


def _empty_class_folder(tmp: Path) -> str:
    make_folder(tmp / "d", {"a": 2})
    (tmp / "d" / "b").mkdir()
    return str(tmp / "d" / "b")


def _one_class(tmp: Path) -> str:
    return str(make_folder(tmp / "cats_only", {"cat": 3}))


def _class_of_corrupt_images(tmp: Path) -> str:
    make_folder(tmp / "d", {"a": 2})
    write_corrupt(tmp / "d" / "a" / "0-bad.png")  # skipped first, in a class that has images
    return str(write_corrupt(tmp / "d" / "broken" / "x.png"))  # named, as the reason it was skipped


def _folder_around_the_classes(tmp: Path) -> str:
    make_folder(tmp / "d" / "images", {"cat": 1, "dog": 1})  # as an archive unpacks
    return str(tmp / "d" / "images")


def _all_images_corrupt(tmp: Path) -> str:
    write_corrupt(tmp / "d" / "a" / "x.png")
    return str(write_corrupt(tmp / "d" / "b" / "y.png").parent.parent)


def _split_folder_test_class_not_in_train(tmp: Path) -> str:
    make_split_folder(tmp / "d", {"train": {"cat": 2, "dog": 2}, "test": {"cat": 1, "fox": 1}})
    return "'fox'"


def _split_folder_empty_test_class(tmp: Path) -> str:
    make_split_folder(tmp / "d", {"train": {"a": 2, "b": 2}, "test": {"a": 1}})
    (tmp / "d" / "test" / "b").mkdir()
    return str(tmp / "d" / "test" / "b")


def _split_folder_with_another_folder(tmp: Path) -> str:
    make_split_folder(tmp / "d", {"train": {"a": 2, "b": 2}, "test": {"a": 1}, "extra": {"a": 1}})
    return "extra/"


def _split_folder_with_val_and_valid(tmp: Path) -> str:
    make_split_folder(tmp / "d", {"train": {"a": 2, "b": 2}, "val": {"a": 1}, "valid": {"b": 1}})
    return "val/ and valid/"


def _split_folder_test_without_classes(tmp: Path) -> str:
    make_split_folder(tmp / "d", {"train": {"a": 2, "b": 2}})
    write_image(tmp / "d" / "test" / "unlabelled.png", (4, 4))
    return str(tmp / "d" / "test")


def _npz_without_training_labels(tmp: Path) -> str:
    # Images under one convention's name (images) and labels under another's (y_train).
    np.savez(tmp / "d.npz", images=np.zeros((2, 4, 4), np.uint8), y_train=np.array([0, 1]))
    return str(tmp / "d.npz")


def _npz_length_mismatch(tmp: Path) -> str:
    np.savez(tmp / "d.npz", x_train=np.zeros((5, 4, 4), np.uint8), y_train=np.array([0, 1, 0, 1]))
    return str(tmp / "d.npz")


def _npz_x_test_alone(tmp: Path) -> str:
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x)
    return str(tmp / "d.npz")


def _npz_unknown_test_label(tmp: Path) -> str:
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x[:1], y_test=np.array([7]))
    return str(tmp / "d.npz")


def _npz_x_val_alone(tmp: Path) -> str:
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_val=x)
    return str(tmp / "d.npz")


def _npz_unknown_val_label(tmp: Path) -> str:
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_val=x[:2], y_val=np.array([1, 7]))
    return str(tmp / "d.npz")


def _npz_values_not_finite(tmp: Path) -> str:
    np.savez(tmp / "d.npz", x_train=np.full((2, 4, 4), np.nan), y_train=np.array([0, 1]))
    return str(tmp / "d.npz")


def _npz_one_nan_pixel(tmp: Path) -> str:
    # It said "got nan..nan", as if every value were NaN.
    x = np.full((3, 4, 4), 0.5)
    x[1, 2, 3] = np.nan
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0]))
    return str(tmp / "d.npz")


def _npz_object_labels(tmp: Path) -> str:
    # A pandas column saved as it is: "... allow_pickle=False; save it with numpy.savez".
    labels = np.array(["cat", "dog", "cat"], dtype=object)
    np.savez(tmp / "d.npz", x_train=np.zeros((3, 4, 4), np.uint8), y_train=labels)
    return str(tmp / "d.npz")


def _npz_test_values_out_of_range(tmp: Path) -> str:
    x = np.zeros((4, 4, 4), np.uint8)
    np.savez(tmp / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=np.full((1, 4, 4), 300.0), y_test=[1])
    return str(tmp / "d.npz")


def _npz_one_class(tmp: Path) -> str:
    np.savez(tmp / "d.npz", x_train=np.zeros((3, 4, 4), np.uint8), y_train=np.array([1, 1, 1]))
    return str(tmp / "d.npz")


def _not_an_npz(tmp: Path) -> str:
    (tmp / "d.npz").write_text("hello")
    return str(tmp / "d.npz")


def _csv_missing_column(tmp: Path) -> str:
    # Two columns besides the paths, neither named as labels are: which one is the label cannot be told.
    pd.DataFrame({"path": ["a.png"], "kind": ["x"], "note": ["y"]}).to_csv(tmp / "d.csv", index=False)
    return str(tmp / "d.csv")


def _csv_missing_file(tmp: Path) -> str:
    write_image(tmp / "a.png", (4, 4))
    pd.DataFrame({"path": ["a.png", "gone.png"], "label": [0, 1]}).to_csv(tmp / "d.csv", index=False)
    return "gone.png"


def _csv_blank_label(tmp: Path) -> str:
    write_image(tmp / "a.png", (4, 4))
    pd.DataFrame({"path": ["a.png", "a.png"], "label": ["x", None]}).to_csv(tmp / "d.csv", index=False)
    return str(tmp / "d.csv")


def _csv_lists_a_folder(tmp: Path) -> str:
    write_image(tmp / "imgs" / "a.png", (4, 4))
    pd.DataFrame({"path": ["imgs/a.png", "imgs"], "label": [0, 1]}).to_csv(tmp / "d.csv", index=False)
    return str(tmp / "imgs")


def _csv_not_text(tmp: Path) -> str:
    write_image(tmp / "a.png", (4, 4))
    (tmp / "d.csv").write_bytes(b"path,label\na.png,0\na.png,\x81\x90\n")  # neither UTF-8 nor Windows-1252
    return "line 3, byte 0x81"


def _csv_empty(tmp: Path) -> str:
    (tmp / "d.csv").write_text("")
    return str(tmp / "d.csv")


def _unknown_kind(tmp: Path) -> str:
    (tmp / "d.txt").write_text("x")
    return str(tmp / "d.txt")


# Case -> (writer returning the text the message must name, the source to load, what it must say).
CASES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    "missing path": (_missing, "nowhere", "no such file or folder"),
    "empty folder": (_empty_folder, "empty", "no class sub-folders"),
    "images but no class folders": (_images_without_class_folders, "flat", "no class sub-folders"),
    "empty class folder": (_empty_class_folder, "d", "contains no image files (.apng, .avif, .bmp, .gif"),
    "one class": (_one_class, "cats_only", "only one class ('cat')"),
    "a folder around the class folders": (_folder_around_the_classes, "d", "('cat', 'dog') look like the classes"),
    "class of corrupt images": (_class_of_corrupt_images, "d", "class 'broken' has no readable images"),
    "all images corrupt": (_all_images_corrupt, "d", "none of the 2 image files could be read"),
    "split folder, test class not in train": (
        _split_folder_test_class_not_in_train,
        "d",
        "class 'fox' is in test/ but not in train/",
    ),
    "split folder with another folder": (_split_folder_with_another_folder, "d", "read as given splits"),
    "split folder with val/ and valid/": (_split_folder_with_val_and_valid, "d", "two folders of the same split"),
    "split folder, test without classes": (_split_folder_test_without_classes, "d", "no class sub-folders"),
    "split folder, empty test class": (_split_folder_empty_test_class, "d", "contains no image files"),
    "npz without training labels": (_npz_without_training_labels, "d.npz", "has no training images and labels"),
    "npz lengths differ": (_npz_length_mismatch, "d.npz", "5 training images but 4 training labels"),
    "npz x_test without y_test": (_npz_x_test_alone, "d.npz", "x_test but not its partner"),
    "npz test label not in training": (_npz_unknown_test_label, "d.npz", "test labels ['7'] never occur"),
    "npz x_val without y_val": (_npz_x_val_alone, "d.npz", "x_val but not its partner"),
    "npz validation label not in training": (_npz_unknown_val_label, "d.npz", "validation labels ['7'] never occur"),
    "npz values not finite": (_npz_values_not_finite, "d.npz", "training image values must be finite numbers"),
    "npz one NaN pixel": (
        _npz_one_nan_pixel,
        "d.npz",
        "got 1 of 48 that are not (NaN or infinite), the first in image 1; the others range 0.5..0.5",
    ),
    "npz object labels": (_npz_object_labels, "d.npz", "its array 'y_train' holds Python objects (dtype object"),
    "npz test values out of range": (_npz_test_values_out_of_range, "d.npz", "test image values must lie in 0..255"),
    "npz with one class": (_npz_one_class, "d.npz", "only one class ('1')"),
    "not an npz": (_not_an_npz, "d.npz", "not a .npz file"),
    "csv missing column": (_csv_missing_column, "d.csv", "no column 'label'"),
    "csv points at a missing file": (_csv_missing_file, "d.csv", "files that do not exist (1, first:"),
    "csv blank label": (_csv_blank_label, "d.csv", "an empty 'path' or 'label' cell (1, first: data row 2)"),
    "csv empty": (_csv_empty, "d.csv", "cannot read CSV"),
    "csv lists a folder": (_csv_lists_a_folder, "d.csv", "lists folders, not image files (1, first:"),
    "csv neither UTF-8 nor Windows-1252": (_csv_not_text, "d.csv", "save it as UTF-8"),
    "unknown kind of file": (_unknown_kind, "d.txt", "cannot tell how to read"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    write, source, says = CASES[case]
    named = write(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(str(tmp_path / source))
    message = str(info.value)
    assert "\n" not in message and named in message and says in message, message


# The cases ``check_source`` tells without reading an image; it lets the others through to the loader.
CHECKED = {
    "missing path",
    "empty folder",
    "images but no class folders",
    "empty class folder",
    "one class",
    "a folder around the class folders",
    "csv lists a folder",
    "csv neither UTF-8 nor Windows-1252",
    "npz without training labels",
    "npz x_test without y_test",
    "npz x_val without y_val",
    "not an npz",
    "split folder, test class not in train",
    "split folder with another folder",
    "split folder with val/ and valid/",
    "split folder, test without classes",
    "split folder, empty test class",
    "csv missing column",
    "csv points at a missing file",
    "csv blank label",
    "csv empty",
    "unknown kind of file",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_source_fails_as_loading_would_or_lets_the_loader_tell(case: str, tmp_path: Path) -> None:
    write, source, _ = CASES[case]
    write(tmp_path)
    path = str(tmp_path / source)
    with pytest.raises(DataError) as loading:
        load_dataset(path)
    if case not in CHECKED:
        check_source(path)  # only reading the images tells
        return
    with pytest.raises(DataError) as checking:
        check_source(path)
    assert str(checking.value) == str(loading.value)


def test_corrupt_image_is_skipped_and_reported_or_fatal_in_strict_mode(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"a": 3, "b": 3}, shape=(6, 6))
    bad = write_corrupt(root / "b" / "bad.png")
    truncated = root / "a" / "cut.png"
    write_image(truncated, (6, 6))
    truncated.write_bytes(truncated.read_bytes()[:60])

    ds = load_dataset(str(root))
    assert len(ds.x) == 6
    assert sorted(path for path, _ in ds.skipped) == sorted([str(bad), str(truncated)])
    assert all(reason and "\n" not in reason for _, reason in ds.skipped)
    assert ds.summary()["skipped"] == 2

    with pytest.raises(DataError, match="cut.png|bad.png") as info:
        load_dataset(str(root), strict=True)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", [(0, 4), (4,), "8x8", (4.5, 4)])
def test_bad_image_size_is_quoted(size) -> None:
    with pytest.raises(DataError, match=re.escape(f"got {size!r}")):
        load_dataset("digits", image_size=size)


def test_reading_on_threads_keeps_the_order_of_images_and_of_skipped_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"a": 6, "b": 6}, shape=(8, 8, 3))
    first_bad, second_bad = write_corrupt(root / "a" / "2x.png"), write_corrupt(root / "b" / "0x.png")
    paths = sorted(root.rglob("*.png"))
    serial, threaded = (read_image_files(paths, source="d", image_size=None, strict=False, threads=n) for n in (1, 4))
    assert [path for path, _ in threaded.skipped] == [str(first_bad), str(second_bad)]
    assert threaded.skipped == serial.skipped
    assert np.array_equal(threaded.kept, serial.kept) and np.array_equal(threaded.images, serial.images)
    for image, index in zip(threaded.images, threaded.kept, strict=True):
        assert np.array_equal(image, load_image(paths[index], image_size=None, channels=3))
    with pytest.raises(DataError, match="2x.png"):  # strict: the first unreadable file in order
        read_image_files(paths, source="d", image_size=None, strict=True, threads=4)


@pytest.mark.parametrize(("side", "threads"), [(8, 1), (99, 1), (100, 3)])
def test_only_files_of_100x100_pixels_or_more_are_decoded_on_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int, threads: int
) -> None:
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(side, side, 3))
    pools: list[int] = []

    class Recorded(files.ThreadPoolExecutor):
        def __init__(self, max_workers: int) -> None:
            pools.append(max_workers)
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(files, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(files, "READ_THREADS", 3)
    assert load_dataset(str(root)).x.shape == (4, side, side, 3)
    assert pools == [threads]


@pytest.mark.parametrize("size", [(0, 4), "8x8"])
def test_a_bad_image_size_for_an_image_folder_is_quoted_before_any_image_is_read(size, tmp_path: Path) -> None:
    # Only the images were told of it: every one was skipped as unreadable, or a NumPy error.
    root = make_folder(tmp_path / "d", {"a": 1, "b": 1})
    with pytest.raises(
        DataError, match="^" + re.escape(f"image_size must be two positive integers (H, W), got {size!r}")
    ):
        load_dataset(str(root), image_size=size)


def test_check_source_lets_the_named_data_sets_through() -> None:
    for name in ("digits", "mnist", "cifar100"):
        check_source(name)  # no file of that name needs to exist


def test_a_folder_around_many_classes_names_three_of_them(tmp_path: Path) -> None:
    make_folder(tmp_path / "d" / "inner", {"a": 1, "b": 1, "c": 1, "e": 1})
    with pytest.raises(DataError, match=re.escape("sub-folders ('a', 'b', 'c', ...) look like the classes")):
        load_dataset(str(tmp_path / "d"))


def test_images_too_many_for_the_memory_are_refused_before_they_are_read(tmp_path: Path, monkeypatch) -> None:
    from pipelines import _image

    root = make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(12, 10, 3))
    monkeypatch.setattr(_image, "_available_memory", lambda: 2**30)
    with pytest.raises(
        DataError, match=r"^4 images of 4000x4000x3 need about 1\.1 GiB .* but only 1\.0 GiB is available"
    ):
        load_dataset(str(root), image_size=(4000, 4000))
    assert len(load_dataset(str(root), image_size=(100, 100)).x) == 4


def test_a_dataset_with_a_label_past_its_last_class_is_refused() -> None:
    from pipelines import Dataset

    x = np.zeros((2, 3, 3, 1), np.uint8)
    with pytest.raises(DataError, match=r"^mine: training labels must be in 0\.\.1, got values from 0 to 2$"):
        Dataset(x=x, y=np.array([0, 2]), class_names=("a", "b"), source="mine")


def test_a_csv_of_a_header_alone_says_it_has_no_rows(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("path,label\n")
    with pytest.raises(DataError, match=r"^CSV '.*x\.csv' has no rows; list one image path and label per row$"):
        load_dataset(str(tmp_path / "x.csv"))
