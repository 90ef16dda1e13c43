"""``automl search`` end to end on the built-in digits, then ``status``, ``compare`` and ``ui``."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from automl._config import StudyConfig
from automl._data import load_study_data
from automl.cli import main
from automl.cli._search import browse_line
from tests.automl.helpers import cli_env, run_cli


def test_default_search_end_to_end(workdir):
    # The README's default command, shortened: same code path, fewer trials and epochs.
    result = run_cli(["search", "--trials", "3", "--epochs", "2", "--pruner", "none"], workdir)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Results" in out and "McNemar" in out and "automl ui" in out
    # Its exit closed the Optuna store: the database file alone holds the study, no write-ahead log is left.
    assert sorted(p.name for p in (workdir / "mlruns").glob("optuna.db*")) == ["optuna.db", "optuna.db.lock"]
    splits = load_study_data(StudyConfig()).splits  # the default study's data: the digits
    train, val, test = (len(y) for _, y in (splits.train, splits.val, splits.test))
    read = (
        rf"data: 1,797 images of 8x8x1 in 10 classes, read in [\d.]+s; train {train:,}, validation {val}, test {test}\n"
    )
    assert re.search(read, out), out
    # Paths inside the working directory are shown relative to it.
    exported_to = r"exported the winner \(trial \d+\) to exports/default/\n  model: exports/default/model\.keras"
    assert re.search(exported_to, out)

    tracking = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("default")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    comparison = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {
        "comparison/mcnemar.json",
        "comparison/pvalues_heatmap.png",
        "comparison/winner_confusion_matrix.png",
    } <= comparison
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "optimization_history.png"} <= top
    # Every trial's model is a logged model of its run, with the run's parameters and metrics.
    for child in children:
        models = [client.get_logged_model(output.model_id) for output in child.outputs.model_outputs]
        logged = next(m for m in models if m.tags["trained_on"] == "train")
        assert logged.source_run_id == child.info.run_id and logged.params == child.data.params
        assert "val_accuracy" in {metric.key for metric in logged.metrics}

    # The exported model reloads safely and classifies the digits far above chance.
    model = keras.saving.load_model(workdir / "exports" / "default" / "model.keras", safe_mode=True)
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images[:200, :, :, None] * (255.0 / 16.0)).astype("float32")
    accuracy = np.mean(model.predict(images, verbose=0).argmax(axis=1) == digits.target[:200])
    assert accuracy > 0.3

    status = run_cli(["status", "--study", "default", "--json"], workdir)
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)
    assert counts["complete"] + counts["pruned"] + counts["fail"] == 3
    assert counts["running"] == 0 and counts["waiting"] == 0
    assert counts["best"]["trial"] in range(3)

    # The winner is in the model registry under the alias "champion", and serves raw images.
    version = client.get_model_version_by_alias("default-model", "champion")
    assert int(version.version) >= 1
    mlflow.set_tracking_uri(tracking)
    served = mlflow.pyfunc.load_model("models:/default-model@champion").predict(images[:5])
    assert np.allclose(served, model.predict(images[:5], verbose=0), atol=1e-5)

    compare = run_cli(
        ["compare", "--study", "default", "--top", "2", "--final-epochs", "1", "--seeds", "2", "--json"], workdir
    )
    assert compare.returncode == 0, compare.stderr
    data = json.loads(compare.stdout)
    assert len(data["finalists"]) == 2 and len(data["pairs"]) == 1
    assert data["winner"] in {f["trial"] for f in data["finalists"]}
    pair = data["pairs"][0]
    assert pair["only_a"] + pair["only_b"] + pair["both_right"] + pair["both_wrong"] == round(0.2 * 1797)

    # The models come from MLflow: no local copy is needed.
    shutil.rmtree(workdir / "mlruns" / "models")
    shutil.rmtree(workdir / "exports")
    exported = run_cli(["export", "--study", "default"], workdir)  # where the search exports
    assert exported.returncode == 0, exported.stderr
    assert "to exports/default/\n  exports/default/model.keras" in exported.stdout
    assert (workdir / "exports" / "default" / "saved_model").is_dir()
    champion = client.get_model_version_by_alias("default-model", "champion").version
    assert champion != version.version

    # Another trial exported is registered, and the champion stays the winner.
    other = next(f["trial"] for f in data["finalists"] if f["trial"] != data["winner"])
    loser = run_cli(["export", "--study", "default", "--trial", str(other), "--out", "exports/other"], workdir)
    assert loser.returncode == 0, loser.stderr
    assert "(not the champion: the alias stays on the winner)" in loser.stdout
    assert client.get_model_version_by_alias("default-model", "champion").version == champion
    # The winner exported by its number is made the champion again (here from the other trial).
    loser_version = re.search(r"models:/default-model/(\d+) ", loser.stdout).group(1)
    client.set_registered_model_alias("default-model", "champion", loser_version)
    named = run_cli(["export", "--study", "default", "--trial", str(data["winner"]), "--out", "exports/w"], workdir)
    assert named.returncode == 0, named.stderr
    assert f"registered: models:/default-model@champion (version {champion})" in named.stdout, named.stdout
    assert client.get_model_version_by_alias("default-model", "champion").version == champion
    # A trial the study does not have is named as such (it said "has no saved model to export").
    absent = run_cli(["export", "--study", "default", "--trial", "99", "--out", "exports/absent"], workdir)
    assert absent.returncode == 2
    assert "study 'default' has no trial 99 (its trials are numbered 0 to " in absent.stderr, absent.stderr


def test_status_of_unknown_study_is_a_one_line_error(workdir):
    result = run_cli(["status", "--study", "nope"], workdir)
    assert result.returncode == 2
    assert "no storage at" in result.stderr and "does not exist" in result.stderr  # nothing searched here yet
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tracking_store(workdir) -> None:
    """The MLflow store a search leaves in ``workdir`` (``automl ui`` browses one)."""
    (workdir / "mlruns").mkdir(exist_ok=True)
    MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlruns/mlflow.db").search_experiments()


def test_ui_refuses_a_store_that_is_not_there_and_its_dry_run_creates_nothing(workdir, capsys):
    # It opened a new, empty store wherever it ran (a mistyped path too), even with --dry-run,
    # and took a plain path for MLflow's retired file store: a traceback after its banner.
    assert main(["ui", "--tracking-uri", "sqlite:///typo/x.db", "--dry-run"]) == 0
    assert "MLFLOW_BACKEND_STORE_URI=sqlite:///typo/x.db" in capsys.readouterr().out
    assert list(workdir.iterdir()) == []
    assert main(["ui", "--tracking-uri", "sqlite:///typo/x.db"]) == 2
    assert main(["ui"]) == 2
    err = capsys.readouterr().err
    assert "no MLflow tracking store at 'sqlite:///typo/x.db' (the file 'typo/x.db' does not exist)" in err
    assert f"(the file '{workdir}/mlruns/mlflow.db' does not exist)" in err
    assert list(workdir.iterdir()) == []
    assert main(["ui", "--tracking-uri", "mlruns/mlflow.db"]) == 2
    err = capsys.readouterr().err
    assert "must be a URL, got 'mlruns/mlflow.db'; a SQLite file is 'sqlite:///mlruns/mlflow.db'" in err


def test_ui_refuses_what_it_cannot_serve_before_announcing_a_server(workdir, capsys):
    # A busy port: MLflow printed its bind error under our "MLflow UI at ..." line and exited 0,
    # so the URL announced was another program's. A tracking server as the store: a 30-line
    # traceback. A port past 65535: the same banner, then uvicorn's traceback.
    _tracking_store(workdir)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["ui", "--port", str(port)]) == 2
    err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use); pick another --port" in err.err
    assert "MLflow UI at" not in err.out

    assert main(["ui", "--tracking-uri", "http://u:s3cret@mlflow-host:5000"]) == 2
    err = capsys.readouterr().err
    assert "the tracking store 'http://u:***@mlflow-host:5000' is a tracking server already" in err
    assert "s3cret" not in err and "Traceback" not in err

    with pytest.raises(SystemExit):
        main(["ui", "--port", "99999"])
    assert "a port is a number from 1 to 65535, got '99999'" in capsys.readouterr().err

    # A database server that cannot be reached: MLflow's server retried for minutes, silent.
    pytest.importorskip("psycopg2")
    closed = _free_port()
    assert main(["ui", "--tracking-uri", f"postgresql://u:s3cret@127.0.0.1:{closed}/db"]) == 2
    out, err = capsys.readouterr()
    assert f"cannot open the MLflow tracking store 'postgresql://u:***@127.0.0.1:{closed}/db': connection" in err
    assert "s3cret" not in err and "MLflow UI at" not in out


def test_the_closing_line_says_how_to_browse_each_kind_of_store(workdir, capsys):
    # It printed 'automl ui --tracking-uri http://...' for a tracking server, which that
    # command refuses, and a path with a space unquoted, which the shell split.
    server = browse_line("http://u:s3cret@mlflow-host:5000")
    assert server.endswith("open the MLflow tracking server in a browser:\n  http://u:***@mlflow-host:5000")
    command = browse_line("sqlite:///rel dir/ml.db").splitlines()[-1].strip()
    assert command == "automl ui --tracking-uri 'sqlite:///rel dir/ml.db'"
    (workdir / "rel dir").mkdir()
    assert main([*shlex.split(command)[1:], "--dry-run"]) == 0
    assert browse_line(None).endswith("\n  automl ui")


def test_ui_serves_the_store_on_loopback_only(workdir):
    _tracking_store(workdir)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", "ui", "--port", str(port)],
        cwd=workdir,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the UI's server processes share this group: stop them all at the end
    )
    try:
        assert f"http://127.0.0.1:{port}" in proc.stdout.readline()
        deadline = time.monotonic() + 180  # as long as the mlflow_server fixture waits for its server
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the MLflow UI did not start"
                time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "MLflow" in response.read().decode()
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # iproute2 present: the socket must be bound to loopback only
            assert all(line.split()[3].startswith("127.0.0.1:") for line in listening.strip().splitlines())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
