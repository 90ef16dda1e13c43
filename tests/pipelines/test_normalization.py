"""Per-channel normalisation fitted on training images."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import Normalization
from pipelines import _normalization as normalization


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("chunk_values", [1000, 10, 1 << 24])  # 37 images a chunk, one, all
def test_fit_matches_numpy_statistics_across_chunks(monkeypatch, dtype, chunk_values) -> None:
    monkeypatch.setattr(normalization, "_CHUNK_VALUES", chunk_values)
    x = np.random.default_rng(0).integers(0, 256, size=(500, 3, 3, 3), dtype=np.uint8)
    x[..., 2] //= 4  # give channels different statistics
    norm = Normalization.fit(x.astype(dtype))
    np.testing.assert_allclose(norm.mean, x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-9)
    np.testing.assert_allclose(norm.std, x.astype(np.float64).std(axis=(0, 1, 2)), rtol=1e-6)


def test_apply_standardises_each_channel_as_float32() -> None:
    x = np.random.default_rng(1).integers(0, 256, size=(200, 4, 4, 3), dtype=np.uint8)
    out = Normalization.fit(x).apply(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=1e-4)


def test_a_channel_constant_in_training_is_centred_but_not_scaled() -> None:
    x = np.full((4, 2, 2, 1), 7, np.uint8)
    norm = Normalization.fit(x)
    assert np.all(norm.apply(x) == 0.0)
    # A value training never showed is moved as much as it differs, not a thousandfold.
    assert norm.apply(np.full((1, 2, 2, 1), 17, np.uint8)).max() == pytest.approx(10.0)


def test_dict_round_trip_and_bad_dicts() -> None:
    norm = Normalization(mean=(1.5, 2.0, 3.0), std=(4.0, 5.0, 6.0))
    assert Normalization.from_dict(norm.to_dict()) == norm
    with pytest.raises(ValueError, match="'scale'"):
        Normalization.from_dict({"mean": [1.0], "scale": [1.0]})
    with pytest.raises(ValueError, match=r"\(0.0,\)"):
        Normalization(mean=(1.0,), std=(0.0,))


def test_channel_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 channels"):
        Normalization(mean=(0.0,), std=(1.0,)).apply(np.zeros((1, 2, 2, 3), np.uint8))


def test_a_dict_with_keys_beyond_mean_and_std_is_refused_quoting_them() -> None:
    with pytest.raises(ValueError, match="'scale'"):
        Normalization.from_dict({"mean": [1.0], "std": [2.0], "scale": [1.0]})


def test_an_infinite_std_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(inf,\)"):
        Normalization(mean=(1.0,), std=(float("inf"),))
