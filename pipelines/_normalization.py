"""Per-channel normalisation with statistics from the training split only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normalization"]

_CHUNK_VALUES = 1 << 24  # pixel values per step when accumulating statistics (128 MB of float64 at most)
# A channel that varies by less than a grey level in training (constant: a colour scene's
# unused channel, a border) is left unscaled: divided by its ~0 spread, a value the training
# never showed would reach the network thousands of times larger than any it learnt from.
_MIN_STD = 1.0


@dataclass(frozen=True, kw_only=True)
class Normalization:
    """``(x - mean) / std`` per channel, with ``mean`` and ``std`` in the 0..255 pixel scale.

    Fit it on the training split only, so that nothing about validation or test images
    leaks into training; store it with the model (``to_dict``) to apply it at prediction.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean and std need one value per channel each, got {self.mean!r} and {self.std!r}")
        if not all(np.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"std must be positive and finite, got {self.std!r}")

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Normalization:
        """Per-channel mean and standard deviation of images ``(N, H, W, C)`` (uint8, or any
        real type), accumulated a bounded number of pixel values at a time."""
        if x_train.ndim != 4 or len(x_train) == 0:
            raise ValueError(f"x_train must be a non-empty (N, H, W, C) array, got shape {x_train.shape}")
        channels = x_train.shape[-1]
        rows = max(1, _CHUNK_VALUES // (x_train[0].size or 1))  # a chunk's size bounded in values, not images
        chunks = (x_train[start : start + rows].reshape(-1, channels) for start in range(0, len(x_train), rows))
        total, total_sq = np.zeros(channels), np.zeros(channels)
        if x_train.dtype == np.uint8:  # exact and fast: how often each of the 256 values occurs
            values = np.arange(256, dtype=np.float64)
            for chunk in chunks:
                counts = np.stack([np.bincount(chunk[:, c], minlength=256) for c in range(channels)])
                total += counts @ values
                total_sq += counts @ np.square(values)
        else:
            for chunk in chunks:
                wide = chunk.astype(np.float64)
                total += wide.sum(axis=0)
                total_sq += np.square(wide).sum(axis=0)
        count = x_train.size // channels
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        return cls(mean=tuple(mean.tolist()), std=tuple(np.maximum(std, _MIN_STD).tolist()))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` as float32, vectorised over a whole batch ``(..., C)``."""
        if x.shape[-1] != len(self.mean):
            raise ValueError(f"images have {x.shape[-1]} channels but the normalisation has {len(self.mean)}")
        mean = np.asarray(self.mean, dtype=np.float32)
        scale = np.asarray(1.0 / np.asarray(self.std), dtype=np.float32)
        out = x.astype(np.float32)
        out -= mean
        out *= scale
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        """The inverse of ``to_dict``; raises ``ValueError`` quoting unexpected keys."""
        if set(data) != {"mean", "std"}:
            raise ValueError(f"a normalization needs exactly the keys 'mean' and 'std', got {sorted(data)!r}")
        return cls(mean=tuple(float(v) for v in data["mean"]), std=tuple(float(v) for v in data["std"]))
