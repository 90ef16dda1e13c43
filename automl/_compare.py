"""Finalists: the K best trials of a study, evaluated on the held-out test split and
compared pairwise with McNemar's test (statistics in ``automl._mcnemar``).

The test split is rebuilt from the study's stored settings (same source, fractions and
seed), so it is exactly the split no search decision ever saw.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl._errors import UserError
from automl._mcnemar import Comparison, Finalist, compare_finalists
from automl._plots import plot_confusion_matrix, plot_pvalue_heatmap
from automl._study import PARENT_RUN_ATTR, best_trials, load_context_data
from automl._tracking import Tracker

__all__ = ["compare_study", "FinalistsResult", "COMPARISON_ATTR", "load_trial_model"]

COMPARISON_ATTR = "comparison"


@dataclass(frozen=True, kw_only=True)
class FinalistsResult:
    comparison: Comparison
    predictions: dict[int, np.ndarray]
    y_test: np.ndarray
    class_names: tuple[str, ...]


def load_trial_model(path: str) -> Any:
    import keras

    # compile=False: only the architecture and weights are needed, so the custom loss of a
    # compiled trial model is never deserialised.
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    from automl._training import inference_batch_size

    batch_size = inference_batch_size(1, x.shape[1:])
    return np.asarray(model.predict(x.astype("float32"), batch_size=batch_size, verbose=0))


def _retrain(trial: optuna.trial.FrozenTrial, data: tuple[Any, Any, Any], epochs: int, seed: int) -> Any:
    """Train the trial's architecture from scratch on train+validation (no augmentation)."""
    import keras

    import searchspace
    from automl._hparams import TrainingSpec
    from automl._training import compile_model, wrap_with_normalization

    _, splits, normalization = data
    x = np.concatenate([splits.train[0], splits.val[0]]).astype("float32")
    y = np.concatenate([splits.train[1], splits.val[1]])
    spec = searchspace.ArchitectureSpec.from_json(trial.user_attrs["architecture"])
    training = TrainingSpec.from_dict(trial.user_attrs["training"])
    keras.utils.set_random_seed(seed)
    input_shape = tuple(x.shape[1:])
    core = searchspace.build_model(spec, input_shape=input_shape, num_classes=len(splits.class_names))
    model = wrap_with_normalization(core, input_shape, normalization.mean, normalization.std)
    compile_model(model, training, len(splits.class_names))
    model.fit(x, y, batch_size=training.batch_size, epochs=epochs, shuffle=True, verbose=0)
    return model


def compare_study(
    study: optuna.Study,
    config: Any,
    *,
    top_k: int = 3,
    prefer: str = "cost",
    alpha: float = 0.05,
    final_epochs: int | None = None,
    seeds: int = 1,
    tracker: Tracker | None = None,
    data: tuple[Any, Any, Any] | None = None,
) -> FinalistsResult:
    """Evaluate the ``top_k`` best trials on the test split and compare them; log to MLflow.

    ``data`` is the study's (dataset, splits, normalization) when the caller already has it.
    """
    trials = best_trials(study, top_k)
    if not trials:
        raise UserError(f"study {study.study_name!r} has no completed trial with a saved model to compare")
    data = data or load_context_data(config)
    x_test, y_test = data[1].test
    predictions: dict[int, np.ndarray] = {}
    finalists = []
    for trial in trials:
        if final_epochs:
            probs = np.mean(
                [_predict(_retrain(trial, data, final_epochs, config.seed + s), x_test) for s in range(seeds)], axis=0
            )
        else:
            probs = _predict(load_trial_model(trial.user_attrs["model_path"]), x_test)
        predictions[trial.number] = probs.argmax(axis=1)
        finalists.append(
            Finalist(
                trial=trial.number,
                accuracy=float(np.mean(predictions[trial.number] == y_test)),
                val_accuracy=float(trial.user_attrs["val_accuracy"]),
                params=int(trial.user_attrs["params"]),
                flops=int(trial.user_attrs["flops"]),
            )
        )
    comparison = compare_finalists(y_test, predictions, finalists, alpha=alpha, prefer=prefer)
    study.set_user_attr(COMPARISON_ATTR, comparison.to_dict())
    result = FinalistsResult(
        comparison=comparison, predictions=predictions, y_test=y_test, class_names=tuple(data[1].class_names)
    )
    if tracker is not None and PARENT_RUN_ATTR in study.user_attrs:
        _log_comparison(tracker, study.user_attrs[PARENT_RUN_ATTR], result)
    return result


def _log_comparison(tracker: Tracker, run_id: str, result: FinalistsResult) -> None:
    comparison = result.comparison
    tracker.log_json(run_id, comparison.to_dict(), "comparison/mcnemar.json")
    tracker.client.log_text(run_id, comparison.table(), "comparison/mcnemar.txt")
    with tempfile.TemporaryDirectory() as tmp:
        heatmap = plot_pvalue_heatmap(comparison, Path(tmp) / "pvalues_heatmap.png")
        confusion = plot_confusion_matrix(
            result.y_test,
            result.predictions[comparison.winner],
            result.class_names,
            Path(tmp) / "winner_confusion_matrix.png",
        )
        tracker.log_artifact_files(run_id, [heatmap, confusion], "comparison")
    parent = tracker.parent() if tracker.parent_run_id == run_id else None
    if parent is not None:
        parent.set_tags({"winner_trial": comparison.winner, "winner_reason": comparison.reason})
        winner = next(f for f in comparison.finalists if f.trial == comparison.winner)
        parent.add_metric("winner_test_accuracy", winner.accuracy)
        parent.flush()
