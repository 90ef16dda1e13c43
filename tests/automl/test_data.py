"""A study's data: its console line."""

from __future__ import annotations

import numpy as np

from automl._config import StudyConfig
from automl._data import describe_data, load_study_data


def test_the_data_line_counts_the_images_and_marks_given_splits(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (60, 6, 5, 3), dtype=np.uint8), np.repeat(np.arange(3), 20)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    data = load_study_data(StudyConfig(data=str(path), max_val_images=6))
    assert describe_data(data, 1.26) == (
        "data: 69 images of 6x5x3 in 3 classes, read in 1.3s; train 54, validation 6, test 9 (given)"
    )
