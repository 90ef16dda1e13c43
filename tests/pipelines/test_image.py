"""``load_image``: sizes, colour conversion, unreadable files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines import DataError, load_image
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
    Image.new("RGBA", (3, 3), (10, 20, 30, 0)).save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png", image_size=None, channels=None)[0, 0].tolist() == [10, 20, 30]
    Image.fromarray(np.full((3, 3), 0xABCD, np.uint16)).save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png", image_size=None, channels=None)[0, 0, 0] == 0xAB


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
