"""The MLflow model registry: the exported winner as a registered model with the alias ``champion``."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import io

import keras
import mlflow
import mlflow.keras
import numpy as np
from mlflow.models import infer_signature

from automl._tracking import Tracker

__all__ = ["register_champion", "CHAMPION_ALIAS"]

CHAMPION_ALIAS = "champion"


def register_champion(tracker: Tracker, model: keras.Model, study_name: str, *, example: np.ndarray) -> str:
    """Log ``model`` on the study's parent run and register it with the ``champion`` alias.

    ``example`` is a few raw images (0..255, H x W x C): with the model's outputs on them
    they give the logged model's signature. They are also logged beside it as
    ``winner/input_example.json``: MLflow 3.17's Keras flavour fails to save an
    ``input_example`` itself (it writes the file before creating the model's folder).
    Returns ``models:/NAME@champion (version N)``.
    """
    name = f"{study_name}-model"
    images = np.asarray(example, dtype="float32")
    signature = infer_signature(images, np.asarray(model.predict(images, verbose=0)))
    requirements = [f"keras=={md.version('keras')}"]
    mlflow.set_tracking_uri(tracker.tracking_uri)
    # MLflow prints its registry notices ("Successfully registered model ...") itself; the
    # returned name says the same.
    with mlflow.start_run(run_id=tracker.parent().run_id), contextlib.redirect_stderr(io.StringIO()):
        info = mlflow.keras.log_model(
            model,
            name="winner",
            registered_model_name=name,
            pip_requirements=requirements,
            signature=signature,
        )
    tracker.log_json(tracker.parent().run_id, {"inputs": images.tolist()}, "winner/input_example.json")
    version = str(info.registered_model_version)
    tracker.set_model_alias(name, CHAMPION_ALIAS, version)
    return f"models:/{name}@{CHAMPION_ALIAS} (version {version})"
