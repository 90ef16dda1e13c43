"""Fixtures for driver tests: each test gets its own stores in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory, so the default ``mlruns/`` store lands inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOML_HOME", raising=False)
    monkeypatch.delenv("AUTOML_INJECT_FAULT", raising=False)
    return tmp_path
