"""``load_image``: sizes, colour conversion, unreadable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines import DataError, load_image, probe_image
from tests.pipelines.datafiles import write_corrupt, write_image


def test_keeps_size_and_mode_by_default(tmp_path: Path) -> None:
    rgb = write_image(tmp_path / "rgb.png", (5, 7, 3))
    grey = write_image(tmp_path / "grey.png", (5, 7))
    assert np.array_equal(load_image(tmp_path / "rgb.png", image_size=None, channels=None), rgb)
    assert np.array_equal(load_image(tmp_path / "grey.png", image_size=None, channels=None), grey[..., None])


def test_rgb_to_grey_uses_luma_and_grey_to_rgb_repeats(tmp_path: Path) -> None:
    rgb = write_image(tmp_path / "rgb.png", (4, 4, 3)).astype(float)
    grey = load_image(tmp_path / "rgb.png", image_size=None, channels=1)
    luma = rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, the weights Pillow documents
    assert grey.shape == (4, 4, 1) and np.abs(grey[..., 0] - luma).max() <= 1

    write_image(tmp_path / "grey.png", (4, 4))
    again = load_image(tmp_path / "grey.png", image_size=None, channels=3)
    assert again.shape == (4, 4, 3) and (again == again[..., :1]).all()


def test_resize_to_height_width(tmp_path: Path) -> None:
    Image.new("RGB", (40, 10), (200, 30, 90)).save(tmp_path / "wide.jpg")
    image = load_image(tmp_path / "wide.jpg", image_size=(6, 8), channels=None)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - [200, 30, 90]).max() <= 3  # a flat colour stays (JPEG rounding)


def test_alpha_is_dropped_and_16_bit_grey_scaled(tmp_path: Path) -> None:
    # Nothing opaque: nothing to show, the stored colours are kept.
    Image.new("RGBA", (3, 3), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png", image_size=None, channels=None)[0, 0].tolist() == [10, 20, 30]
    Image.fromarray(np.full((3, 3), 0xABCD, np.uint16)).save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png", image_size=None, channels=None)[0, 0, 0] == 0xAB


def _icon(
    path: Path,
    fill: tuple[int, int, int, int],
    *,
    background: tuple[int, int, int, int] = (0, 0, 0, 0),
    channels: int | None = None,
) -> np.ndarray:
    """An 8x8 RGBA icon, a 4x4 square of ``fill`` on ``background``, written to ``path`` and read back."""
    icon = Image.new("RGBA", (8, 8), background)
    ImageDraw.Draw(icon).rectangle([2, 2, 5, 5], fill=fill)
    icon.save(path)
    return load_image(path, image_size=None, channels=channels)


def test_see_through_pixels_show_a_background_that_stands_out(tmp_path: Path) -> None:
    # Alpha was dropped: a black shape on transparent black (an icon) became a black square.
    dark = _icon(tmp_path / "dark.png", (0, 0, 0, 255))
    assert dark[0, 0].tolist() == [255, 255, 255] and dark[3, 3].tolist() == [0, 0, 0]
    # A light shape, half see-through, on see-through white: a black background.
    light = _icon(tmp_path / "light.png", (250, 250, 250, 128), background=(255, 255, 255, 0), channels=1)
    assert light[0, 0, 0] == 0 and light[3, 3, 0] == round(250 * 128 / 255)
    # Grey with alpha, and a palette with a see-through entry, the same way.
    grey = Image.fromarray(np.stack([np.full((4, 4), 10, np.uint8), np.eye(4, dtype=np.uint8) * 255], -1), "LA")
    grey.save(tmp_path / "grey.png")
    assert load_image(tmp_path / "grey.png", image_size=None, channels=None)[..., 0].tolist() == (
        np.where(np.eye(4), 10, 255).tolist()
    )
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 0, 0, 0])  # entry 0 see-through black, entry 1 black
    palette.putpixel((1, 1), 1)
    palette.save(tmp_path / "palette.png", transparency=0)
    flat = load_image(tmp_path / "palette.png", image_size=None, channels=None)
    assert flat[0, 0].tolist() == [255, 255, 255] and flat[1, 1].tolist() == [0, 0, 0]


def test_deeper_grey_files_are_scaled_to_bytes(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 16).astype(">u2").reshape(4, 4)
    (tmp_path / "deep.pgm").write_bytes(b"P5\n4 4\n65535\n" + ramp.tobytes())  # Pillow reads mode I
    np.testing.assert_array_equal(load_image(tmp_path / "deep.pgm", image_size=None, channels=None)[..., 0], ramp >> 8)

    unit = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    Image.fromarray(unit).save(tmp_path / "unit.tif")  # mode F: floats in 0..1 are scaled by 255
    expected = np.rint(unit * 255).astype(np.uint8)
    np.testing.assert_array_equal(load_image(tmp_path / "unit.tif", image_size=None, channels=None)[..., 0], expected)
    Image.fromarray(unit * 300 - 20).save(tmp_path / "wide.tif")  # any other range is clipped
    wide = load_image(tmp_path / "wide.tif", image_size=None, channels=None)[..., 0]
    np.testing.assert_array_equal(wide, np.clip(np.rint(unit * 300 - 20), 0, 255).astype(np.uint8))


def test_a_value_map_reads_deep_files_as_the_training_values_and_bytes_as_pixels(tmp_path: Path) -> None:
    twelve_bit = np.linspace(0, 4095, 16).astype(np.uint16).reshape(4, 4)  # 12-bit data in a 16-bit PNG
    Image.fromarray(twelve_bit).save(tmp_path / "deep.png")
    mapped = load_image(tmp_path / "deep.png", image_size=None, channels=None, value_map=(0.0, 255 / 4095))
    np.testing.assert_array_equal(mapped[..., 0], np.rint(twelve_bit * (255 / 4095)).astype(np.uint8))

    standardised = np.linspace(-2, 3, 16, dtype=np.float32).reshape(4, 4)
    Image.fromarray(standardised).save(tmp_path / "z.tif")  # mode F, mapped as (value + 2) * 51, clipped
    mapped = load_image(tmp_path / "z.tif", image_size=None, channels=None, value_map=(-2.0, 51.0))
    np.testing.assert_array_equal(mapped[..., 0], np.clip(np.rint((standardised + 2) * 51), 0, 255).astype(np.uint8))

    pixels = write_image(tmp_path / "pixels.png", (4, 4))
    again = load_image(tmp_path / "pixels.png", image_size=None, channels=None, value_map=(0.0, 255 / 4095))
    np.testing.assert_array_equal(again[..., 0], pixels)

    # A map of fractions (a model trained on floats in 0..1) made every value of a 16-bit file
    # 255: it maps float files; a 16-bit file is read as it would be without a map.
    sixteen_bit = (pixels.astype(np.uint16) * 257).reshape(4, 4)
    Image.fromarray(sixteen_bit).save(tmp_path / "wide.png")
    unit = load_image(tmp_path / "wide.png", image_size=None, channels=None, value_map=(0.0, 255.0))
    np.testing.assert_array_equal(unit[..., 0], pixels.reshape(4, 4))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_probe_gives_the_upright_size_load_returns(orientation: int, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation  # 6 and 8: a portrait photo stored on its side
    Image.new("RGB", (40, 20), (90, 90, 90)).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    size = probe_image(tmp_path / "photo.jpg").size
    assert size == load_image(tmp_path / "photo.jpg", image_size=None, channels=None).shape[:2]
    assert size == ((40, 20) if orientation in (6, 8) else (20, 40))


@pytest.mark.parametrize("name", ["missing.png", "corrupt.png"])
def test_unreadable_file_names_the_file(name: str, tmp_path: Path) -> None:
    write_corrupt(tmp_path / "corrupt.png")
    with pytest.raises(DataError, match=f"cannot read image '.*{name}'") as info:
        load_image(tmp_path / name, image_size=None, channels=None)
    assert "\n" not in str(info.value)


def test_bad_channels_are_quoted(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", (2, 2))
    with pytest.raises(ValueError, match="got 2"):
        load_image(tmp_path / "a.png", image_size=None, channels=2)


def test_how_dark_a_coloured_shape_is_weighs_green_most_and_blue_least(tmp_path: Path) -> None:
    # A strong blue (grey 88 by ITU-R 601 luma) is dark: its see-through surround shows white.
    blue = _icon(tmp_path / "blue.png", (0, 100, 255, 255))
    assert blue[0, 0].tolist() == [255, 255, 255] and blue[3, 3].tolist() == [0, 100, 255]
