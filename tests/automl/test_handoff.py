"""Store URLs kept out of other processes' command lines and environments (``automl._handoff``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from automl._handoff import (
    FD_ENV,
    STORAGE_ENV,
    TRACKING_URI_ENV,
    from_env,
    passwords,
    popen,
    urls_in_memory,
    without_passwords,
)
from automl._tracking import _set_tracking_uri
from automl.cli._ui import password_file

STORAGE = "postgresql://alice:Wq7-secret@db-host/optuna"
TRACKING = "http://bob:Zx9-other@mlflow-host:5000"

# A child as ``automl`` starts: it takes its store URLs in, then says what it has and shows.
CHILD = """
import json, os
from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV, from_env, urls_in_memory
with urls_in_memory():
    urls = [from_env(STORAGE_ENV), from_env(TRACKING_URI_ENV)]
    environ = open("/proc/self/environ", "rb").read().decode(errors="replace")
    print(json.dumps({"urls": urls, "environ": environ, "fd_passed_on": os.environ.get("AUTOML_STORES_FD")}))
"""


def _repo_env(**extra: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {"PATH": os.environ["PATH"], "PYTHONPATH": root, **extra}


def test_a_child_gets_its_store_urls_on_a_pipe_and_shows_no_password():
    env = _repo_env(
        MLFLOW_TRACKING_URI=TRACKING,  # MLflow's copy, made "so that subprocess can inherit it"
        PGPASSWORD="Wq7-secret",
        AUTOML_STORAGE=STORAGE,
        KEPT="yes",
    )
    child = popen(
        [sys.executable, "-c", CHILD],
        stores={STORAGE_ENV: STORAGE, TRACKING_URI_ENV: TRACKING},
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    said = json.loads(out)
    assert said["urls"] == [STORAGE, TRACKING]
    environ = said["environ"]
    assert "Wq7-secret" not in environ and "Zx9-other" not in environ, environ
    assert "KEPT=yes" in environ and f"PYTHONPATH={env['PYTHONPATH']}" in environ
    assert said["fd_passed_on"] is None  # what the child starts inherits no stale pipe number


def test_a_child_s_pipe_is_closed_here_once_it_has_started():
    # One descriptor leaked per child (recycled workers, isolated trials): 3 for these 3. Up
    # to 2 more are allowed for a file another thread of this process happens to hold open.
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        child = popen(
            [sys.executable, "-c", CHILD], stores={STORAGE_ENV: STORAGE}, env=_repo_env(), stdout=subprocess.PIPE
        )
        child.communicate(timeout=60)
    assert len(os.listdir("/proc/self/fd")) < before + 3


def test_a_child_without_stores_reads_none_and_the_pipe_closes():
    child = popen([sys.executable, "-c", CHILD], stores={STORAGE_ENV: None}, env=_repo_env(), stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=60)
    assert json.loads(out)["urls"] == [None, None]


def test_a_short_password_drops_only_the_variables_that_quote_it():
    url = "postgresql://u:ab@h/d"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/ab", "MLFLOW_TRACKING_URI": url, "PGPASSWORD": "ab", FD_ENV: "7"}
    assert without_passwords(env, url) == {"PATH": "/usr/bin:/bin", "HOME": "/home/ab"}
    query = "postgresql://u@h/d?password=s%40cret"  # as written and percent-decoded
    assert without_passwords({"A": "s@cret", "B": query, "C": "x"}, query) == {"C": "x"}


def test_a_password_in_a_query_is_found_whatever_the_key_s_case_and_store_variables_never_pass():
    assert passwords("postgresql://u@h/d?PASSWORD=s3cret&sslmode=require") == {"s3cret"}
    assert without_passwords({"PGPASSWORD": "s3cret", "X": "1"}, "postgresql://u@h/d?Passwd=s3cret") == {"X": "1"}
    env = {STORAGE_ENV: "sqlite:///a.db", TRACKING_URI_ENV: "sqlite:///b.db", "X": "1"}  # no password in them
    assert without_passwords(env) == {"X": "1"}


def test_a_password_is_found_as_sqlalchemy_reads_it():
    # The user part ends at the last @: a / inside it was missed, and MLflow's copy kept.
    assert passwords("postgresql://u:abc/def@h:5432/d") >= {"abc/def"}
    assert passwords("postgresql://u:p%40ss%2Fw@h/d") >= {"p%40ss%2Fw", "p@ss/w"}
    url = "postgresql://u:abc/def@h:5432/d"
    assert without_passwords({"MLFLOW_TRACKING_URI": url, "PGPASSWORD": "abc/def", "A": "b"}, url) == {"A": "b"}


@pytest.mark.parametrize("fd", ["abc", "999", "0", "1"])
def test_a_stray_fd_variable_is_ignored_with_a_note(fd, capsys):
    # Each of these stopped every command with a traceback, or (0: stdin) blocked it.
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=_repo_env(**{FD_ENV: fd}),
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)["urls"] == [None, None]
    assert f"note: {FD_ENV}={fd!r} ignored: it names no store pipe of this process" in child.stderr


def test_the_store_variables_live_in_memory_while_a_command_runs(monkeypatch):
    monkeypatch.setenv(STORAGE_ENV, STORAGE)
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    with urls_in_memory():
        assert STORAGE_ENV not in os.environ  # nothing it starts inherits the password
        assert from_env(STORAGE_ENV) == STORAGE and from_env(TRACKING_URI_ENV) is None
    assert os.environ[STORAGE_ENV] == STORAGE and from_env(STORAGE_ENV) == STORAGE  # given back


def test_mlflow_keeps_no_copy_of_a_password_in_the_environment(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    _set_tracking_uri(mlflow, TRACKING)
    assert mlflow.get_tracking_uri() == TRACKING and "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mine.db")  # a user's own stays as it was
    _set_tracking_uri(mlflow, "http://carol:Other-pw1@h:5000")
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///mine.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    _set_tracking_uri(mlflow, "postgresql://u:abc/def@h/d")  # SQLAlchemy's password: "abc/def"
    assert "MLFLOW_TRACKING_URI" not in os.environ and mlflow.get_tracking_uri() == "postgresql://u:abc/def@h/d"


@pytest.mark.parametrize(
    ("store", "bare", "line"),
    [
        (
            "postgresql+psycopg2://alice:p:w\\x@db:5432/mlflow?sslmode=disable",
            "postgresql+psycopg2://alice@db:5432/mlflow?sslmode=disable",
            "*:*:*:*:p\\:w\\\\x",
        ),
        ("postgresql://alice@db/mlflow?password=s%40c", "postgresql://alice@db/mlflow", "*:*:*:*:s@c"),
    ],
)
def test_the_ui_server_gets_a_postgresql_password_in_a_private_file(store, bare, line):
    with password_file(store) as (url, env):
        path = Path(env["PGPASSFILE"])
        assert url == bare
        assert path.read_text() == line + "\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists() and not path.parent.exists()


@pytest.mark.parametrize("store", ["sqlite:////tmp/m.db", "mysql://u:pw@h/d", "postgresql://u@h/d"])
def test_other_ui_stores_pass_as_they_are(store):
    with password_file(store) as (url, env):
        assert (url, env) == (store, {})
