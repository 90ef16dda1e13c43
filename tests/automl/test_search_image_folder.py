"""``automl search --data <image folder>`` end to end, then ``predict`` with the export."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from PIL import Image

from tests.automl.helpers import run_cli


def _pattern(kind: str, rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 40, size=(12, 12), dtype=np.uint8)
    offset = int(rng.integers(2, 10))
    if kind == "horizontal":
        image[offset, :] = 255
    elif kind == "vertical":
        image[:, offset] = 255
    else:
        np.fill_diagonal(image, 255)
    return image


def test_search_on_an_image_folder_then_predict(workdir):
    rng = np.random.default_rng(0)
    for kind in ("horizontal", "vertical", "diagonal"):
        folder = workdir / "shapes" / kind
        folder.mkdir(parents=True)
        for i in range(30):
            Image.fromarray(_pattern(kind, rng), mode="L").save(folder / f"{i}.png")
    (workdir / "shapes" / "vertical" / "broken.png").write_bytes(b"not a png")  # skipped, and the user is told
    result = run_cli(
        ["search", "--data", "shapes", "--study-name", "shapes", "--trials", "2", "--epochs", "1"], workdir
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exported the winner" in result.stdout
    assert "note: skipped 1 file(s): " in result.stdout + result.stderr
    assert "broken.png" in result.stdout + result.stderr

    card = json.loads((workdir / "exports" / "shapes" / "model_card.json").read_text())
    assert card["class_names"] == ["diagonal", "horizontal", "vertical"]
    assert card["input_shape"] == [12, 12, 1]

    sample = workdir / "shapes" / "vertical" / "0.png"
    predicted = run_cli(["predict", "--model", "exports/shapes", str(sample), "--json"], workdir)
    assert predicted.returncode == 0, predicted.stderr
    rows = json.loads(predicted.stdout)
    assert rows[0]["file"] == str(sample) and rows[0]["class"] in card["class_names"]
    assert 0.0 <= rows[0]["probability"] <= 1.0


def test_a_study_refuses_its_data_changed_and_finds_it_from_another_folder(workdir):
    # Export reads the study's data again for its card: a class folder renamed shifted the
    # class names against the model's outputs, and from another folder 'shapes' was not found.
    rng = np.random.default_rng(0)
    for kind in ("horizontal", "vertical", "diagonal"):
        (workdir / "shapes" / kind).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(_pattern(kind, rng), mode="L").save(workdir / "shapes" / kind / f"{i}.png")
    searched = run_cli(
        ["search", "--data", "shapes", "--study-name", "s", "--trials", "1", "--epochs", "1", "--no-export"], workdir
    )
    assert searched.returncode == 0, searched.stderr
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    stores = [
        "--storage",
        f"sqlite:///{workdir}/mlruns/optuna.db",
        "--tracking-uri",
        f"sqlite:///{workdir}/mlruns/mlflow.db",
    ]

    def export(out: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["export", "--study", "s", "--no-register", "--out", str(workdir / out), *stores], elsewhere)

    exported = export("from_elsewhere")
    assert exported.returncode == 0, exported.stderr
    assert json.loads((workdir / "from_elsewhere" / "model_card.json").read_text())["class_names"] == [
        "diagonal",
        "horizontal",
        "vertical",
    ]

    (workdir / "shapes" / "vertical").rename(workdir / "shapes" / "zvertical")
    renamed = export("renamed")
    assert renamed.returncode == 2
    assert (
        "the data of study 's' (shapes) is not the data it was searched on: its classes were "
        "['diagonal', 'horizontal', 'vertical'] and are ['diagonal', 'horizontal', 'zvertical']"
    ) in renamed.stderr
    (workdir / "shapes" / "zvertical").rename(workdir / "shapes" / "vertical")

    # A file renamed within its class: the same labels in the same order, but the sorted
    # files shift, so other images fall in the test split.
    (workdir / "shapes" / "vertical" / "0.png").rename(workdir / "shapes" / "vertical" / "99.png")
    moved = export("moved")
    assert moved.returncode == 2
    assert "its images differ (a file renamed, replaced or edited" in moved.stderr
    assert "labels differ" not in moved.stderr and "sizes were" not in moved.stderr

    (workdir / "shapes" / "vertical" / "99.png").unlink()
    removed = export("removed")
    assert removed.returncode == 2 and "train/validation/test sizes were [" in removed.stderr
    assert not any((workdir / out).exists() for out in ("renamed", "moved", "removed"))
