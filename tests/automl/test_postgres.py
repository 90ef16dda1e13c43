"""Many ``automl worker`` processes on one study in a real PostgreSQL server.

The module starts its own server (Debian's ``postgresql`` package: ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when we are root) on 127.0.0.1 and a free port,
and stops it at the end. Without the binaries or the psycopg2 driver it is skipped.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from automl._errors import UserError
from automl._queue import RETRY_ATTR, WORKER_ATTR, effective_trials
from automl._stores import CONNECTIONS_PER_PROCESS, check_connection_budget, connection_headroom
from tests.automl.helpers import cli_env, run_cli

pytestmark = pytest.mark.postgres

MAX_CONNECTIONS = 60
FAST_HEARTBEAT = {"AUTOML_HEARTBEAT_INTERVAL": "1", "AUTOML_GRACE_PERIOD": "6"}


def _pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's layout first, then the PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A throwaway PostgreSQL server in a temporary folder; ``database()`` makes a fresh database."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="automl-pg-"))
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        data = self.root / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "automl", "--auth=trust", "-E", "UTF8", "-N")
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c max_connections={MAX_CONNECTIONS} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = self.root / "server.log"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="automl", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://automl@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Server]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver is missing: pip install '.[postgres]'")
    server = Server(bin_dir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        server.stop()
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}")
    yield server
    server.stop()


def _start_workers(n: int, study: str, storage: str, tracking: str, cwd: Path, **env: str) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "automl", "worker", "--study", study, "--storage", storage]
    command += ["--tracking-uri", tracking]
    return [
        subprocess.Popen(
            command,
            cwd=cwd,
            env=cli_env(**FAST_HEARTBEAT, **env),
            stdout=(cwd / f"worker-{i}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(n)
    ]


def _wait(workers: list[subprocess.Popen], cwd: Path, timeout: float = 300) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            logs = "\n".join(p.read_text()[-2000:] for p in sorted(cwd.glob("worker-*.log")))
            pytest.fail(f"workers did not finish in {timeout} s:\n{logs}")
    return codes


def _create_study(study: str, trials: int, storage: str, tracking: str, cwd: Path, *extra: str) -> None:
    args = ["search", "--study-name", study, "--trials", str(trials), "--epochs", "1", "--pruner", "none"]
    result = run_cli([*args, "--storage", storage, "--tracking-uri", tracking, "--create-only", *extra], cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{trials} trial(s) waiting" in result.stdout


def _nested_runs_per_trial(tracking: str, study: optuna.Study) -> collections.Counter:
    """How many MLflow runs under the study's parent run carry each trial number."""
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(study.study_name)
    parent = study.user_attrs["mlflow_parent_run_id"]
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    return collections.Counter(int(r.data.tags["optuna.trial_number"]) for r in runs)


def test_connection_budget_counts_the_servers_free_connections(postgres):
    url = postgres.database("budget")
    before = connection_headroom(url)
    assert 0 < before < MAX_CONNECTIONS
    import psycopg2

    held = psycopg2.connect(host="127.0.0.1", port=postgres.port, user="automl", dbname="budget")
    try:
        assert connection_headroom(url) == before - 1
        fits = (before - 1) // CONNECTIONS_PER_PROCESS
        check_connection_budget(url, fits)
        with pytest.raises(UserError, match=rf"{fits + 1} processes need up to .* accepts only {before - 1} more"):
            check_connection_budget(url, fits + 1)
    finally:
        held.close()


def test_four_workers_run_each_trial_exactly_once(postgres, workdir):
    storage = postgres.database("four")
    tracking = f"sqlite:///{workdir / 'mlflow.db'}"
    _create_study("four", 8, storage, tracking, workdir)

    codes = _wait(_start_workers(4, "four", storage, tracking, workdir), workdir)

    assert codes == [0, 0, 0, 0]
    study = optuna.load_study(study_name="four", storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(8))  # each number once, exactly the total
    assert all(t.state.is_finished() for t in trials), [t.state for t in trials]
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) >= 2  # the work was shared
    assert _nested_runs_per_trial(tracking, study) == {n: 1 for n in range(8)}


def test_killed_worker_trial_is_failed_and_retried(postgres, workdir):
    storage = postgres.database("killed")
    tracking = f"sqlite:///{workdir / 'mlflow.db'}"
    # Trial 0 is the classic LeNet (always feasible), slowed down so it is killed mid-training.
    _create_study("killed", 4, storage, tracking, workdir, "--seed-architectures", "lenet")
    workers = _start_workers(2, "killed", storage, tracking, workdir, AUTOML_INJECT_FAULT="slow@0")
    study = optuna.load_study(study_name="killed", storage=storage)

    victim = _wait_for_training(study, number=0, workers=workers)
    os.kill(victim.pid, signal.SIGKILL)
    survivors = [w for w in workers if w is not victim]
    codes = _wait(survivors, workdir)

    assert victim.wait() == -signal.SIGKILL and codes == [0]
    trials = {t.number: t for t in study.get_trials()}
    assert trials[0].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get(RETRY_ATTR) == 0]
    assert len(retries) == 1 and retries[0].state.is_finished()
    assert retries[0].user_attrs[WORKER_ATTR].endswith(f":{survivors[0].pid}")
    assert all(t.state.is_finished() for t in trials.values()), {n: t.state for n, t in trials.items()}
    assert sorted(t.number for t in effective_trials(study)) == [1, 2, 3, retries[0].number]
    assert _nested_runs_per_trial(tracking, study) == {n: 1 for n in trials}


def _wait_for_training(study: optuna.Study, *, number: int, workers: list[subprocess.Popen]) -> subprocess.Popen:
    """Wait until trial ``number`` runs past sampling; return the worker process running it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        trial = study.get_trials()[number]
        if trial.state == TrialState.RUNNING and "architecture" in trial.user_attrs:
            pid = int(trial.user_attrs[WORKER_ATTR].rsplit(":", 1)[1])
            return next(w for w in workers if w.pid == pid)
        assert trial.state in (TrialState.WAITING, TrialState.RUNNING), f"trial {number} ended early: {trial.state}"
        time.sleep(0.2)
    pytest.fail(f"trial {number} did not start training in 180 s")
