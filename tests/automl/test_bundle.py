"""The export bundle of ``automl._bundle``: files, model card, safe reloading, refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from automl import _bundle
from automl._bundle import ExportResult, export_bundle, inference_model, load_bundle, save_inference_model
from automl._mcnemar import Finalist, compare_finalists

CLASS_NAMES = [f"digit {i}" for i in range(10)]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as float32 images (N, 8, 8, 1) in the 0..255 scale, and labels."""
    digits = load_digits()
    return (digits.images[..., None] * (255 / 16)).astype("float32"), digits.target


@pytest.fixture(scope="module")
def trained() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A small self-contained model trained for a few steps; test images and labels."""
    images, labels = _digits()
    train, test = slice(0, 1400), slice(1400, None)
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 1), name="image")
    x = keras.layers.Normalization(mean=images[train].mean(), variance=images[train].var())(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="digits_cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images[train], labels[train], batch_size=64, epochs=2, verbose=0)
    return model, images[test], labels[test]


@pytest.fixture(scope="module")
def card(trained: tuple[keras.Model, np.ndarray, np.ndarray]) -> dict:
    model, x_test, y_test = trained
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    finalists = [
        Finalist(trial=3, accuracy=float(np.mean(predicted == y_test)), val_accuracy=0.9, params=700, flops=9000),
        Finalist(trial=5, accuracy=float(np.mean(y_test == y_test)), val_accuracy=0.8, params=900, flops=9900),
    ]
    comparison = compare_finalists(y_test, {3: predicted, 5: y_test}, finalists)
    return {
        "class_names": CLASS_NAMES,
        "architecture": "conv3x3(8) -> flatten -> dense(10)",
        "preprocessing": {"resize": [8, 8], "channels": 1, "normalization": "inside the model"},
        "metrics": {"test_accuracy": np.float64(finalists[0].accuracy), "test_examples": len(y_test)},
        "mcnemar": comparison,
        "versions": {"keras": keras.__version__, "numpy": np.__version__},
        "data": {"source": "sklearn.datasets.load_digits", "splits": {"train": 1400, "test": len(y_test)}},
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, trained, card) -> ExportResult:
    return export_bundle(trained[0], tmp_path_factory.mktemp("export") / "bundle", card=card)


def test_bundle_holds_exactly_the_documented_files(bundle: ExportResult) -> None:
    names = sorted(p.name for p in bundle.out_dir.iterdir())
    assert names == [".automl-export", "model.keras", "model_card.json", "model_card.md", "saved_model"]
    assert bundle.keras_path == bundle.out_dir / "model.keras"
    assert bundle.saved_model_dir == bundle.out_dir / "saved_model"
    assert (bundle.saved_model_dir / "saved_model.pb").is_file()
    assert bundle.onnx_path is None and bundle.notes == ()


def test_reload_in_fresh_process_reproduces_test_predictions_exactly(
    bundle: ExportResult, trained, tmp_path: Path
) -> None:
    model, x_test, y_test = trained
    recorded = model.predict(x_test, batch_size=64, verbose=0)
    assert np.mean(recorded.argmax(axis=1) == y_test) > 0.5  # a trained model, not a constant one
    np.save(tmp_path / "x.npy", x_test)
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from automl._bundle import load_bundle

        model, card = load_bundle(sys.argv[1])
        np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), batch_size=64, verbose=0))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "NO_ALBUMENTATIONS_UPDATE": "1"}
    subprocess.run(
        [sys.executable, "-c", script, str(bundle.out_dir), str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
        check=True,
        env=env,
        timeout=300,
    )
    reloaded = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(reloaded, recorded)


def test_saved_model_serves_the_same_probabilities(bundle: ExportResult, trained) -> None:
    import tensorflow as tf

    model, x_test, _ = trained
    loaded = tf.saved_model.load(str(bundle.saved_model_dir))  # keep a reference: it owns the variables
    served = loaded.serve(x_test[:32])
    np.testing.assert_allclose(np.asarray(served), model.predict(x_test[:32], verbose=0), rtol=1e-5, atol=1e-6)


def test_model_card_json_and_markdown(bundle: ExportResult, card: dict) -> None:
    data = json.loads(bundle.card_json.read_text())
    assert data["class_names"] == CLASS_NAMES
    assert data["model"]["input_shape"] == [8, 8, 1]
    assert data["model"]["params"] == (8 * 9 + 8) + (6 * 6 * 8 * 10 + 10)  # conv + dense; constant normalization
    assert data["metrics"]["test_accuracy"] == card["metrics"]["test_accuracy"]
    assert data["mcnemar"] == json.loads(json.dumps(card["mcnemar"].to_dict()))
    markdown = bundle.card_md.read_text()
    for heading in (
        "## Model",
        "## Architecture",
        "## Preprocessing",
        "## Class names",
        "## McNemar",
        "## Data",
    ):
        assert heading in markdown
    assert "- `9`: digit 9" in markdown
    assert "| trial_a | trial_b |" in markdown  # the McNemar pairs as a table
    assert card["mcnemar"].reason in markdown
    assert f"| keras | {keras.__version__} |" in markdown


def test_load_bundle_returns_model_and_card(bundle: ExportResult, trained) -> None:
    model, card = load_bundle(bundle.out_dir)
    assert card["class_names"] == CLASS_NAMES
    np.testing.assert_array_equal(
        model.predict(trained[1][:8], verbose=0), trained[0].predict(trained[1][:8], verbose=0)
    )


def test_reexport_replaces_the_bundle_and_removes_stale_files(
    trained, card: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    export_bundle(trained[0], out, card=card)
    (out / "model.onnx").write_bytes(b"stale")
    for module in ("onnx", "tf2onnx"):  # the optional 'onnx' extra is missing
        monkeypatch.setitem(sys.modules, module, None)
    result = export_bundle(trained[0], out, card={**card, "title": "second export"}, onnx=True)
    assert result.onnx_path is None and not (out / "model.onnx").exists()
    assert any("ONNX skipped" in note and "cnn-automl[onnx]" in note for note in result.notes)
    assert json.loads(result.card_json.read_text())["export_notes"] == list(result.notes)
    assert result.card_md.read_text().startswith("# second export\n")
    assert not [p.name for p in out.iterdir() if p.name.startswith((".tmp-", ".old-"))]


# --- refusals -----------------------------------------------------------------------------


def _lambda_model() -> keras.Model:
    """A Lambda layer hidden inside a nested Sequential."""
    inner = keras.Sequential([keras.layers.Dense(4), keras.layers.Lambda(lambda t: t * 2, name="doubler")])
    inputs = keras.Input(shape=(3,))
    return keras.Model(inputs, keras.layers.Softmax()(inner(inputs)), name="with_lambda")


def test_export_refuses_a_lambda_layer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="doubler"):
        export_bundle(_lambda_model(), tmp_path / "out", card={"class_names": list("abcd")})
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_saved_lambda_layer(tmp_path: Path) -> None:
    _lambda_model().save(tmp_path / "model.keras")
    (tmp_path / "model_card.json").write_text(json.dumps({"class_names": list("abcd")}))
    with pytest.raises(ValueError, match="doubler"):
        load_bundle(tmp_path)


def test_load_walks_nested_layers_of_the_loaded_model(bundle: ExportResult, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_load_model(path, **kwargs):
        calls.append(kwargs)
        return _lambda_model()

    monkeypatch.setattr(keras.saving, "load_model", fake_load_model)
    with pytest.raises(ValueError, match="doubler"):
        load_bundle(bundle.out_dir)
    assert calls and calls[0]["safe_mode"] is True


def test_load_needs_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.keras"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("name", ["model.keras", "saved_model", "model_card.md"])
def test_refuses_to_write_through_a_symlink_out_of_the_directory(trained, card, tmp_path: Path, name: str) -> None:
    out, outside = tmp_path / "bundle", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    (out / ".automl-export").write_text("")
    (out / name).symlink_to(outside / "precious" if "." in name else outside)
    with pytest.raises(ValueError, match="outside"):
        export_bundle(trained[0], out, card=card)
    assert sorted(p.name for p in outside.iterdir()) == ["precious"]
    assert (outside / "precious").read_text() == "keep me"


def test_refuses_a_foreign_non_empty_directory_unless_overwrite(tmp_path: Path, trained, card) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="non-empty directory"):
        export_bundle(trained[0], tmp_path, card=card)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    export_bundle(trained[0], tmp_path, card=card, overwrite=True)
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "notes.txt").read_text() == "mine"


def test_refuses_another_studys_bundle(tmp_path: Path, trained, card) -> None:
    # Study 'other' exported over study 'default''s bundle without a word, and the next
    # search of 'default' no longer said where its model was.
    export_bundle(trained[0], tmp_path, card={**card, "study": "default", "trial": 4})
    with pytest.raises(ValueError, match=r"study 'other' into .*holds study 'default''s model \(trial 4\)"):
        _bundle.check_out_dir(tmp_path, study="other")
    assert _bundle.check_out_dir(tmp_path, study="default") == tmp_path.resolve()
    assert _bundle.check_out_dir(tmp_path, study="other", overwrite=True) == tmp_path.resolve()


def test_refuses_a_file_as_the_directory(tmp_path: Path, trained, card) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        export_bundle(trained[0], tmp_path / "file", card=card)


@pytest.mark.parametrize(
    ("class_names", "message"), [(None, "None"), ("0123456789", "'0123456789'"), (["a", "b"], "2 names")]
)
def test_class_names_must_match_the_outputs(trained, tmp_path: Path, class_names, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        export_bundle(trained[0], tmp_path / "out", card={"class_names": class_names})


# --- inference models and formats ---------------------------------------------------------


def _archive_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def test_keras_files_are_uncompiled_inference_models(bundle: ExportResult, trained, tmp_path: Path) -> None:
    model = trained[0]
    assert model.compiled  # the fixture's model was trained, and carries its optimizer and loss
    saved = save_inference_model(model, tmp_path / "trial_0.keras")
    for path in (bundle.keras_path, saved):
        assert not _archive_config(path).get("compile_config"), path
    reloaded = keras.saving.load_model(saved)
    assert not reloaded.compiled
    np.testing.assert_array_equal(reloaded.predict(trained[1], verbose=0), model.predict(trained[1], verbose=0))
    assert inference_model(reloaded) is reloaded  # nothing to strip


def test_model_card_lists_each_format_with_its_loading_snippet(bundle: ExportResult) -> None:
    formats = json.loads(bundle.card_json.read_text())["formats"]
    assert set(formats) == {"files", "input", "output", "model.keras", "saved_model"}
    assert "0..255" in formats["input"] and "(batch, 8, 8, 1) = (batch, H, W, C)" in formats["input"]
    assert 'keras.saving.load_model("model.keras")' in formats["model.keras"]["load"]
    assert formats["input"].startswith("raw pixel values") and bundle.pixels is None  # trained on pixels
    assert "serving_default: input 'image'" in formats["saved_model"]["signature"]
    assert "saved_model_cli run --dir saved_model" in formats["saved_model"]["cli"]
    markdown = bundle.card_md.read_text()
    assert "## Formats and how to load them" in markdown and "### `model.keras`" in markdown
    assert '```python\nimport keras\nmodel = keras.saving.load_model("model.keras")\n' in markdown


def _onnx_session(path: Path):
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_onnx_has_one_image_input_and_matches_keras(trained, card: dict, tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed")
    pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
    model, x_test, _ = trained
    result = export_bundle(model, tmp_path / "bundle", card=card, onnx=True)
    assert result.onnx_path == result.out_dir / "model.onnx" and result.notes == ()
    session = _onnx_session(result.onnx_path)
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("image", ["batch", 8, 8, 1])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("probabilities", ["batch", 10])]
    expected = model.predict(x_test, verbose=0)
    got = session.run(None, {"image": x_test})[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    formats = json.loads(result.card_json.read_text())["formats"]
    assert 'session.run(None, {"image": images})' in formats["model.onnx"]["load"]


@pytest.mark.parametrize("failure", ["converter raises", "disagrees with keras"])
def test_failed_onnx_export_leaves_a_note_and_no_file(
    trained, card: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    tf2onnx = pytest.importorskip("tf2onnx", reason="the 'onnx' extra is not installed")
    pytest.importorskip("onnxruntime", reason="the 'onnx' extra is not installed")
    if failure == "converter raises":

        def broken(*args, **kwargs):
            raise RuntimeError("unsupported op FancyConv\nsecond line")

        monkeypatch.setattr(tf2onnx.convert, "from_graph_def", broken)
        expected = "ONNX skipped: the export failed (RuntimeError: unsupported op FancyConv); no model.onnx written."
    else:
        monkeypatch.setattr(_bundle, "ONNX_TOLERANCE", -1.0)  # no difference passes
        expected = "ONNX Runtime disagrees with Keras on 4 probe images"
    out = tmp_path / "bundle"
    export_bundle(trained[0], out, card=card)
    (out / "model.onnx").write_bytes(b"stale")
    result = export_bundle(trained[0], out, card=card, onnx=True)
    assert result.onnx_path is None and not (out / "model.onnx").exists()
    assert len(result.notes) == 1 and expected in result.notes[0], result.notes
    written = json.loads(result.card_json.read_text())
    assert written["export_notes"] == list(result.notes) and "model.onnx" not in written["formats"]
    assert expected.split(";")[0] in result.card_md.read_text()
    assert sorted(p.name for p in out.iterdir()) == [
        ".automl-export",
        "model.keras",
        "model_card.json",
        "model_card.md",
        "saved_model",
    ]


def test_a_model_that_takes_the_data_s_values_maps_them_to_pixels_clipped_to_0_255() -> None:
    """Values standardized to -1..1 (low -1, 127.5 pixels a unit) reach the pixel model as
    pixels; values past the data's range are clipped, as the training's were."""
    takes_pixels = keras.Sequential([keras.Input(shape=(5,)), keras.layers.Identity()])
    model = _bundle.in_data_units(takes_pixels, (-1.0, 127.5))
    values = np.array([[-1.0, 0.0, 1.0, 1.5, -2.0]], np.float32)
    np.testing.assert_allclose(model.predict(values, verbose=0), [[0.0, 127.5, 255.0, 255.0, 0.0]])
    assert _bundle.in_data_units(takes_pixels, None) is takes_pixels  # the data were pixels
    assert _bundle.in_data_units(takes_pixels, (0.0, 1.0)) is takes_pixels


def test_an_earlier_export_is_read_back_only_where_it_is_whole(bundle: ExportResult, tmp_path: Path) -> None:
    found = _bundle.read_export(bundle.out_dir)
    assert found is not None
    result, card = found
    assert result == dataclasses.replace(bundle, pixels=None)  # no ONNX file: none said
    assert result.onnx_path is None and card["class_names"] == CLASS_NAMES  # the card as the export wrote it
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / _bundle.CARD_JSON).write_text(bundle.card_json.read_text())  # the card alone: no model to export
    assert _bundle.read_export(partial) is None
    assert _bundle.read_export(tmp_path / "nowhere") is None
