"""Test-time views: one plain Keras model averaging its predictions over shifted and flipped images."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import pipelines
from automl._bundle import load_keras_file
from automl._config import StudyConfig
from automl._ensemble import average_models, count_members
from automl._views import MAX_VIEWS, View, count_views, seen, views_for, with_views


def _model(seed: int = 0, shape: tuple[int, int, int] = (7, 9, 3)) -> keras.Model:
    """A model that is not shift- or flip-invariant (its dense layer sees every pixel)."""
    keras.utils.set_random_seed(seed)
    image = keras.Input(shape)
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, padding="same")(image))
    return keras.Model(image, keras.layers.Dense(4, activation="softmax")(hidden), name="candidate")


def _images(shape: tuple[int, int, int] = (7, 9, 3)) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (5, *shape)).astype("float32")


def _seen(x: np.ndarray, view: View) -> np.ndarray:
    """``x`` as ``view`` shows it, in NumPy written another way: rolled, the wrapped rows and
    columns zeroed, then mirrored."""
    out = np.roll(x, (view.dy, view.dx), axis=(1, 2))
    if view.dy:
        out[:, 0 if view.dy > 0 else -1] = 0
    if view.dx:
        out[:, :, 0 if view.dx > 0 else -1] = 0
    return out[:, :, ::-1] if view.flip else out


ALL = views_for({**pipelines.AugmentPolicy.none().to_dict(), "hflip_p": 0.5, "pad_crop_p": 0.5, "pad_px": 2}, (8, 8, 1))


def test_the_viewed_model_averages_the_model_over_its_views():
    model, x = _model(), _images()
    viewed = with_views(model, ALL)
    expected = np.mean([model.predict(_seen(x, view), verbose=0) for view in ALL], axis=0)
    np.testing.assert_allclose(viewed.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert count_views(viewed) == 10 and count_views(model) == 1
    assert viewed.count_params() == model.count_params() + 9 * 9  # the mirror's fixed kernel, shared


def test_seen_shows_the_images_as_the_viewed_model_does():
    x = _images()
    for view in ALL:
        np.testing.assert_array_equal(seen(x, view), _seen(x, view))
    assert seen(x, View()) is x


def test_views_follow_the_augmentation_the_model_was_trained_with():
    none = pipelines.AugmentPolicy.none().to_dict()
    assert views_for(None, (28, 28, 1)) == views_for(none, (28, 28, 1)) == (View(),)
    assert views_for({**none, "hflip_p": 0.5}, (28, 28, 1)) == (View(), View(flip=True))
    shifts = (View(), View(dy=1), View(dy=-1), View(dx=1), View(dx=-1))
    assert views_for({**none, "pad_crop_p": 0.5, "pad_px": 1}, (8, 8, 1)) == shifts
    assert views_for({**none, "affine_p": 0.3, "shift": 0.1}, (28, 28, 1)) == shifts  # up to 2 pixels
    # On 8x8 images a shift of 0.1 of the side, under a pixel, never moved one.
    assert views_for({**none, "affine_p": 0.3, "shift": 0.1}, (8, 8, 1)) == (View(),)
    assert views_for({**none, "affine_p": 0.3, "shift": 0.0, "rotate": 10.0}, (28, 28, 1)) == (View(),)
    assert views_for({**none, "affine_p": 0.3, "shift": 0.125}, (8, 8, 1)) == (View(),)  # u * 8 < 1: int 0
    assert views_for({**none, "affine_p": 0.3, "shift": 0.1}, (8, 32, 1)) == (View(),)  # by the shorter side
    assert views_for({**none, "pad_crop_p": 0.5, "pad_px": 0}, (8, 8, 1)) == (View(),)  # padded by nothing
    # Given up from the end: the image, its mirror image, the shifts, the mirror image's shifts.
    both = views_for({**none, "hflip_p": 0.5, "pad_crop_p": 0.5, "pad_px": 1}, (8, 8, 1))
    assert both == (View(), View(flip=True), *shifts[1:], *(dataclasses.replace(v, flip=True) for v in shifts[1:]))
    assert ALL[:3] == (View(), View(flip=True), View(dy=1)) and ALL[-1] == View(dx=-1, flip=True)


def test_one_view_is_the_model_itself_and_the_first_view_is_the_image():
    model = _model()
    assert with_views(model, (View(),)) is model
    with pytest.raises(ValueError, match="the first view must be the image itself, got View"):
        with_views(model, (View(dx=1), View()))


def test_a_viewed_averaged_model_saves_and_loads_in_plain_keras(tmp_path):
    viewed = with_views(average_models([_model(0), _model(1)]), ALL[:3])
    viewed.save(tmp_path / "model.keras")
    loaded = load_keras_file(tmp_path / "model.keras")
    x = _images()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), viewed.predict(x, verbose=0), rtol=1e-6)
    assert count_views(loaded) == 3 and count_members(loaded) == 2


def test_a_study_averages_all_the_views_by_default():
    assert StudyConfig().views == MAX_VIEWS == len(ALL)
