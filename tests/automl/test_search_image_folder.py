"""``automl search --data <image folder>`` end to end, then ``predict`` with the export."""

from __future__ import annotations

import json

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
    assert "note: skipped 1 unreadable file(s): " in result.stdout + result.stderr
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
