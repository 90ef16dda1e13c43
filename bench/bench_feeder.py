"""Can the feeder keep up with training? Feeder images/s against a model's training images/s.

For 28x28 grey (MNIST from ``../shared/datasets`` when present, else random) and 32x32 RGB
(random) images, this prints:

- the feeder's rate with the default ``AugmentPolicy`` and training-split normalisation,
  with 1 worker (batches built one after another), with ``--workers`` threads, and with
  ``--processes`` augmentation processes (what the driver uses beside an accelerator);
- the training rate of a mid-sized sampled architecture (the median-FLOPs one of
  ``--candidates`` architectures drawn from the default search space), from ready arrays;
- their ratio, feeder / training: below 1 means training would wait for data.

Both are measured alone, one after the other; during ``fit`` they share the CPU.

Run: ``python bench/bench_feeder.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40, help="batches timed per feeder measurement")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="augmentation processes (0: skip)")
    parser.add_argument("--candidates", type=int, default=15, help="architectures drawn to pick the median from")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import albumentations
    import keras

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"versions: keras {keras.__version__} ({keras.backend.backend()}), albumentations "
        f"{albumentations.__version__}, numpy {np.__version__}, python {platform.python_version()}"
    )
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; seed {args.seed}")
    processes = f"{args.processes} processes"
    print(
        f"{'images':<16}{'feeder 1 worker':>17}{f'{args.workers} threads':>12}{processes:>13}"
        f"{'training':>12}{'ratio':>8}"
    )
    for name, images, labels in (_mnist_like(args.seed), _random_rgb(args.seed)):
        sequential = _feeder_rate(images, labels, args, workers=1)
        threaded = _feeder_rate(images, labels, args, workers=args.workers)
        in_processes = _feeder_rate(images, labels, args, workers=1, processes=args.processes) if args.processes else 0
        training, params = _training_rate(images.shape[1:], args)
        best = max(threaded, in_processes)
        print(
            f"{name:<16}{sequential:>13.0f}/s {threaded:>9.0f}/s {in_processes:>10.0f}/s "
            f"{training:>9.0f}/s {best / training:>7.2f}   (model: {params:,} parameters)"
        )
    print(
        "rates are images per second; ratio = the faster of threads and processes / training (below 1: training waits)"
    )


def _mnist_like(seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    if SHARED_MNIST.exists():
        with np.load(SHARED_MNIST) as data:
            return "28x28x1 MNIST", data["x_train"][:10_000, ..., None], data["y_train"][:10_000].astype(np.int64)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (10_000, 28, 28, 1), dtype=np.uint8)
    return "28x28x1 random", x, rng.integers(0, 10, 10_000)


def _random_rgb(seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return "32x32x3 random", rng.integers(0, 256, (10_000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 10_000)


def _feeder_rate(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, *, workers: int, processes: int = 0) -> float:
    """Images per second the feeder prepares with the default policy, its threads all busy."""
    from pipelines import AugmentPolicy, Feeder, Normalization

    feeder = Feeder(
        x,
        y,
        batch_size=args.batch_size,
        normalization=Normalization.fit(x),
        policy=AugmentPolicy(),
        seed=args.seed,
        workers=workers,
        processes=processes,
    )
    batches = range(min(args.batches, len(feeder)))
    feeder[0]  # warm-up: builds this thread's pipeline, or starts the processes
    with ThreadPoolExecutor(feeder.workers) as pool:
        start = time.perf_counter()
        count = sum(len(batch_y) for _, batch_y in pool.map(feeder.__getitem__, batches))
        return count / (time.perf_counter() - start)


def _training_rate(input_shape: tuple[int, int, int], args: argparse.Namespace) -> tuple[float, int]:
    """Images per second one training step consumes for a mid-sized sampled model."""
    import keras

    model = _mid_sized_model(input_shape, args)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch_size, *input_shape), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size)
    for _ in range(3):  # compile the step function and warm caches
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    rate = args.steps * args.batch_size / (time.perf_counter() - start)
    params = model.count_params()
    keras.backend.clear_session()
    return rate, params


def _mid_sized_model(input_shape: tuple[int, int, int], args: argparse.Namespace):
    """The median-FLOPs architecture of ``args.candidates`` drawn from the default search space."""
    import optuna

    import searchspace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    space = searchspace.SearchSpace()
    drawn = []
    for _ in range(args.candidates):
        spec = searchspace.sample_architecture(study.ask(), space, input_shape=input_shape, num_classes=10)
        drawn.append((searchspace.analyze(spec, input_shape, 10).flops, spec))
    flops = statistics.median_low(f for f, _ in drawn)
    spec = next(s for f, s in drawn if f == flops)
    return searchspace.build_model(spec, input_shape, 10)


if __name__ == "__main__":
    main()
