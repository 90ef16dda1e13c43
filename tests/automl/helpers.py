"""Helpers shared by the driver tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def stores(workdir: Path) -> dict[str, str]:
    """Optuna and MLflow stores inside ``workdir``."""
    return {
        "storage": f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}",
        "tracking_uri": f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}",
    }


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "NO_ALBUMENTATIONS_UPDATE": "1", **extra}


def run_cli(args: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m automl ARGS`` in ``cwd`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
