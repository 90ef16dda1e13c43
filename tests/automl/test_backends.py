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


# XLA compilations of a model's training on 96 images (three whole batches of 32), then of a
# like model's on 100 (three and a short one of 4), after a first training that compiles the rest.
_COMPILES_OF_A_SHORT_BATCH = """
import json
import numpy as np
import keras
from jax import monitoring
import automl._training as training
from automl._hparams import TrainingSpec

compiles = []
monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: compiles.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
)

def compiles_of(n):
    layers = [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")]
    model = keras.Sequential(layers)
    spec = TrainingSpec(batch_size=32, epochs=2)
    training.compile_model(model, spec, num_classes=3)
    rng = np.random.default_rng(0)
    before = len(compiles)
    x, y = rng.integers(0, 255, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, n)
    training.train_model(model, training.batches_for_backend((x, y), 32, seed=0), training=spec, seed=0)
    return len(compiles) - before

compiles_of(96)
print(json.dumps({"whole": compiles_of(96), "short": compiles_of(100)}))
"""


def test_a_short_last_batch_is_not_compiled_again_under_jax() -> None:
    # Trials and retrainings train on ``batches_for_backend``.
    # JAX compiles the step for each batch shape: an epoch's short last batch cost every
    # trial a compilation in its first epoch (2.4 s of the digits' 0.14 s epochs on a CPU),
    # whose time then planned the rest of its training.
    done = run_under_backend("jax", ["-c", _COMPILES_OF_A_SHORT_BATCH])
    assert done.returncode == 0, done.stderr[-3000:]
    counted = json.loads(done.stdout.strip().splitlines()[-1])
    assert counted["short"] == counted["whole"], counted


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
