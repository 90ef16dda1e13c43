"""Finalists: the K best trials of a study, evaluated on the held-out test split and
compared pairwise with McNemar's test (statistics in ``automl._mcnemar``).

The test split is rebuilt from the study's stored settings (same source, fractions and
seed), so it is exactly the split no search decision ever saw.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import optuna

import searchspace
from automl._config import StudyConfig
from automl._data import StudyData, load_study_data
from automl._errors import UserError
from automl._mcnemar import Comparison, Finalist, compare_finalists
from automl._plots import plot_confusion_matrix, plot_pvalue_heatmap
from automl._records import TrialRecord, record_comparison
from automl._studies import best_trials
from automl._tracking import Tracker
from automl._training import compile_model, inference_batch_size, train_model, wrap_with_normalization

__all__ = ["compare_study", "FinalistsResult", "load_trial_model"]


@dataclass(frozen=True, kw_only=True)
class FinalistsResult:
    comparison: Comparison
    predictions: dict[int, np.ndarray]
    y_test: np.ndarray
    class_names: tuple[str, ...]


def load_trial_model(record: TrialRecord) -> keras.Model:
    """The trained model a trial saved (``UserError`` if it has none or it is gone)."""
    if record.model_path is None or not Path(record.model_path).is_file():
        raise UserError(f"trial {record.number} has no saved model at {record.model_path!r}")
    # compile=False: only the architecture and weights are needed, so the custom loss of a
    # compiled trial model is never deserialised.
    return keras.saving.load_model(record.model_path, compile=False, safe_mode=True)


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    batch_size = inference_batch_size(1, x.shape[1:])
    return np.asarray(model.predict(x.astype("float32"), batch_size=batch_size, verbose=0))


def _retrain(record: TrialRecord, data: StudyData, epochs: int, seed: int) -> keras.Model:
    """Train the trial's architecture from scratch on train+validation (no augmentation)."""
    if record.architecture is None or record.training is None:
        raise UserError(f"trial {record.number} has no stored architecture or training settings to retrain")
    splits = data.splits
    x = np.concatenate([splits.train[0], splits.val[0]])
    y = np.concatenate([splits.train[1], splits.val[1]])
    keras.utils.set_random_seed(seed)
    core = searchspace.build_model(record.architecture, input_shape=data.input_shape, num_classes=data.num_classes)
    model = wrap_with_normalization(core, data.input_shape, data.normalization.mean, data.normalization.std)
    compile_model(model, record.training, data.num_classes)
    train_model(model, (x, y), training=record.training, seed=seed, epochs=epochs)
    return model


def _finalist_probabilities(
    record: TrialRecord, data: StudyData, final_epochs: int | None, seeds: int, seed: int
) -> np.ndarray:
    x_test = data.splits.test[0]
    if not final_epochs:
        return _predict(load_trial_model(record), x_test)
    return np.mean([_predict(_retrain(record, data, final_epochs, seed + s), x_test) for s in range(seeds)], axis=0)


def compare_study(
    study: optuna.Study,
    config: StudyConfig,
    *,
    top_k: int = 3,
    prefer: str = "cost",
    alpha: float = 0.05,
    final_epochs: int | None = None,
    seeds: int = 1,
    tracker: Tracker | None = None,
    data: StudyData | None = None,
) -> FinalistsResult:
    """Evaluate the ``top_k`` best trials on the test split and compare them; log to MLflow.

    ``data`` is the study's data when the caller already has it.

    Raises:
        UserError: the study has no completed trial with a saved model.
    """
    records = best_trials(study, top_k)
    if not records:
        raise UserError(f"study {study.study_name!r} has no completed trial with a saved model to compare")
    data = data or load_study_data(config)
    y_test = data.splits.test[1]
    predictions: dict[int, np.ndarray] = {}
    finalists = []
    for record in records:
        probabilities = _finalist_probabilities(record, data, final_epochs, seeds, config.seed)
        predictions[record.number] = probabilities.argmax(axis=1)
        finalists.append(
            Finalist(
                trial=record.number,
                accuracy=float(np.mean(predictions[record.number] == y_test)),
                val_accuracy=float(record.val_accuracy or 0.0),
                params=int(record.params or 0),
                flops=int(record.flops or 0),
            )
        )
    comparison = compare_finalists(y_test, predictions, finalists, alpha=alpha, prefer=prefer)
    record_comparison(study, comparison.to_dict())
    result = FinalistsResult(
        comparison=comparison, predictions=predictions, y_test=y_test, class_names=data.class_names
    )
    if tracker is not None and tracker.parent_run_id is not None:
        _log_comparison(tracker, result)
    return result


def _log_comparison(tracker: Tracker, result: FinalistsResult) -> None:
    comparison = result.comparison
    parent = tracker.parent()
    tracker.log_json(parent.run_id, comparison.to_dict(), "comparison/mcnemar.json")
    tracker.log_text(parent.run_id, comparison.table(), "comparison/mcnemar.txt")
    with tempfile.TemporaryDirectory() as tmp:
        heatmap = plot_pvalue_heatmap(comparison, Path(tmp) / "pvalues_heatmap.png")
        confusion = plot_confusion_matrix(
            result.y_test,
            result.predictions[comparison.winner],
            result.class_names,
            Path(tmp) / "winner_confusion_matrix.png",
        )
        tracker.log_artifact_files(parent.run_id, [heatmap, confusion], "comparison")
    parent.set_tags({"winner_trial": comparison.winner, "winner_reason": comparison.reason})
    winner = next(f for f in comparison.finalists if f.trial == comparison.winner)
    parent.add_metric("winner_test_accuracy", winner.accuracy)
    parent.flush()
