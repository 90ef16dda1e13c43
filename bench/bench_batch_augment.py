"""The warm start's training epoch: augmented per image, a batch at a time, and not at all.

For 28x28 grey images (Fashion-MNIST's training images from ``../shared/datasets`` when
present, else random ones) and 32x32 RGB images (random), it trains the first warm start
(``automl._warmstart``: its architecture, recipe and augmentation policy for that data) with
``automl._training.train_model``, the one training loop of trials and retrainings, three
ways, each for ``--epochs`` epochs on a fresh model:

- ``per image``: the feeder with every transform in albumentations' per-image loop (the
  batch executor's registry emptied, as before ``pipelines._batch_augment``);
- ``batch``: the feeder as it is (the policy's shifts and flips on whole batches in NumPy);
- ``arrays``: no augmentation, ``fit`` on plain arrays: the most a feeder could give.

It prints the steady epoch time (the median of the epochs after the first, which carries the
tracing) and each feeder's ratio to the arrays' (1.0: augmentation costs the training
nothing; the target is 0.95 or more), and the feeder's own time to build an epoch's batches
in one thread, per image and a batch at a time.

Run: ``python bench/bench_batch_augment.py`` (about 8 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

import _common
import keras
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grey-images", type=int, default=50_000, help="28x28x1 training images")
    parser.add_argument("--rgb-images", type=int, default=20_000, help="32x32x3 training images")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per way (the first is left out)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _common.print_provenance(args.seed)
    from automl._training import configure_runtime

    configure_runtime()
    rows = []
    for name, x, y in (_grey(args.grey_images, args.seed), _rgb(args.rgb_images, args.seed)):
        rows.append(measure(name, x, y, epochs=args.epochs, seed=args.seed))
    header = [
        "images",
        "policy",
        "per image s/epoch",
        "batch s/epoch",
        "arrays s/epoch",
        "per image/arrays",
        "batch/arrays",
        "feeder alone per image s",
        "feeder alone batch s",
    ]
    print(_common.format_table(header, rows))
    print("ratio = arrays' epoch time / the feeder's (1.0: augmentation costs nothing; target >= 0.95)")


def _grey(count: int, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    path = _common.SHARED_DATASETS / "fashion_mnist.npz"
    if path.exists():
        with np.load(path) as data:
            x, y = data["x_train"][:count, ..., None], data["y_train"][:count].astype(np.int64)
        return f"{len(y):,} Fashion-MNIST 28x28x1", x, y
    rng = np.random.default_rng(seed)
    return f"{count:,} random 28x28x1", rng.integers(0, 256, (count, 28, 28, 1), np.uint8), rng.integers(0, 10, count)


def _rgb(count: int, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return f"{count:,} random 32x32x3", rng.integers(0, 256, (count, 32, 32, 3), np.uint8), rng.integers(0, 10, count)


def measure(name: str, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int) -> list[Any]:
    import pipelines
    from automl._hparams import TrainingSpec
    from automl._warmstart import resolve_warm_starts

    config = resolve_warm_starts(x.shape[1:], 10, len(y), max_epochs=epochs)[0][0]  # the first warm start
    training = TrainingSpec.from_dict(config.training)
    policy = pipelines.AugmentPolicy.from_dict(config.augmentation)
    normalization = pipelines.Normalization.fit(x)
    print(f"{name}: warm start {config.name!r}, batch {training.batch_size}, policy {policy.transforms}", flush=True)
    with _per_image():
        per_image = _epoch_seconds(config, training, normalization, x, y, policy, seed)
        alone_per_image = _feeder_seconds(x, y, training.batch_size, policy, seed)
    batch = _epoch_seconds(config, training, normalization, x, y, policy, seed)
    alone_batch = _feeder_seconds(x, y, training.batch_size, policy, seed)
    arrays = _epoch_seconds(config, training, normalization, x, y, None, seed)
    return [
        name,
        "+".join(policy.transforms),
        per_image,
        batch,
        arrays,
        arrays / per_image,
        arrays / batch,
        alone_per_image,
        alone_batch,
    ]


@contextlib.contextmanager
def _per_image() -> Iterator[None]:
    """Within it, the batch executor runs nothing: every transform goes to albumentations."""
    from pipelines import _batch_augment

    saved = dict(_batch_augment._BATCH_BUILDERS)
    _batch_augment._BATCH_BUILDERS.clear()
    try:
        yield
    finally:
        _batch_augment._BATCH_BUILDERS.update(saved)


def _epoch_seconds(
    config: Any, training: Any, normalization: Any, x: np.ndarray, y: np.ndarray, policy: Any, seed: int
) -> float:
    """The steady epoch time of a fresh warm-start model trained with ``policy`` (None: arrays)."""
    import searchspace
    from automl._training import compile_model, train_model, wrap_with_normalization

    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    spec = searchspace.ArchitectureSpec.from_dict(config.architecture)
    core = searchspace.build_model(spec, input_shape=x.shape[1:], num_classes=10)
    model = wrap_with_normalization(core, x.shape[1:], normalization.mean, normalization.std)
    compile_model(model, training, 10)
    clock = _EpochTimes()
    train_model(model, (x, y), training=training, seed=seed, policy=policy, epochs=training.epochs, callbacks=[clock])
    print(
        f"  {'arrays' if policy is None else 'feeder'}: epochs " + " ".join(f"{s:.2f}s" for s in clock.seconds),
        flush=True,
    )
    return statistics.median(clock.seconds[1:])


class _EpochTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def _feeder_seconds(x: np.ndarray, y: np.ndarray, batch_size: int, policy: Any, seed: int) -> float:
    """Seconds one thread takes to build an epoch's augmented batches, without training."""
    from pipelines import Feeder

    feeder = Feeder(x, y, batch_size=batch_size, normalization=None, policy=policy, seed=seed, workers=1)
    start = time.perf_counter()
    for batch in range(len(feeder)):
        feeder[batch]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
