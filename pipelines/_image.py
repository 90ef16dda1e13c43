"""Reading, resizing and colour-converting single images with Pillow."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from pipelines._dataset import in_unit_range
from pipelines._errors import DataError, one_line

__all__ = [
    "load_image",
    "probe_image",
    "ImageProbe",
    "deep_value_map",
    "float_value_map",
    "AS_PIXELS",
    "maps_values",
    "resize_images",
    "check_image_size",
    "check_fits_in_memory",
    "IMAGE_SUFFIXES",
]

# The image files an image folder or a CSV may hold: those of the formats Pillow reads that
# image data sets come in.
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
        ".avif",
        ".apng",
        ".jp2",
        ".j2k",
        ".jpx",
        ".ico",
        ".qoi",
    }
)

# Pillow modes whose pixels are one grey value (with or without alpha).
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# What Pillow raises for files it cannot decode: unknown format, truncated data,
# broken chunks, absurd sizes.
_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_MODE_OF_CHANNELS = {1: "L", 3: "RGB"}
# EXIF orientations that turn the image a quarter (transposed, rotated 90 or 270 degrees, or
# transversed): ``ImageOps.exif_transpose`` swaps their height and width.
_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


class ImageProbe(NamedTuple):
    """What an image file's header says: its size as ``load_image`` returns it, whether it is
    grey, and its Pillow mode (``I;16`` for 16-bit grey PNG and TIFF, ``I`` for 16-bit PGM)."""

    size: tuple[int, int]
    gray: bool
    mode: str


def probe_image(path: str | os.PathLike[str]) -> ImageProbe:
    """``(H, W)``, whether it is grey, and the mode of an image file, read from its header
    without decoding pixels.

    ``(H, W)`` is the size ``load_image`` returns: upright, as its EXIF orientation turns it
    (a phone's portrait photo is often stored on its side).

    Raises:
        DataError: the file is missing or not an image Pillow can read, naming the file.
    """
    try:
        with Image.open(path) as img:
            size = (img.height, img.width)
            if img.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
                size = size[::-1]
            return ImageProbe(size=size, gray=img.mode in _GRAY_MODES, mode=img.mode)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc


def deep_value_map(paths: Sequence[str | os.PathLike[str]]) -> tuple[float, float] | None:
    """The ``value_map`` that spreads 16-bit grey files (``I`` modes) whose values all stay
    below 2**15 over 0..255: values up to the next power of two (a 10, 12 or 14-bit camera's,
    stored in 16 bits) become 0..255, as ``load_image`` maps them with it. None when they use
    the upper bits: dropping the low 8 bits keeps at least 128 levels.

    Scaled by 1/256, a 12-bit image (values below 4,096) kept 16 grey levels. The map is one
    for all the files, so their brightness relative to each other stays as it was. A file
    that cannot be decoded is left out here: reading it fails, or skips it, as any other.
    """
    top = int(_value_range(paths, np.int64)[1])
    if top >= 2**15:
        return None
    levels = max(2 ** top.bit_length() - 1, 255)
    return 0.0, 255.0 / levels


# The value map of values that are pixels as they are (clipped to 0..255): 16-bit or float
# files whose values stay in 0..255. Recorded (not None), so that one such file is read as the
# data set was, not by its mode's own rule (a 16-bit file's top 8 bits: black).
AS_PIXELS = (0.0, 1.0)


def maps_values(value_map: Sequence[float] | None) -> bool:
    """Whether ``value_map`` (a ``Dataset.value_map``) changes values, i.e. the source's values
    were not pixels: None and ``AS_PIXELS`` leave them as they are."""
    return value_map is not None and tuple(value_map) != AS_PIXELS


def float_value_map(paths: Sequence[str | os.PathLike[str]]) -> tuple[float, float]:
    """The ``value_map`` of float grey files (mode ``F``, TIFF): ``(0, 255)`` when the values of
    all of them are 0..1 (give or take ``FLOAT_SLACK``: a resize overshoots), else ``AS_PIXELS``.
    One for all the files: scaled each by its own range, a file of 0..1 whose resize overshot
    to 1.02 was read as 0..255 (black beside the others), and a dark one of 0..255 as 0..1."""
    low, high = _value_range(paths, np.float64)
    return (0.0, 255.0) if in_unit_range(low, high) else AS_PIXELS


def _value_range(paths: Sequence[str | os.PathLike[str]], dtype: type[np.generic]) -> tuple[float, float]:
    """The least and greatest value (NaN left out) of the files that decode (0, 0 for none):
    a file that cannot be decoded is left out here, and reading it fails, or skips it, as any other."""
    low, high = np.inf, -np.inf
    for path in paths:
        try:
            with Image.open(path) as img:
                values = np.asarray(img, dtype=dtype)
        except _READ_ERRORS:
            continue
        if values.size and not np.isnan(values).all():
            low, high = min(low, float(np.nanmin(values))), max(high, float(np.nanmax(values)))
    return (low, high) if low <= high else (0.0, 0.0)


def load_image(
    path: str | os.PathLike[str],
    *,
    image_size: tuple[int, int] | None,
    channels: int | None,
    value_map: tuple[float, float] | None = None,
) -> np.ndarray:
    """Read an image file as ``uint8`` pixels of shape ``(H, W, C)``.

    Args:
        path: an image file of a format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP...).
        image_size: ``(H, W)`` to resize to (bilinear, antialiased), or ``None`` to keep the size.
        channels: 1 (grey) or 3 (RGB) to convert to, or ``None`` to keep grey images grey and
            turn everything else (palette, RGBA, CMYK) into RGB.
        value_map: ``(low, factor)``, a study's ``Dataset.value_map``: the values of a 16-bit
            or float file are the training data's values, not pixels, and become
            ``(value - low) * factor`` (clipped to 0..255), as the training arrays did.
            8-bit files are pixels either way.

    Returns:
        The pixels; EXIF rotation is applied, see-through pixels are shown over a background
        that stands out from the image (``_flattened``), 16-bit grey (also 16-bit PGM,
        which Pillow reads as 32-bit integers) is scaled to 8 bits, and float grey (TIFF) in
        0..1 is scaled by 255, of any other range clipped to 0..255 (unless ``value_map``).

    Raises:
        DataError: the file is missing, corrupt or not an image, naming the file.
            Also for an ``image_size`` that is not two positive integers.
        ValueError: ``channels`` is not 1, 3 or None, quoting it.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    try:
        with Image.open(path) as img:
            img.load()
            pixels = _to_8bit(ImageOps.exif_transpose(img), channels, value_map)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    return pixels if image_size is None else resize_images(pixels[None], image_size)[0]


def resize_images(x: np.ndarray, image_size: Sequence[int]) -> np.ndarray:
    """Resize ``uint8`` images ``(N, H, W, C)`` to ``image_size`` ``(H, W)`` (bilinear, antialiased)."""
    height, width = check_image_size(image_size)
    if x.shape[1:3] == (height, width):
        return x
    check_fits_in_memory(len(x), (height, width, x.shape[-1]))
    out = np.empty((len(x), height, width, x.shape[-1]), dtype=np.uint8)
    for i, image in enumerate(x):
        resized = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).resize(
            (width, height), Image.Resampling.BILINEAR
        )
        out[i] = np.asarray(resized).reshape(out.shape[1:])
    return out


# A search holds the uint8 images and, while it trains, float32 copies of its splits:
# about 1 + 4 + 1 bytes per uint8 byte (the last for the augmented batches and slack).
_BYTES_PER_PIXEL_HELD = 6


def check_fits_in_memory(count: int, shape: Sequence[int]) -> None:
    """Refuse ``count`` images of ``shape`` (H, W, C) that a search could not hold in memory.

    Checked before anything is allocated, so an impossible ``image_size`` is a one-line
    ``DataError`` rather than an out-of-memory crash minutes later.
    """
    pixels = count * int(np.prod(shape))
    needed, available = pixels * _BYTES_PER_PIXEL_HELD, _available_memory()
    if available is not None and needed > available:
        size = "x".join(str(s) for s in shape)
        raise DataError(
            f"{count} images of {size} need about {needed / 2**30:.1f} GiB of memory to search, but only "
            f"{available / 2**30:.1f} GiB is available; choose a smaller image_size (--image-size)"
        )


def _available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` on Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _maps(value_map: tuple[float, float], mode: str) -> bool:
    """Whether ``value_map`` maps an image of ``mode``: a float one (``F``) always; a 16-bit one
    (``I`` modes) only where the map spreads values over more than 256 levels (a factor of 1
    or less: 16-bit files, wide arrays). A map of fractions (floats in 0..1, factor 255) made
    every value of a 16-bit file 255: such a file is read as any other."""
    return mode == "F" or (mode.startswith("I") and value_map[1] <= 1.0)


def _to_8bit(img: Image.Image, channels: int | None, value_map: tuple[float, float] | None) -> np.ndarray:
    """Pixels of ``img`` as uint8 ``(H, W, C)`` with the requested number of channels."""
    if value_map is not None and _maps(value_map, img.mode):
        low, factor = value_map
        values = (np.nan_to_num(np.asarray(img, dtype=np.float64)) - low) * factor
        img = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    elif img.mode.startswith("I"):  # 16-bit grey: I;16 from PNG and TIFF, I (32-bit) from PGM
        img = Image.fromarray((np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8))
    elif img.mode == "F":  # one file on its own: 0..1 by its own range (``float_value_map`` for a data set)
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        scale = 255.0 if values.size and in_unit_range(values.min(), values.max()) else 1.0
        img = Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8))
    if channels is None:
        channels = 1 if img.mode in _GRAY_MODES else 3
    img = _flattened(img)
    pixels = np.asarray(img.convert(_MODE_OF_CHANNELS[channels]), dtype=np.uint8)
    return pixels.reshape(*pixels.shape[:2], channels)


def _flattened(img: Image.Image) -> Image.Image:
    """``img`` without its transparency: its see-through pixels over a background that stands
    out from what they hide (white behind dark content, black behind light), as alpha
    weights them. Dropped (Pillow's ``convert``), an icon's black shape on transparent black
    was a black square, its shape gone. An image with no transparency, or nothing opaque,
    keeps its colours as stored."""
    if img.mode not in _ALPHA_MODES and "transparency" not in img.info:
        return img
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    weight = float(alpha.sum())
    if weight == 0 or alpha.min() == 1.0:
        return img.convert("RGB")
    luma = rgba[..., :3] @ _LUMA
    background = 255.0 if float((luma * alpha[..., 0]).sum()) / weight < 128 else 0.0
    flat = rgba[..., :3] * alpha + background * (1.0 - alpha)
    return Image.fromarray(np.clip(np.rint(flat), 0, 255).astype(np.uint8), "RGB")


# Modes with an alpha channel, and the weights of R, G and B in grey (ITU-R 601, as Pillow's "L").
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def check_image_size(image_size: Sequence[int]) -> tuple[int, int]:
    """``image_size`` as ``(H, W)`` ints, or ``DataError`` quoting it unless it is two positive ints."""
    if (
        not isinstance(image_size, tuple | list)
        or len(image_size) != 2
        or not all(isinstance(s, int | np.integer) and s > 0 for s in image_size)
    ):
        raise DataError(f"image_size must be two positive integers (H, W), got {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _unreadable(path: str | os.PathLike[str], exc: BaseException) -> DataError:
    return DataError(f"cannot read image '{os.fspath(path)}': {one_line(exc)}; replace or remove the file")
