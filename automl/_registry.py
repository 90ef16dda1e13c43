"""The MLflow model registry: the exported winner's logged model, registered with the alias ``champion``."""

from __future__ import annotations

from collections.abc import Mapping

from automl._tracking import Tracker

__all__ = ["register_champion", "CHAMPION_ALIAS", "registered_name"]

CHAMPION_ALIAS = "champion"


def registered_name(study_name: str) -> str:
    return f"{study_name}-model"


def register_champion(tracker: Tracker, study_name: str, model_uri: str, *, tags: Mapping[str, str]) -> str:
    """Register the logged model ``model_uri`` as a new version of ``STUDY-model`` with alias ``champion``.

    The logged model already carries what serving needs (``automl._models``): a signature,
    an input example of raw images and requirements naming Keras and its backend, so
    ``mlflow.pyfunc.load_model("models:/STUDY-model@champion")`` predicts on raw images.
    Returns ``models:/NAME@champion (version N)``.
    """
    name = registered_name(study_name)
    version = tracker.register_model(name, tracker.model_id_of(model_uri), tags=tags)
    tracker.set_model_alias(name, CHAMPION_ALIAS, version)
    return f"models:/{name}@{CHAMPION_ALIAS} (version {version})"
