"""Averaged models: several trained copies of one architecture as a single Keras model.

A finalist retrained as several members (``automl._compare``) is exported, logged and
served as one functional model: the image goes to each member, and the output is the mean
of their probabilities (``keras.layers.Average``). It is built from plain Keras layers, so
the bundle's ``model.keras``, SavedModel and ONNX files hold it as they hold any model, and
plain Keras loads it without this project.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

__all__ = ["average_models", "count_members"]

MEMBER_PREFIX = "member_"


def average_models(models: Sequence[keras.Model], *, name: str = "averaged") -> keras.Model:
    """One model whose output is the mean of ``models``' outputs; a single model is returned as it is.

    Each member keeps its own layers and weights under the name ``member_<i>``.

    Raises:
        ValueError: no model, or models whose input or output shapes differ (quoted).
    """
    if not models:
        raise ValueError("average_models needs at least one model, got none")
    if len(models) == 1:
        return models[0]
    shapes = {(tuple(m.input_shape), tuple(m.output_shape)) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"averaged models must share their input and output shapes, got {sorted(shapes)!r}")
    image = keras.Input(shape=tuple(models[0].input_shape[1:]), name="image")
    outputs = [
        keras.Model(model.input, model.output, name=f"{MEMBER_PREFIX}{i}")(image) for i, model in enumerate(models)
    ]
    return keras.Model(image, keras.layers.Average(name="average")(outputs), name=name)


def count_members(model: keras.Model) -> int:
    """How many members ``model`` averages: 1 for a model that is not ``average_models``' output
    (or a model wrapping one, as ``automl._views.with_views`` does)."""
    models = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    members = [m for m in models if m.name.startswith(MEMBER_PREFIX)]
    if members:
        return len(members)
    return max((count_members(m) for m in models), default=1)
