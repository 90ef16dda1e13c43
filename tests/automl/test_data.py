"""A study's data: its console line, and the options that say how to read it."""

from __future__ import annotations

import re

import numpy as np
import optuna
import pandas as pd
import pytest

from automl._config import StudyConfig
from automl._data import (
    absent_classes_note,
    conversions_note,
    describe_data,
    flips_line,
    imbalance_note,
    load_study_data,
    skipped_note,
    value_map_note,
)
from automl._errors import UserError
from automl._records import StudyRecord, record_data
from automl._study_data import signature, study_data
from automl.cli import build_parser
from automl.cli._search import config_from_args
from pipelines import DataError
from tests.pipelines.datafiles import make_folder, write_corrupt, write_image


def test_the_data_line_counts_the_images_and_marks_given_splits(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (60, 6, 5, 3), dtype=np.uint8), np.repeat(np.arange(3), 20)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    data = load_study_data(StudyConfig(data=str(path), max_val_images=6))
    assert describe_data(data, 1.26) == (
        "data: 69 images of 6x5x3 in 3 classes, read in 1.3s; train 54, validation 6, test 9 (given)"
    )


def test_values_that_are_not_pixels_are_noted_with_their_map(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 4, 4)), np.repeat(np.arange(2), 20)
    np.savez(tmp_path / "z.npz", x_train=x, y_train=y)
    np.savez(tmp_path / "p.npz", x_train=(x > 0).astype(np.uint8) * 255, y_train=y)
    assert value_map_note(load_study_data(StudyConfig(data=str(tmp_path / "p.npz"))).dataset) is None
    dataset = load_study_data(StudyConfig(data=str(tmp_path / "z.npz"))).dataset
    low, factor = dataset.value_map
    assert low == x.min() and factor == 255 / (x.max() - x.min())
    note = value_map_note(dataset)
    assert note is not None and f"({x.min():.4g}..{x.max():.4g})" in note and f"(value + {-low:.6g})" in note
    np.savez(tmp_path / "unit.npz", x_train=(x > 0).astype(np.float32), y_train=y)  # floats in 0..1
    note = value_map_note(load_study_data(StudyConfig(data=str(tmp_path / "unit.npz"))).dataset)
    assert note == (
        "note: the images' values (0..1) are not pixels; they were mapped onto 0..255 as (value - 0) * 255 to "
        "train, and the exported model takes values like these and maps them itself (the MLflow logged models "
        "take the pixels)"
    )


def test_arrays_read_in_another_layout_are_noted_with_the_exported_model_s_input(tmp_path) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (40, 1, 6, 5), dtype=np.uint8), np.repeat(np.arange(2), 20)
    np.savez(tmp_path / "cf.npz", x_train=x, y_train=y)
    np.savez(tmp_path / "cl.npz", x_train=x[:, 0], y_train=y)
    assert conversions_note(load_study_data(StudyConfig(data=str(tmp_path / "cl.npz"))).dataset) is None
    note = conversions_note(load_study_data(StudyConfig(data=str(tmp_path / "cf.npz"))).dataset)
    assert note == (
        "note: read channels-first images (N, C, H, W) moved to channels-last (N, H, W, C): training (40, 1, 6, 5). "
        "The exported model takes images of shape (batch, 6, 5, 1) and gives one probability per class"
    )


def test_a_csv_s_columns_are_named_by_the_search_options(tmp_path) -> None:
    # Two columns besides the paths, neither named as a label: only the options can tell them.
    for i in range(20):
        write_image(tmp_path / f"{i}.png", (5, 5), seed=i)
    table = {"img": [f"{i}.png" for i in range(20)], "kind": ["cat", "dog"] * 10, "note": list("abcdefghij") * 2}
    pd.DataFrame(table).to_csv(tmp_path / "x.csv", index=False)
    data = str(tmp_path / "x.csv")
    with pytest.raises(DataError, match="--path-column/--label-column"):
        load_study_data(StudyConfig(data=data))
    args = build_parser().parse_args(["search", "--data", data, "--path-column", "img", "--label-column", "kind"])
    config = config_from_args(args)
    assert (config.path_column, config.label_column) == ("img", "kind")
    assert StudyConfig.from_json(config.to_json()).label_column == "kind"  # stored with the study
    dataset = load_study_data(config).dataset
    assert dataset.class_names == ("cat", "dog") and dataset.y.tolist() == [0, 1] * 10


def test_images_are_flipped_only_where_their_classes_look_the_same_in_a_mirror(tmp_path) -> None:
    digits = load_study_data(StudyConfig())
    assert not digits.flips
    assert flips_line(digits.mirror_asymmetry).startswith("flips: off; the classes do not look the same")
    x, y = digits.dataset.x, digits.dataset.y
    mirrored = np.random.default_rng(0).random(len(x)) < 0.5
    x = np.where(mirrored[:, None, None, None], x[:, :, ::-1], x)
    np.savez(tmp_path / "mirrored.npz", x_train=x, y_train=y)
    symmetric = load_study_data(StudyConfig(data=str(tmp_path / "mirrored.npz")))
    assert symmetric.flips and flips_line(symmetric.mirror_asymmetry).startswith("flips: on; the classes look the same")


def test_the_flips_line_shows_an_asymmetry_that_does_not_contradict_its_limit():
    # Rounded to 2 decimals, 0.0998 read "mirror asymmetry 0.10, below 0.1".

    assert "(mirror asymmetry 0.0998, below 0.1)" in flips_line(0.0998)
    assert "(mirror asymmetry 0.1, 0.1 or more)" in flips_line(0.1)
    # None also means class means that do not differ (objects at any place), not only too few images.
    assert "cannot be told from these images" in flips_line(None) and "do not differ beyond noise" in flips_line(None)


def test_a_study_recorded_before_the_proportional_allocation_keeps_its_splits(tmp_path) -> None:
    # Its trials trained on its old training split: new splits would test them on images they trained on.
    y = np.repeat([0, 1, 2], [13, 8, 5])
    x = np.random.default_rng(0).integers(0, 256, (len(y), 6, 6, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = StudyConfig(data=str(tmp_path / "d.npz"))
    before = load_study_data(config, allocation="per_class")
    older = optuna.create_study()
    record_data(older, {**signature(before), "folder": str(tmp_path)})  # as it was recorded: no allocation
    kept = study_data(older, config)
    assert np.array_equal(kept.splits.test[0], before.splits.test[0]) and len(kept.splits.test[1]) == 6

    new = optuna.create_study()
    assert len(study_data(new, config).splits.test[1]) == 5  # 0.2 of 26 images, not 6 rounded class by class
    assert StudyRecord.of(new).data["allocation"] == "proportional"
    assert len(study_data(new, config).splits.test[1]) == 5  # and read so again


def test_classes_without_a_validation_or_test_image_are_noted(tmp_path) -> None:
    # 100 classes of 2 images beside one of 300: 100 classes had no held-out image, and the
    # search said nothing (its test accuracy, 1.0, was the large class's).
    y = np.repeat(np.arange(101), [2] * 100 + [300])
    np.savez(tmp_path / "d.npz", x=np.zeros((len(y), 4, 4, 1), np.uint8), y=y)
    note = absent_classes_note(load_study_data(StudyConfig(data=str(tmp_path / "d.npz"))).splits)
    assert note is not None and re.fullmatch(
        r"note: \d+ class\(es\) have no validation image \(\d+, \d+, \d+ and \d+ more\); "
        r"\d+ class\(es\) have no test image .*: too few images of them to hold any out; add images of those classes",
        note,
    )
    assert absent_classes_note(load_study_data(StudyConfig()).splits) is None  # digits: every class in each split


def test_imbalanced_classes_are_noted_with_the_majority_s_score(tmp_path) -> None:
    # 990 images of one class and 10 of the other: the search reported test accuracy 0.995,
    # and nothing said that predicting the large class alone scored 0.990.
    y = np.repeat([0, 1], [990, 10])
    np.savez(tmp_path / "d.npz", x=np.zeros((len(y), 4, 4, 1), np.uint8), y=y)
    splits = load_study_data(StudyConfig(data=str(tmp_path / "d.npz"))).splits
    note = imbalance_note(splits)
    assert note is not None and note.startswith("note: the classes are imbalanced ('0' 644 training images, '1' 6)")
    assert note.endswith(f"predicting '0' for every image scores {np.mean(splits.test[1] == 0):.4f} on the test split")
    assert imbalance_note(load_study_data(StudyConfig()).splits) is None  # digits: about 180 a class


def test_a_data_set_name_stays_a_name_elsewhere_beside_a_folder_of_that_name_where_the_search_ran(
    tmp_path, monkeypatch
) -> None:
    # A relative path not found here is looked for from the search's folder; "digits" there
    # was a sub-folder of images, read in place of the data set on a resume from elsewhere.
    searched, elsewhere = tmp_path / "searched", tmp_path / "elsewhere"
    for label in ("a", "b"):
        for i in range(3):
            write_image(searched / "digits" / label / f"{i}.png", (8, 8), seed=i)
    elsewhere.mkdir()
    study, config = optuna.create_study(), StudyConfig(data="digits")
    monkeypatch.chdir(searched)
    first = study_data(study, config)  # names win over paths
    monkeypatch.chdir(elsewhere)
    again = study_data(study, config)
    assert first.class_names == again.class_names == tuple(str(d) for d in range(10))
    assert np.array_equal(first.splits.test[0], again.splits.test[0])


def test_the_skipped_files_note_names_the_first_three_with_their_reasons_and_counts_the_rest(tmp_path) -> None:
    root = make_folder(tmp_path / "pets", {"cat": 6, "dog": 6}, shape=(8, 8, 3))
    broken = [write_corrupt(root / "dog" / f"broken{i}.png") for i in range(5)]

    note = skipped_note(load_study_data(StudyConfig(data=str(root))).dataset)

    named = ", ".join(f"{path} (cannot identify image file '{path}')" for path in broken[:3])
    assert note == f"note: skipped 5 file(s): {named} and 2 more (see 'automl data inspect')"


def test_classes_ten_times_apart_are_already_imbalanced(tmp_path) -> None:
    zeros = np.zeros((110, 4, 4, 1), np.uint8)
    given = {"x_val": zeros[:4], "y_val": np.array([0, 1, 0, 1]), "x_test": zeros[:4], "y_test": np.array([0, 1, 0, 0])}
    np.savez(tmp_path / "d.npz", x_train=zeros, y_train=np.repeat([0, 1], [100, 10]), **given)

    note = imbalance_note(load_study_data(StudyConfig(data=str(tmp_path / "d.npz"))).splits)

    assert note is not None and note.startswith("note: the classes are imbalanced ('0' 100 training images, '1' 10)")


def test_a_study_refuses_its_data_changed_saying_what_changed_from_what_to_what(tmp_path) -> None:
    rng, y = np.random.default_rng(0), np.repeat([0, 1], 10)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (20, 6, 6, 1), dtype=np.uint8), y=y)
    study, config = optuna.create_study(study_name="s"), StudyConfig(data=str(tmp_path / "d.npz"))
    study_data(study, config)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (20, 5, 5, 1), dtype=np.uint8), y=y)  # resized

    with pytest.raises(UserError) as refused:
        study_data(study, config)

    assert str(refused.value) == (  # other pixels follow from another shape: not said again
        f"the data of study 's' ({tmp_path / 'd.npz'}) is not the data it was searched on: its image shape was "
        "[6, 6, 1] and is [5, 5, 1]. Restore it, or search the new data as a new study"
    )
