"""A ``fit`` fed uint8 images, which the model casts, against one fed a float32 copy of them.

Until 2026-12-05 ``automl._training.train_model`` handed Keras ``x.astype("float32")`` (and
so the validation split), and the feeder float32 batches. Now both hand over the uint8
images and the model's float32 ``Input`` casts each batch inside the compiled step. This
times the same calls of ``train_model`` both ways:

- ``arrays``: no augmentation, ``fit`` on the arrays (a trial whose policy is the identity);
- ``feeder``: the warm start's augmentation through ``pipelines.Feeder`` (its float32 way
  is the feeder with each batch cast, as it was).

Each fit is one epoch cut to ``--steps`` batches, with the validation split, as a trial's
cut first epoch and the fits after it are; every ``fit`` call pays Keras' set-up of its
data, which is what the input's type changes. The model is the convnet warm start for the
shape, with its normalisation layer, as a trial builds it. Each (shape, path, type) runs in
a fresh process, which fits ``--fits`` times; the median of the fits after the first (which
traces) counts, and the process's peak memory over what it held before the first fit.
Random images.

Run: ``python bench/bench_fit_input.py`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import _common
import numpy as np

# name: (shape, training images, validation images): full MNIST's and CIFAR-10's splits as a
# study makes them (held-out splits capped at 5,000), and larger images in a smaller set.
SHAPES = {
    "28x28x1": ((28, 28, 1), 50_000, 5_000),
    "32x32x3": ((32, 32, 3), 40_000, 5_000),
    "96x96x3": ((96, 96, 3), 8_000, 1_500),
}
PATHS = ("arrays", "feeder")
TYPES = ("float32", "uint8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"from {', '.join(SHAPES)}")
    parser.add_argument("--steps", type=int, default=20, help="training batches per fit")
    parser.add_argument("--fits", type=int, default=3, help="fits per process (the first traces)")
    parser.add_argument("--one", nargs=3, metavar=("SHAPE", "PATH", "TYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(*args.one, steps=args.steps, fits=args.fits)))
        return
    _common.print_provenance(0)
    rows = []
    for name in args.shapes.split(","):
        for path in PATHS:
            seconds, memory = {}, {}
            for dtype in TYPES:
                seconds[dtype], memory[dtype] = _run_one(name, path, dtype, args)
                print(f"  {name} {path} {dtype}: {seconds[dtype]:.2f} s a fit, {memory[dtype]:,.0f} MB", flush=True)
            ratio = f"{seconds['uint8'] / seconds['float32']:.2f}x"
            times, megabytes = (f"{seconds[t]:.2f}" for t in TYPES), (f"{memory[t]:,.0f}" for t in TYPES)
            rows.append((name, path, *times, ratio, *megabytes))
    header = ("images", "path", "float32 s/fit", "uint8 s/fit", "uint8 / float32", "float32 MB", "uint8 MB")
    print(_common.format_table(header, rows))
    print(f"s/fit: one fit of {args.steps} training steps and a validation pass; MB: peak memory the fits added")


def _run_one(name: str, path: str, dtype: str, args: argparse.Namespace) -> tuple[float, float]:
    options = ["--steps", str(args.steps), "--fits", str(args.fits)]
    command = [sys.executable, __file__, "--one", name, path, dtype, *options]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["megabytes"]


def _measure(name: str, path: str, dtype: str, *, steps: int, fits: int) -> dict[str, float]:
    import keras

    import pipelines
    import searchspace
    from automl._hparams import TrainingSpec
    from automl._training import compile_model, configure_runtime, train_model, wrap_with_normalization
    from automl._warmstart import resolve_warm_starts

    configure_runtime()
    shape, count, held_out = SHAPES[name]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (count + held_out, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, count + held_out).astype(np.int64)
    train, val = (x[:count], y[:count]), (x[count:], y[count:])
    config = resolve_warm_starts(shape, 10, count, max_epochs=9, flips=True)[0][0]  # the first warm start
    training = TrainingSpec.from_dict(config.training)
    policy = pipelines.AugmentPolicy.from_dict(config.augmentation) if path == "feeder" else None
    keras.utils.set_random_seed(0)
    spec = searchspace.ArchitectureSpec.from_dict(config.architecture)
    core = searchspace.build_model(spec, input_shape=shape, num_classes=10)
    norm = pipelines.Normalization.fit(train[0])
    model = wrap_with_normalization(core, shape, norm.mean, norm.std)
    compile_model(model, training, 10)
    if dtype == "float32" and path == "feeder":
        pipelines.Feeder = _float32_feeder()  # train_model looks the class up on each call
    before = _peak_megabytes()
    seconds = []
    for _ in range(fits):
        start = time.perf_counter()
        data, validation = train, val
        if dtype == "float32":  # what train_model did: a copy of each on every call
            validation = (val[0].astype("float32"), val[1])
            if path == "arrays":
                data = (train[0].astype("float32"), train[1])
        train_model(model, data, training=training, seed=0, policy=policy, validation=validation, epochs=1, steps=steps)
        seconds.append(time.perf_counter() - start)
    return {"seconds": statistics.median(seconds[1:]), "megabytes": _peak_megabytes() - before}


def _peak_megabytes() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _float32_feeder() -> type:
    """Made on first use: the feeder's module imports Keras."""
    import pipelines

    class Float32Feeder(pipelines.Feeder):
        """The feeder as it was: each batch cast to float32 before Keras takes it."""

        def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
            x, y = super().__getitem__(batch)
            return x.astype(np.float32), y

    return Float32Feeder


if __name__ == "__main__":
    main()
