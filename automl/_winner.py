"""Export a study's winner: pick it, write its bundle (``automl._bundle``), register it (``automl._registry``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from automl._compare import COMPARISON_ATTR, load_trial_model
from automl._errors import UserError
from automl._bundle import ExportResult, export_bundle
from automl._registry import register_champion
from automl._study import PARENT_RUN_ATTR, best_trials, load_context_data, versions
from automl._tracking import Tracker

__all__ = ["export_winner", "Exported"]


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
        registered = register_champion(tracker, study.user_attrs[PARENT_RUN_ATTR], model, study.study_name)
    return Exported(trial=frozen.number, result=result, registered=registered)
