"""A small searchable augmentation policy, built as an albumentations 2 pipeline.

Each transform has a probability and a magnitude. A transform is active only when both are
non-zero; the identity policy builds an empty pipeline and the feeder skips it entirely.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import albumentations
    import optuna

__all__ = [
    "AugmentPolicy",
    "sample_augmentation",
    "augment_example",
    "augment_batch",
    "max_pad_px",
    "PARAM_PREFIX",
    "MAX_PAD_PX",
]

PARAM_PREFIX = "aug."
#: The largest pad-and-crop shift a policy takes: an eighth of a 2,048-pixel side.
MAX_PAD_PX = 256
_MAX_HOLE = 0.25  # largest searched cut-out side, as a fraction of the image side
_MIN_HOLE = 0.01  # smallest cut-out side a policy takes, as a fraction of the image side


@dataclass(frozen=True, kw_only=True)
class AugmentPolicy:
    """Probabilities (``*_p``) and magnitudes of the augmentation transforms, in the order applied.

    The defaults are a light, label-safe policy (no flips, no cut-outs); ``none()`` is the identity.

    Attributes:
        pad_crop_p, pad_px: pad by up to ``pad_px`` pixels and crop back to the original size
            at a random offset (an integer shift with zero fill).
        hflip_p: horizontal flip (wrong for digits and text, right for most photos).
        affine_p, shift, scale, rotate: random translation up to ``shift`` of the image side,
            zoom in ``[1 - scale, 1 + scale]`` and rotation up to ``rotate`` degrees.
        color_p, brightness, contrast: brightness and contrast changes up to these fractions.
        dropout_p, dropout_holes, dropout_size: blank out 1..``dropout_holes`` squares of side
            ``dropout_size`` of the image side (``CoarseDropout``).
    """

    pad_crop_p: float = 0.5
    pad_px: int = 1
    hflip_p: float = 0.0
    affine_p: float = 0.5
    shift: float = 0.0625
    scale: float = 0.1
    rotate: float = 10.0
    color_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    dropout_p: float = 0.0
    dropout_holes: int = 1
    dropout_size: float = 0.25

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            low, high = _BOUNDS[field.name]
            kind = int if field.type == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
                raise ValueError(f"AugmentPolicy.{field.name} must be in [{low}, {high}], got {value!r}")

    @classmethod
    def none(cls) -> AugmentPolicy:
        """The identity policy: every probability 0 (for validation, test and baselines)."""
        return cls(**dict.fromkeys(_PROBABILITIES, 0.0))  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        """True when no transform is active, so images pass through unchanged."""
        return not self._active()

    @property
    def transforms(self) -> tuple[str, ...]:
        """Names of the active transforms, in the order applied (keys of the transform registry)."""
        return tuple(name for name, (p_field, magnitudes, _) in _TRANSFORMS.items() if self._on(p_field, magnitudes))

    def without(self, names: tuple[str, ...]) -> AugmentPolicy:
        """This policy with the transforms ``names`` switched off (their probabilities set to 0).

        Raises:
            ValueError: a name that is not a transform (quoted with the known ones).
        """
        unknown = sorted(set(names) - set(_TRANSFORMS))
        if unknown:
            raise ValueError(f"unknown augmentation transforms {unknown}; known: {sorted(_TRANSFORMS)}")
        return dataclasses.replace(self, **{_TRANSFORMS[name][0]: 0.0 for name in names})  # type: ignore[arg-type]

    def build(self) -> albumentations.Compose:
        """The albumentations pipeline of the active transforms (empty for the identity).

        The result is not thread-safe and draws from its own random state: give each thread
        its own, and seed it per image with ``augment_example``.
        """
        import albumentations as A

        return A.Compose([make(self, A) for make in self._active()])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentPolicy:
        """The inverse of ``to_dict``; every field must be given (``ValueError`` names the odd keys)."""
        expected = {f.name for f in dataclasses.fields(cls)}
        if set(data) != expected:
            raise ValueError(
                f"an augmentation policy needs exactly the keys {sorted(expected)}; "
                f"missing {sorted(expected - set(data))}, unexpected {sorted(set(data) - expected)}"
            )
        return cls(**data)

    def _active(self) -> list[Callable[[AugmentPolicy, Any], Any]]:
        return [make for p_field, magnitudes, make in _TRANSFORMS.values() if self._on(p_field, magnitudes)]

    def _on(self, p_field: str, magnitudes: tuple[str, ...]) -> bool:
        return getattr(self, p_field) > 0 and (not magnitudes or any(getattr(self, m) > 0 for m in magnitudes))


def augment_example(
    pipeline: albumentations.Compose, image: np.ndarray, *, seed: int, epoch: int, index: int
) -> np.ndarray:
    """Augment one image with a random stream fixed by ``(seed, epoch, index)``.

    The result does not depend on which thread runs it or in which order, so a training run
    is reproducible with any number of feeder workers.
    """
    rng = np.random.default_rng([seed, epoch, index])
    pipeline.set_random_state(rng, random.Random(int(rng.integers(2**63))))
    return pipeline(image=image)["image"].reshape(image.shape)


def augment_batch(
    pipeline: albumentations.Compose, images: np.ndarray, indices: np.ndarray, *, seed: int, epoch: int
) -> np.ndarray:
    """Augment ``images`` in place, image ``i`` from the stream of example ``indices[i]``; returns them."""
    for row, index in enumerate(indices):
        images[row] = augment_example(pipeline, images[row], seed=seed, epoch=epoch, index=int(index))
    return images


def max_pad_px(input_shape: tuple[int, ...]) -> int:
    """The largest pad-and-crop shift offered for images of ``input_shape`` ``(H, W, ...)``:
    an eighth of the smaller side, at least 1 pixel and at most ``MAX_PAD_PX``."""
    return min(MAX_PAD_PX, max(1, min(input_shape[:2]) // 8))


def sample_augmentation(
    trial: optuna.trial.BaseTrial, *, input_shape: tuple[int, int, int], flips: bool = True
) -> AugmentPolicy:
    """Draw a policy from the trial, define-by-run.

    Each transform's probability is drawn first (``aug.<field>``, 0 switches it off); its
    magnitudes are drawn only when it is on. Ranges depend only on ``input_shape``, so a
    parameter's distribution is the same in every trial of a study. Shifts and pads grow
    with the image side (``max_pad_px``: 1 pixel for 8x8 digits, 3 for 28x28, 4 for 32x32,
    60 for 480x640) and cut-out squares are at least 1 pixel wide (and a hundredth of the
    side).

    Trials train for a few epochs, so the strongest transforms are kept mild: cut-outs on
    at most a quarter of the images, rotations up to 15 degrees and zooms up to 15%.

    Args:
        trial: the Optuna trial (or a ``FixedTrial`` to rebuild a policy from its params).
        input_shape: ``(H, W, C)`` of the images.
        flips: offer horizontal flips (``aug.hflip_p``); ``False`` for images whose classes
            do not look the same in a mirror (``mirror_asymmetry``), which are never flipped.

    Returns:
        The policy; an identity policy when every probability came out 0.
    """
    side = min(input_shape[:2])
    max_pad = max_pad_px(input_shape)
    values = AugmentPolicy.none().to_dict()

    def draw_p(name: str, choices: tuple[float, ...] = (0.0, 0.25, 0.5)) -> bool:
        values[name] = trial.suggest_categorical(PARAM_PREFIX + name, choices)
        return values[name] > 0

    if draw_p("pad_crop_p"):
        values["pad_px"] = trial.suggest_int(PARAM_PREFIX + "pad_px", 1, max_pad)
    if flips:
        draw_p("hflip_p", (0.0, 0.5))
    if draw_p("affine_p"):
        # albumentations moves whole pixels, int(u * side) for u drawn up to ``shift``: a bound
        # of (max_pad + 1) / side reaches max_pad pixels (max_pad / side reached one less: on
        # sides of 7-15 pixels the shift never moved an image), and at most half the side
        # (the policy's bound: on sides of 1-3 pixels that bound is 0.67-2).
        most = min((max_pad + 1) / side, _BOUNDS["shift"][1])
        values["shift"] = trial.suggest_float(PARAM_PREFIX + "shift", 0.0, most)
        values["scale"] = trial.suggest_float(PARAM_PREFIX + "scale", 0.0, 0.15)
        values["rotate"] = trial.suggest_float(PARAM_PREFIX + "rotate", 0.0, 15.0)
    if draw_p("color_p"):
        values["brightness"] = trial.suggest_float(PARAM_PREFIX + "brightness", 0.0, 0.3)
        values["contrast"] = trial.suggest_float(PARAM_PREFIX + "contrast", 0.0, 0.3)
    if draw_p("dropout_p", (0.0, 0.25)):
        values["dropout_holes"] = trial.suggest_int(PARAM_PREFIX + "dropout_holes", 1, 3)
        # Holes of at least one pixel (albumentations truncates side * fraction) and at least
        # _MIN_HOLE of the side (the larger from 150 pixels up), up to a quarter side.
        smallest = min(max(1.5 / side, _MIN_HOLE), _MAX_HOLE)
        values["dropout_size"] = trial.suggest_float(PARAM_PREFIX + "dropout_size", smallest, _MAX_HOLE)
    return AugmentPolicy(**values)


# Transform builders, taking the policy and the albumentations module (imported lazily).
def _pad_crop(p: AugmentPolicy, A: Any) -> Any:
    # An integer translation with zero fill is exactly pad-then-random-crop, without
    # needing the image size when the pipeline is built.
    span = (-p.pad_px, p.pad_px)
    return A.Affine(translate_px={"x": span, "y": span}, border_mode=0, fill=0, p=p.pad_crop_p)


def _hflip(p: AugmentPolicy, A: Any) -> Any:
    return A.HorizontalFlip(p=p.hflip_p)


def _affine(p: AugmentPolicy, A: Any) -> Any:
    return A.Affine(
        translate_percent=(-p.shift, p.shift),
        scale=(1.0 - p.scale, 1.0 + p.scale),
        rotate=(-p.rotate, p.rotate),
        border_mode=0,
        fill=0,
        p=p.affine_p,
    )


def _color(p: AugmentPolicy, A: Any) -> Any:
    return A.RandomBrightnessContrast(brightness_limit=p.brightness, contrast_limit=p.contrast, p=p.color_p)


def _dropout(p: AugmentPolicy, A: Any) -> Any:
    side = (p.dropout_size, p.dropout_size)
    return A.CoarseDropout(
        num_holes_range=(1, p.dropout_holes), hole_height_range=side, hole_width_range=side, fill=0, p=p.dropout_p
    )


# Transform -> (its probability field, its magnitude fields, its builder), in the order applied.
_TRANSFORMS: dict[str, tuple[str, tuple[str, ...], Callable[[AugmentPolicy, Any], Any]]] = {
    "pad_crop": ("pad_crop_p", ("pad_px",), _pad_crop),
    "hflip": ("hflip_p", (), _hflip),
    "affine": ("affine_p", ("shift", "scale", "rotate"), _affine),
    "color": ("color_p", ("brightness", "contrast"), _color),
    "dropout": ("dropout_p", ("dropout_size",), _dropout),
}
_PROBABILITIES = tuple(p_field for p_field, _, _ in _TRANSFORMS.values())

# Field -> inclusive bounds, checked in ``AugmentPolicy.__post_init__``.
_BOUNDS: dict[str, tuple[float, float]] = {
    **{name: (0.0, 1.0) for name in _PROBABILITIES},
    "pad_px": (0, MAX_PAD_PX),
    "shift": (0.0, 0.5),
    "scale": (0.0, 0.5),
    "rotate": (0.0, 180.0),
    "brightness": (0.0, 1.0),
    "contrast": (0.0, 1.0),
    "dropout_holes": (1, 16),
    "dropout_size": (_MIN_HOLE, 0.99),  # albumentations reads sizes >= 1 as pixels
}
