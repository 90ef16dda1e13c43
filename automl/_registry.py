"""The MLflow model registry: the exported winner as a registered model with the alias ``champion``."""

from __future__ import annotations

from typing import Any

from automl._tracking import Tracker

__all__ = ["register_champion", "CHAMPION_ALIAS"]

CHAMPION_ALIAS = "champion"


def register_champion(tracker: Tracker, run_id: str, model: Any, study_name: str) -> str:
    """Log the model on the study's parent run and register it with the ``champion`` alias."""
    import importlib.metadata as md

    import mlflow
    import mlflow.keras

    name = f"{study_name}-model"
    mlflow.set_tracking_uri(tracker.tracking_uri)
    requirements = [f"keras=={md.version('keras')}"]
    with mlflow.start_run(run_id=run_id):
        info = mlflow.keras.log_model(model, name="winner", registered_model_name=name, pip_requirements=requirements)
    version = str(info.registered_model_version)
    tracker.client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return f"models:/{name}@{CHAMPION_ALIAS} (version {version})"
