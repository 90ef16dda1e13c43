"""CNN architecture search with Keras 3, Optuna and MLflow: the study driver.

Typical use from Python (the ``automl`` command line does the same)::

    from automl import StudyConfig, run_study, compare_study, export_winner

    config = StudyConfig(study_name="digits", trials=20, epochs=5)
    result = run_study(config)                       # resumes if the study exists
    finalists = compare_study(result.study, result.config, top_k=3)
    export_winner(result.study, result.config, "exports/digits")

Names are imported on first use, so ``import automl`` (and ``automl --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> private module that defines it.
_EXPORTS = {
    "StudyConfig": "automl._config",
    "run_study": "automl._study",
    "load_existing": "automl._study",
    "StudyStopped": "automl._study",
    "compare_study": "automl._compare",
    "export_winner": "automl._winner",
    "Comparison": "automl._mcnemar",
    "Finalist": "automl._mcnemar",
    "compare_finalists": "automl._mcnemar",
    "export_bundle": "automl._bundle",
    "load_bundle": "automl._bundle",
    "predict_files": "automl._bundle",
    "TrainingSpec": "automl._hparams",
    "UserError": "automl._errors",
    "TrialFailed": "automl._errors",
    "OutOfMemory": "automl._errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
