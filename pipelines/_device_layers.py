"""Keras layers for augmentation on the device, where Keras 3 has no exact equivalent.

Written with ``keras.ops`` and ``keras.random`` only, so they run inside the compiled training
step of every backend (no ``tf.`` calls, which JAX could not trace). Images are channels-last
floats in the 0..255 scale, as the model receives them (it normalises them itself).

``Augmentation`` and ``RandomApply`` act only when called with ``training=True``, as ``fit``
does; a plain call, ``predict`` and ``evaluate`` pass images through unchanged. The
transforms ``RandomApply`` wraps are applied whenever they are called: they are never used
on their own.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

__all__ = [
    "Augmentation",
    "RandomApply",
    "HorizontalFlip",
    "RandomAffine",
    "RandomBrightnessContrast",
    "RandomCoarseDropout",
]

_PACKAGE = "pipelines"
_MAX_VALUE = 255.0  # the images' value scale: uint8 pixels as float


def _per_image_shape(images: Any) -> tuple[Any, int, int, int]:
    """``(batch, 1, 1, 1)``: one random draw per image, broadcast over its pixels."""
    return (ops.shape(images)[0], 1, 1, 1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Augmentation(keras.layers.Layer):
    """Apply ``layers`` in turn, in training only.

    Not a ``keras.Sequential``, which under a mixed-precision policy would cast the images to
    16 bits before its first layer, nor a ``keras.layers.Pipeline``, which augments on a plain
    call: this one computes in float32 and passes images through unless ``training=True``.
    """

    def __init__(self, layers: list[keras.layers.Layer], **kwargs: Any) -> None:
        super().__init__(**{"dtype": "float32", **kwargs})
        self.steps = list(layers)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        for step in self.steps:
            step.build(input_shape)

    def call(self, images: Any, training: bool = False) -> Any:
        images = ops.cast(images, self.compute_dtype)
        if not training:
            return images
        for step in self.steps:
            images = step(images, training=True)
        return images

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layers": [keras.saving.serialize_keras_object(s) for s in self.steps]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Augmentation:
        layers = [keras.saving.deserialize_keras_object(layer) for layer in config["layers"]]
        return cls(**{**config, "layers": layers})


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomApply(keras.layers.Layer):
    """Apply ``layer`` to each image with probability ``rate``, as albumentations' ``p`` does.

    Keras' random layers transform every image; albumentations skips a transform with
    probability ``1 - p``. Here the wrapped layer transforms the whole batch and a per-image
    draw keeps either its output or the input, so the rate is exact (the device computes the
    transform for the images it then discards, which costs little beside the training step).

    Args:
        layer: the transform (always applied when called).
        rate: probability in ``[0, 1]`` that an image is transformed.
        seed: seeds the per-image draw.
    """

    def __init__(self, layer: keras.layers.Layer, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"RandomApply.rate must be in [0, 1], got {rate!r}")
        self.layer = layer
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.layer.build(input_shape)

    def call(self, images: Any, training: bool = False) -> Any:
        images = ops.cast(images, self.compute_dtype)
        if not training or self.rate == 0.0:
            return images
        transformed = ops.cast(self.layer(images, training=True), self.compute_dtype)
        if self.rate >= 1.0:
            return transformed
        draw = keras.random.uniform(_per_image_shape(images), seed=self.seed_generator)
        return ops.where(draw < self.rate, transformed, images)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        layer = keras.saving.serialize_keras_object(self.layer)
        return {**super().get_config(), "layer": layer, "rate": self.rate, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RandomApply:
        return cls(**{**config, "layer": keras.saving.deserialize_keras_object(config["layer"])})


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HorizontalFlip(keras.layers.Layer):
    """Mirror every image left to right (``RandomApply`` decides which ones).

    ``keras.layers.RandomFlip`` flips with a fixed probability of 1/2; wrapping this
    deterministic flip instead gives any probability the policy asks for.
    """

    def call(self, images: Any) -> Any:
        return ops.flip(images, axis=-2)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomAffine(keras.layers.Layer):
    """albumentations' ``Affine`` with ``translate_percent`` or ``translate_px``, ``scale`` and ``rotate``.

    Per image: scales ``sx, sy ~ U(1 - scale, 1 + scale)`` (drawn per axis, as with
    albumentations' ``keep_ratio=False``), then a rotation by ``U(-rotate, rotate)`` degrees,
    both about the image centre, then a shift per axis of ``int(U(-shift, shift) * side)``
    pixels, or of a whole number of pixels uniform in ``-shift_px..shift_px``; one bilinear
    resampling with zero fill, as albumentations composes one matrix.

    Not ``keras.layers.RandomZoom``, ``RandomRotation`` and ``RandomTranslation``: chained,
    they resample three times, and in Keras 3.15 the last two declare themselves unfit for
    XLA on every backend, which turns XLA off for the whole training model (``jit_compile``
    falls back to False). This layer does so only with TensorFlow, whose resampling op
    (``ImageProjectiveTransformV3``) has no XLA kernel; JAX compiles it.

    Args:
        shift: largest shift, as a fraction of the image side.
        shift_px: largest shift in whole pixels (instead of ``shift``).
        scale: largest relative change of the size.
        rotate: largest rotation, in degrees.
        seed: seeds the draws.
    """

    def __init__(
        self,
        shift: float = 0.0,
        shift_px: int = 0,
        scale: float = 0.0,
        rotate: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if shift and shift_px:
            raise ValueError(f"RandomAffine takes shift or shift_px, not both: got {shift!r} and {shift_px!r}")
        self.shift = shift
        self.shift_px = shift_px
        self.scale = scale
        self.rotate = rotate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        pass  # no weights: the seed generator is the only state

    def call(self, images: Any) -> Any:
        images = ops.cast(images, self.compute_dtype)
        height, width = images.shape[-3], images.shape[-2]
        batch = ops.shape(images)[0]
        scale_x, scale_y = 1.0 + self._draw(batch, self.scale), 1.0 + self._draw(batch, self.scale)
        angle = self._draw(batch, self.rotate) * (math.pi / 180.0)
        shift_x, shift_y = self._shift(batch, width), self._shift(batch, height)
        cos, sin = ops.cos(angle), ops.sin(angle)
        # albumentations maps p_in to p_out = c + t + R S (p_in - c), with R = [[cos, sin], [-sin, cos]];
        # affine_transform wants the inverse, p_in = c + S^-1 R^-1 (p_out - c - t).
        a, b, c, d = cos / scale_x, -sin / scale_x, sin / scale_y, cos / scale_y
        centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
        from_x, from_y = centre_x + shift_x, centre_y + shift_y
        zeros = ops.zeros_like(a)
        transform = ops.stack(
            [a, b, centre_x - a * from_x - b * from_y, c, d, centre_y - c * from_x - d * from_y, zeros, zeros], axis=1
        )
        return ops.image.affine_transform(
            images, transform, interpolation="bilinear", fill_mode="constant", data_format="channels_last"
        )

    def _draw(self, batch: Any, bound: float) -> Any:
        return keras.random.uniform((batch,), -bound, bound, seed=self.seed_generator)

    def _shift(self, batch: Any, side: int) -> Any:
        """Per image, a whole-pixel shift along an axis of ``side`` pixels."""
        if self.shift_px:
            draw = keras.random.uniform((batch,), seed=self.seed_generator)
            return ops.floor(draw * (2 * self.shift_px + 1)) - self.shift_px
        return ops.trunc(self._draw(batch, self.shift) * side)  # albumentations' int(): toward 0

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = {"shift": self.shift, "shift_px": self.shift_px, "scale": self.scale, "rotate": self.rotate}
        return {**super().get_config(), **config, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomBrightnessContrast(keras.layers.Layer):
    """``clip(x * (1 + c) + b * 255, 0, 255)`` with ``c ~ U(-contrast, contrast)`` and
    ``b ~ U(-brightness, brightness)`` drawn per image: albumentations'
    ``RandomBrightnessContrast`` (``brightness_by_max=True``) on 0..255 floats.

    Not ``keras.layers.RandomContrast``: it stretches values around each image's mean, while
    albumentations multiplies them (a gain around 0), which also darkens or brightens.

    Args:
        brightness: largest shift, as a fraction of 255.
        contrast: largest relative change of the gain.
        seed: seeds the draws.
    """

    def __init__(self, brightness: float, contrast: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.brightness = brightness
        self.contrast = contrast
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        pass  # no weights: the seed generator is the only state

    def call(self, images: Any) -> Any:
        images = ops.cast(images, self.compute_dtype)
        shape = _per_image_shape(images)
        gain = 1.0 + keras.random.uniform(shape, -self.contrast, self.contrast, seed=self.seed_generator)
        shift = _MAX_VALUE * keras.random.uniform(shape, -self.brightness, self.brightness, seed=self.seed_generator)
        return ops.clip(images * gain + shift, 0.0, _MAX_VALUE)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "brightness": self.brightness, "contrast": self.contrast, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomCoarseDropout(keras.layers.Layer):
    """Blank out ``1..max_holes`` rectangles of ``hole_height x hole_width`` pixels per image.

    albumentations' ``CoarseDropout`` with fixed hole sizes: the number of holes is uniform in
    ``1..max_holes`` and each hole's top-left corner uniform over the positions where it fits
    (holes may overlap). ``keras.layers.RandomErasing`` erases one rectangle of random size
    and shape, so it is not the same transform.

    Args:
        max_holes: most holes per image (at least 1).
        hole_height, hole_width: hole size in pixels (at least 1, at most the image's).
        fill_value: value of the blanked pixels.
        seed: seeds the draws.
    """

    def __init__(
        self,
        max_holes: int,
        hole_height: int,
        hole_width: int,
        fill_value: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_holes < 1 or hole_height < 1 or hole_width < 1:
            raise ValueError(
                f"RandomCoarseDropout needs max_holes, hole_height and hole_width >= 1, "
                f"got {max_holes!r}, {hole_height!r} and {hole_width!r}"
            )
        self.max_holes = max_holes
        self.hole_height = hole_height
        self.hole_width = hole_width
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        pass  # no weights: the seed generator is the only state

    def call(self, images: Any) -> Any:
        images = ops.cast(images, self.compute_dtype)
        height, width = images.shape[-3], images.shape[-2]
        batch = ops.shape(images)[0]
        rows = self._hole_spans(batch, height, self.hole_height)  # (batch, holes, H)
        cols = self._hole_spans(batch, width, self.hole_width)  # (batch, holes, W)
        count = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator) * self.max_holes) + 1.0
        used = ops.arange(self.max_holes, dtype="float32")[None, :] < count  # (batch, holes)
        holes = ops.logical_and(ops.expand_dims(rows, -1), ops.expand_dims(cols, -2))  # (batch, holes, H, W)
        holes = ops.logical_and(holes, used[:, :, None, None])
        mask = ops.expand_dims(ops.any(holes, axis=1), -1)
        return ops.where(mask, ops.cast(self.fill_value, self.compute_dtype), images)

    def _hole_spans(self, batch: Any, side: int, size: int) -> Any:
        """Per image and hole, which of ``side`` pixels lie in a ``size``-pixel span at a random start."""
        draw = keras.random.uniform((batch, self.max_holes, 1), seed=self.seed_generator)
        starts = ops.floor(draw * (side - size + 1))
        pixels = ops.arange(side, dtype="float32")[None, None, :]
        return ops.logical_and(pixels >= starts, pixels < starts + size)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_holes": self.max_holes,
            "hole_height": self.hole_height,
            "hole_width": self.hole_width,
            "fill_value": self.fill_value,
            "seed": self.seed,
        }
