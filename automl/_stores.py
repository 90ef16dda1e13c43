"""Where studies live: the default Optuna storage and MLflow store under ``mlruns/``.

Both default to SQLite files in ``mlruns/`` of the current directory (MLflow 3.17's plain
file store refuses to start without ``MLFLOW_ALLOW_FILE_STORE``, so it is not used).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "mlruns_dir",
    "default_storage",
    "default_tracking_uri",
    "artifact_root",
    "model_dir",
    "open_storage",
]



def mlruns_dir() -> Path:
    """The local store folder: ``$AUTOML_HOME`` or ``mlruns/`` in the current directory."""
    return Path(os.environ.get("AUTOML_HOME", "mlruns"))


HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 30


def _sqlite_uri(name: str) -> str:
    mlruns_dir().mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(mlruns_dir() / name).resolve()}"


def default_storage() -> str:
    return _sqlite_uri("optuna.db")


def default_tracking_uri() -> str:
    return _sqlite_uri("mlflow.db")


def artifact_root() -> str:
    """The artifact location for experiments we create on a local tracking store."""
    path = (mlruns_dir() / "artifacts").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def model_dir(study_name: str) -> Path:
    """Folder holding each completed trial's trained model, for comparison and export."""
    path = mlruns_dir() / "models" / study_name
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_storage(url: str | None):  # -> optuna.storages.BaseStorage
    """An Optuna storage with heartbeats, so trials of dead workers are failed and retried.

    SQLite gets a generous busy timeout so several local workers can share it.
    """
    import optuna
    from optuna.storages import RDBStorage, RetryFailedTrialCallback

    url = url or default_storage()
    if url.endswith((".log", ".jsonl")) and "://" not in url:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url))
    engine_kwargs: dict = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):
        engine_kwargs = {"pool_size": 2, "max_overflow": 2, "pool_pre_ping": True}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=HEARTBEAT_INTERVAL_S,
        grace_period=GRACE_PERIOD_S,
        failed_trial_callback=RetryFailedTrialCallback(max_retry=1),
    )
