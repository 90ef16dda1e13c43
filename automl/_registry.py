"""The MLflow model registry: the exported winner's logged model, registered with the alias ``champion``."""

from __future__ import annotations

from collections.abc import Mapping

from automl._tracking import Tracker

__all__ = ["register_champion", "CHAMPION_ALIAS", "registered_name"]

CHAMPION_ALIAS = "champion"


def registered_name(study_name: str) -> str:
    return f"{study_name}-model"


def register_champion(
    tracker: Tracker, study_name: str, model_uri: str, *, tags: Mapping[str, str], champion: bool = True
) -> str:
    """Register the logged model ``model_uri`` as a new version of ``STUDY-model`` with alias
    ``champion`` (without it when ``champion`` is false: a trial exported that is not the winner).

    The logged model already carries what serving needs (``automl._models``): a signature,
    an input example of raw images and requirements naming Keras and its backend, so
    ``mlflow.pyfunc.load_model("models:/STUDY-model@champion")`` predicts on raw images.
    Returns ``models:/NAME@champion (version N)``, or ``models:/NAME/N (...)`` without the alias.
    """
    name = registered_name(study_name)
    version = tracker.register_model(name, tracker.model_id_of(model_uri), tags=tags)
    if not champion:
        return f"models:/{name}/{version} (not the {CHAMPION_ALIAS}: the alias stays on the winner)"
    tracker.set_model_alias(name, CHAMPION_ALIAS, version)
    return f"models:/{name}@{CHAMPION_ALIAS} (version {version})"
