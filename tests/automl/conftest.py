"""Fixtures for driver tests: each test gets its own stores in a temporary folder."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.automl.test_postgres import Server, _pg_bin


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh current directory, so the default ``mlruns/`` store lands inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOML_HOME", raising=False)
    monkeypatch.delenv("AUTOML_INJECT_FAULT", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    """A real PostgreSQL server (``test_postgres.Server``) for one test module."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver is missing: pip install '.[postgres]'")
    server = Server(bin_dir)
    try:
        try:
            server.start()
        except subprocess.CalledProcessError as exc:
            pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}")
        yield server
    finally:
        server.stop()
