"""The augmentation policy executed on the device, inside the compiled training step.

The second interpreter of ``AugmentPolicy`` (the first is albumentations, ``policy.build()``):
each transform of the policy registry (``pipelines._augment._TRANSFORMS``) that has a
builder here becomes backend-agnostic Keras layers, so the augmentation runs where the model
trains instead of in albumentations' per-image Python loop, which cannot keep an accelerator
fed (bench/RESULTS.md, "The GPU path"). A transform without a builder here stays on the host:
``DeviceAugmentation.host_policy`` is the policy of those, for a ``Feeder``.

Each transform is wrapped in ``RandomApply(p)``, so it acts on an image with the policy's
probability, as in albumentations, and only in training. The transforms draw their
parameters from the same distributions as albumentations' (``pipelines._device_layers``
says where Keras' own layers would not, and ``tests/pipelines/test_device_augment.py``
measures both executors). What still differs:

- random streams: the device draws per batch from Keras' seed generators, not per image
  from ``(seed, epoch, index)``, so the two executors agree in distribution, not image by image;
- rounding: the device keeps float values, albumentations rounds its results to uint8, and
  bilinear resampling (``affine``) is OpenCV's on the host and Keras' on the device;
- order: transforms kept on the host run before all those on the device, whatever their
  place in the policy's order (none is kept on the host today).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import numpy as np

from pipelines._augment import _TRANSFORMS, AugmentPolicy
from pipelines._device_layers import (
    Augmentation,
    HorizontalFlip,
    RandomAffine,
    RandomApply,
    RandomBrightnessContrast,
    RandomCoarseDropout,
)

__all__ = ["DeviceAugmentation", "device_augmentation", "training_model"]

# Augmentation computes in float32 even under a mixed-precision policy: the images are 0..255
# values, which bfloat16 would round to steps of up to 2.
_DTYPE = "float32"

Shape = tuple[int, int, int]
Seeds = Iterator[int | None]


@dataclass(frozen=True, kw_only=True)
class DeviceAugmentation:
    """A policy split between the device and the host.

    Attributes:
        layer: the on-device transforms as one Keras layer acting only with ``training=True``;
            ``None`` when none is active.
        input_shape: ``(H, W, C)`` of the images it was built for.
        on_device: names of the transforms that ``layer`` applies, in order.
        host_policy: the policy's transforms without an on-device equivalent, for a
            ``Feeder`` (the identity when all run on the device).
    """

    layer: keras.layers.Layer | None
    input_shape: Shape
    on_device: tuple[str, ...]
    host_policy: AugmentPolicy


def device_augmentation(policy: AugmentPolicy, input_shape: Shape, *, seed: int | None = None) -> DeviceAugmentation:
    """Build the on-device executor of ``policy`` for images of ``input_shape``.

    Args:
        policy: the sampled augmentation policy.
        input_shape: ``(H, W, C)`` of the (channels-last, 0..255 float) model inputs.
        seed: seeds every random layer (distinct seeds derived from it); ``None`` draws them
            from Keras' global seed (``keras.utils.set_random_seed``).

    Returns:
        The Keras layer of the transforms that run on the device and the host's remainder.

    Raises:
        ValueError: ``input_shape`` is not three positive sizes.
    """
    if len(input_shape) != 3 or not all(isinstance(n, int) and n > 0 for n in input_shape):
        raise ValueError(f"input_shape must be three positive sizes (H, W, C), got {input_shape!r}")
    seeds: Seeds = _spread_seeds(seed) if seed is not None else itertools.repeat(None)
    on_device = tuple(name for name in policy.transforms if name in _DEVICE_BUILDERS)
    layers = [
        RandomApply(
            _DEVICE_BUILDERS[name](policy, input_shape, seeds),
            getattr(policy, _TRANSFORMS[name][0]),
            seed=next(seeds),
            dtype=_DTYPE,
            name=f"augment_{name}",
        )
        for name in on_device
    ]
    layer = Augmentation(layers, name="device_augmentation") if layers else None
    host = policy.without(on_device)
    height, width, channels = input_shape
    return DeviceAugmentation(layer=layer, input_shape=(height, width, channels), on_device=on_device, host_policy=host)


def _spread_seeds(seed: int) -> Iterator[int]:
    """Layer seeds derived from ``seed``, far apart.

    Not consecutive integers: the PyTorch backend seeds each draw with the layer's seed plus
    its draw counter, so layers seeded ``s`` and ``s + 1`` share their draws one step apart.
    With ``RandomApply`` drawing from the same numbers as its transform, brightness only
    darkened (``tests/pipelines/test_device_augment.py`` under torch).
    """
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(1, 2**31))


def training_model(model: keras.Model, augmentation: DeviceAugmentation) -> keras.Model:
    """``model`` behind the on-device augmentation: compile and ``fit`` this one, save ``model``.

    The two share their weights, so fitting the result trains ``model``, which carries no
    augmentation layer and is what gets exported. Without on-device transforms this is
    ``model`` itself.

    Raises:
        ValueError: ``model`` takes images of another shape than the augmentation was built for.
    """
    if augmentation.layer is None:
        return model
    if tuple(model.input_shape[1:]) != augmentation.input_shape:
        raise ValueError(
            f"the augmentation was built for images {augmentation.input_shape}, "
            f"but the model takes {tuple(model.input_shape[1:])}"
        )
    inputs = keras.Input(shape=augmentation.input_shape, name="image")
    return keras.Model(inputs, model(augmentation.layer(inputs)), name=f"{model.name}_training")


# Transform builders: the policy, the image shape and a stream of seeds give the transform
# (applied to every image; ``device_augmentation`` wraps it in ``RandomApply(p)``).
def _pad_crop(p: AugmentPolicy, shape: Shape, seeds: Seeds) -> keras.layers.Layer:
    return RandomAffine(shift_px=p.pad_px, seed=next(seeds), dtype=_DTYPE)


def _hflip(p: AugmentPolicy, shape: Shape, seeds: Seeds) -> keras.layers.Layer:
    return HorizontalFlip(dtype=_DTYPE)


def _affine(p: AugmentPolicy, shape: Shape, seeds: Seeds) -> keras.layers.Layer:
    return RandomAffine(shift=p.shift, scale=p.scale, rotate=p.rotate, seed=next(seeds), dtype=_DTYPE)


def _color(p: AugmentPolicy, shape: Shape, seeds: Seeds) -> keras.layers.Layer:
    return RandomBrightnessContrast(p.brightness, p.contrast, seed=next(seeds), dtype=_DTYPE)


def _dropout(p: AugmentPolicy, shape: Shape, seeds: Seeds) -> keras.layers.Layer:
    # albumentations takes int(side * fraction) pixels: a hole may be 0 pixels, which erases nothing.
    height, width = shape[:2]
    hole_height, hole_width = int(height * p.dropout_size), int(width * p.dropout_size)
    if min(hole_height, hole_width) < 1:
        return keras.layers.Identity(dtype=_DTYPE)
    return RandomCoarseDropout(p.dropout_holes, hole_height, hole_width, seed=next(seeds), dtype=_DTYPE)


# Transform name (a key of ``_TRANSFORMS``) -> its on-device builder. A transform missing
# here runs on the host, in ``DeviceAugmentation.host_policy``.
_DEVICE_BUILDERS: dict[str, Callable[[AugmentPolicy, Shape, Seeds], keras.layers.Layer]] = {
    "pad_crop": _pad_crop,
    "hflip": _hflip,
    "affine": _affine,
    "color": _color,
    "dropout": _dropout,
}
