"""Running code under another Keras backend: ``KERAS_BACKEND`` is read once, at import."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_under_backend(backend: str, args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with Keras on ``backend`` (the test skips where it is not installed)."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install .[{backend}])")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
