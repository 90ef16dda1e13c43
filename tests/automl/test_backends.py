"""Per-backend settings (``automl._backends``), each checked in a process of its backend.

``KERAS_BACKEND`` is read once, at import, so every backend runs in a subprocess.
"""

from __future__ import annotations

import json

import pytest

from automl._training import ACCELERATOR_STEPS_PER_EXECUTION
from tests.automl.helpers import run_cli
from tests.backends import run_under_backend

# The compile an accelerator gets (on_accelerator forced true), then one epoch of fit.
_ACCELERATOR_COMPILE = """
import json
import numpy as np
import keras
import automl._training as training
from automl._backends import list_devices
from automl._hparams import TrainingSpec

training.on_accelerator = lambda: True
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
training.compile_model(model, TrainingSpec(batch_size=8, epochs=1), num_classes=3)
model.fit(np.zeros((32, 8, 8, 1), "float32"), np.zeros(32, "int64"), batch_size=8, epochs=1, verbose=0)
print(json.dumps({"steps_per_execution": model.steps_per_execution, "devices": list_devices()}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_the_accelerator_compile_trains_under_each_backend(backend: str) -> None:
    done = run_under_backend(backend, ["-c", _ACCELERATOR_COMPILE])
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    # Keras 3.15 refuses more than one step per call under PyTorch; the others take several.
    assert shown["steps_per_execution"] == (1 if backend == "torch" else ACCELERATOR_STEPS_PER_EXECUTION)
    assert shown["devices"] and all(device.lower().startswith("cpu") for device in shown["devices"]), shown


@pytest.mark.parametrize("command", [["predict", "--model", "exports/default", "x.png"], ["search", "--trials", "1"]])
def test_a_mistyped_keras_backend_is_one_line_before_keras_is_imported(workdir, command) -> None:
    # Keras failed with a 28-line traceback ("Unable to import backend : tensorfow").
    result = run_cli(command, workdir, KERAS_BACKEND="tensorfow")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"automl {command[0]}: error: KERAS_BACKEND must be one of ['tensorflow', 'jax', 'torch'] "
        "(unset: tensorflow), got 'tensorfow'"
    )
    assert not (workdir / "mlruns").exists()
