"""``automl.search`` from Python: the whole workflow, the parent run's status, a quiet console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from PIL import Image

import automl
from automl._errors import StudyStopped, UserError
from automl._settings import RuntimeSettings
from pipelines import DataError
from tests.automl.helpers import run_cli

NOISE = ("oneDNN", "cuInit", "absl::", "cudart_stub", "model signature", "Skipping variable loading")


def _runs(workdir: Path, study: str) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(study)
    return client.search_runs([experiment.experiment_id])


def test_search_runs_the_whole_workflow_and_closes_the_parent_run(workdir):
    result = automl.search(study_name="api", trials=3, epochs=1, quiet=True)

    assert list(result.trials["trial"]) == [0, 1, 2]
    assert result.comparison is not None and result.winner in set(result.trials["trial"])
    assert result.export_dir == (workdir / "exports" / "api").resolve()
    assert (result.export_dir / "model.keras").is_file()
    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["trial"] == result.winner and card["trained_on"].startswith("train+validation")
    # The epochs of the retraining, which the search's recipe (card["training"]) does not say.
    assert card["retraining_epochs"] == [card["training"]["epochs"]] * card["members"]
    assert result.registered and "models:/api-model@champion" in result.registered
    statuses = {run.info.run_name: run.info.status for run in _runs(workdir, "api")}
    assert statuses["api"] == "FINISHED" and "RUNNING" not in statuses.values()

    # Run again (a notebook cell run twice), it has nothing new to compare: it returns the
    # comparison and the bundle of the run that made them. It returned neither.
    again = automl.search(study_name="api", trials=3, epochs=1, quiet=True)
    assert again.comparison is not None and again.comparison.to_dict() == result.comparison.to_dict()
    assert (again.winner, again.export_dir, again.no_comparison) == (result.winner, result.export_dir, None)
    assert again.export.keras_path == result.export.keras_path and again.export.notes == result.export.notes
    assert "its 3 finished trials were already compared and exported" in again.earlier


def test_a_resumed_search_that_ran_no_trial_says_why(workdir, monkeypatch):
    # With nothing new to compare, a resumed search dropped why its trials had stopped
    # (a time budget too short for a trial): no "stopped early" line, nothing run, exit 0.
    automl.search(study_name="api", trials=2, epochs=1, quiet=True)
    why = "no time for a trial: 5s left before the search deadline, and a new trial's first 3 epochs take about 7s"
    monkeypatch.setattr("automl._driver._stop_reason", lambda *args, **kwargs: why)

    again = automl.search(study_name="api", trials=2, epochs=1, quiet=True)

    assert again.stopped_early == why and again.earlier is not None


def test_a_stopped_search_closes_its_parent_run_as_failed(workdir):
    faults = RuntimeSettings(faults={0: "error", 1: "error"})
    with pytest.raises(StudyStopped, match="injected failure"):
        automl.search(study_name="stops", trials=3, epochs=1, max_consecutive_failures=2, quiet=True, settings=faults)
    statuses = {run.info.run_name: run.info.status for run in _runs(workdir, "stops")}
    assert statuses["stops"] == "FAILED" and "RUNNING" not in statuses.values()


def test_an_error_before_the_first_trial_closes_the_parent_run_as_failed(workdir, monkeypatch):
    def broken_runtime():
        raise RuntimeError("no threads to configure")

    monkeypatch.setattr("automl._driver.configure_runtime", broken_runtime)
    with pytest.raises(RuntimeError, match="no threads"):
        automl.search(study_name="early", trials=1, epochs=1, quiet=True)
    statuses = {run.info.run_name: run.info.status for run in _runs(workdir, "early")}
    assert statuses == {"early": "FAILED"}


def test_options_come_from_a_study_file_and_the_given_ones_win(workdir):
    path = workdir / "study.toml"
    path.write_text('study_name = "from-file"\ntrials = 9\nmargin = 0.02\ntime_budget = "2m"\n')
    config = automl._search.study_config(path, trials=2)
    assert (config.study_name, config.trials, config.margin, config.time_budget) == ("from-file", 2, 0.02, 120.0)


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_search_prints_no_library_noise(workdir, backend):
    pytest.importorskip(backend)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL")}
    command = ["search", "--study-name", "quiet", "--trials", "2", "--epochs", "1", "--backend", backend]
    result = subprocess.run(
        [sys.executable, "-m", "automl", *command],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert [line for line in output.splitlines() if any(noise in line for noise in NOISE)] == []
    assert "exported the winner" in result.stdout
    # only TensorFlow writes the SavedModel; another backend says why there is none
    assert ("note: SavedModel skipped" in result.stdout) == (backend != "tensorflow")


def test_verbose_shows_what_is_hidden(workdir):
    result = run_cli(["search", "--study-name", "loud", "--trials", "1", "--epochs", "1", "--verbose"], workdir)
    assert result.returncode == 0, result.stderr
    assert "oneDNN" in result.stderr or "cudart_stub" in result.stderr


def _digits() -> tuple:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.images * 16).clip(0, 255).astype("uint8"), digits.target
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def test_search_on_arrays_in_memory_saves_them_once_and_resumes_on_them(workdir):
    (x, y), (x_test, y_test) = _digits()
    first = automl.search(data=((x, y), (x_test, y_test)), study_name="arrays", trials=2, epochs=1, quiet=True)

    saved = list((workdir / "mlruns" / "data").iterdir())
    assert len(saved) == 1 and first.config.data == str(saved[0])
    assert (first.export_dir / "model.keras").is_file()
    parent = next(run for run in _runs(workdir, "arrays") if run.info.run_name == "arrays")
    assert parent.data.params["data.source"] == f"npz '{saved[0]}'"
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    splits = json.loads(Path(client.download_artifacts(parent.info.run_id, "data/splits.json")).read_text())
    assert splits["test_given"] and splits["sizes"]["test"] == len(x_test), splits  # the given test split

    again = automl.search(
        data=(x.copy(), y.copy(), x_test, y_test), study_name="arrays", trials=3, epochs=1, quiet=True
    )
    assert list(again.trials["trial"]) == [0, 1, 2]  # resumed: one more trial
    assert list((workdir / "mlruns" / "data").iterdir()) == saved
    with pytest.raises(UserError, match=r"^study 'arrays' searches data '.*arrays-\w+\.npz', not '.*arrays-\w+\.npz'"):
        automl.search(data=(x[:500], y[:500]), study_name="arrays", trials=4, epochs=1, quiet=True)


def test_search_refuses_bad_arrays_before_making_a_store(workdir):
    (x, y), _ = _digits()
    with pytest.raises(DataError, match="1400 training images but 10 training labels"):
        automl.search(data=(x, y[:10]), trials=1, epochs=1, quiet=True)
    assert not (workdir / "mlruns").exists()
    # Options given as the command line spells them, or of the wrong kind, quoted.
    with pytest.raises(UserError, match=r"^settings must be an automl.RuntimeSettings, got 'foo'$"):
        automl.search(data=(x, y), settings="foo", quiet=True)
    with pytest.raises(UserError, match=r"image_size must be two positive whole numbers \(height, width\), got '32,x'"):
        automl.search(image_size="32,x", trials=1, quiet=True)
    with pytest.raises(UserError, match=r"^seed_architectures must be a list of names, got 123$"):
        automl.search(seed_architectures=123, trials=1, quiet=True)  # was TypeError: 'int' object is not iterable
    with pytest.raises(UserError, match=r"^config must be the path of a study file, got 123$"):
        automl.search(config=123, trials=1, quiet=True)
    assert automl.search(image_size="12,12", trials=1, create_only=True, quiet=True).config.image_size == (12, 12)


def test_search_on_arrays_as_pytorch_and_to_categorical_leave_them(workdir, capsys):
    import keras
    import numpy as np

    (x, y), (x_test, y_test) = _digits()
    data = (x[:, None], keras.utils.to_categorical(y), x_test[:, None], keras.utils.to_categorical(y_test))
    result = automl.search(data=data, study_name="layouts", trials=1, epochs=1, views=1, quiet=True)

    assert "note: read channels-first images (N, C, H, W) moved to channels-last" in capsys.readouterr().err
    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["input_shape"] == [8, 8, 1] and len(card["preprocessing"]["conversions"]) == 2
    model = keras.saving.load_model(result.export_dir / "model.keras")
    predicted = np.argmax(model.predict(x_test[..., None].astype("float32"), verbose=0), axis=1)
    assert np.mean(predicted == y_test) > 0.5  # channels-last images, classes in label order


def test_a_search_on_values_in_0_to_1_exports_a_model_that_takes_them(workdir):
    # The exported model took pixels: fed the 0..1 floats it was trained on, as a user feeds
    # them, it predicted one class for every image.
    import keras
    import numpy as np

    (x, y), (x_test, y_test) = _digits()
    scaled = (x / 255).astype("float32"), y, (x_test / 255).astype("float32"), y_test
    result = automl.search(data=scaled, study_name="unit", trials=1, epochs=2, views=1, quiet=True)
    model = keras.saving.load_model(result.export_dir / "model.keras")
    predicted = np.argmax(model.predict(scaled[2][..., None], verbose=0), axis=1)
    assert np.mean(predicted == y_test) > 0.5
    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["input_value_map"] == {"low": 0.0, "factor": 255.0}
    assert card["formats"]["input"].startswith("values as the training data's, as float32 (the training data's values")
    # `automl predict` reads image files as pixels and maps them back to those values.
    (workdir / "files").mkdir()
    for i in range(20):
        Image.fromarray(x_test[i]).save(workdir / "files" / f"{i:02d}.png")
    rows = automl.predict_files(result.export_dir, workdir / "files")
    assert [row["index"] for row in rows] == predicted[:20].tolist()
