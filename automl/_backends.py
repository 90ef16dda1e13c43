"""Per-backend runtime settings, applied once per process before the first model is built.

Model and training code stay backend-agnostic (``keras.layers``, ``keras.ops``); the few
settings that only one backend has live here, in a registry keyed by backend name. A
backend with no entry runs with its defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from automl._choices import BACKENDS
from automl._errors import UserError

__all__ = [
    "BACKENDS",
    "active_backend",
    "compiles_per_shape",
    "tune_backend",
    "select_backend",
    "check_backend_env",
    "list_devices",
    "steps_per_execution",
]


def _tensorflow(accelerated: bool) -> dict[str, str]:
    """On a CPU, turn off Grappler, TensorFlow's graph optimiser.

    Each candidate is a new graph, and Grappler rewrites it on its first step: on the
    small convnets of a search that costs more than it saves (bench/RESULTS.md, "Where a
    trial's time goes"). On a GPU its layout optimiser matters, so it stays on there.
    """
    if accelerated:
        return {}
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    return {"graph_optimizer": "off"}


_TUNERS: dict[str, Callable[[bool], dict[str, str]]] = {"tensorflow": _tensorflow}


def _torch_devices() -> list[str]:
    """PyTorch's devices: Keras' ``list_devices`` has no torch implementation (Keras 3.15)."""
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        return ["mps:0"]
    return ["cpu:0"]


# Backends whose devices ``keras.distribution.list_devices`` cannot list.
_DEVICE_LISTS: dict[str, Callable[[], list[str]]] = {"torch": _torch_devices}


def list_devices() -> list[str]:
    """The devices Keras' backend computes on, as ``"cpu:0"``, ``"cuda:0"``... (any backend)."""
    import keras

    lister = _DEVICE_LISTS.get(keras.backend.backend(), keras.distribution.list_devices)
    return list(lister())


# Backends whose trainer runs at most this many steps per call: Keras 3.15 refuses
# ``steps_per_execution`` above 1 under PyTorch ("must be 1 with the PyTorch backend").
_MAX_STEPS_PER_EXECUTION: dict[str, int] = {"torch": 1}


# Backends that compile their step again for each batch shape: there an epoch's last, short
# batch costs a compilation of its own (JAX on a CPU: 2.4 s of a 0.14 s epoch of the digits).
_COMPILES_PER_SHAPE = frozenset({"jax"})


def active_backend() -> str:
    """The backend Keras computes with: the one chosen, or ``KERAS_BACKEND``'s (any backend)."""
    import keras

    return keras.backend.backend()


def compiles_per_shape() -> bool:
    """Whether Keras' backend compiles its step again for each batch shape (JAX)."""
    return active_backend() in _COMPILES_PER_SHAPE


def steps_per_execution(wanted: int) -> int:
    """``wanted`` steps per compiled call, or fewer where the backend allows no more."""
    return min(wanted, _MAX_STEPS_PER_EXECUTION.get(active_backend(), wanted))


def tune_backend(backend: str, *, accelerated: bool) -> dict[str, str]:
    """Apply ``backend``'s runtime settings; returns the settings applied, for provenance."""
    tuner = _TUNERS.get(backend)
    return tuner(accelerated) if tuner else {}


def check_backend_env() -> None:
    """Refuse a ``KERAS_BACKEND`` this tool does not run on, before Keras reads it (Keras
    failed with a 28-line traceback for a mistyped name).

    Raises:
        UserError: quoting the variable's value.
    """
    name = os.environ.get("KERAS_BACKEND")
    if name is not None and name not in BACKENDS:
        raise UserError(f"KERAS_BACKEND must be one of {list(BACKENDS)} (unset: tensorflow), got {name!r}")


def select_backend(backend: str | None) -> None:
    """Set the Keras backend before Keras is imported (it reads ``KERAS_BACKEND`` once).

    Raises:
        UserError: Keras is already imported with another backend.
    """
    if not backend:
        return
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
        raise UserError(f"Keras is already imported with another backend; set KERAS_BACKEND={backend} first")
    os.environ["KERAS_BACKEND"] = backend
