"""Test-split predictions: ``automl._inference.predict_batches`` (a batch at a time) against
Keras' ``model.predict`` on the whole array, as the comparison of finalists did until
2026-12-05.

The comparison predicts the test split once per finalist and test-time view, inside the
export's reserve of the time budget (10 s at budgets up to 6m40s). On 1,000 test images of
224x224x3, ``model.predict`` took 10 s, most of it copying the array into one dataset.

The model is the study's convnet warm start for each shape (``automl._warmstart``), built
untrained: the cost does not depend on the weights. Random uint8 images. Each way runs
twice; the second run counts (the first traces).

Run: ``python bench/bench_predict.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time

import _common
import numpy as np

SHAPES = {"224x224x3": ((224, 224, 3), 1_000), "28x28x1": ((28, 28, 1), 10_000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"from {', '.join(SHAPES)}")
    args = parser.parse_args()
    _common.print_provenance(0)

    rows = []
    for name in args.shapes.split(","):
        shape, count = SHAPES[name]
        whole, batches = _timings(shape, count)
        rows.append((name, f"{count:,}", f"{whole:.2f}", f"{batches:.2f}", f"{batches / whole:.2f}x"))
    header = ("images", "count", "model.predict s", "predict_batches s", "batches / predict")
    print(_common.format_table(header, rows))


def _timings(shape: tuple[int, int, int], count: int) -> tuple[float, float]:
    import keras

    import searchspace
    from automl._inference import inference_batch_size, predict_batches
    from automl._warmstart import resolve_warm_starts

    config = resolve_warm_starts(shape, 10, 5_000, max_epochs=9, flips=False)[0][0]  # the first warm start
    keras.utils.set_random_seed(0)
    spec = searchspace.ArchitectureSpec.from_dict(config.architecture)
    model = searchspace.build_model(spec, input_shape=shape, num_classes=10)
    x = np.random.default_rng(0).integers(0, 256, (count, *shape), dtype=np.uint8)
    batch_size = inference_batch_size(1, shape)

    def whole() -> np.ndarray:
        return np.asarray(model.predict(x.astype("float32"), batch_size=batch_size, verbose=0))

    seconds = []
    for predict in (whole, lambda: predict_batches(model, x)):
        for _ in range(2):
            started = time.perf_counter()
            outputs = predict()
            elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        assert outputs.shape == (count, 10)
    return seconds[0], seconds[1]


if __name__ == "__main__":
    main()
