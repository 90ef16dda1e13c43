"""Mirror symmetry: a data set whose classes look the same in a mirror, and one whose do not."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from pipelines import MIRROR_ASYMMETRY_LIMIT, load_dataset, may_flip, mirror_asymmetry


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset(None)  # scikit-learn's 1,797 8x8 digits
    return ds.x, ds.y


def _mirrored_at_random(x: np.ndarray, seed: int = 0) -> np.ndarray:
    flipped = np.random.default_rng(seed).random(len(x)) < 0.5
    out = x.copy()
    out[flipped] = x[flipped][:, :, ::-1]
    return out


def test_digits_do_not_look_the_same_in_a_mirror(digits) -> None:
    x, y = digits
    asymmetry = mirror_asymmetry(x, y)
    assert asymmetry is not None and asymmetry > 2 * MIRROR_ASYMMETRY_LIMIT


def test_the_same_digits_mirrored_at_random_do(digits) -> None:
    x, y = digits
    asymmetry = mirror_asymmetry(_mirrored_at_random(x), y)
    assert asymmetry is not None and abs(asymmetry) < MIRROR_ASYMMETRY_LIMIT / 2


def test_colours_and_contrast_that_vary_do_not_hide_the_shapes(digits) -> None:
    # Bright digits on dark and dark on bright, in random colours: their mean images cancel
    # out, their edges do not.
    x, y = digits
    rng = np.random.default_rng(1)
    grey = x[..., 0].astype(np.float32) / 16
    inverted = rng.random(len(x)) < 0.5
    grey[inverted] = 1 - grey[inverted]
    colour = (grey[..., None] * rng.uniform(0, 255, (len(x), 1, 1, 3))).astype(np.uint8)
    assert mirror_asymmetry(colour, y) > 2 * MIRROR_ASYMMETRY_LIMIT
    assert abs(mirror_asymmetry(_mirrored_at_random(colour), y)) < MIRROR_ASYMMETRY_LIMIT / 2


def test_a_class_of_one_image_leaves_the_others_to_tell(digits) -> None:
    # A class of one image is missing from one of the halves: it is left out, and the ten
    # digit classes still tell, both ways.
    x, y = digits
    lonely = y.copy()
    lonely[0] = 99
    mirrored = _mirrored_at_random(x)
    assert mirror_asymmetry(x, lonely) > 2 * MIRROR_ASYMMETRY_LIMIT
    assert abs(mirror_asymmetry(mirrored, lonely)) < MIRROR_ASYMMETRY_LIMIT / 2


def test_what_cannot_be_told_is_none(digits) -> None:
    x, y = digits
    one_class = np.zeros_like(y)
    one_class[0] = 1  # and a second class of one image, in one half only
    assert mirror_asymmetry(x, one_class) is None
    assert mirror_asymmetry(x[:, :, :1], y) is None  # one pixel wide
    assert mirror_asymmetry(np.zeros_like(x), y) is None  # no class differs


@pytest.mark.parametrize("seed", range(6))
def test_classes_whose_edges_differ_only_by_noise_cannot_be_told(seed) -> None:
    # A bright left half against a bright right one: the same edge maps, class means of
    # noise, and a ratio of noise (-16.5 to 5.1 over these seeds) that turned flips on, each
    # flip a mislabelled image.
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, size=(40, 16, 16, 1))
    x[:20, :, :8] += 180
    x[20:, :, 8:] += 180
    y = np.repeat([0, 1], 20)
    assert mirror_asymmetry(x, y, seed=seed) is None and not may_flip(mirror_asymmetry(x, y, seed=seed))


def test_large_images_are_measured_in_chunks_of_a_bounded_size() -> None:
    # 256 images at a time, whatever their size: 1.5 GB above the data for 300 of 512x512.
    x = np.random.default_rng(0).integers(0, 128, size=(20, 1024, 1024, 1), dtype=np.uint8)
    y = np.arange(20) % 2
    x[1::2, 100:400, 100:400] = 255  # a square in class 1: the classes differ beyond noise
    tracemalloc.start()
    try:
        assert mirror_asymmetry(x, y) is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 250 * 2**20  # 20 of these images at once took 452 MB (160 MB now, 32 MB of it the class sums)
