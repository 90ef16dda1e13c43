"""Export a study's winner: pick it, write its bundle (``automl._bundle``), register it (``automl._registry``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import optuna

from automl._bundle import ExportResult, check_out_dir, export_bundle, units_note
from automl._compare import exported_search_model, final_model_uri, load_final_model
from automl._config import StudyConfig, check_export_dir
from automl._data import StudyData
from automl._ensemble import count_members
from automl._errors import UserError
from automl._models import is_logged, log_model
from automl._records import StudyRecord, TrialRecord, record_viewed_model
from automl._registry import register_champion
from automl._studies import best_trials, study_settings, study_tracker, trial_record, versions
from automl._study_data import study_data
from automl._tracking import STUDY_TAG, TRIAL_TAG, Tracker
from automl._views import count_views

__all__ = ["export_winner", "check_export_target", "Exported", "build_card"]


@dataclass(frozen=True, kw_only=True)
class Exported:
    trial: int
    result: ExportResult
    registered: str | None


def _winner(study: optuna.Study, trial: int | None) -> TrialRecord:
    """The requested trial, else the McNemar winner, else the best by validation accuracy."""
    comparison = StudyRecord.of(study).comparison
    number = trial if trial is not None else (comparison or {}).get("winner")
    if number is None:
        best = best_trials(study, 1)
        if not best:
            raise UserError(f"study {study.study_name!r} has no completed trial to export")
        return best[0]
    record = trial_record(study, number)
    if record is None:
        count = len(study.get_trials(deepcopy=False))
        numbered = f"its trials are numbered 0 to {count - 1}" if count else "it has no trial yet"
        raise UserError(f"study {study.study_name!r} has no trial {number} ({numbered})")
    if not record.has_model:
        raise UserError(f"trial {number} of study {study.study_name!r} has no saved model to export")
    return record


def build_card(
    study: optuna.Study,
    record: TrialRecord,
    config: StudyConfig,
    data: StudyData,
    *,
    retrained: bool,
    model: keras.Model,
) -> dict[str, Any]:
    """The model card of ``record``'s exported ``model``. Its comparison's figures are quoted
    only where the comparison compared this model (as many members and test-time views): a
    finalist compared with views added to its search model, exported with ``--trial``, is
    exported without them, and its test accuracy is not known."""
    comparison = StudyRecord.of(study).comparison
    finalists: list[dict[str, Any]] = list((comparison or {}).get("finalists", []))
    members, views = count_members(model), count_views(model)
    compared = next((f for f in finalists if f["trial"] == record.number), {})
    finalist = compared if (compared.get("members", 1), compared.get("views", 1)) == (members, views) else {}
    return {
        "name": f"{study.study_name}-trial-{record.number}",
        "study": study.study_name,
        "trial": record.number,
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
        "preprocessing": {
            "input": _input_contract(data.dataset.value_map),
            "conversions": list(data.dataset.conversions),
            "normalization": {**data.normalization.to_dict(), "inside_model": True},
        },
        "architecture": record.row()["architecture"],
        "training": record.training.to_dict() if record.training else None,
        "trained_on": "train+validation (retrained after the search)" if retrained else "train (the search's model)",
        # The search's recipe above planned its epochs; the retraining ran its own number.
        "retraining_epochs": StudyRecord.of(study).final_epochs.get(record.number) if retrained else None,
        "members": members,
        "test_time_views": views,
        "metrics": {
            **_selection_note(comparison, finalist),
            "val_accuracy": record.val_accuracy,
            "test_accuracy": finalist.get("accuracy"),
            "params": finalist.get("params", members * (record.params or 0)),
            "flops": finalist.get("flops", members * views * (record.flops or 0)),
        },
        "mcnemar": comparison,
        "data": {"source": data.dataset.source, "summary": data.dataset.summary(), "splits": data.splits.summary()},
        "versions": versions(),
        "settings": study_settings(config),
    }


def _selection_note(comparison: Any, finalist: dict[str, Any]) -> dict[str, str]:
    """Where the test accuracy quoted is the winner's of several finalists compared on the same
    split, a note that it is slightly optimistic: the best of several noisy measurements."""
    finalists = (comparison or {}).get("finalists", [])
    if len(finalists) < 2 or not finalist or finalist["trial"] != comparison.get("winner"):
        return {}
    return {
        "test_accuracy_note": f"the winner of {len(finalists)} finalists compared on this test split; as the best "
        "of several measurements on one split it is slightly optimistic"
    }


def _input_contract(value_map: tuple[float, float] | None) -> str:
    """What the exported model takes: raw pixels, or the training data's values (``in_data_units``)."""
    values = units_note(value_map) or "raw pixel values in 0..255"
    return f"{values} (float32), shape H x W x C; resize to the input shape first"


def check_export_target(out_dir: str | Path, study: str) -> None:
    """Refuse, as a ``UserError``, an export folder ``export_winner`` could not write for
    ``study``: a bad name (``check_export_dir``), a file, a folder of other files, or another
    study's bundle. ``automl search`` checks it before the search, whose export would
    otherwise fail at its end."""
    check_export_dir(out_dir)
    try:
        check_out_dir(out_dir, study=study)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def export_winner(
    study: optuna.Study,
    config: StudyConfig,
    out_dir: str | Path,
    *,
    trial: int | None = None,
    tracker: Tracker | None = None,
    onnx: bool = False,
    data: StudyData | None = None,
    model: keras.Model | None = None,
    search_model: keras.Model | None = None,
) -> Exported:
    """Export the winner (or ``trial``) to ``out_dir`` and register it, as ``champion`` only
    if it is the winner (a ``trial`` that is not is registered without the alias).

    The exported model is the trial's model retrained on train+validation when the study
    has one (``model``, or the one its comparison logged), else the model of the search;
    both are loaded from MLflow through the local cache. ``search_model`` is the latter as the
    comparison used it (with its test-time views, ``automl._views``): exported instead, and
    logged as the winner, which the study records so that a later export of the trial is
    the same model (``_exported_model``). ``data`` is the study's data when
    the caller already has it; ``tracker`` (attached to the study's parent run) registers the
    model's logged model as ``champion``; ``None`` skips the registry (models are then read
    from the study's MLflow store, opened from its settings).
    """
    check_export_target(out_dir, study.study_name)
    record = _winner(study, trial)
    store = tracker or study_tracker(study, config)
    final = model if model is not None else load_final_model(study, record, store)
    model, uri = _exported_model(study, record, store, final, search_model)
    data = data or study_data(study, config)
    card = build_card(study, record, config, data, retrained=final is not None, model=model)
    result = export_bundle(model, out_dir, card=card, onnx=onnx, overwrite=False)
    registered = None
    if tracker is not None and tracker.parent_run_id is not None:
        tags = {STUDY_TAG: study.study_name, TRIAL_TAG: str(record.number), "trained_on": card["trained_on"]}
        if uri is None or not is_logged(uri):  # viewed just now, or a study from before models lived in MLflow
            uri = log_model(
                tracker,
                model,
                run_id=tracker.parent_run_id,
                name="winner",
                example=data.splits.val[0][:2],
                class_names=data.class_names,
                value_map=data.dataset.value_map,
                params={},
                tags=tags,
            ).uri
            if final is None and search_model is not None:  # a later export exports it again
                record_viewed_model(study, record.number, uri)
        champion = trial is None or trial == _winner(study, None).number
        registered = register_champion(tracker, study.study_name, uri, tags=tags, champion=champion)
    return Exported(trial=record.number, result=result, registered=registered)


def _exported_model(
    study: optuna.Study,
    record: TrialRecord,
    store: Tracker,
    final: keras.Model | None,
    search_model: keras.Model | None,
) -> tuple[keras.Model, str | None]:
    """The model to export and its logged model's URI (``None``: not logged yet): the retrained
    one, else the search model with its views (given, or as an earlier export logged it),
    else the search model."""
    if final is not None:
        return final, final_model_uri(study, record.number)
    if search_model is not None:
        return search_model, None
    return exported_search_model(study, record, store)
