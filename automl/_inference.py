"""Prediction outside of training: the batch size it takes, and predictions a batch at a time.

Only NumPy here, so that modules that must stay cheap to import (``automl._bundle``) use it;
the models are Keras models, called through their own methods.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["inference_batch_size", "predict_batches", "INFERENCE_MAX_BATCH", "INFERENCE_MAX_VALUES"]

INFERENCE_MAX_BATCH = 1024
INFERENCE_MAX_VALUES = 2**20


def inference_batch_size(batch_size: int, input_shape: tuple[int, ...]) -> int:
    """Batch size for validation and prediction: no gradients are kept, so take larger batches.

    Small batches make evaluation pay Keras' per-step cost many times (on MNIST, batches of
    1,024 instead of 32 cut a validation pass by about 40%). The batch holds at most about
    a million input values (1,024 MNIST images, 340 at 32x32x3), and never fewer images
    than a training batch.
    """
    return max(batch_size, min(INFERENCE_MAX_BATCH, INFERENCE_MAX_VALUES // math.prod(input_shape)))


def predict_batches(model: Any, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """``model``'s outputs for the raw images ``x``, a batch at a time (``predict_on_batch``).

    ``model.predict`` on a whole array first copies it into one dataset: for 1,000 test
    images of 224x224x3 it took 9.6-10.7 s, against 1.4 s a batch at a time
    (``bench/RESULTS.md``, "Large images: the data's statistics and the test predictions").
    Only a batch is float32 at once, and the last batch is padded to the full size so that
    the step is traced once. The batch size is ``inference_batch_size`` by default.
    """
    batch_size = batch_size or inference_batch_size(1, x.shape[1:])
    outputs = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        size = len(batch)
        if size < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - size, *batch.shape[1:]), batch.dtype)])
        outputs.append(np.asarray(model.predict_on_batch(batch.astype("float32")))[:size])
    if not outputs:
        raise ValueError(f"no images to predict: x has shape {x.shape}")
    return np.concatenate(outputs)
