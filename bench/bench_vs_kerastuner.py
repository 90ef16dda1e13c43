"""Search cost against keras-tuner: the same space, trials, epochs and splits, random sampling in both.

For each dataset (scikit-learn's digits, then a subsample of an image dataset from
``../shared/datasets``) it runs, one after the other in this process, after TensorFlow,
MLflow and keras-tuner are imported and one warm-up model has been trained (so no side pays
the process's one-time start-up):

- our study (``automl._driver.run_study``, sampler ``random``) with our default pruner
  (median), then with ``pruner="none"``, each in a fresh temporary ``AUTOML_HOME``
  (so each creates its Optuna and MLflow stores, as a new study does);
- keras-tuner 1.4.8 ``RandomSearch`` over the same space, in a temporary directory.

The same space: keras-tuner's ``build(hp)`` calls our own samplers
(``searchspace.sample_architecture``, ``automl._hparams.sample_training``,
``pipelines.sample_augmentation``) through a small adapter that turns each
``trial.suggest_*`` into ``hp.Int``/``hp.Float``/``hp.Choice`` under the same name. So both
sides draw architectures, optimiser, learning rate, batch size, epochs (up to the same
maximum) and augmentation from one definition, build them with the same compiler and train
them the same way (arrays, or ``pipelines.Feeder`` when augmenting): the comparison measures
the search drivers (sampling, bookkeeping, logging, checkpoints, pruning), not model code.
Both get exactly our train and validation splits (``pipelines.split_dataset`` with the
study's seed) and normalise inside the model with the training split's statistics.

It prints, per side: the search's wall time and per trial, the ratio to keras-tuner, how many
trials completed or were pruned, the best validation accuracy and the best model's accuracy
on the same test split (evaluated after the search, not timed). keras-tuner's best model is
its best epoch's checkpoint; ours is the best trial's model after its last epoch.

Run: ``python bench/bench_vs_kerastuner.py`` (about 10 minutes on 2 CPU cores); more work
with ``--trials 20 --epochs 5 --image-trials 10 --image-epochs 5 --train-images 20000``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
import numpy as np


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What one side's search cost and found."""

    side: str
    seconds: float
    trials: int
    completed: int
    pruned: int
    failed: int
    best_val: float
    test_accuracy: float


class HpTrial:
    """Optuna's ``suggest_*`` calls answered by keras-tuner's ``HyperParameters``, name for name.

    With it our samplers define keras-tuner's space: every parameter keeps its name, range,
    step and log scale, and conditional parameters appear when they are first asked for
    (keras-tuner then gives them their default, as it does in any ``build(hp)``).
    """

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        if low == high:
            return low
        if log:
            return self.hp.Int(name, low, high, sampling="log")
        return self.hp.Int(name, low, high, step=step)

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if low == high:
            return low
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        value = self.hp.Choice(name, list(choices))
        return next(choice for choice in choices if choice == value)  # keras-tuner gives 1 for True


def make_hypermodel(*, space: Any, splits: Any, normalization: Any, max_epochs: int, seed: int) -> Any:
    """A keras-tuner ``HyperModel`` whose build and fit mirror one of our trials."""
    import keras
    import keras_tuner

    import pipelines
    import searchspace
    from automl._hparams import sample_training
    from automl._training import wrap_with_normalization

    input_shape = tuple(splits.train[0].shape[1:])
    num_classes = len(splits.class_names)
    fits = itertools.count()

    class SameSpace(keras_tuner.HyperModel):
        def build(self, hp: Any) -> keras.Model:
            trial = HpTrial(hp)
            spec = searchspace.sample_architecture(trial, space, input_shape=input_shape, num_classes=num_classes)
            training = sample_training(trial, max_epochs=max_epochs, num_train=len(splits.train[1]))
            pipelines.sample_augmentation(trial, input_shape=input_shape)  # registered here, used in fit
            core = searchspace.build_model(spec, input_shape=input_shape, num_classes=num_classes)
            model = wrap_with_normalization(core, input_shape, normalization.mean, normalization.std)
            compile_as_documented(model, training, num_classes)
            return model

        def fit(self, hp: Any, model: keras.Model, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> Any:
            trial = HpTrial(hp)
            training = sample_training(trial, max_epochs=max_epochs, num_train=len(splits.train[1]))
            policy = pipelines.sample_augmentation(trial, input_shape=input_shape)
            kwargs.update(epochs=training.epochs, verbose=0)
            if policy.is_identity:
                return model.fit(x.astype("float32"), y, batch_size=training.batch_size, shuffle=True, **kwargs)
            feeder = pipelines.Feeder(
                x, y, batch_size=training.batch_size, normalization=None, policy=policy, seed=seed + next(fits)
            )
            return model.fit(feeder, shuffle=False, **kwargs)  # the feeder shuffles itself

    return SameSpace()


def compile_as_documented(model: Any, training: Any, num_classes: int) -> None:
    """Compile as keras-tuner's guides do: the same optimiser and loss as ours, ``metrics=["accuracy"]``.

    Ours (``automl._training.compile_model``) also passes the metric as an object and builds
    the optimizer before ``fit``, so that TensorFlow traces each model's training step once
    instead of twice; that difference is part of what this benchmark measures.
    """
    from automl._training import make_loss, make_optimizer

    model.compile(optimizer=make_optimizer(training), loss=make_loss(training, num_classes), metrics=["accuracy"])


def run_kerastuner(config: Any, splits: Any, normalization: Any, space: Any) -> SearchResult:
    """Time keras-tuner's ``RandomSearch`` on our splits, then test its best model."""
    import keras
    import keras_tuner

    hypermodel = make_hypermodel(
        space=space, splits=splits, normalization=normalization, max_epochs=config.epochs, seed=config.seed
    )
    x_val, y_val = splits.val
    with tempfile.TemporaryDirectory(prefix="bench-kerastuner-") as folder:
        keras.utils.set_random_seed(config.seed)
        start = time.perf_counter()
        tuner = keras_tuner.RandomSearch(
            hypermodel,
            objective="val_accuracy",
            max_trials=config.trials,
            seed=config.seed,
            directory=folder,
            project_name="search",
            overwrite=True,
            max_consecutive_failed_trials=config.trials,
        )
        tuner.search(*splits.train, validation_data=(x_val.astype("float32"), y_val), verbose=0)
        seconds = time.perf_counter() - start
        trials = list(tuner.oracle.trials.values())
        with warnings.catch_warnings():  # its checkpoint holds optimizer state that inference does not need
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            best = tuner.get_best_models(num_models=1)[0]
        statuses = [trial.status for trial in trials]
        return SearchResult(
            side="keras-tuner RandomSearch",
            seconds=seconds,
            trials=len(trials),
            completed=statuses.count("COMPLETED"),
            pruned=0,
            failed=len(trials) - statuses.count("COMPLETED"),
            best_val=max((t.score for t in trials if t.score is not None), default=float("nan")),
            test_accuracy=_test_accuracy(best, splits),
        )


def run_ours(config: Any, splits: Any) -> SearchResult:
    """Time our study (``run_study``) with fresh stores, then test its best model."""
    import keras
    from optuna.trial import TrialState

    from automl._driver import run_study
    from automl._progress import Progress
    from automl._studies import best_trials

    with _common.study_home(f"ours-{config.pruner}"):
        start = time.perf_counter()
        study = run_study(config, progress=Progress(total=config.trials, quiet=True)).study
        seconds = time.perf_counter() - start
        trials = study.trials
        states = [trial.state for trial in trials]
        best = best_trials(study, 1)
        model = keras.saving.load_model(best[0].model_path) if best else None
        return SearchResult(
            side=f"ours, pruner {config.pruner}",
            seconds=seconds,
            trials=len(trials),
            completed=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=states.count(TrialState.FAIL),
            best_val=best[0].val_accuracy if best else float("nan"),
            test_accuracy=_test_accuracy(model, splits) if model is not None else float("nan"),
        )


def _test_accuracy(model: Any, splits: Any) -> float:
    x_test, y_test = splits.test
    predictions = model.predict(x_test.astype("float32"), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(predictions, axis=-1) == y_test))


def warm_up(splits: Any, normalization: Any) -> None:
    """Train one small model, so TensorFlow's one-time start-up lands on no side's search."""
    import keras

    import searchspace
    from automl._hparams import TrainingSpec
    from automl._training import compile_model, wrap_with_normalization

    input_shape = tuple(splits.train[0].shape[1:])
    spec = searchspace.classic("lenet", input_shape, len(splits.class_names))
    core = searchspace.build_model(spec, input_shape=input_shape, num_classes=len(splits.class_names))
    model = wrap_with_normalization(core, input_shape, normalization.mean, normalization.std)
    compile_model(model, TrainingSpec(), len(splits.class_names))
    x, y = (array[:512] for array in splits.train)
    model.fit(x.astype("float32"), y, epochs=1, validation_data=(x[:64].astype("float32"), y[:64]), verbose=0)
    keras.backend.clear_session()


def compare(name: str, data: str | None, trials: int, epochs: int, seed: int) -> None:
    """Run the three searches on one dataset and print their figures side by side."""
    import dataclasses

    import searchspace
    from automl._config import StudyConfig
    from automl._data import load_study_data

    config = StudyConfig(study_name="bench", data=data, trials=trials, epochs=epochs, sampler="random", seed=seed)
    data = load_study_data(config)
    dataset, splits, normalization = data.dataset, data.splits, data.normalization
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    sizes = ", ".join(f"{part} {len(y)}" for part, (_, y) in parts.items())
    print(f"== {name}: images {dataset.input_shape}, {sizes}; {trials} trials, at most {epochs} epochs, seed {seed}")
    warm_up(splits, normalization)
    results = [
        run_ours(config, splits),
        run_ours(dataclasses.replace(config, pruner="none"), splits),
        run_kerastuner(config, splits, normalization, searchspace.SearchSpace.default()),
    ]
    reference = results[-1].seconds
    rows = [
        [
            r.side,
            f"{r.seconds:.1f}",
            f"{r.seconds / max(r.trials, 1):.2f}",
            f"{r.seconds / reference:.2f}",
            f"{r.completed}/{r.pruned}/{r.failed}",
            f"{r.best_val:.4f}",
            f"{r.test_accuracy:.4f}",
        ]
        for r in results
    ]
    header = ["search", "wall s", "s/trial", "vs keras-tuner", "done/pruned/failed", "best val acc", "test acc"]
    print(_common.format_table(header, rows))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6, help="trials on digits")
    parser.add_argument("--epochs", type=int, default=3, help="maximum epochs on digits")
    parser.add_argument("--image-dataset", default="mnist", choices=(*_common.IMAGE_DATASETS, "none"))
    parser.add_argument("--image-trials", type=int, default=4)
    parser.add_argument("--image-epochs", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=4000, help="training images drawn from the image dataset")
    parser.add_argument("--test-images", type=int, default=2000, help="test images drawn from the image dataset")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    import keras_tuner  # noqa: F401  (imported before any timing, like TensorFlow and MLflow)
    import mlflow  # noqa: F401

    print("both sides run in this process, after imports and one warm-up model; times exclude testing\n")
    if not args.skip_digits:
        compare("digits", None, args.trials, args.epochs, args.seed)
    if args.image_dataset != "none":
        compare_image_dataset(args)
    print("ratio = wall time / keras-tuner's in the same run (below 1: ours is faster); target <= 0.5")


def compare_image_dataset(args: argparse.Namespace) -> None:
    """``compare`` on a class-balanced subsample of a dataset from ``../shared/datasets``, if present."""
    with tempfile.TemporaryDirectory(prefix="bench-data-") as folder:
        path = _common.subsampled_npz(
            args.image_dataset, Path(folder), train=args.train_images, test=args.test_images, seed=args.seed
        )
        if path is None:
            print(f"skipped {args.image_dataset}: {_common.SHARED_DATASETS} has no {args.image_dataset}.npz")
            return
        compare(f"{args.image_dataset} (subsample)", str(path), args.image_trials, args.image_epochs, args.seed)


if __name__ == "__main__":
    main()
