"""Predictions outside of training: a batch at a time, as the whole-array ``predict`` gives them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from automl._inference import predict_batches


def test_predictions_a_batch_at_a_time_are_the_model_s_for_any_count_of_images():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    x = np.random.default_rng(0).integers(0, 256, (10, 6, 6, 3), dtype=np.uint8)
    expected = model.predict(x.astype("float32"), verbose=0)
    for batch_size in (4, 5, 16):  # a last batch padded, none, one padded batch
        np.testing.assert_allclose(predict_batches(model, x, batch_size), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict_batches(model, x), expected, rtol=1e-5, atol=1e-5)  # inference_batch_size
    with pytest.raises(ValueError, match=r"no images to predict: x has shape \(0, 6, 6, 3\)"):
        predict_batches(model, x[:0])
