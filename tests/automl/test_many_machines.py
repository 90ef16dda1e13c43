"""Many machines and no shared disk: Optuna in PostgreSQL, MLflow behind a server that
proxies the artifacts, and every "machine" a folder of its own (its ``AUTOML_HOME`` and its
working directory).

Three workers train the study; their folders are then deleted, and a fourth folder
compares the finalists (retraining them), exports the winner and predicts with the
registered champion: every model it uses comes from the MLflow server. Only the server
sees the artifact folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from PIL import Image
from sklearn.datasets import load_digits

from automl._records import StudyRecord, TrialRecord
from tests.automl.helpers import cli_env, run_cli
from tests.automl.test_postgres import _logs

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STUDY = "machines"
TRIALS = 4
FINALISTS = 2


def _machine(root: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A folder standing for a machine, and the environment of the commands run on it."""
    folder = root / name
    (folder / "home").mkdir(parents=True)
    return folder, {"AUTOML_HOME": str(folder / "home")}


def _start_worker(folder: Path, env: dict[str, str], stores: list[str]) -> subprocess.Popen:
    with (folder / "worker.log").open("w") as log:
        command = [sys.executable, "-m", "automl", "worker", "--study", STUDY, *stores]
        return subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=cli_env(**env))


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_three_workers_and_a_fourth_machine_share_no_disk(postgres, mlflow_server, tmp_path):
    tracking, artifacts = mlflow_server.url, mlflow_server.artifacts
    storage = postgres.database(STUDY)
    stores = ["--storage", storage, "--tracking-uri", tracking]
    workers = [_machine(tmp_path, f"worker-{i}") for i in range(3)]

    create = ["search", "--study-name", STUDY, "--trials", str(TRIALS), "--epochs", "1", "--pruner", "none"]
    _ok(run_cli([*create, *stores, "--create-only"], workers[0][0], **workers[0][1]))
    processes = [_start_worker(folder, env, stores) for folder, env in workers]
    try:
        codes = [process.wait(timeout=600) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert codes == [0, 0, 0], "\n".join(_logs(folder) for folder, _ in workers)

    study = optuna.load_study(study_name=STUDY, storage=storage)
    records = [record for record in map(TrialRecord.of, study.get_trials()) if record.model_uri is not None]
    assert sum(r.state == optuna.trial.TrialState.COMPLETE for r in records) >= FINALISTS
    for record in records:  # each model went to MLflow; its copy is on the machine that trained it only
        assert record.model_uri is not None and record.model_uri.startswith("models:/m-")
        trainer = [folder for folder, _ in workers if Path(record.model_path).is_relative_to(folder)]
        assert len(trainer) == 1 and Path(record.model_path).is_file()
    assert len(list(artifacts.rglob("MLmodel"))) == len(records)  # uploaded through the server, into DIR

    for folder, _ in workers:  # the fourth machine never sees the workers' files
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    fourth, env = _machine(tmp_path, "fourth")
    compare = ["compare", "--study", STUDY, "--top", str(FINALISTS), "--final-epochs", "1", "--json", *stores]
    _ok(run_cli(compare, fourth, **env))
    final_models = StudyRecord.of(optuna.load_study(study_name=STUDY, storage=storage)).final_models
    assert len(final_models) == FINALISTS and all(uri.startswith("models:/m-") for uri in final_models.values())
    subprocess.run(["rm", "-rf", str(env["AUTOML_HOME"])], check=True)  # the retrained models come back too
    out = _ok(run_cli(["export", "--study", STUDY, "--out", "exports/winner", *stores], fourth, **env))
    assert f"registered: models:/{STUDY}-model@champion" in out
    assert (fourth / "exports" / "winner" / "model.keras").is_file()

    images = (load_digits().images[:5, :, :, None] * (255.0 / 16.0)).astype("float32")
    Image.fromarray(images[0, :, :, 0].astype("uint8")).save(fourth / "digit.png")
    champion = f"models:/{STUDY}-model@champion"
    _ok(run_cli(["predict", "--model", champion, "--tracking-uri", tracking, "digit.png"], fourth, **env))
    mlflow.set_tracking_uri(tracking)
    probabilities = mlflow.pyfunc.load_model(champion).predict(images)
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    client = MlflowClient(tracking)
    logged = client.search_logged_models([client.get_experiment_by_name(STUDY).experiment_id])
    assert len(logged) == len(records) + FINALISTS  # the trials' models and the retrained finalists
    assert {m.source_run_id for m in logged} == {r.mlflow_run_id for r in records}
    finals = [m for m in logged if m.tags.get("trained_on") == "train+validation"]  # compared on the test split
    assert all("test_accuracy" in {metric.key for metric in m.metrics} for m in finals) and len(finals) == FINALISTS
