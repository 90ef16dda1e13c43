"""A study's data: its console line."""

from __future__ import annotations

import numpy as np

from automl._config import StudyConfig
from automl._data import describe_data, load_study_data, value_map_note


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
