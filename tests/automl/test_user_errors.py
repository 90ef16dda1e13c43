"""Every bad input a user can pass to the CLI is one line on stderr and exit code 2, never a traceback.

The catalogue runs ``automl.cli.main`` in this process (the code path of the console
script, minus the interpreter start): an exception that is not a user error would escape
``main`` and fail the test, which is what "no traceback" means.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from PIL import Image

from automl._errors import UserError
from automl._stores import open_storage
from automl._tracking import Tracker, _reach_server
from automl.cli import main
from tests.automl.helpers import cli_env, run_cli, stores

PASSWORD = "s3cretPW"


def _study_file(text: str | bytes, suffix: str = ".toml", command: str = "search") -> Callable[[Path], list[str]]:
    """``automl search`` (or ``automl space show``) with a study file holding ``text``."""

    def make(workdir: Path) -> list[str]:
        path = workdir / f"study{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        if command == "space":
            return ["space", "show", "--config", str(path)]
        return ["search", "--config", str(path), "--trials", "1", "--epochs", "1"]

    return make


def _bundle(model: bytes | None, card: str) -> Callable[[Path], list[str]]:
    """A bundle folder with ``model.keras`` (``None``: a zip without config.json) and ``model_card.json``."""

    def make(workdir: Path) -> list[str]:
        bundle = workdir / "bundle"
        bundle.mkdir()
        if model is None:
            with zipfile.ZipFile(bundle / "model.keras", "w") as archive:
                archive.writestr("metadata.json", "{}")
        else:
            (bundle / "model.keras").write_bytes(model)
        (bundle / "model_card.json").write_text(card)
        (workdir / "x.png").write_bytes(b"")
        return ["predict", "--model", str(bundle), str(workdir / "x.png")]

    return make


def _export_dir_holding(name: str) -> Callable[[Path], list[str]]:
    """A search exporting into a folder that holds a file ``name`` an export did not write."""

    def make(workdir: Path) -> list[str]:
        (workdir / "mine").mkdir()
        (workdir / "mine" / name).write_text("the user's own file")
        return ["search", "--export-dir", str(workdir / "mine"), "--trials", "1", "--epochs", "1"]

    return make


def _export_dir_of_study(study: str) -> Callable[[Path], list[str]]:
    """A search of study 'default' exporting into the folder of another study's bundle."""

    def make(workdir: Path) -> list[str]:
        bundle = workdir / "theirs"
        bundle.mkdir()
        for name in (".automl-export", "model.keras"):
            (bundle / name).write_text("")
        (bundle / "model_card.json").write_text(json.dumps({"study": study, "trial": 3}))
        return ["search", "--export-dir", str(bundle), "--trials", "1", "--epochs", "1"]

    return make


def _study_file_in_a_folder(workdir: Path) -> list[str]:
    (workdir / "study.toml").mkdir()
    return ["search", "--config", str(workdir / "study.toml")]


def _empty_store(workdir: Path) -> list[str]:
    """An Optuna store that is an empty file, as a first start interrupted leaves it."""
    (workdir / "mlruns").mkdir()
    (workdir / "mlruns" / "optuna.db").touch()
    return ["status"]


GOOD_CARD = json.dumps({"class_names": ["a", "b"]})
MISSING_STORE = "sqlite:///{workdir}/nowhere/optuna.db"

# (id, argv or a function of the work folder returning argv, text the message must hold)
CATALOGUE: list[tuple[str, list[str] | Callable[[Path], list[str]], str]] = [
    ("study-name-dotdot", ["search", "--study-name", "..", "--trials", "1"], "got '..'"),
    ("study-name-dot", ["search", "--study-name", ".", "--trials", "1"], "got '.'"),
    ("study-name-separator", ["search", "--study-name", "a/b", "--trials", "1"], "got 'a/b'"),
    ("study-name-hostile", ["search", "--study-name", "x'; DROP TABLE studies;--"], "DROP TABLE"),
    ("status-hostile-name", ["status", "--study", "../../etc"], "got '../../etc'"),
    ("worker-hostile-name", ["worker", "--study", "a\\b c"], "got 'a\\\\b c'"),
    ("export-dir-dotdot", ["search", "--export-dir", "exports/..", "--trials", "1"], "got 'exports/..'"),
    ("export-dir-dot", ["search", "--export-dir", "exports/.", "--trials", "1"], "got 'exports/.'"),
    ("export-dir-not-empty", _export_dir_holding("notes.txt"), "refusing to export into"),
    ("export-dir-of-another-study", _export_dir_of_study("other"), "holds study 'other''s model (trial 3)"),
    ("compare-top-zero", ["compare", "--top", "0"], "--top must be at least 1, got 0"),
    ("compare-seeds-zero", ["compare", "--final-epochs", "2", "--seeds", "0"], "--seeds must be at least 1, got 0"),
    ("compare-final-epochs-zero", ["compare", "--final-epochs", "0"], "--final-epochs must be at least 1, got 0"),
    ("compare-seeds-alone", ["compare", "--seeds", "3"], "--seeds 3 averages models retrained on train+validation"),
    ("compare-alpha", ["compare", "--alpha", "1.5"], "--alpha must be in [1e-09, 1), got 1.5"),
    ("compare-tiny-alpha", ["compare", "--alpha", "1e-20"], "--alpha must be in [1e-09, 1), got 1e-20"),
    ("compare-margin", ["compare", "--margin", "5"], "--margin must be in [0, 1)"),
    ("time-budget-inf", ["search", "--time-budget", "inf"], "a duration must be positive and finite, got 'inf'"),
    # argparse took "-5s" for an option: "expected one argument"
    ("time-budget-negative", ["search", "--time-budget", "-5s"], "a duration must be positive and finite, got '-5s'"),
    ("timeout-nan", ["search", "--timeout", "nan"], "timeout must be a number, got nan"),
    ("final-training-string", _study_file('final_training = "false"\n'), "final_training must be true or false"),
    ("margin-string", _study_file('margin = "0.05"\n'), "margin must be a number, got '0.05'"),
    ("time-budget-list", _study_file("time_budget = [1]\n"), "time_budget must be a number, got [1]"),
    ("create-only-with-a-budget", ["search", "--create-only", "--time-budget", "1m"], "--create-only prepares a study"),
    ("trials-string", _study_file('trials = "three"\n'), "trials must be a whole number, got 'three'"),
    ("trials-bool", _study_file("trials = true\n"), "trials must be a whole number, got True"),
    ("epochs-float", _study_file("epochs = 1.5\n"), "epochs must be a whole number, got 1.5"),
    ("yaml-isolate-string", _study_file("isolate: 'yes'\n", ".yaml"), "isolate must be true or false, got 'yes'"),
    ("yaml-image-size", _study_file("image_size: 32\n", ".yaml"), "image_size must be two positive"),
    ("space-not-a-table", _study_file('space = "big"\n'), "space must be a table"),
    ("unknown-setting", _study_file("trails = 3\n"), "unknown study setting(s) ['trails']"),
    ("study-file-named", _study_file("epochs = -1\n"), "study.toml': epochs must be at least 1, got -1"),
    ("study-file-a-folder", _study_file_in_a_folder, "study.toml' is a folder, not a file"),
    ("space-settings-outside-the-table", _study_file("stages = {low = 2, high = 3}\n"), "under a [space] table"),
    # `automl space show` took the default space for a misspelt table; `automl search` refused it.
    (
        "space-show-misspelt-table",
        _study_file("[spaces]\nstages = {low = 2, high = 3}\n", command="space"),
        "['spaces']",
    ),
    ("space-show-bad-setting", _study_file("trials = 0\n[space]\n", command="space"), "trials must be at least 1"),
    ("study-file-not-utf8", _study_file(b"\xff\xfetrials = 1\n"), "cannot read the study file"),
    ("space-file-not-utf8", _study_file(b"\xff\xfe[space]\n", command="space"), "cannot read the study file"),
    ("space-step-null", _study_file("space:\n  stages: {low: 1, high: 2, step:}\n", ".yaml"), "got step=None"),
    ("space-yaml-number-key", _study_file("space:\n  stage: 1\n  1: 2\n", ".yaml", "space"), "field(s) [1, 'stage']"),
    ("seed-too-big", _study_file("seed = 4294967296\n"), "seed must be in 0..4294967295, got 4294967296"),
    ("image-size-too-big", ["search", "--image-size", "10000,10000", "--trials", "1"], "10000x10000x1 need about"),
    ("model-random-bytes", _bundle(os.urandom(2048), GOOD_CARD), "not a Keras model file"),
    ("model-without-config", _bundle(None, GOOD_CARD), "it has no config.json"),
    ("card-broken", _bundle(os.urandom(64), '{"class_names": ["a",'), "model_card.json' is not valid JSON"),
    ("card-without-classes", _bundle(os.urandom(64), "[]"), "model_card.json' has no list of class_names"),
    ("status-missing-store", ["status", "--storage", MISSING_STORE], "nowhere/optuna.db' does not exist"),
    ("compare-missing-store", ["compare", "--storage", MISSING_STORE], "nowhere/optuna.db' does not exist"),
    ("worker-missing-store", ["worker", "--study", "x", "--storage", MISSING_STORE], "does not exist"),
    ("unknown-study", ["status", "--study", "nope", "--storage", "sqlite:///{workdir}/o.db"], "no study named 'nope'"),
    ("unknown-seed-architecture", ["search", "--seed-architectures", "lenet,nonet"], "'nonet'"),
    ("time-budget-in-minutes-meant", ["search", "--time-budget", "10"], "at least 20s (the start-up, a first"),
    ("time-budget-too-short", _study_file('time_budget = "15s"\n'), "got 15s; a number without a unit is seconds"),
    (
        "tracking-uri-bad-scheme",
        ["search", "--tracking-uri", f"htp://u:{PASSWORD}@h:1", "--trials", "1"],
        "htp://u:***@",
    ),
    ("status-empty-store", _empty_store, "optuna.db' is an empty file, with no study: delete it"),
    ("storage-port-not-a-number", ["status", "--storage", f"postgresql://u:{PASSWORD}@h:port/db"], "u:***@h:port"),
    ("storage-bad-scheme", ["status", "--storage", f"nosuch://u:{PASSWORD}@h/db"], "nosuch://u:***@h/db"),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_input_is_one_line_and_exit_code_2(workdir, capsys, argv, expected):
    if callable(argv):
        argv = argv(workdir)
    if argv[0] == "status" and "--storage" in argv and "o.db" in argv[-1]:  # an existing store without the study
        optuna.create_study(study_name="other", storage=f"sqlite:///{workdir}/o.db")
    argv = [a.replace("{workdir}", str(workdir)) for a in argv]

    code = main(argv)

    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith(f"automl {argv[0]}: error: "), err
    assert expected in err
    assert PASSWORD not in err
    store = workdir / "mlruns" / "optuna.db"
    assert not store.exists() or optuna.get_all_study_names(f"sqlite:///{store}") == []  # no study left behind
    assert not (workdir / "exports").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--seed", "-1"],
        ["space", "sample", "--n", "1", "--input-shape", "8,8,1", "--seed", "-1"],
        ["data", "inspect", "digits", "--seed", "-1"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_seed_numpy_cannot_take_is_a_usage_error(workdir, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "argument --seed: seed must be in 0..4294967295, got -1" in capsys.readouterr().err


def test_read_only_tracking_store_on_resume(workdir):
    created = run_cli(["search", "--study-name", "ro", "--trials", "1", "--create-only"], workdir)
    assert created.returncode == 0, created.stderr
    database = workdir / "mlruns" / "mlflow.db"
    database.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    resumed = run_cli(["search", "--study-name", "ro", "--trials", "1", "--epochs", "1"], workdir)

    err = resumed.stderr.strip()
    assert resumed.returncode == 2 and "Traceback" not in err, err
    expected = f"the MLflow tracking store {str(database)!r} is read-only; a search needs to write to it"
    assert err.splitlines()[-1] == f"automl search: error: {expected}"


def test_status_reads_a_read_only_store_without_writing(workdir):
    created = run_cli(["search", "--study-name", "ro", "--trials", "2", "--create-only"], workdir)
    assert created.returncode == 0, created.stderr
    folder = workdir / "mlruns"
    # The -shm file is SQLite's shared-memory index, which readers map (root maps it writable).
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.suffix != ".db-shm"}
    for path in folder.iterdir():
        path.chmod(0o444) if path.is_file() else None
    folder.chmod(0o555)
    try:
        result = run_cli(["status", "--study", "ro", "--json"], workdir)
        after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.suffix != ".db-shm"}
    finally:
        folder.chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["waiting"] == 2
    # Not a byte written, and no file added but an empty write-ahead log: the search's exit
    # folded its own into optuna.db, and SQLite's read-only reader opens an empty one where
    # the folder lets it (root ignores the modes, and its exit tidies the log away again;
    # another user's reader adds none).
    assert {name: after[name] for name in before} == before
    added = set(after) - set(before)
    assert added <= {"optuna.db-wal"} and not any(after[name] for name in added)


def test_status_leaves_a_writable_store_as_it_found_it(workdir):
    created = run_cli(["search", "--study-name", "st", "--trials", "2", "--create-only"], workdir)
    assert created.returncode == 0, created.stderr
    folder = workdir / "mlruns"
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}

    result = run_cli(["status", "--study", "st", "--json"], workdir)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["waiting"] == 2
    # No write-ahead log or shared-memory index left beside optuna.db, and not a byte changed.
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


@pytest.mark.parametrize(("folder", "misread"), [("c#-project", "c"), ("50%41 done?", "50A done")])
def test_a_store_in_a_folder_named_with_url_characters(workdir, folder, misread):
    # The read-only reader opens an SQLite URI, where '#' would start a fragment: the path
    # was cut there, so the store looked empty and a file was created beside the folder.
    # SQLAlchemy decodes a URL's path and cuts it at '?': the default store's URL named
    # '/x/50A' for a folder '/x/50%41', which did not exist, and the search failed.
    project = workdir / folder
    project.mkdir()
    created = run_cli(["search", "--study-name", "h", "--trials", "2", "--create-only"], project)
    assert created.returncode == 0, created.stderr

    result = run_cli(["status", "--study", "h", "--json"], project)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["waiting"] == 2
    assert (project / "mlruns" / "optuna.db").is_file()
    assert not (workdir / misread).exists()


def test_status_beside_an_open_writer_keeps_its_write_ahead_log(workdir):
    created = run_cli(["search", "--study-name", "st", "--trials", "1", "--create-only"], workdir)
    assert created.returncode == 0, created.stderr
    database = workdir / "mlruns" / "optuna.db"
    wal = database.with_name("optuna.db-wal")
    writer = sqlite3.connect(database)  # in WAL mode: the store's journal mode is kept in the file
    try:
        writer.execute("CREATE TABLE probe (x)")
        writer.execute("INSERT INTO probe VALUES (1)")
        writer.commit()
        logged = wal.read_bytes()
        assert logged  # the commit is in the log, not yet in optuna.db

        result = run_cli(["status", "--study", "st", "--json"], workdir)

        assert result.returncode == 0, result.stderr
        assert wal.read_bytes() == logged  # the reader's exit left a log in use alone
        assert writer.execute("SELECT x FROM probe").fetchall() == [(1,)]
    finally:
        writer.close()
    assert not wal.exists()  # the last connection to close folded it in


def test_status_on_a_missing_store_creates_nothing(workdir):
    result = run_cli(["status", "--study", "x"], workdir)
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (workdir / "mlruns").exists()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("nowhere.npz", "no such file or folder: 'nowhere.npz'"),
        ("notes.txt", "cannot tell how to read 'notes.txt'"),
        ("garbage.npz", "'garbage.npz' is not a .npz file (not a zip archive)"),
        ("unnamed.npz", "npz 'unnamed.npz' has no training images and labels (it has: a, b)"),
        ("half.npz", "npz 'half.npz' has x_test but not its partner"),
        ("columns.csv", "CSV 'columns.csv' has no column 'path' or 'label' (it has: 'a', 'b')"),
        ("absent.csv", "CSV 'absent.csv' lists files that do not exist (1, first:"),
        ("empty", "image folder 'empty' has no class sub-folders"),
        ("texts", "class folder 'texts/b' contains no image files"),
        ("one", "image folder 'one': found only one class ('a')"),
    ],
)
def test_search_on_unreadable_data_fails_before_making_a_store(workdir, capsys, data, expected):
    """What can be told without reading an image fails before the study is described or a store made."""
    (workdir / "notes.txt").write_text("not images")
    (workdir / "garbage.npz").write_bytes(b"not a zip archive")
    images = np.zeros((4, 8, 8, 1), np.uint8)
    np.savez(workdir / "unnamed.npz", a=images, b=np.arange(4))
    np.savez(workdir / "half.npz", x=images, y=np.arange(4), x_test=images)
    (workdir / "columns.csv").write_text("a,b\n1,2\n")
    (workdir / "absent.csv").write_text("path,label\nnowhere.png,cat\n")
    for folder in ("empty", "texts/a", "texts/b", "one/a"):
        (workdir / folder).mkdir(parents=True)
    for image in ("texts/a/0.png", "one/a/0.png"):
        Image.fromarray(images[0, ..., 0]).save(workdir / image)
    (workdir / "texts" / "b" / "notes.txt").write_text("not an image")

    code = main(["search", "--data", data, "--trials", "1"])

    out, err = capsys.readouterr()
    assert code == 2 and expected in err, err
    assert "new study" not in out and "plan:" not in out  # refused before the study was described
    assert not (workdir / "mlruns").exists()


def test_resume_notes_compare_with_the_stored_values(workdir):
    config = stores(workdir)
    first = run_cli(["search", "--study-name", "n", "--trials", "1", "--epochs", "1", "--create-only"], workdir)
    assert first.returncode == 0, first.stderr
    again = ["search", "--study-name", "n", "--trials", "1", "--epochs", "5", "--data", "digits", "--create-only"]
    second = run_cli(again + ["--storage", config["storage"], "--tracking-uri", config["tracking_uri"]], workdir)
    assert second.returncode == 0, second.stderr
    assert "keeps its stored epochs=1; ignoring epochs=5" in second.stderr  # 5 is the default, yet given
    assert "data" not in second.stderr  # --data digits is what the study has (no data means digits)


def test_a_study_refuses_other_data_than_its_own(workdir):
    # It printed a note, then searched (or reported) its own data: a model of 8x8 digits for
    # the arrays given.
    first = run_cli(["search", "--study-name", "d", "--trials", "1", "--epochs", "1", "--create-only"], workdir)
    assert first.returncode == 0, first.stderr
    (workdir / "sub").mkdir()
    images = np.random.default_rng(0).integers(0, 255, (40, 8, 8, 1), dtype=np.uint8)
    np.savez(workdir / "sub" / "mine.npz", x=images, y=np.arange(40) % 2)
    other = run_cli(["search", "--study-name", "d", "--trials", "1", "--data", "sub/mine.npz"], workdir)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines()[-1] == (
        "automl search: error: study 'd' searches data 'digits', not 'sub/mine.npz': search other data as a new "
        "study (--study-name NAME, or study_name= in Python), or delete this one first (automl studies --delete d)"
    )
    made = run_cli(["search", "--study-name", "m", "--data", "sub/mine.npz", "--create-only"], workdir)
    assert made.returncode == 0, made.stderr
    # The same file, named from elsewhere, is the study's data.
    where = ["--storage", stores(workdir)["storage"], "--tracking-uri", stores(workdir)["tracking_uri"]]
    for data, cwd in ((str(workdir / "sub" / "mine.npz"), workdir), ("mine.npz", workdir / "sub")):
        again = run_cli(["search", "--study-name", "m", "--data", data, "--create-only", *where], cwd)
        assert again.returncode == 0 and "searches data" not in again.stderr, again.stderr


def test_a_search_where_no_trial_succeeds_exits_non_zero_with_the_reason(workdir, capsys):
    code = main(["search", "--study-name", "tiny", "--trials", "2", "--epochs", "1", "--max-params", "10", "--quiet"])

    err = capsys.readouterr().err
    assert code == 1, err
    assert "no trial of study 'tiny' succeeded (2 ran)" in err and "max_params" in err.lower().replace("-", "_")
    # Run again, it says so again; it said the failed trials "were already compared and exported".
    code = main(["search", "--study-name", "tiny", "--trials", "2", "--epochs", "1", "--max-params", "10"])
    out, err = capsys.readouterr()
    assert code == 1 and "no comparison: none of its 2 finished trials completed" in out, out + err
    assert "already compared" not in out + err
    client = MlflowClient(tracking_uri=stores(workdir)["tracking_uri"])
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id], filter_string="tags.`mlflow.parentRunId` IS NULL"
    )
    assert parent.info.status == "FAILED"  # not a green FINISHED in the MLflow UI


@pytest.mark.parametrize("argv", [["predict", "--model", "models:/m@champion"], ["search", "--trials", "1"]])
def test_an_unreachable_tracking_server_is_refused_soon_without_the_password(workdir, capsys, monkeypatch, argv):
    # MLflow retried a server that does not answer for over 200 s, then quoted the URL it
    # could not reach, password and all. The server gets SERVER_WAIT_S to answer at all.
    monkeypatch.setattr("automl._tracking.SERVER_WAIT_S", 1.5)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(workdir / "x.png")
    server = f"http://u:{PASSWORD}@127.0.0.1:{_closed_port()}"

    code = main([*argv, "--tracking-uri", server, *([str(workdir / "x.png")] if argv[0] == "predict" else [])])

    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the MLflow tracking server 'http://u:***@127.0.0.1:" in err
    assert "Connection refused" in err and PASSWORD not in err
    if argv[0] == "search":  # its new study is deleted again: a retry starts it afresh
        assert optuna.get_all_study_names(storage=stores(workdir)["storage"]) == []


@pytest.mark.parametrize(
    ("scheme", "message"),
    [
        ("mysql", "no database driver for the MLflow tracking store 'mysql://u:***@127.0.0.1:"),
        ("postgresql", "cannot open the MLflow tracking store 'postgresql+psycopg2://u:***@127.0.0.1:"),
    ],
)
def test_a_tracking_database_that_cannot_be_opened_is_one_line_named_as_mlflow_s(workdir, capsys, scheme, message):
    # mysql:// without its driver: a 71-line traceback. PostgreSQL: "cannot open the storage".
    if scheme == "postgresql":
        pytest.importorskip("psycopg2")
    tracking = f"{scheme}://u:{PASSWORD}@127.0.0.1:{_closed_port()}/db"
    assert main(["search", "--trials", "1", "--tracking-uri", tracking]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and PASSWORD not in err


def test_a_tracking_server_that_answers_at_all_is_reached():
    # Any answer counts (a proxy's 404 too): only an unreachable server is refused up front.
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _reach_server(f"http://127.0.0.1:{server.server_address[1]}")
        server.shutdown()


def _closed_port() -> int:
    """A local port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [["studies"], ["status", "--study", "s"], ["search", "--trials", "1"]])
def test_a_store_that_is_not_optuna_s_is_refused_and_left_as_it_was(workdir, capsys, command):
    # MLflow's mlflow.db sits beside optuna.db: given as --storage, Optuna wrote its tables
    # into it, then failed with a 90-line traceback ("no longer compatible with the table schema").
    tracking = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    Tracker(tracking, experiment_name="e")
    with contextlib.closing(sqlite3.connect(workdir / "mlruns" / "mlflow.db")) as db:
        before = db.execute("SELECT name FROM sqlite_master").fetchall()

    assert main([*command, "--storage", tracking]) == 2
    err = capsys.readouterr().err
    assert "is not an Optuna store but MLflow's tracking store (a --tracking-uri)" in err and "Traceback" not in err
    with contextlib.closing(sqlite3.connect(workdir / "mlruns" / "mlflow.db")) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == before

    (workdir / "junk.db").write_text("not a database")
    assert main([*command, "--storage", f"sqlite:///{workdir / 'junk.db'}"]) == 2
    assert "is not an SQLite database (file is not a database)" in capsys.readouterr().err


def test_the_refusal_of_a_foreign_store_masks_the_default_store_s_password(workdir, monkeypatch):
    # The Python API quoted $AUTOML_STORAGE whole, password and all (the CLI masked it last).
    monkeypatch.setenv("AUTOML_STORAGE", "postgresql://u:Hunter2Zq9pw@db/optuna")
    tracking = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    Tracker(tracking, experiment_name="e")
    with pytest.raises(UserError, match="not an Optuna store") as error:
        open_storage(tracking)
    assert "Hunter2Zq9pw" not in str(error.value) and "(default postgresql://u:***@db/optuna)" in str(error.value)


def test_a_journal_file_store_runs_without_waiting_on_its_own_lock(workdir):
    # Our lock beside study.log was study.log.lock, the name of Optuna's own journal lock:
    # Optuna waited 30 s for it each time, then deleted it ("Forcibly releasing the lock
    # file"); a one-trial search took 199 s.
    result = run_cli(["search", "--storage", "study.log", "--trials", "1", "--epochs", "1", "--no-export"], workdir)
    assert result.returncode == 0, result.stderr
    assert "lock file" not in result.stderr, result.stderr
    study = optuna.load_study(
        study_name="default",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(workdir / "study.log"))),
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]


def test_an_unexpected_error_shows_its_traceback_with_the_passwords_masked(workdir, capsys, monkeypatch):
    from automl.cli import _status

    def fails(args):
        raise RuntimeError(f"API request to http://automl:{PASSWORD}@db-host:5000/api/2.0/mlflow/runs/get failed")

    monkeypatch.setattr(_status, "run", fails)
    code = main(["status", "--study", "s", "--tracking-uri", f"http://automl:{PASSWORD}@db-host:5000"])

    err = capsys.readouterr().err
    assert code == 1 and err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: API request to http://automl:***@db-host:5000/api/2.0/mlflow/runs/get failed" in err
    assert PASSWORD not in err


@pytest.mark.slow
def test_a_tracking_server_gone_mid_search_ends_it_without_showing_the_password(workdir, mlflow_server):
    # MLflow's error quoted the server's URL, password and all, in a raw traceback; closing
    # the study's run then failed too, and its error was shown over the first.
    url = mlflow_server.url.replace("http://", f"http://automl:{PASSWORD}@")
    # Six trials: whenever the server goes after trial 0, a trial (not the comparison) meets it.
    command = [sys.executable, "-m", "automl", "search", "--study-name", "gone", "--trials", "6", "--epochs", "3"]
    command += ["--pruner", "none", "--tracking-uri", url]
    env = cli_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    log = workdir / "search.log"
    with log.open("w") as out:
        search = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 300
        while "trial   0  complete" not in log.read_text() and search.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        mlflow_server.stop()
        code = search.wait(timeout=300)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()

    output = log.read_text()
    assert "trial   0  complete" in output and code == 1, output
    assert "Traceback (most recent call last):" in output and "http://automl:***@127.0.0.1" in output
    assert PASSWORD not in output
    study = optuna.load_study(study_name="gone", storage=stores(workdir)["storage"])
    reasons = [str(trial.user_attrs.get("fail_reason")) for trial in study.trials]
    assert any("API request to http://automl:***@127.0.0.1" in reason for reason in reasons), reasons
    # whether the server went as a trial opened its MLflow run, trained or closed it: that trial failed
    ended_in = [t for t in study.trials if t.user_attrs.get("failure_kind") == "search_failed"]
    assert len(ended_in) == 1 and ended_in[0].state == optuna.trial.TrialState.FAIL, reasons
    assert not any(PASSWORD in reason for reason in reasons)  # nor does it reach the Optuna store
