"""Warm starts on their own: accuracy per epoch and time, against the Keras examples' MNIST convnet.

For each dataset it runs a study in-process with our driver (``automl._driver.run_study``)
whose trials are only the warm starts (``automl._warmstart``: as many trials as there are
warm starts, which the driver enqueues first), ``--epochs`` each, no pruner. It prints each
warm start's validation accuracy after every epoch, its seconds per epoch, and the saved
model's accuracy on the study's test split (20% of the data, which no trial sees).

The baseline is the Keras examples' MNIST convnet (Conv32 3x3, max pool, Conv64 3x3, max
pool, flatten, dropout 0.5, softmax; Adam, batch 128, early stopping on the validation loss
with patience 2, up to 15 epochs), trained on the same training split, with the same
validation split and the same normalisation inside the model, and scored on the same test
split.

Datasets: scikit-learn's digits (8x8, built in; the default demo's data) and 5,000-image
class-balanced subsets of ``../shared/datasets`` (MNIST by default; ``--datasets
digits,mnist,usps,fashion_mnist``).

Run: ``python bench/bench_warm_start.py`` (about 3-5 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,mnist", help="digits and/or names in ../shared/datasets")
    parser.add_argument("--train-images", type=int, default=5000, help="subset size before the split")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        for name in args.datasets.split(","):
            data = None if name == "digits" else _subset(name, Path(data_dir), args.train_images, args.seed)
            rows += run_dataset(name, data, epochs=args.epochs, seed=args.seed)
    header = ["dataset", "model", "val_acc by epoch", "s/epoch", "epochs", "wall s", "test_acc"]
    print(_common.format_table(header, rows))


def _subset(name: str, folder: Path, train: int, seed: int) -> str:
    path = _common.subsampled_npz(name, folder, train=train, test=1000, seed=seed)
    if path is None:
        raise SystemExit(f"{_common.SHARED_DATASETS / name}.npz is missing")
    return str(path)


def run_dataset(name: str, data: str | None, *, epochs: int, seed: int) -> list[list[Any]]:
    """The warm starts' rows, then the hand-written baseline's, for one dataset."""
    from automl._compare import load_trial_model
    from automl._config import StudyConfig
    from automl._driver import run_study
    from automl._progress import Progress
    from automl._records import TrialRecord
    from automl._warmstart import WARM_STARTS

    config = StudyConfig(
        study_name="warm-start", data=data, trials=len(WARM_STARTS), epochs=epochs, pruner="none", seed=seed
    )
    rows = []
    with _common.study_home("warm-start"):
        study_run = run_study(config, progress=Progress(total=config.trials, quiet=True))
        splits, normalization = study_run.data.splits, study_run.data.normalization
        for trial in study_run.study.get_trials(deepcopy=False):
            record = TrialRecord.of(trial)
            curve = [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
            fit = record.timings.get("fit", float("nan"))
            wall = sum(record.timings.values())
            model = load_trial_model(record, study_run.tracker) if record.model_ref else None
            rows.append(
                [name, record.warm_start or "sampled", _curve(curve), fit / max(len(curve), 1), len(curve), wall,
                 _test_accuracy(model, splits)]
            )  # fmt: skip
    rows.append([name, *hand_cnn(splits, normalization, seed=seed)])
    return rows


def _curve(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def _test_accuracy(model: Any, splits: Any) -> float:
    if model is None:
        return float("nan")
    x, y = splits.test
    predicted = model.predict(x.astype("float32"), batch_size=1024, verbose=0).argmax(axis=1)
    return float((predicted == y).mean())


def hand_cnn(splits: Any, normalization: Any, *, seed: int) -> list[Any]:
    """The Keras examples' MNIST convnet on our splits: [label, curve, s/epoch, epochs, wall s, test_acc]."""
    import keras

    from automl._training import wrap_with_normalization

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits.train, splits.val, splits.test
    num_classes = len(splits.class_names)
    shape = x_train.shape[1:]
    core = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu", padding="same" if min(shape[:2]) < 12 else "valid"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model = wrap_with_normalization(core, shape, normalization.mean, normalization.std)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(
        x_train.astype("float32"),
        y_train,
        batch_size=128,
        epochs=15,
        validation_data=(x_val.astype("float32"), y_val),
        callbacks=[stop],
        verbose=0,
    )
    wall = time.perf_counter() - start
    curve = history.history["val_accuracy"]
    test = float((model.predict(x_test.astype("float32"), verbose=0).argmax(axis=1) == y_test).mean())
    return ["keras-example convnet", _curve(curve), wall / len(curve), len(curve), wall, test]


if __name__ == "__main__":
    main()
