"""Test-time views: a final model that averages its predictions over shifted (and flipped) copies of each image.

A model trained with random shifts (pad-and-crop or affine) has learnt that an object one
pixel away is the same object, and one trained with horizontal flips that its mirror image
is; averaging its probabilities over such views of a test image is a cheap ensemble. On
5,000-image pools (``bench/RESULTS.md``, "Test-time views"), the four one-pixel shifts added
0.07 to 0.49 points on MNIST, USPS, Fashion-MNIST and its colour scenes, and on the colour
scenes (trained with flips) the flipped views 0.74 more. The views follow the model's own
augmentation: a model never trained with flips is never shown a flipped image (flipping
digits costs accuracy).

The viewed model is built from plain Keras layers (``ZeroPadding2D`` and ``Cropping2D`` shift
the image; a ``Permute``, a fixed ``Dense`` that reverses the width, and a ``Permute`` back
flip it; ``Average`` averages), so the bundle's ``model.keras``, SavedModel and ONNX files
hold it as any model, and plain Keras loads it without this project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

import pipelines

__all__ = ["View", "views_for", "with_views", "count_views", "seen", "MAX_VIEWS"]

VIEW_PREFIX = "view_"


@dataclass(frozen=True, kw_only=True)
class View:
    """The image moved ``dy`` pixels down and ``dx`` right (zero fill), then flipped left-right if ``flip``."""

    dy: int = 0
    dx: int = 0
    flip: bool = False


_SHIFTS = (View(dy=1), View(dy=-1), View(dx=1), View(dx=-1))
# The most views a model has: the image and its mirror image, each with its four shifts.
MAX_VIEWS = 10


def views_for(augmentation: Mapping[str, Any] | None, input_shape: Sequence[int | None]) -> tuple[View, ...]:
    """The views of a model of ``input_shape`` ``(H, W, C)`` trained with ``augmentation``
    (``AugmentPolicy.to_dict()``; None: none): the image, its mirror image if it was trained
    with flips, and its one-pixel shifts (of the mirror image too) if it was trained with
    shifts. They come in the order they are given up from the end when time or a cost budget
    is short: the image, its mirror image (the largest gain where flips were trained), the
    four shifts, then the shifts of the mirror image.

    An affine shift moves whole pixels, ``int(u * side)`` for ``u`` up to ``shift``: one of
    ``shift * side <= 1`` never moved an image, so it adds no shifted views."""
    policy = pipelines.AugmentPolicy.from_dict(dict(augmentation)) if augmentation else pipelines.AugmentPolicy.none()
    flips = (False, True) if policy.hflip_p > 0 else (False,)
    side = min(int(n or 0) for n in input_shape[:2])
    shifted = (policy.pad_crop_p > 0 and policy.pad_px > 0) or (policy.affine_p > 0 and policy.shift * side > 1)
    plain = [View(flip=flip) for flip in flips]
    shifts = [View(dy=s.dy, dx=s.dx, flip=flip) for flip in flips for s in _SHIFTS] if shifted else []
    return tuple(plain + shifts)


def seen(x: np.ndarray, view: View) -> np.ndarray:
    """The images ``x`` ``(N, H, W, C)`` as ``view`` shows them, in NumPy: what the viewed model's
    layers compute, so a model's predictions over views can be averaged without building (and
    tracing) the viewed model, a graph as many times as large."""
    if not (view.dy or view.dx):
        moved = x
    else:
        moved = np.zeros_like(x)
        height, width = x.shape[1:3]
        dy, dx = view.dy, view.dx
        moved[:, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = x[
            :, max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
        ]
    return moved[:, :, ::-1] if view.flip else moved


def _viewed(image: Any, view: View, index: int, mirror: keras.layers.Layer) -> Any:
    """``image`` (a symbolic ``(batch, H, W, C)`` tensor) as ``view`` shows it; ``mirror`` reverses
    the last axis (one layer, shared by the flipped views)."""
    if view.dy or view.dx:
        down, up, right, left = max(view.dy, 0), max(-view.dy, 0), max(view.dx, 0), max(-view.dx, 0)
        pad, crop = ((down, up), (right, left)), ((up, down), (left, right))
        image = keras.layers.ZeroPadding2D(pad, data_format="channels_last", name=f"view_{index}_pad")(image)
        image = keras.layers.Cropping2D(crop, data_format="channels_last", name=f"view_{index}_crop")(image)
    if view.flip:
        image = keras.layers.Permute((1, 3, 2), name=f"view_{index}_width_last")(image)
        image = keras.layers.Permute((1, 3, 2), name=f"view_{index}_width_back")(mirror(image))
    return keras.layers.Identity(name=f"{VIEW_PREFIX}{index}")(image)


def with_views(model: keras.Model, views: tuple[View, ...]) -> keras.Model:
    """One model whose output is the mean of ``model``'s outputs on ``views`` of its input;
    ``model`` itself when there is one view or none.

    Raises:
        ValueError: views that do not start with the image itself.
    """
    if len(views) < 2:
        return model
    if views[0] != View():
        raise ValueError(f"the first view must be the image itself, got {views[0]!r}")
    image = keras.Input(shape=tuple(model.input_shape[1:]), name="image")
    width = int(model.input_shape[2])
    mirror = keras.layers.Dense(width, use_bias=False, trainable=False, name="view_mirror")
    mirror.build((None, width))
    mirror.set_weights([np.eye(width, dtype="float32")[::-1]])
    outputs = [model(_viewed(image, view, i, mirror)) for i, view in enumerate(views)]
    return keras.Model(image, keras.layers.Average(name="views_average")(outputs), name=f"{model.name}_viewed")


def count_views(model: keras.Model) -> int:
    """How many views ``model`` averages: 1 for a model that is not ``with_views``' output."""
    marks = [layer for layer in model.layers if layer.name.removeprefix(VIEW_PREFIX).isdigit()]
    return max(len(marks), 1)
