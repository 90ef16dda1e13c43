"""Many ``automl worker`` processes on one study in a real PostgreSQL server.

The module starts its own server (Debian's ``postgresql`` package: ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when we are root) on 127.0.0.1 and a free port,
and stops it at the end. Without the binaries or the psycopg2 driver it is skipped.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from automl._errors import UserError
from automl._queue import RETRY_ATTR, effective_trials
from automl._records import StudyRecord, TrialRecord
from automl._stores import CONNECTIONS_PER_PROCESS, check_connection_budget, connection_headroom
from tests.automl.helpers import cli_env, run_cli

pytestmark = pytest.mark.postgres

MAX_CONNECTIONS = 60
PASSWORD_USER = "secret_user"
PASSWORD = "Pw-leak-7Qz"
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
        # Before initdb's trust lines (the first match wins): the password user must give its password.
        hba = data / "pg_hba.conf"
        hba.write_text(f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        log = self.root / "server.log"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def database(self, name: str, *, password: str | None = None) -> str:
        """A new database; with ``password``, owned by a user who must log in with it (plain
        ``postgresql://`` URL, as in the README)."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="automl", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            if password is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
            else:
                cursor.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{PASSWORD_USER}'")
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{password}'")
                cursor.execute(f'CREATE DATABASE "{name}" OWNER {PASSWORD_USER}')
        connection.close()
        if password is not None:
            return f"postgresql://{PASSWORD_USER}:{password}@127.0.0.1:{self.port}/{name}"
        return f"postgresql+psycopg2://automl@127.0.0.1:{self.port}/{name}"


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; whatever still runs when it ends (a failed test) is killed."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _spawn(command: list[str], cwd: Path, log_name: str, **kwargs) -> subprocess.Popen:
    """Start ``command`` in ``cwd`` with its output in the file ``log_name`` there."""
    with (cwd / log_name).open("w") as log:
        return subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, **kwargs)


def _logs(cwd: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(cwd.glob("*.log")))


@pytest.fixture
def tracking_server(postgres: Server, tmp_path: Path) -> Iterator[str]:
    """``automl ui --serve``: an MLflow tracking server on 127.0.0.1, its store in PostgreSQL."""
    port = _free_port()
    command = [sys.executable, "-m", "automl", "ui", "--serve", "--port", str(port)]
    command += ["--tracking-uri", postgres.database("mlflow")]
    server = _spawn(
        command,
        tmp_path,
        "mlflow-server.log",
        env=cli_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),  # no background job runners
        start_new_session=True,  # its own process group, so that stopping it stops its web workers
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server, tmp_path)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_until_healthy(url: str, server: subprocess.Popen, cwd: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the MLflow server exited with {server.returncode}:\n{_logs(cwd)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the MLflow server did not answer in {timeout} s:\n{_logs(cwd)}")


def _start_workers(
    spawned: list[subprocess.Popen], n: int, study: str, storage: str, tracking: str, cwd: Path, **env: str
) -> list[subprocess.Popen]:
    command = [sys.executable, "-m", "automl", "worker", "--study", study, "--storage", storage]
    command += ["--tracking-uri", tracking]
    workers = [_spawn(command, cwd, f"worker-{i}.log", env=cli_env(**{**FAST_HEARTBEAT, **env})) for i in range(n)]
    spawned.extend(workers)
    return workers


def _wait(workers: list[subprocess.Popen], cwd: Path, timeout: float = 300) -> list[int]:
    """Wait for every worker to exit; returns their exit codes (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    try:
        return [worker.wait(timeout=max(deadline - time.monotonic(), 1)) for worker in workers]
    except subprocess.TimeoutExpired:
        pytest.fail(f"workers did not finish in {timeout} s:\n{_logs(cwd)}")


def _create_study(study: str, trials: int, storage: str, tracking: str, cwd: Path, *extra: str) -> None:
    args = ["search", "--study-name", study, "--trials", str(trials), "--epochs", "1", "--pruner", "none"]
    result = run_cli([*args, "--storage", storage, "--tracking-uri", tracking, "--create-only", *extra], cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{trials} trial(s) waiting" in result.stdout


def _nested_runs_per_trial(tracking: str, study: optuna.Study) -> collections.Counter:
    """How many MLflow runs under the study's parent run carry each trial number."""
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name(study.study_name)
    parent = StudyRecord.of(study).parent_run_id
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


def test_four_workers_run_each_trial_exactly_once(postgres, tracking_server, workdir, spawned):
    storage = postgres.database("four")
    # The multi-machine setup: Optuna in PostgreSQL, MLflow behind its server, reached with a
    # password (the server checks none): MLflow printed "View run trial-0 at: http://alice:...@".
    tracking = tracking_server.replace("http://", f"http://alice:{PASSWORD}@")
    _create_study("four", 8, storage, tracking, workdir)

    # Four TensorFlow processes, PostgreSQL and MLflow's server on two cores: a live worker's
    # heartbeats may lag past the 6 s grace, and its trial be failed as stale and run twice.
    codes = _wait(_start_workers(spawned, 4, "four", storage, tracking, workdir, AUTOML_GRACE_PERIOD="60"), workdir)

    assert codes == [0, 0, 0, 0], _logs(workdir)
    assert PASSWORD not in _logs(workdir) and "View run" not in _logs(workdir)
    study = optuna.load_study(study_name="four", storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(8))  # each number once, exactly the total
    assert all(t.state.is_finished() for t in trials), [t.state for t in trials]
    assert len({TrialRecord.of(t).worker for t in trials}) >= 2  # the work was shared
    assert _nested_runs_per_trial(tracking, study) == {n: 1 for n in range(8)}
    client = MlflowClient(tracking_uri=tracking)  # artifacts went through the server too
    for trial in trials:
        assert "architecture.json" in {a.path for a in client.list_artifacts(TrialRecord.of(trial).mlflow_run_id)}


def test_killed_worker_trial_is_failed_and_retried(postgres, workdir, spawned):
    storage = postgres.database("killed")
    tracking = f"sqlite:///{workdir / 'mlflow.db'}"
    # Trial 0 is the classic LeNet (always feasible), slowed down so it is killed mid-training.
    _create_study("killed", 3, storage, tracking, workdir, "--seed-architectures", "lenet")
    workers = _start_workers(spawned, 2, "killed", storage, tracking, workdir, AUTOML_INJECT_FAULT="slow@0")
    study = optuna.load_study(study_name="killed", storage=storage)

    victim = _wait_for_training(study, number=0, workers=workers)
    os.kill(victim.pid, signal.SIGKILL)
    survivors = [w for w in workers if w is not victim]
    codes = _wait(survivors, workdir)

    assert victim.wait() == -signal.SIGKILL and codes == [0], _logs(workdir)
    trials = {t.number: t for t in study.get_trials()}
    assert trials[0].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get(RETRY_ATTR) == 0]
    assert len(retries) == 1 and retries[0].state.is_finished()
    assert TrialRecord.of(retries[0]).worker.endswith(f":{survivors[0].pid}")
    assert f"trial {retries[0].number} runs again trial 0, whose worker died" in _logs(workdir)
    assert all(t.state.is_finished() for t in trials.values()), {n: t.state for n, t in trials.items()}
    assert sorted(t.number for t in effective_trials(study)) == [1, 2, retries[0].number]
    assert _nested_runs_per_trial(tracking, study) == {n: 1 for n in trials}


def _wait_for_training(study: optuna.Study, *, number: int, workers: list[subprocess.Popen]) -> subprocess.Popen:
    """Wait until trial ``number`` runs past sampling; return the worker process running it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        trial = study.get_trials()[number]
        if trial.state == TrialState.RUNNING and "architecture" in trial.user_attrs:
            pid = int(TrialRecord.of(trial).worker.rsplit(":", 1)[1])
            return next(w for w in workers if w.pid == pid)
        assert trial.state in (TrialState.WAITING, TrialState.RUNNING), f"trial {number} ended early: {trial.state}"
        time.sleep(0.2)
    pytest.fail(f"trial {number} did not start training in 180 s")


def _shown(text: str, *, own: set[int]) -> list[str]:
    """What shows ``text`` to the other processes of this machine: a command line (any user
    reads it with ``ps``), or the environment of a process other than those in ``own``, which
    the test started with ``text`` in theirs (as a user who exports it does)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = b"" if int(proc.name) in own else (proc / "environ").read_bytes()
        except OSError:  # gone, or another user's environment
            continue
        if text in argv:
            found.append(f"command line: {argv}")
        if text.encode() in environ:
            found.append(f"environment of: {argv}")
    return found


def _watch(process: subprocess.Popen, text: str, timeout: float = 600) -> list[str]:
    """Poll every process for ``text`` shown (``_shown``) until ``process`` exits; returns the hits."""
    hits: list[str] = []
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        hits += _shown(text, own={process.pid})
        time.sleep(0.2)
    return hits


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_password_in_the_urls_never_leaves_the_process(postgres, workdir, spawned):
    storage = postgres.database("optuna_pw", password=PASSWORD)
    tracking = postgres.database("mlflow_pw", password=PASSWORD)
    assert storage.startswith("postgresql://")  # the README's spelling works with psycopg2
    # The user keeps the password off every command line too: the stores come from the environment.
    env = cli_env(AUTOML_STORAGE=storage, AUTOML_TRACKING_URI=tracking)
    command = [sys.executable, "-m", "automl", "search", "--study-name", "pw", "--trials", "2", "--epochs", "1"]
    search = _spawn([*command, "--workers", "2"], workdir, "search.log", env=env)
    spawned.append(search)

    hits = _watch(search, PASSWORD)  # the workers it starts, their augmentation workers

    output = (workdir / "search.log").read_text()
    assert search.returncode == 0, output
    assert "exported the winner" in output and "postgresql://secret_user:***@" in output
    outputs = [output]
    for args in (
        ["status", "--study", "pw", "--storage", storage],
        ["status", "--study", "nope", "--storage", storage],
        ["worker", "--study", "nope", "--storage", storage],
        ["studies", "--storage", storage],
        ["studies", "--delete", "nope", "--yes", "--storage", storage, "--tracking-uri", tracking],
        ["ui", "--dry-run", "--tracking-uri", tracking],
    ):
        result = run_cli(args, workdir)
        outputs.append(result.stdout + result.stderr)
        assert ("nope" in args) == (result.returncode == 2), outputs[-1]
    assert "***" in outputs[-1] and "--backend-store-uri" not in outputs[-1]

    port = _free_port()
    ui = _spawn([sys.executable, "-m", "automl", "ui", "--port", str(port)], workdir, "ui.log", env=env)
    spawned.append(ui)
    _wait_until_healthy(f"http://127.0.0.1:{port}", ui, workdir)
    hits += _shown(PASSWORD, own={ui.pid})  # the MLflow server and its web workers, running
    # ... which read the store all the same: its password reached them in a file only (PGPASSFILE).
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=pw"
    ) as r:
        assert json.load(r)["experiment"]["name"] == "pw"
    ui.send_signal(signal.SIGTERM)  # to automl ui alone: it must stop its whole server
    assert ui.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while _listening(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _listening(port), "the MLflow server outlived automl ui"

    assert hits == [] and not any(PASSWORD in text for text in outputs), (hits, outputs)
    client = MlflowClient(tracking_uri=tracking.replace("postgresql://", "postgresql+psycopg2://"))
    experiment = client.get_experiment_by_name("pw")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3  # the parent and two trials
    for run in runs:
        assert PASSWORD not in repr(run.data.params) + repr(run.data.tags), run.info.run_id
        local = Path(client.download_artifacts(run.info.run_id, "", dst_path=str(workdir / "dl" / run.info.run_id)))
        for path in local.rglob("*"):
            assert not path.is_file() or PASSWORD.encode() not in path.read_bytes(), path
    for path in (workdir / "exports").rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes(), path
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["study.storage"] == storage.replace(PASSWORD, "***")

    # Deleting the study, on PostgreSQL: its experiment goes to the trash, and no password shows.
    deleted = run_cli(
        ["studies", "--delete", "pw", "--yes"], workdir, AUTOML_STORAGE=storage, AUTOML_TRACKING_URI=tracking
    )
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith("deleted study 'pw' (2 trials) from postgresql://secret_user:***@"), deleted.stdout
    assert PASSWORD not in deleted.stdout + deleted.stderr
    assert client.get_experiment_by_name("pw") is None
    assert client.get_experiment(experiment.experiment_id).lifecycle_stage == "deleted"
