"""Files and folders written whole or not at all."""

from __future__ import annotations

import pytest

from automl._atomic import remove_path, write_atomically


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")

    def half_written(path):
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_written)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    assert write_atomically(target, lambda path: path.write_text("new")) == target
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_a_folder_is_replaced_whole_and_its_temporary_keeps_the_suffix(tmp_path):
    target = tmp_path / "deep" / "bundle.d"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("x")
    names = []

    def write(path):
        names.append(path.name)
        path.mkdir()
        (path / "fresh.txt").write_text("y")

    write_atomically(target, write)
    assert [p.name for p in target.iterdir()] == ["fresh.txt"] and names[0].endswith("-bundle.d")
    assert [p.name for p in target.parent.iterdir()] == ["bundle.d"]  # the old folder moved aside is gone
    remove_path(target)
    remove_path(target)  # nothing there: nothing to do
    assert not target.exists()


def test_a_file_is_written_into_folders_that_do_not_exist_yet(tmp_path):
    target = tmp_path / "exports" / "study" / "model_card.json"

    assert write_atomically(target, lambda path: path.write_text("{}")) == target

    assert target.read_text() == "{}" and [p.name for p in target.parent.iterdir()] == ["model_card.json"]


def test_a_dangling_link_is_removed(tmp_path):
    link = tmp_path / "model.keras"
    link.symlink_to(tmp_path / "gone.keras")

    remove_path(link)

    assert not link.is_symlink() and list(tmp_path.iterdir()) == []
