"""Per-channel normalisation with statistics from the training split only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Normalization"]

_CHUNK = 4096  # images per step when accumulating statistics, to bound float64 temporaries
_MIN_STD = 1e-3  # a constant channel is left unscaled instead of divided by ~0


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
        """Per-channel mean and standard deviation of uint8 images ``(N, H, W, C)``."""
        if x_train.ndim != 4 or len(x_train) == 0:
            raise ValueError(f"x_train must be a non-empty (N, H, W, C) array, got shape {x_train.shape}")
        channels = x_train.shape[-1]
        total, total_sq = np.zeros(channels), np.zeros(channels)
        for start in range(0, len(x_train), _CHUNK):
            chunk = x_train[start : start + _CHUNK].reshape(-1, channels).astype(np.float64)
            total += chunk.sum(axis=0)
            total_sq += np.square(chunk).sum(axis=0)
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
