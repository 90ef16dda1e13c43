"""Export a study's winner: the bundle (``automl._export``) plus the MLflow model registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from automl._compare import COMPARISON_ATTR, load_trial_model
from automl._errors import UserError
from automl._export import ExportResult, export_bundle
from automl._study import PARENT_RUN_ATTR, best_trials, load_context_data, versions
from automl._tracking import Tracker

__all__ = ["export_winner", "Exported", "CHAMPION_ALIAS"]

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True, kw_only=True)
class Exported:
    trial: int
    result: ExportResult
    registered: str | None


def _winner(study: optuna.Study, trial: int | None) -> optuna.trial.FrozenTrial:
    """The requested trial, else the McNemar winner, else the best by validation accuracy."""
    comparison = study.user_attrs.get(COMPARISON_ATTR)
    number = trial if trial is not None else (comparison or {}).get("winner")
    if number is None:
        best = best_trials(study, 1)
        if not best:
            raise UserError(f"study {study.study_name!r} has no completed trial to export")
        return best[0]
    frozen = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if frozen is None or "model_path" not in frozen.user_attrs:
        raise UserError(f"trial {number} of study {study.study_name!r} has no saved model to export")
    return frozen


def build_card(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, config: Any, data: tuple[Any, Any, Any]
) -> dict[str, Any]:
    dataset, splits, normalization = data
    comparison = study.user_attrs.get(COMPARISON_ATTR)
    finalist = next((f for f in (comparison or {}).get("finalists", []) if f["trial"] == trial.number), {})
    return {
        "name": f"{study.study_name}-trial-{trial.number}",
        "study": study.study_name,
        "trial": trial.number,
        "class_names": list(splits.class_names),
        "input_shape": list(splits.train[0].shape[1:]),
        "preprocessing": {
            "input": "raw pixel values in 0..255 (float32), shape H x W x C; resize to the input shape first",
            "normalization": {**normalization.to_dict(), "inside_model": True},
        },
        "architecture": json.loads(trial.user_attrs["architecture"]),
        "training": trial.user_attrs.get("training"),
        "metrics": {
            "val_accuracy": trial.user_attrs.get("val_accuracy"),
            "test_accuracy": finalist.get("accuracy"),
            "params": trial.user_attrs.get("params"),
            "flops": trial.user_attrs.get("flops"),
        },
        "mcnemar": comparison,
        "data": {"source": dataset.source, "summary": dataset.summary(), "splits": splits.summary()},
        "versions": versions(),
        "settings": {k: v for k, v in config.to_dict().items() if k not in ("storage", "tracking_uri")},
    }


def export_winner(
    study: optuna.Study,
    config: Any,
    out_dir: str | Path,
    *,
    trial: int | None = None,
    tracker: Tracker | None = None,
    onnx: bool = False,
    data: tuple[Any, Any, Any] | None = None,
) -> Exported:
    """Export the winner (or ``trial``) to ``out_dir`` and register it as ``champion``.

    ``data`` is the study's (dataset, splits, normalization) when the caller already has it.
    """
    frozen = _winner(study, trial)
    model = load_trial_model(frozen.user_attrs["model_path"])
    card = build_card(study, frozen, config, data or load_context_data(config))
    result = export_bundle(model, out_dir, card=card, onnx=onnx, overwrite=False)
    registered = None
    if tracker is not None and PARENT_RUN_ATTR in study.user_attrs:
        registered = _register(tracker, study.user_attrs[PARENT_RUN_ATTR], model, study.study_name)
    return Exported(trial=frozen.number, result=result, registered=registered)


def _register(tracker: Tracker, run_id: str, model: Any, study_name: str) -> str:
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
