"""CNN architecture search with Keras 3, Optuna and MLflow: the study driver.

``automl.search`` is the whole workflow of ``automl search``: create or resume a study,
run its trials (in this process, ``isolate``-d or in local ``workers``), report them,
compare the best with McNemar's test on the held-out test split, export the winner and
register it in MLflow. Its keyword arguments are the command's long options::

    import automl

    result = automl.search(study_name="api", trials=3, epochs=1)
    print(result.trials)                     # one row per trial
    print(result.comparison.table())         # McNemar's test between the finalists
    print(result.winner, result.export_dir)  # e.g. 1 exports/api

The pieces are public too: ``open_study``/``load_existing`` (a study and its settings),
``list_studies``/``delete_study`` (the studies of a store), ``compare_study``,
``export_winner``, ``export_bundle``/``load_bundle``/``predict_files``, and
``RuntimeSettings`` for where the local stores live.

Names are imported on first use, so ``import automl`` (and ``automl --help``) stays fast,
and the Keras backend can still be chosen by ``search(backend=...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> private module that defines it.
_EXPORTS = {
    "search": "automl._search",
    "work": "automl._search",
    "SearchResult": "automl._workflow",
    "StudyConfig": "automl._config",
    "RuntimeSettings": "automl._settings",
    "load_existing": "automl._studies",
    "open_study": "automl._studies",
    "list_studies": "automl._catalog",
    "delete_study": "automl._catalog",
    "run_study": "automl._driver",
    "StudyRun": "automl._driver",
    "StudySummary": "automl._catalog",
    "DeletedStudy": "automl._catalog",
    "compare_study": "automl._compare",
    "FinalTraining": "automl._compare",
    "FinalistsResult": "automl._compare",
    "export_winner": "automl._winner",
    "Exported": "automl._winner",
    "Comparison": "automl._mcnemar",
    "Finalist": "automl._mcnemar",
    "compare_finalists": "automl._mcnemar",
    "export_bundle": "automl._bundle",
    "ExportResult": "automl._bundle",
    "load_bundle": "automl._bundle",
    "predict_files": "automl._bundle",
    "TrainingSpec": "automl._hparams",
    "TrialRecord": "automl._records",
    "UserError": "automl._errors",
    "StudyStopped": "automl._errors",
    "TrialFailed": "automl._errors",
    "Infeasible": "automl._errors",
    "OutOfMemory": "automl._errors",
    "NonFiniteLoss": "automl._errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
