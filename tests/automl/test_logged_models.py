"""Models live in MLflow: logged models with a signature, an input example and the backend's
requirements, loaded through a local cache; the champion serves through ``mlflow.pyfunc``."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image
from sklearn.datasets import load_digits

from automl._errors import UserError
from automl._models import load_model, log_model, predict_mlflow_files
from automl._registry import register_champion
from automl._tracking import Tracker

CLASS_NAMES = [f"digit {i}" for i in range(10)]


def _raw_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits images as the model takes them: raw 0..255 float32, H x W x C."""
    digits = load_digits()
    return (digits.images[:n, :, :, None] * (255.0 / 16.0)).astype("float32"), digits.target[:n]


@pytest.fixture
def model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_a_logged_model_is_downloaded_again_once_its_copy_is_gone(
    workdir: Path, model: keras.Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = Tracker(f"sqlite:///{workdir / 'store' / 'mlflow.db'}", "logged")
    run_id = tracker.open_parent("logged", None)
    images, _ = _raw_digits(5)
    copy = log_model(
        tracker,
        model,
        run_id=run_id,
        name="trial-0",
        example=images[:2],
        class_names=CLASS_NAMES,
        value_map=None,
        params={"lr": "0.1"},
        tags={"trained_on": "train"},
        step=3,
    )

    # The logged model: READY, produced by the run (listed among its outputs), with its params.
    client = MlflowClient(tracker.tracking_uri)
    logged = client.get_logged_model(copy.model_id)
    assert (str(logged.status), logged.source_run_id, logged.params) == ("READY", run_id, {"lr": "0.1"})
    assert [(o.model_id, o.step) for o in client.get_run(run_id).outputs.model_outputs] == [(copy.model_id, 3)]
    # What serving needs: signature, raw-image input example, Keras and its backend pinned.
    description = mlflow.models.Model.load(str(copy.folder / "MLmodel"))
    assert str(description.signature.inputs.inputs[0].shape) == "(-1, 8, 8, 1)"
    example = json.loads((copy.folder / "input_example.json").read_text())
    assert np.array_equal(np.asarray(example), images[:2])
    requirements = (copy.folder / "requirements.txt").read_text().split()
    assert f"keras=={keras.__version__}" in requirements
    assert any(r.startswith(f"{keras.backend.backend()}==") for r in requirements), requirements
    assert description.metadata["class_names"] == CLASS_NAMES
    assert "map yours" not in description.metadata["input"]  # pixels: nothing to map

    downloaded: list[str] = []
    download_model = tracker.download_model

    def counted(model_id: str, folder: Path) -> None:
        downloaded.append(model_id)
        download_model(model_id, folder)

    monkeypatch.setattr(tracker, "download_model", counted)
    expected = model.predict(images, verbose=0)
    assert np.allclose(load_model(tracker, copy.uri).predict(images, verbose=0), expected)  # the local copy
    assert downloaded == []  # the machine that trained a model never downloads it
    shutil.rmtree(workdir / "mlruns" / "models")
    assert np.allclose(load_model(tracker, copy.uri).predict(images, verbose=0), expected)  # downloaded
    assert (copy.folder / "MLmodel").is_file() and downloaded == [copy.model_id]
    # Another process on this machine finishing the same copy first is no error.
    shutil.copytree(copy.folder, workdir / "finished-elsewhere")
    shutil.rmtree(copy.folder)

    def finished_elsewhere(model_id: str, folder: Path) -> None:
        shutil.copytree(workdir / "finished-elsewhere", copy.folder)
        raise OSError("Directory not empty")

    monkeypatch.setattr(tracker, "download_model", finished_elsewhere)
    assert np.allclose(load_model(tracker, copy.uri).predict(images, verbose=0), expected)
    monkeypatch.setattr(tracker, "download_model", download_model)

    with pytest.raises(UserError, match="cannot load models:/m-nope"):
        load_model(tracker, "models:/m-nope")
    with pytest.raises(UserError, match="cannot load models:/ from the MLflow store .*: not a models:/ URI"):
        load_model(tracker, "models:/")  # a URI that names no model is the user's error, not a traceback


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_model_whose_upload_fails_is_marked_failed_not_left_pending(
    workdir: Path, model: keras.Model, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    tracker = Tracker(f"sqlite:///{workdir / 'store' / 'mlflow.db'}", "failing")
    run_id = tracker.open_parent("failing", None)
    created: list[str] = []
    create_logged_model = tracker.create_logged_model

    def create(*args, **kwargs):
        model_id, location = create_logged_model(*args, **kwargs)
        created.append(model_id)
        return model_id, location

    def upload(model_id: str, folder: Path) -> None:
        raise error

    monkeypatch.setattr(tracker, "create_logged_model", create)
    monkeypatch.setattr(tracker, "upload_model", upload)
    images, _ = _raw_digits(2)
    with pytest.raises(type(error)):
        log_model(
            tracker, model, run_id=run_id, name="trial-0", example=images, class_names=CLASS_NAMES,
            value_map=None, params={}, tags={},
        )  # fmt: skip
    client = MlflowClient(tracker.tracking_uri)
    (model_id,) = created
    assert str(client.get_logged_model(model_id).status) == "FAILED"  # the UI shows no upload in progress forever
    assert client.get_run(run_id).outputs.model_outputs == []  # and the run lists no model it could not keep


def test_the_champion_serves_raw_images_through_pyfunc_and_predict(workdir: Path, model: keras.Model) -> None:
    tracker = Tracker(f"sqlite:///{workdir / 'store' / 'mlflow.db'}", "champ")
    run_id = tracker.open_parent("champ", None)
    images, _ = _raw_digits(5)
    twelve_bit = (0.0, 255 / 4095)  # trained on 12-bit values, mapped onto 0..255
    log = functools.partial(log_model, tracker, model, run_id=run_id, example=images[:2], class_names=CLASS_NAMES)
    copy = log(name="winner", value_map=twelve_bit, params={}, tags={})
    assert register_champion(tracker, "champ", copy.uri, tags={"trial": "0"}) == (
        "models:/champ-model@champion (version 1)"
    )
    # The same model registered again keeps its version (each export made a copy of it); another is new.
    assert register_champion(tracker, "champ", copy.uri, tags={"trial": "0"}).endswith("(version 1)")
    other = log(name="other", value_map=None, params={}, tags={})
    assert register_champion(tracker, "champ", other.uri, tags={}, champion=False).startswith("models:/champ-model/2 ")
    assert register_champion(tracker, "champ", copy.uri, tags={"trial": "0"}).endswith("(version 1)")

    served = mlflow.pyfunc.load_model("models:/champ-model@champion")
    # Its metadata's input contract says how to map 12-bit values to the pixels it takes.
    assert served.metadata.metadata["input"].endswith("map yours to pixels as (value - 0) * 0.062271062271062272")
    assert np.allclose(served.predict(images), model.predict(images, verbose=0), atol=1e-6)

    # An 8-bit file holds pixels; a 16-bit one the training data's 12-bit values, mapped as they were.
    paths = [workdir / "digit_0.png", workdir / "digit_1_12bit.png"]
    Image.fromarray(images[0, :, :, 0].astype("uint8")).save(paths[0])
    Image.fromarray(np.rint(images[1, :, :, 0] * (4095 / 255)).astype(np.uint16)).save(paths[1])
    shutil.rmtree(workdir / "mlruns" / "models")
    rows = predict_mlflow_files("models:/champ-model@champion", paths, tracking_uri=tracker.tracking_uri)
    probabilities = model.predict(images[:2], verbose=0)
    assert [row["class"] for row in rows] == [CLASS_NAMES[i] for i in probabilities.argmax(axis=1)]
    assert np.allclose([row["probability"] for row in rows], probabilities.max(axis=1), atol=0.02)


def test_a_model_path_an_older_study_recorded_that_is_gone_is_a_user_error(tmp_path: Path) -> None:
    gone = tmp_path / "trial-0.keras"
    with pytest.raises(UserError, match=f"no saved model at '{gone}' \\(a path on the machine that trained it\\)"):
        load_model(None, str(gone))  # type: ignore[arg-type]  # a path needs no tracker
