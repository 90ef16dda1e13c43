"""Shared checks of the searchspace tests: an analysis against the Keras model it describes."""

from __future__ import annotations

import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402

import searchspace as ss  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

SHAPES = [(8, 8, 1), (28, 28, 1), (32, 32, 3)]


def _expected_flops(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates derived from the Keras layer itself: kernel size times output positions."""
    if isinstance(layer, keras.layers.Conv2D):
        height, width = layer.output.shape[1:3]
        return math.prod(layer.kernel.shape) * height * width
    if isinstance(layer, keras.layers.Dense):
        return math.prod(layer.kernel.shape)
    if isinstance(layer, keras.layers.BatchNormalization):
        return math.prod(layer.output.shape[1:])
    return 0


def build_and_compare(spec: ss.ArchitectureSpec, input_shape: tuple[int, int, int], num_classes: int = 10):
    """Build ``spec`` and assert that its analysis matches the Keras model layer by layer."""
    analysis = ss.analyze(spec, input_shape, num_classes)
    keras.backend.clear_session(free_memory=False)
    model = ss.build_model(spec, input_shape, num_classes)
    assert model.count_params() == analysis.params
    built = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert sorted(built) == sorted(info.name for info in analysis.layers)
    for info in analysis.layers:
        layer = model.get_layer(info.name)
        assert tuple(layer.output.shape[1:]) == info.output_shape, info.name
        assert layer.count_params() == info.params, info.name
        assert info.flops == _expected_flops(layer), info.name
    assert tuple(model.output.shape[1:]) == (num_classes,)
    return model, analysis


def train_one_step(model: keras.Model, input_shape: tuple[int, int, int], num_classes: int = 10) -> float:
    """One eager SGD step on a batch of two random images; returns the loss."""
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *input_shape)).astype("float32")
    y = rng.integers(0, num_classes, size=2)
    return float(np.asarray(model.train_on_batch(x, y)).reshape(-1)[0])


def random_trials(seed: int):
    """An endless supply of trials from an in-memory study with a seeded random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while True:
        yield study.ask()
