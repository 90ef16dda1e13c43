"""Fixtures for driver tests: each test gets its own stores in a temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.automl.helpers import cli_env
from tests.automl.test_postgres import Server, _free_port, _pg_bin, _wait_until_healthy


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


@dataclass(frozen=True)
class MlflowServer:
    """A running ``mlflow server --serve-artifacts``: its URL, artifact folder and process."""

    url: str
    artifacts: Path
    process: subprocess.Popen

    def stop(self) -> None:
        """Stop it and its web workers (its own process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    """``mlflow server --serve-artifacts`` on 127.0.0.1, its store and artifacts in a folder of its own."""
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    command += ["--serve-artifacts", "--artifacts-destination", str(folder / "artifacts")]
    with (folder / "server.log").open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cli_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
            start_new_session=True,  # its own process group: stopping it stops its web workers
        )
    server = MlflowServer(url=f"http://127.0.0.1:{port}", artifacts=folder / "artifacts", process=process)
    try:
        _wait_until_healthy(server.url, process, folder)
        yield server
    finally:
        server.stop()
