"""Trained models live in MLflow: logged models, loaded through a local cache.

Every trial that trained (completed or pruned) logs its model as an MLflow 3 logged model
produced by the trial's nested run, with the run's parameters (its metrics are linked to
the model when the run flushes them), and so does every finalist retrained on
train+validation (``automl._compare``). The Optuna storage records the model's
``models:/<model id>`` URI (``automl._records``), not a path on the machine that trained it,
so any machine that reaches the tracking server can load it: ``compare``, ``export`` and
``predict`` copy a model once into ``mlruns/models/<model id>/`` and load it from there.
The machine that trains a model writes that copy itself, so it never downloads its own
models; a logged model never changes, so a copy is never stale.

A logged model is an MLflow Model folder of the Keras flavour: ``data/model.keras`` (an
inference model: raw 0..255 images in, softmax probabilities out), a tensor signature, an
input example of raw images, the class names in its metadata, and pip requirements naming
Keras and the backend package that trained it. So ``mlflow.pyfunc.load_model`` serves it
and ``mlflow.keras.load_model`` returns the Keras model.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl._atomic import write_atomically
from automl._bundle import (
    classify_files,
    inference_model,
    load_keras_file,
    value_map_of,
    with_pixel_map,
)
from automl._errors import UserError
from automl._stores import (
    STORE_NAMES,
    default_tracking_uri,
    model_cache,
    normalize_url,
    redact,
    refuse_missing,
    scrub,
)
from automl._tracking import MODELS_SCHEME, Tracker

if TYPE_CHECKING:
    import keras

__all__ = [
    "ModelCopy",
    "log_model",
    "load_model",
    "cached_model",
    "load_mlflow_model",
    "predict_mlflow_files",
    "is_logged",
    "requirements",
]

MLMODEL = "MLmodel"
KERAS_PATH = Path("data") / "model.keras"  # where the Keras flavour puts the model
INPUT_CONTRACT = "raw pixel values in 0..255 as float32, shape (batch, H, W, C); the model normalises them"
# Keras backend -> the package that provides it (what the requirements must name).
_BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "openvino": "openvino"}


@dataclass(frozen=True, kw_only=True)
class ModelCopy:
    """A logged model and its copy on this machine."""

    model_id: str
    folder: Path

    @property
    def uri(self) -> str:
        return f"{MODELS_SCHEME}{self.model_id}"

    @property
    def keras_path(self) -> Path:
        return self.folder / KERAS_PATH


def is_logged(ref: str) -> bool:
    """Whether a recorded model reference is a logged model (else a local path, as older studies stored)."""
    return ref.startswith(MODELS_SCHEME)


def requirements() -> list[str]:
    """Pip requirements of a logged model: Keras and the backend package in use, pinned."""
    import keras

    found = [f"keras=={md.version('keras')}"]
    package = _BACKEND_PACKAGES.get(keras.backend.backend())
    if package is not None:
        found.append(f"{package}=={md.version(package)}")
    return found


def log_model(
    tracker: Tracker,
    model: keras.Model,
    *,
    run_id: str,
    name: str,
    example: np.ndarray,
    class_names: Sequence[str],
    value_map: tuple[float, float] | None,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    step: int = 0,
) -> ModelCopy:
    """Log ``model`` (its inference copy) as a logged model produced by run ``run_id``.

    ``example`` is a few raw images (0..255, H x W x C): the input example. ``class_names``
    and the training data's ``value_map`` (``pipelines.Dataset``) go into the model's
    metadata, for ``predict_mlflow_files``. The model is
    written to this machine's cache, uploaded from there, then marked READY and listed
    among the run's outputs at ``step``; a failed upload marks it FAILED and raises.
    """
    model = inference_model(model)
    model_id, location = tracker.create_logged_model(run_id, name, params=params, tags=tags)
    description: dict[str, Any] = {"artifact_path": location, "run_id": run_id, "model_id": model_id}
    metadata: dict[str, Any] = {"class_names": list(class_names), "input": with_pixel_map(INPUT_CONTRACT, value_map)}
    if value_map is not None:
        metadata["value_map"] = dict(zip(("low", "factor"), value_map, strict=True))

    def save_and_upload(folder: Path) -> None:
        _save(model, folder, description, np.asarray(example, dtype="float32"), metadata)
        tracker.upload_model(model_id, folder)

    try:
        folder = write_atomically(model_cache(model_id), save_and_upload)
    except BaseException:  # Ctrl-C too: a model left PENDING shows in the UI as ever uploading
        tracker.finish_logged_model(model_id, run_id, step=step, ready=False)
        raise
    tracker.finish_logged_model(model_id, run_id, step=step, ready=True)
    return ModelCopy(model_id=model_id, folder=folder)


def _save(
    model: keras.Model, folder: Path, description: dict[str, Any], example: np.ndarray, metadata: dict[str, Any]
) -> None:
    import mlflow.keras
    from mlflow.models import Model, ModelSignature
    from mlflow.types import Schema, TensorSpec

    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float32"), (-1, *model.input_shape[1:]))]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, *model.output_shape[1:]))]),
    )
    # MLflow 3.17's Keras flavour writes the input example before it creates the model's
    # folder (so ``mlflow.keras.log_model(input_example=...)`` fails): give it the folder.
    folder.mkdir(parents=True)
    mlflow.keras.save_model(
        model,
        str(folder),
        mlflow_model=Model(**description, model_uuid=description["model_id"]),
        signature=signature,
        input_example=example,
        pip_requirements=requirements(),
        metadata=metadata,
    )


def cached_model(tracker: Tracker, uri: str) -> ModelCopy:
    """This machine's copy of the logged model ``uri`` names, downloaded first if missing.

    Raises:
        UserError: the store has no such model, or it cannot be reached.
    """
    from mlflow.exceptions import MlflowException

    try:
        model_id = tracker.model_id_of(uri)
        copy = ModelCopy(model_id=model_id, folder=model_cache(model_id))
        if not (copy.folder / MLMODEL).is_file():
            _download(tracker, copy)
    except (MlflowException, ValueError) as exc:
        store, reason = redact(tracker.tracking_uri), scrub(str(exc), tracker.tracking_uri)
        raise UserError(f"cannot load {uri} from the MLflow store {store!r}: {reason}") from None
    return copy


def _download(tracker: Tracker, copy: ModelCopy) -> None:
    def download(folder: Path) -> None:
        folder.mkdir(parents=True)
        tracker.download_model(copy.model_id, folder)

    try:
        write_atomically(copy.folder, download)
    except OSError:
        if not (copy.folder / MLMODEL).is_file():  # else another process here finished the same copy first
            raise


def load_model(tracker: Tracker, ref: str) -> keras.Model:
    """The Keras model a study recorded: a ``models:/`` URI (through the cache) or, in studies
    written before models lived in MLflow, a local ``.keras`` path.

    Raises:
        UserError: the model cannot be found.
    """
    if is_logged(ref):
        return load_keras_file(cached_model(tracker, ref).keras_path)
    if not Path(ref).is_file():
        raise UserError(f"no saved model at {ref!r} (a path on the machine that trained it)")
    return load_keras_file(ref)


def load_mlflow_model(
    uri: str, *, tracking_uri: str | None
) -> tuple[keras.Model, list[str], tuple[float, float] | None]:
    """The Keras model, class names and training data's value map (``log_model``) of a
    ``models:/`` URI (e.g. ``models:/NAME@champion``).

    Raises:
        UserError: the model cannot be found, or the store is a SQLite file that does not exist.
    """
    from mlflow.models import Model

    refuse_missing(normalize_url(tracking_uri or default_tracking_uri()), STORE_NAMES["mlflow"])
    copy = cached_model(Tracker(tracking_uri, experiment_name=None), uri)
    model = load_keras_file(copy.keras_path)
    metadata = Model.load(str(copy.folder / MLMODEL)).metadata or {}
    names = metadata.get("class_names") or [str(i) for i in range(int(model.output_shape[-1]))]
    return model, [str(name) for name in names], value_map_of(metadata.get("value_map"))


def predict_mlflow_files(uri: str, files: Sequence[str | Path], *, tracking_uri: str | None) -> list[dict[str, Any]]:
    """``automl._bundle.predict_files`` for a ``models:/`` URI (``models:/NAME@champion``,
    ``models:/NAME/3``, ``models:/MODEL_ID``) of the MLflow store ``tracking_uri`` (default:
    the local one), loaded through this machine's copy.

    Raises:
        UserError: the model cannot be found. pipelines.DataError: see ``predict_files``.
    """
    model, class_names, value_map = load_mlflow_model(uri, tracking_uri=tracking_uri)
    return classify_files(model, class_names, files, value_map=value_map)
