"""``predict_files`` and ``automl predict`` on real image files written with Pillow."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from automl import _bundle as bundle
from automl._bundle import export_bundle, predict_files
from automl.cli import main
from pipelines import DataError

CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def rgb_model() -> tuple[keras.Model, np.ndarray]:
    """An RGB (C=3) digits classifier trained briefly; held-out uint8 RGB images."""
    digits = load_digits()
    gray = np.round(digits.images * (255 / 16)).astype(np.uint8)
    images = np.repeat(gray[..., None], 3, axis=-1)
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(images[:1500].astype("float32"), digits.target[:1500], batch_size=50, epochs=3, verbose=0)
    return model, images[1500:1530]


@pytest.fixture(scope="module")
def bundle_dir(rgb_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "bundle"
    export_bundle(rgb_model[0], out, card={"class_names": CLASS_NAMES})
    return out


def _write_pngs(images: np.ndarray, folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = [folder / f"image_{i:02d}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(path)
    return paths


def _model_classes(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(images.astype("float32"), verbose=0).argmax(axis=1)


def test_predict_files_gives_the_model_classes_on_the_same_arrays(rgb_model, bundle_dir: Path, tmp_path) -> None:
    model, images = rgb_model
    files = _write_pngs(images, tmp_path)
    rows = predict_files(bundle_dir, files)
    expected = _model_classes(model, images)
    assert len(set(expected.tolist())) > 2  # the classes vary, so agreement is meaningful
    assert [row["index"] for row in rows] == expected.tolist()
    assert [row["class"] for row in rows] == [CLASS_NAMES[i] for i in expected]
    assert [row["file"] for row in rows] == [str(f) for f in files]
    probabilities = model.predict(images.astype("float32"), verbose=0).max(axis=1)
    np.testing.assert_allclose([row["probability"] for row in rows], probabilities, rtol=1e-5)
    # One file named alone, as a string or a path (a string was read as its characters).
    assert predict_files(bundle_dir, str(files[0])) == predict_files(bundle_dir, files[0]) == rows[:1]


def test_a_study_of_12_bit_values_reads_16_bit_files_through_its_value_map(rgb_model, tmp_path) -> None:
    model, images = rgb_model
    card = {"class_names": CLASS_NAMES, "data": {"summary": {"value_map": {"low": 0.0, "factor": 255 / 4095}}}}
    result = export_bundle(model, tmp_path / "bundle", card=card)
    # It takes the training data's values, as a user has them: it took pixels, and fed the
    # values it was trained on (12-bit here; floats in 0..1 often) it scored at chance.
    values = np.rint(images * (4095 / 255)).astype("float32")
    exported = keras.saving.load_model(result.keras_path)
    np.testing.assert_allclose(exported.predict(values, verbose=0), model.predict(images, verbose=0), atol=1e-4)
    mapping = "the model maps them to pixels as (value - 0) * 0.062271062271062272, clipped to 0..255"
    formats = json.loads(result.card_json.read_text())["formats"]
    assert mapping in formats["input"] and formats["model.keras"]["load"].endswith("the training data's values")
    assert result.pixels == (
        "the training data's values, as given (not pixels): the model maps them to pixels as (value - 0) * 0.0622711, "
        "clipped to 0..255"
    )
    (tmp_path / "deep").mkdir()
    files = [tmp_path / "deep" / f"image_{i:02d}.png" for i in range(len(images))]
    for path, image in zip(files, images[..., 0], strict=True):
        Image.fromarray(np.rint(image * (4095 / 255)).astype(np.uint16)).save(path)  # the training data's units
    rows = predict_files(tmp_path / "bundle", files)
    assert [row["index"] for row in rows] == _model_classes(model, images).tolist()


def test_a_study_of_16_bit_files_that_held_pixels_reads_them_as_pixels(rgb_model, tmp_path) -> None:
    # Its card recorded no map: one such file was read by its top 8 bits, black, one class for all.
    model, images = rgb_model
    card = {"class_names": CLASS_NAMES, "data": {"summary": {"value_map": {"low": 0.0, "factor": 1.0}}}}
    result = export_bundle(model, tmp_path / "bundle", card=card)
    assert result.pixels is None  # the values were pixels: nothing to map
    assert json.loads(result.card_json.read_text())["formats"]["input"].startswith("raw pixel values in 0..255")
    (tmp_path / "deep").mkdir()
    grey = np.repeat(images[..., :1], 3, axis=-1)  # as a grey file is given to an RGB model
    files = [tmp_path / "deep" / f"image_{i:02d}.png" for i in range(len(images))]
    for path, image in zip(files, images[..., 0], strict=True):
        Image.fromarray(image.astype(np.uint16)).save(path)  # 16-bit PNG, values 0..255
    rows = predict_files(tmp_path / "bundle", files)
    assert [row["index"] for row in rows] == _model_classes(model, grey).tolist()


def test_gray_files_are_converted_to_the_model_channels(rgb_model, bundle_dir: Path, tmp_path) -> None:
    model, images = rgb_model
    files = _write_pngs(images[:10, :, :, :1], tmp_path)  # single-channel PNGs for an RGB model
    rows = predict_files(bundle_dir, files)
    assert [row["index"] for row in rows] == _model_classes(model, images[:10]).tolist()


def test_a_folder_stands_for_the_images_below_it(rgb_model, bundle_dir: Path, tmp_path, monkeypatch) -> None:
    model, images = rgb_model
    monkeypatch.setattr(bundle, "PREDICT_CHUNK", 4)  # 12 images in three chunks
    nested = _write_pngs(images[:5], tmp_path / "photos") + _write_pngs(images[5:9], tmp_path / "photos" / "more")
    (tmp_path / "photos" / "notes.txt").write_text("not an image")  # other suffixes and hidden files are left out
    Image.fromarray(images[0]).save(tmp_path / "photos" / ".hidden.png")
    single = _write_pngs(images[9:12], tmp_path / "single")

    expected = _model_classes(model, images[:12]).tolist()
    chunks = []
    predict = bundle.predict_batches
    monkeypatch.setattr(
        bundle, "predict_batches", lambda model, x, size: chunks.append(len(x)) or predict(model, x, size)
    )

    rows = predict_files(bundle_dir, [tmp_path / "photos", *single])

    assert [row["file"] for row in rows] == [str(f) for f in nested + single]  # photos/image_*, then photos/more/
    assert [row["index"] for row in rows] == expected
    assert chunks == [4, 4, 4]
    with pytest.raises(DataError, match=r"folder '.*empty' contains no image files"):
        (tmp_path / "empty").mkdir()
        predict_files(bundle_dir, [tmp_path / "empty"])


def test_a_bad_file_fails_before_any_image_is_classified(rgb_model, bundle_dir: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(bundle, "PREDICT_CHUNK", 2)
    files = _write_pngs(rgb_model[1][:4], tmp_path)
    (tmp_path / "z_broken.png").write_bytes(b"not an image at all")
    classified = []
    monkeypatch.setattr(bundle, "predict_batches", lambda model, x, size: classified.append(len(x)))
    with pytest.raises(DataError, match="z_broken.png"):
        predict_files(bundle_dir, [*files, tmp_path / "z_broken.png"])
    assert classified == []


def test_a_few_files_are_one_batch_of_their_number(rgb_model, bundle_dir: Path, tmp_path, monkeypatch) -> None:
    # Padded to the inference batch (1,024 images of 8x8x3), three files cost 1,024 images' work.
    model, images = rgb_model
    files = _write_pngs(images[:3], tmp_path)
    batches = []
    predict_on_batch = keras.Model.predict_on_batch
    monkeypatch.setattr(
        keras.Model, "predict_on_batch", lambda self, x: batches.append(len(x)) or predict_on_batch(self, x)
    )

    rows = predict_files(bundle_dir, files)

    assert [row["index"] for row in rows] == _model_classes(model, images[:3]).tolist()
    assert batches == [3]


def test_a_card_that_does_not_name_the_models_classes_is_refused(rgb_model, tmp_path) -> None:
    out = tmp_path / "bundle"
    export_bundle(rgb_model[0], out, card={"class_names": CLASS_NAMES})
    card = json.loads((out / "model_card.json").read_text())
    (out / "model_card.json").write_text(json.dumps({**card, "class_names": ["a", "b"]}))
    files = _write_pngs(rgb_model[1][:1], tmp_path / "images")

    with pytest.raises(
        ValueError, match=r"the model outputs 10 classes but 2 class names come with it \(\['a', 'b'\]\)"
    ):
        predict_files(out, files)
    assert main(["predict", "--model", str(out), str(files[0])]) == 2


def test_an_unreadable_file_in_a_folder_is_skipped_as_a_search_skips_it(
    rgb_model, bundle_dir: Path, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One bad file in a photo folder gave no prediction at all.
    model, images = rgb_model
    good = _write_pngs(images[:3], tmp_path / "photos")
    (tmp_path / "photos" / "image_00b.png").write_bytes(b"not an image at all")  # fails on its header
    whole = (tmp_path / "photos" / "image_00.png").read_bytes()
    (tmp_path / "photos" / "image_01b.png").write_bytes(whole[: len(whole) // 2])  # fails when decoded

    rows = predict_files(bundle_dir, [tmp_path / "photos"])

    assert [row["file"] for row in rows] == [
        str(tmp_path / "photos" / n)
        for n in ("image_00.png", "image_00b.png", "image_01.png", "image_01b.png", "image_02.png")
    ]
    assert [row["index"] for row in rows if "error" not in row] == _model_classes(model, images[:3]).tolist()
    assert [row["file"] for row in rows if "error" in row] == [
        str(tmp_path / "photos" / n) for n in ("image_00b.png", "image_01b.png")
    ]
    assert all("image_0" in row["error"] for row in rows if "error" in row)
    assert main(["predict", "--model", str(bundle_dir), str(tmp_path / "photos")]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("note: skipped 2 unreadable file(s) in the folders given: cannot read image")
    lines = [line.split() for line in captured.out.splitlines()]
    assert len(lines) == 6 and [str(tmp_path / "photos" / "image_00b.png"), "-", "skipped"] in lines
    with pytest.raises(DataError, match="image_00b.png"):  # named alone, it is an error
        predict_files(bundle_dir, [*good, tmp_path / "photos" / "image_00b.png"])
    # Named alone and in a folder given too, it is still named alone (it was skipped, listed twice),
    # and a file listed twice has one row.
    with pytest.raises(DataError, match="image_01b.png"):
        predict_files(bundle_dir, [tmp_path / "photos" / "image_01b.png", tmp_path / "photos"])
    assert predict_files(bundle_dir, [tmp_path / "photos", *good[:1]]) == rows


def test_no_files_gives_no_predictions(bundle_dir: Path) -> None:
    assert predict_files(bundle_dir, []) == []


def test_cli_json_and_table(rgb_model, bundle_dir: Path, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(f) for f in _write_pngs(rgb_model[1][:4], tmp_path)]
    assert main(["predict", "--model", str(bundle_dir), *files, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == predict_files(bundle_dir, files)
    assert main(["predict", "--model", str(bundle_dir), *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["file", "class", "probability"]
    for line, row in zip(lines[1:], rows, strict=True):
        assert line.split() == [row["file"], row["class"], f"{row['probability']:.4f}"]


def test_cli_names_a_bad_file_and_exits_2(
    rgb_model, bundle_dir: Path, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write_pngs(rgb_model[1][:1], tmp_path)[0]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    assert main(["predict", "--model", str(bundle_dir), str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error_lines = [line for line in captured.err.splitlines() if line.startswith("automl predict: error:")]
    assert len(error_lines) == 1 and str(bad) in error_lines[0]


def test_cli_refuses_a_directory_that_is_not_a_bundle(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _write_pngs(np.zeros((1, 8, 8, 3), dtype=np.uint8), tmp_path / "images")[0]
    assert main(["predict", "--model", str(tmp_path), str(image)]) == 2
    assert "not an export bundle" in capsys.readouterr().err
    # A mistyped path: it said "model.keras is missing" of a folder that is not there.
    assert main(["predict", "--model", str(tmp_path / "nowhere"), str(image)]) == 2
    assert f"no export bundle at {str(tmp_path / 'nowhere')!r}: it does not exist" in capsys.readouterr().err


def test_cli_names_the_folder_to_give_for_the_bundles_model_file(
    bundle_dir: Path, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "model.keras is missing" of the model.keras file just named.
    image = _write_pngs(np.zeros((1, 8, 8, 3), dtype=np.uint8), tmp_path / "images")[0]
    assert main(["predict", "--model", str(bundle_dir / "model.keras"), str(image)]) == 2
    assert f"is a file, not an export bundle: give its folder ({str(bundle_dir)!r})" in capsys.readouterr().err


def test_cli_fails_when_no_file_found_could_be_read(bundle_dir: Path, tmp_path, capsys) -> None:
    # A folder of unreadable files printed one "skipped" row and exited 0, as a success.
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.png").write_bytes(b"not an image at all")
    assert main(["predict", "--model", str(bundle_dir), str(tmp_path / "photos"), "--json"]) == 2
    captured = capsys.readouterr()
    assert [row["file"] for row in json.loads(captured.out)] == [str(tmp_path / "photos" / "broken.png")]
    assert "none of the 1 file(s) found could be read: nothing was classified" in captured.err


def test_a_models_uri_in_a_store_that_does_not_exist_is_refused_without_making_one(
    tmp_path, capsys, monkeypatch
) -> None:
    # It created an empty mlflow.db and said the model was not found: the path's typo was the fault.
    monkeypatch.chdir(tmp_path)
    image = _write_pngs(np.zeros((1, 8, 8, 3), dtype=np.uint8), tmp_path / "images")[0]
    missing = tmp_path / "mlruns" / "mlfow.db"
    argv = ["predict", "--model", "models:/m@champion", "--tracking-uri", f"sqlite:///{missing}", str(image)]
    assert main(argv) == 2
    assert f"no MLflow tracking store at 'sqlite:///{missing}' (the file" in capsys.readouterr().err
    assert not missing.exists()


def test_a_data_set_file_is_not_taken_for_an_image(bundle_dir: Path, tmp_path) -> None:
    # A .npz given to predict was "cannot identify image file ...; replace or remove the file".
    data = tmp_path / "test.npz"
    np.savez(data, x=np.zeros((2, 8, 8, 3), np.uint8), y=np.zeros(2, np.int64))
    with pytest.raises(DataError, match=r"'.*test.npz' is a .npz data file, not an image: give image files or folders"):
        predict_files(bundle_dir, [data])
