"""Averaged models: one plain Keras model whose output is the mean of its members'."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from automl._bundle import load_keras_file
from automl._ensemble import average_models, count_members


def _member(seed: int, classes: int = 3, shape: tuple[int, int, int] = (8, 8, 1)) -> keras.Model:
    keras.utils.set_random_seed(seed)
    image = keras.Input(shape)
    hidden = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    return keras.Model(image, keras.layers.Dense(classes, activation="softmax")(hidden), name="candidate")


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, 8, 8, 1)).astype("float32")


def test_the_averaged_model_outputs_the_mean_of_its_members():
    members = [_member(0), _member(1), _member(2)]
    averaged = average_models(members)
    x = _images()
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(averaged.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert count_members(averaged) == 3
    assert averaged.count_params() == sum(m.count_params() for m in members)


def test_one_model_is_its_own_average():
    member = _member(0)
    assert average_models([member]) is member
    assert count_members(member) == 1


def test_an_averaged_model_saves_and_loads_in_plain_keras(tmp_path):
    averaged = average_models([_member(0), _member(1)])
    path = tmp_path / "model.keras"
    averaged.save(path)
    loaded = load_keras_file(path)
    x = _images()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), averaged.predict(x, verbose=0), rtol=1e-6)
    assert count_members(loaded) == 2


def test_models_of_different_shapes_or_none_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"share their input and output shapes.*\(None, 4\)"):
        average_models([_member(0), _member(1, classes=4)])
    with pytest.raises(ValueError, match="at least one model"):
        average_models([])
