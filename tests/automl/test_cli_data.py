"""``automl data inspect`` end to end, through the CLI entry point."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl.cli import main
from pipelines import AugmentPolicy
from tests.pipelines.datafiles import make_folder, make_split_folder, write_corrupt


def test_inspect_prints_counts_splits_and_skipped_files_and_writes_a_grid(tmp_path: Path, capsys) -> None:
    root = make_folder(tmp_path / "pets", {"cat": 12, "dog": 8}, shape=(10, 10, 3))
    bad = write_corrupt(root / "dog" / "broken.png")
    out = tmp_path / "grid.png"

    assert main(["data", "inspect", str(root), "--out", str(out), "--seed", "1", "--image-size", "16,12"]) == 0
    printed = capsys.readouterr().out
    assert "images: 20; shape 16x12x3 uint8" in printed
    assert "skipped files: 1" in printed and str(bad) in printed
    # Of all 20: val round(0.15 * 20) = 3, test 4, shared among the classes by their sizes; the rest trains.
    assert "split (seed 1, val_fraction 0.15, test_fraction 0.2): train 13, val 3, test 4" in printed
    assert "\nflips: " in printed  # whether a search would flip these images
    assert [line.split() for line in printed.splitlines() if line.startswith(("cat ", "dog "))] == [
        ["cat", "12", "8", "2", "2"],
        ["dog", "8", "5", "1", "2"],
    ]
    with Image.open(out) as grid:
        assert grid.format == "PNG" and grid.width > 400
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".grid")]  # no temporary left behind


def test_inspect_shows_given_splits_of_a_train_test_folder(tmp_path: Path, capsys) -> None:
    layout = {"train": {"cat": 10, "dog": 10}, "val": {"cat": 2, "dog": 1}, "test": {"cat": 3, "dog": 2}}
    root = make_split_folder(tmp_path / "pets", layout, shape=(8, 8, 3))
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "g.png")]) == 0
    printed = capsys.readouterr().out
    assert "images: 20 + 3 given validation images + 5 given test images" in printed
    assert "val_fraction given, test_fraction given): train 20, val 3, test 5" in printed
    rows = [line.split() for line in printed.splitlines() if line.startswith(("cat ", "dog ", "test ", "train "))]
    assert rows == [["cat", "10", "10", "2", "3"], ["dog", "10", "10", "1", "2"]]


def test_inspect_writes_its_grid_into_a_folder_given_as_out(tmp_path: Path, capsys) -> None:
    (tmp_path / "grids").mkdir()
    assert main(["data", "inspect", "digits", "--out", str(tmp_path / "grids")]) == 0
    assert (tmp_path / "grids" / "augmented.png").stat().st_size > 0
    assert f"wrote {tmp_path / 'grids' / 'augmented.png'}" in capsys.readouterr().out


def test_inspect_writes_a_new_folder_s_grid_and_a_jpeg_as_named(tmp_path: Path, capsys) -> None:
    # A new folder's path ("new/") was written as a PNG file named "new"; a .jpg held PNG bytes.
    assert main(["data", "inspect", "digits", "--out", f"{tmp_path / 'new'}/"]) == 0
    assert (tmp_path / "new" / "augmented.png").is_file()
    assert main(["data", "inspect", "digits", "--out", str(tmp_path / "g.jpg")]) == 0
    with Image.open(tmp_path / "g.jpg") as grid:
        assert grid.format == "JPEG"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "g.jpg").stat().st_mode & 0o777 == 0o666 & ~umask  # not a temporary file's 0600
    capsys.readouterr()
    assert main(["data", "inspect", "digits", "--out", "/proc/no-such-folder/g.png"]) == 2
    error = capsys.readouterr().err
    assert "cannot write the grid to '/proc/no-such-folder/g.png'" in error and ".tmp" not in error
    with pytest.raises(SystemExit):
        main(["data", "inspect", "digits", "--out", str(tmp_path / "grid.gif")])
    assert "'grid.gif' is not a folder nor a file ending in .png" in capsys.readouterr().err.replace(
        str(tmp_path) + "/", ""
    )


def test_strict_mode_fails_with_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    root = make_folder(tmp_path / "d", {"a": 3, "b": 3})
    write_corrupt(root / "a" / "broken.png")
    assert main(["data", "inspect", str(root), "--strict", "--out", str(tmp_path / "g.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "broken.png" in error and error.startswith("automl data: error:")
    assert not (tmp_path / "g.png").exists()


def test_policy_file_is_used_and_a_bad_one_is_one_line(tmp_path: Path, capsys) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(AugmentPolicy.none().to_dict()))
    assert main(["data", "inspect", "digits", "--policy", str(policy), "--out", str(tmp_path / "g.png")]) == 0
    assert f"augmentation: {json.dumps(AugmentPolicy.none().to_dict())}" in capsys.readouterr().out

    policy.write_text(json.dumps({"cval": 0}))
    assert main(["data", "inspect", "digits", "--policy", str(policy)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "policy.json" in error and "cval" in error


@pytest.mark.parametrize("bad", ["8", "8,x", "0,8"])
def test_bad_image_size_is_a_usage_error(bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data", "inspect", "digits", "--image-size", bad])
    assert info.value.code == 2 and bad in capsys.readouterr().err


def test_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "inspect", "--help"])
    assert "Examples:\n  automl data inspect" in capsys.readouterr().out


def test_inspect_draws_at_most_20_classes_and_says_how_many_of_them(tmp_path: Path, capsys) -> None:
    y = np.repeat(np.arange(21), 4)
    np.savez(tmp_path / "d.npz", x=np.zeros((len(y), 4, 4, 1), np.uint8), y=y)

    assert main(["data", "inspect", str(tmp_path / "d.npz"), "--out", str(tmp_path / "g.png")]) == 0

    assert "one row per class (20 of 21), the original then 7 augmented views" in capsys.readouterr().out


def test_inspect_says_how_arrays_in_another_layout_were_read(tmp_path: Path, capsys) -> None:
    x = np.random.default_rng(2).integers(0, 256, (40, 1, 6, 5), dtype=np.uint8)
    np.savez(tmp_path / "cf.npz", x_train=x, y_train=np.repeat(np.arange(2), 20))

    assert main(["data", "inspect", str(tmp_path / "cf.npz"), "--out", str(tmp_path / "g.png")]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert "read channels-first images (N, C, H, W) moved to channels-last (N, H, W, C): training (40, 1, 6, 5)" in (
        printed
    )


def test_inspect_takes_a_file_name_in_capitals(tmp_path: Path, capsys) -> None:
    assert main(["data", "inspect", "digits", "--out", str(tmp_path / "GRID.PNG")]) == 0

    with Image.open(tmp_path / "GRID.PNG") as grid:
        assert grid.format == "PNG"
