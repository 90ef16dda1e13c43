"""Every exported format runs where users deploy it, without this project's packages.

Sampled architectures covering every block type, trained with and without label smoothing
(the smoothed loss is this project's own ``SmoothedSparseCrossentropy``), are exported with
``export_bundle`` and saved as a study saves its trials (``save_inference_model``). Each
format is then loaded in a child process that cannot import ``automl``, ``searchspace`` or
``pipelines`` (plain Keras for ``.keras``, TensorFlow for the SavedModel, ONNX Runtime for
``model.onnx``) and must predict what the trained model predicts on the same images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from sklearn.datasets import load_digits

import searchspace as ss
from automl._bundle import export_bundle, save_inference_model
from automl._hparams import TrainingSpec
from automl._training import SmoothedSparseCrossentropy, compile_model, wrap_with_normalization

pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed (pip install -e '.[dev]')")
pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed (pip install -e '.[dev]')")

optuna.logging.set_verbosity(optuna.logging.WARNING)

INPUT_SHAPE = (8, 8, 1)
NUM_CLASSES = 10
BLOCKED = ("automl", "searchspace", "pipelines")
EXACT = 1e-6  # Keras and SavedModel: the same TensorFlow kernels, so equal up to float rounding
ONNX_TOLERANCE = 1e-4

# The child's first lines: the project's packages cannot be imported, from any path.
_BLOCKER = f"""
import importlib.abc
import sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked: an export must load without this project")
        return None

sys.meta_path.insert(0, _Blocked())
try:
    import automl
except ImportError:
    pass
else:
    raise SystemExit("the project's packages are not blocked")
"""

# Each loader reads the images and {key: path} of its format, and fills {key: probabilities}.
_LOADERS = {
    "keras": """
        import keras
        predictions = {
            key: keras.saving.load_model(path).predict(images, batch_size=64, verbose=0) for key, path in paths.items()
        }
    """,
    "saved_model": """
        import tensorflow as tf
        predictions = {}
        for key, path in paths.items():
            loaded = tf.saved_model.load(path)
            served = loaded.serve(tf.constant(images)).numpy()
            signature = loaded.signatures["serving_default"](image=tf.constant(images))
            info[key] = {"signature_outputs": sorted(signature)}
            np.testing.assert_array_equal(signature["output_0"].numpy(), served)
            predictions[key] = served
    """,
    "onnx": """
        import onnxruntime as ort
        predictions = {}
        for key, path in paths.items():
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            inputs, outputs = session.get_inputs(), session.get_outputs()
            info[key] = {
                "inputs": [(i.name, i.shape, i.type) for i in inputs],
                "outputs": [(o.name, o.shape, o.type) for o in outputs],
            }
            predictions[key] = session.run(None, {inputs[0].name: images})[0]
        info["tensorflow_imported"] = "tensorflow" in sys.modules
    """,
}


def _child_script(loader: str) -> str:
    body = textwrap.dedent(
        """
        import json
        import sys
        import numpy as np

        images = np.load(sys.argv[1])
        paths = json.loads(sys.argv[2])
        info = {}
        """
    )
    end = "\nnp.savez(sys.argv[3], **predictions)\nopen(sys.argv[4], 'w').write(json.dumps(info))\n"
    return _BLOCKER + body + textwrap.dedent(loader) + end


@dataclass(frozen=True, kw_only=True)
class Exported:
    """One trained model, its bundle, its trial checkpoint and what it predicts in this process."""

    key: str
    block_types: frozenset[str]
    label_smoothing: float
    bundle: Path
    checkpoint: Path
    predicted: np.ndarray


def _digits() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    return (digits.images[..., None] * (255 / 16)).astype("float32"), digits.target


def _sample(block_type: str, seed: int) -> ss.ArchitectureSpec:
    """A small feasible architecture whose stages are made of ``block_type`` blocks only."""
    space = ss.SearchSpace(
        block_types=ss.Choice(choices=(block_type,)),
        stem_filters=ss.IntRange(low=4, high=8),
        filters=ss.IntRange(low=4, high=12),
        stages=ss.IntRange(low=1, high=2),
        head_units=ss.IntRange(low=8, high=16),
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(20):
        spec = ss.sample_architecture(study.ask(), space, input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES)
        try:
            ss.analyze(spec, INPUT_SHAPE, NUM_CLASSES)
        except ss.InfeasibleArchitecture:
            continue
        return spec
    raise AssertionError(f"no feasible architecture of {block_type!r} blocks in 20 samples")


@pytest.fixture(scope="module")
def images_and_labels() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images, labels = _digits()
    return images[:320], labels[:320], images[-128:]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, images_and_labels) -> list[Exported]:
    """One model per block type, trained for one epoch; label smoothing on every other one."""
    x_train, y_train, x_test = images_and_labels
    mean, std = (float(x_train.mean()),), (float(x_train.std()),)
    root = tmp_path_factory.mktemp("portability")
    result = []
    for i, block_type in enumerate(sorted(ss.BLOCKS)):
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(i)
        spec = _sample(block_type, seed=i)
        core = ss.build_model(spec, INPUT_SHAPE, NUM_CLASSES)
        model = wrap_with_normalization(core, INPUT_SHAPE, mean, std)
        training = TrainingSpec(batch_size=32, epochs=1, label_smoothing=0.1 if i % 2 == 0 else 0.0)
        compile_model(model, training, NUM_CLASSES)
        assert isinstance(model.loss, SmoothedSparseCrossentropy) == (training.label_smoothing > 0)
        model.fit(x_train, y_train, batch_size=training.batch_size, epochs=1, verbose=0)
        key = f"{i}_{block_type}"
        bundle = export_bundle(model, root / key, card={"class_names": [str(d) for d in range(10)]}, onnx=True)
        assert bundle.onnx_path is not None and bundle.notes == (), bundle.notes
        result.append(
            Exported(
                key=key,
                block_types=frozenset(block.type_name for _, _, block in spec.blocks()),
                label_smoothing=training.label_smoothing,
                bundle=bundle.out_dir,
                checkpoint=save_inference_model(model, root / f"trial_{i}.keras"),
                predicted=model.predict(x_test, batch_size=64, verbose=0),
            )
        )
    return result


def _run_child(loader: str, paths: dict[str, str], images: np.ndarray, tmp_path: Path) -> tuple[dict, dict]:
    """Run ``loader`` in a child process with the project blocked; its predictions and info."""
    np.save(tmp_path / "images.npy", images)
    command = [
        sys.executable,
        "-c",
        _child_script(_LOADERS[loader]),
        str(tmp_path / "images.npy"),
        json.dumps(paths),
        str(tmp_path / "predictions.npz"),
        str(tmp_path / "info.json"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    with np.load(tmp_path / "predictions.npz") as predictions:
        return {key: predictions[key] for key in predictions.files}, json.loads((tmp_path / "info.json").read_text())


def test_the_exports_cover_every_block_type_with_and_without_label_smoothing(exported: list[Exported]) -> None:
    assert set().union(*(e.block_types for e in exported)) == set(ss.BLOCKS)
    assert {e.label_smoothing > 0 for e in exported} == {True, False}


def test_the_children_cannot_import_the_project(tmp_path: Path) -> None:
    script = _BLOCKER + "\nimport searchspace\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "searchspace is blocked" in done.stderr


def test_keras_files_load_in_plain_keras(exported: list[Exported], images_and_labels, tmp_path: Path) -> None:
    """The bundle's ``model.keras`` and the trial's checkpoint, smoothed loss or not."""
    paths = {f"bundle-{e.key}": str(e.bundle / "model.keras") for e in exported}
    paths.update({f"checkpoint-{e.key}": str(e.checkpoint) for e in exported})
    predictions, _ = _run_child("keras", paths, images_and_labels[2], tmp_path)
    for e in exported:
        for source in ("bundle", "checkpoint"):
            key = f"{source}-{e.key}"
            np.testing.assert_allclose(predictions[key], e.predicted, rtol=0, atol=EXACT, err_msg=key)


def test_saved_model_serves_in_tensorflow(exported: list[Exported], images_and_labels, tmp_path: Path) -> None:
    paths = {e.key: str(e.bundle / "saved_model") for e in exported}
    predictions, info = _run_child("saved_model", paths, images_and_labels[2], tmp_path)
    for e in exported:
        assert info[e.key] == {"signature_outputs": ["output_0"]}, e.key
        np.testing.assert_allclose(predictions[e.key], e.predicted, rtol=0, atol=EXACT, err_msg=e.key)


def test_onnx_runs_in_onnxruntime(exported: list[Exported], images_and_labels, tmp_path: Path) -> None:
    paths = {e.key: str(e.bundle / "model.onnx") for e in exported}
    predictions, info = _run_child("onnx", paths, images_and_labels[2], tmp_path)
    assert info.pop("tensorflow_imported") is False
    for e in exported:
        assert info[e.key] == {
            "inputs": [["image", ["batch", *INPUT_SHAPE], "tensor(float)"]],
            "outputs": [["probabilities", ["batch", NUM_CLASSES], "tensor(float)"]],
        }, e.key
        np.testing.assert_allclose(predictions[e.key], e.predicted, rtol=0, atol=ONNX_TOLERANCE, err_msg=e.key)
        np.testing.assert_array_equal(predictions[e.key].argmax(axis=1), e.predicted.argmax(axis=1), err_msg=e.key)
