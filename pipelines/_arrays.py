"""Turning raw arrays (any image dtype, any label values) into a validated ``Dataset``."""

from __future__ import annotations

import numpy as np

from pipelines._dataset import Dataset, in_unit_range
from pipelines._errors import DataError

__all__ = ["dataset_from_arrays"]


def dataset_from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    *,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    source: str,
    class_names: tuple[str, ...] | None = None,
    skipped: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """Build a ``Dataset`` from arrays as sources find them.

    Args:
        x, x_test, x_val: images ``(N, H, W)`` or ``(N, H, W, C)`` (C of 1 or 3, or 2 and 4
            with an alpha channel, dropped); uint8, integers in 0..255, floats in 0..1 (scaled
            by 255 and clipped: a resize takes them a little past it, ``FLOAT_SLACK``) or
            0..255, or numbers of any other range (standardized, 16-bit), mapped
            linearly onto 0..255 from the training images' least and greatest values
            (``_spread``), and the given splits the same way. Channels-first ``(N, C, H, W)``
            when C is 1-4 and W is not, or only it makes them square (``_Reading.images``). ``x_test``/``x_val`` are a
            given test or validation split, or ``None``.
        y, y_test, y_val: labels of any kind (``(N,)`` or ``(N, 1)``), or one-hot ``(N, K)``;
            the classes are those of ``y``, and a test or validation label that is not one of
            them is an error.
        source: where the arrays came from, used in every error message.
        class_names: names of labels ``0..K-1`` when ``y`` already holds those integers;
            ``None`` to take the sorted distinct values of ``y`` as the classes.
        skipped: ``(path, reason)`` of files left out while reading.

    Raises:
        DataError: images of an unusable shape or value range, test or validation labels
            that are not training classes, or anything ``Dataset`` rejects; naming ``source``.
    """
    read = _Reading(source)
    x, y = read.images(x, "training"), read.labels(y, "training")
    if x_val is not None and y_val is not None:
        x_val, y_val = read.images(x_val, "validation"), read.labels(y_val, "validation")
    if x_test is not None and y_test is not None:
        x_test, y_test = read.images(x_test, "test"), read.labels(y_test, "test")
    if class_names is None:
        classes, y = _classes_and_codes(y)
        class_names = tuple(str(c) for c in classes)
        y_val = None if y_val is None else _encode_as(y_val, classes, source, "validation")
        y_test = None if y_test is None else _encode_as(y_test, classes, source, "test")
    spread = _spread(_as_images(x, source, "training"), source)
    return Dataset(
        x=_as_uint8_images(x, source, "training", spread),
        y=_as_int64(y, source),
        x_val=None if x_val is None else _as_uint8_images(x_val, source, "validation", spread),
        y_val=None if y_val is None else _as_int64(y_val, source),
        x_test=None if x_test is None else _as_uint8_images(x_test, source, "test", spread),
        y_test=None if y_test is None else _as_int64(y_test, source),
        class_names=tuple(class_names),
        source=source,
        skipped=skipped,
        value_map=spread,
        conversions=read.conversions,
    )


def _classes_and_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct label values, and each label's index among them."""
    classes, codes = np.unique(_comparable(values), return_inverse=True)
    return classes, codes.astype(np.int64).reshape(-1)


def _encode_as(values: np.ndarray, classes: np.ndarray, source: str, split: str) -> np.ndarray:
    """Codes of the ``split`` labels ``values`` among ``classes``, the training labels' values.

    Numbers are compared as numbers, so a test split cast to floats (``3.0``) finds the
    integer class ``3``; anything else by its text.
    """
    values = _comparable(values)
    numeric = all(np.issubdtype(a.dtype, np.number) for a in (values, classes))
    key = float if numeric else str
    index = {key(c): k for k, c in enumerate(classes.tolist())}
    keys = [key(v) for v in values.tolist()]
    unknown = sorted({str(v) for v, k in zip(values.tolist(), keys, strict=True) if k not in index})
    if unknown:
        raise DataError(
            f"{source}: {split} labels {unknown[:5]} never occur in the training labels; "
            f"every {split} class needs training examples"
        )
    return np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))


def _comparable(values: np.ndarray) -> np.ndarray:
    """Mixed-type label columns (ints and strings) become strings so they can be sorted;
    byte strings (as h5py and older pipelines store text) are decoded, not named "b'cat'"."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", errors="replace")
    if values.dtype == object:
        return np.array(
            [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values.tolist()]
        )
    return values


class _Reading:
    """Arrays as Keras and PyTorch users hold them, read into labels ``(N,)`` and images
    ``(N, H, W[, C])``; ``conversions`` says, for people, what had to change."""

    ONE_HOT = "one-hot labels as the class of each row's largest column"
    CHANNELS_FIRST = "channels-first images (N, C, H, W) moved to channels-last (N, H, W, C)"

    def __init__(self, source: str) -> None:
        self.source = source
        self._converted: dict[str, list[str]] = {}

    @property
    def conversions(self) -> tuple[str, ...]:
        """One line per kind of conversion, naming the splits and their shapes as given."""
        return tuple(f"{kind}: {', '.join(arrays)}" for kind, arrays in self._converted.items())

    def labels(self, y: np.ndarray, split: str) -> np.ndarray:
        """``(N,)`` labels: ``(N, 1)`` flattened, one-hot ``(N, K)`` rows (``to_categorical``,
        smoothed or soft labels too) read as their most likely class, the column index."""
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.floating) and np.isnan(y).any():  # np.unique makes them one class, "nan"
            rows = np.flatnonzero(np.isnan(y.reshape(len(y), -1)).any(axis=1))
            raise DataError(
                f"{self.source}: {len(rows)} {split} label(s) are NaN (first: image {rows[0]}); "
                "give those images a label, or leave them out"
            )
        if y.ndim != 2 or y.shape[1] == 1:
            return y.reshape(-1) if y.ndim == 2 else y
        if not _one_hot(y):
            raise DataError(
                f"{self.source}: {split} labels of shape {y.shape} must be one-hot (non-negative rows "
                f"summing to 1) or one label per image; several labels per image are not supported"
            )
        self._note(self.ONE_HOT, split, y.shape)
        return np.argmax(y, axis=1)

    def images(self, x: np.ndarray, split: str) -> np.ndarray:
        """Channels-first ``(N, C, H, W)`` images (PyTorch's layout) moved to channels-last,
        when C is a channel count and W is not, or when both are and only channels-first
        makes the images square (``(N, 1, 4, 4)``: 4x4 grey images, not 1x4 with 4 channels)."""
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] not in _KEPT_CHANNELS:
            return x
        if x.shape[-1] in _KEPT_CHANNELS and not (x.shape[2] == x.shape[3] and x.shape[1] != x.shape[2]):
            return x
        self._note(self.CHANNELS_FIRST, split, x.shape)
        return np.moveaxis(x, 1, -1)

    def _note(self, kind: str, split: str, shape: tuple[int, ...]) -> None:
        self._converted.setdefault(kind, []).append(f"{split} {shape}")


def _one_hot(y: np.ndarray) -> bool:
    """Rows of non-negative numbers that each sum to 1 (within float32 rounding)."""
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating) or y.dtype == np.bool_):
        return False
    y = y.astype(np.float64)
    return bool(np.all(y >= 0) and np.allclose(y.sum(axis=1), 1.0, atol=1e-4))


def _as_int64(y: np.ndarray, source: str) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: labels must be integers 0..K-1 here, got dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def _value_range(x: np.ndarray, source: str, split: str) -> tuple[float, float]:
    """The least and greatest values of the images ``x``.

    Raises:
        DataError: values that are not numbers, or not finite.
    """
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{source}: {split} images must be numbers, got dtype {x.dtype}")
    low, high = (float(np.min(x)), float(np.max(x))) if x.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = ~np.isfinite(x)
        first = int(np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))[0])
        finite = x[~bad]
        span = f"{float(finite.min())}..{float(finite.max())}" if finite.size else "none"
        raise DataError(
            f"{source}: {split} image values must be finite numbers, got {int(bad.sum()):,} of {x.size:,} that are "
            f"not (NaN or infinite), the first in image {first}; the others range {span}"
        )
    return low, high


def _standard_factor(x: np.ndarray, low: float, high: float) -> float | None:
    """What turns images of values ``low..high`` into bytes: 255 for floats in 0..1 (give or
    take ``FLOAT_SLACK``, clipped), 1 for numbers in 0..255; None for any other range."""
    if np.issubdtype(x.dtype, np.floating) and in_unit_range(low, high):
        return 255.0
    return 1.0 if low >= 0 and high <= 255 else None


def _spread(x: np.ndarray, source: str) -> tuple[float, float] | None:
    """``(low, factor)`` mapping the training images ``x`` linearly onto 0..255 as
    ``(x - low) * factor`` when their values are not pixels in 0..255: ``(0, 255)`` for floats
    in 0..1 (``_standard_factor``), from their least to greatest value for any other range
    (standardized or 16-bit images). None for pixels in 0..255 (bytes always are: not scanned)."""
    if x.dtype == np.uint8:
        return None
    low, high = _value_range(x, source, "training")
    factor = _standard_factor(x, low, high)
    if factor is None:
        return low, 255.0 / max(high - low, 1e-12)
    return None if factor == 1.0 else (0.0, factor)


def _as_images(x: np.ndarray, source: str, split: str) -> np.ndarray:
    """``x`` as ``(N, H, W, C)``: a channel axis added to ``(N, H, W)``, alpha dropped from RGBA
    (4 channels) and from grey with alpha (2)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in _KEPT_CHANNELS:
        raise DataError(
            f"{source}: {split} images must have shape (N, H, W) or (N, H, W, C) with C 1 or 3 "
            f"(2 and 4: with alpha, dropped), got {x.shape}"
        )
    return x[..., : _KEPT_CHANNELS[x.shape[-1]]]


# Channels of an image array -> the channels kept (alpha is dropped).
_KEPT_CHANNELS = {1: 1, 2: 1, 3: 3, 4: 3}


def _as_uint8_images(x: np.ndarray, source: str, split: str, spread: tuple[float, float] | None) -> np.ndarray:
    """``x`` as contiguous uint8 ``(N, H, W, C)``: mapped by the training images' ``spread``
    (clipped to 0..255), or else by its own standard range (``_standard_factor``)."""
    x = _as_images(x, source, split)
    if x.dtype == np.uint8 or x.size == 0:
        return np.ascontiguousarray(x, dtype=np.uint8)
    low, high = _value_range(x, source, split)
    if spread is None:
        factor = _standard_factor(x, low, high)
        if factor is None:
            raise DataError(
                f"{source}: {split} image values must lie in 0..255 (or 0..1 for floats) as the training "
                f"images' do, got {low}..{high}"
            )
        spread = (0.0, factor)
    else:
        _check_on_scale(low, high, spread, source, split)
    offset, factor = spread
    mapped = (offset, factor) != (0.0, 1.0) or np.issubdtype(x.dtype, np.floating)
    out = np.empty(x.shape, dtype=np.uint8)
    step = max(1, _MAP_VALUES // max(1, x[0].size))
    for start in range(0, len(x), step):  # float64 copies of a slice at a time, not of them all
        part = x[start : start + step]
        if mapped:
            part = part.astype(np.float64)
            part -= offset
            part *= factor
            np.rint(part, out=part)
        out[start : start + step] = np.clip(part, 0, 255)
    return out


def _check_on_scale(low: float, high: float, spread: tuple[float, float], source: str, split: str) -> None:
    """Refuse a split whose values ``low..high``, mapped by the training images' ``spread``,
    fall far outside 0..255 (more than ``SCALE_SLACK`` of it beyond either end): a test split of
    0..255 beside training images of 0..1 was clipped to white, and scored as if it were data."""
    offset, factor = spread
    slack = SCALE_SLACK * 255
    if (low - offset) * factor >= -slack and (high - offset) * factor <= 255 + slack:
        return
    raise DataError(
        f"{source}: {split} image values range {low:.4g}..{high:.4g}, far outside the training images' "
        f"{offset:.4g}..{offset + 255 / factor:.4g}: scale the splits alike (the same units, the same normalization)"
    )


# How far beyond the training images' range (a fraction of it) another split's values may go.
SCALE_SLACK = 0.5

# Values mapped at a time (``_as_uint8_images``): 32 MB of float64. Mapping all at once held
# about five float64 copies of them: 1.3 GB at the peak for 234 MB of float32 images.
_MAP_VALUES = 2**22
