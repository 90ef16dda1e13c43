"""The GPU path with ``KERAS_BACKEND=jax``: training speed, mixed precision, XLA and the feeder.

For each image shape (default 28x28x1 and 32x32x3, random uint8 images) it picks a mid-size
architecture (the median-FLOPs one of ``--candidates`` drawn from the default search space)
and prints, for float32 and ``mixed_float16`` each with ``jit_compile`` off and on:

- compile s: the first ``fit`` (tracing and compiling) of ``--warmup`` steps;
- steps/s and images/s: a second ``fit`` of ``--steps`` steps from in-memory arrays
  (``--eager-steps`` without XLA, where a step is about 100 times slower);
- the speed-up against float32 without XLA.

Then, for the driver's own set-up (float32, ``jit_compile="auto"``), images/s of:

- ``fit`` from arrays (the reference), with the driver's ``TrialCallback`` (its per-batch
  NaN check makes Keras read every batch's loss, which stops asynchronous dispatch), and
  with ``steps_per_execution`` (several steps per compiled call);
- the feeder alone (``pipelines.Feeder``, batches built one after another in this thread),
  with the default ``AugmentPolicy`` and without augmentation;
- ``fit`` fed by the feeder with each of ``--workers`` thread counts (the driver's default
  is 2 on a CPU), and with augmentation in ``--processes`` worker processes (the
  driver's default beside an accelerator is ``min(8, cores - 1)``): the feeder keeps up
  when this ``fit`` runs at least 90% as fast as from arrays.

Then, for the default ``AugmentPolicy`` run on the device (``pipelines.device_augmentation``),
with the driver's settings for this machine (``mixed_bfloat16`` and ``steps_per_execution``
beside an accelerator, float32 and 1 on a CPU):

- images/s of ``fit`` of the training model (augmentation layers, then the candidate)
  against ``fit`` of the candidate alone, both from arrays (target: at least 0.8);
- the compile time per candidate (first ``fit`` of ``--warmup`` steps less a second one),
  with and without the augmentation layers, for ``--compile-candidates`` architectures;
- one trial as the driver runs it (build, compile, ``fit`` of ``--trial-epochs`` epochs over
  ``--trial-images`` images with validation, save) and the share of its wall time that is
  not training steps (target: under 10% for trials of 30 s or more), the training steps'
  time being the trial's step count at the steady rate measured above.

The script says which device it found; without a GPU the figures are the CPU's.
Run: ``python bench/bench_gpu.py`` (a few minutes on a GPU; about 5 minutes on 2 CPU cores
with ``--steps 20``). ``--quick`` checks the script on a CPU: small sizes and, unless
``--sections`` says otherwise, only the on-device augmentation (3-5 minutes per backend on 2
busy CPU cores, mostly compiling). ``KERAS_BACKEND`` defaults to ``jax`` here.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import _common  # noqa: E402  (sets the import path before our packages are imported)
import numpy as np  # noqa: E402

PRECISIONS = ("float32", "mixed_float16")
SECTIONS = ("precisions", "driver", "device-augmentation")
# --quick: sizes that check the script on a CPU in a few minutes.
QUICK = {
    "sections": ["device-augmentation"],
    "batch_size": 32,
    "steps": 5,
    "eager_steps": 2,
    "warmup": 2,
    "candidates": 3,
    "compile_candidates": 1,
    "xla": "on",
    "workers": [2],
    "processes": [],
    "trial_images": 1024,
    "trial_epochs": 2,
}


def describe_device() -> str:
    """The accelerator Keras trains on, or a plain statement that there is none."""
    import keras

    devices = keras.distribution.list_devices()
    accelerators = [d for d in devices if not d.lower().startswith("cpu")]
    if keras.backend.backend() == "jax":
        import jax

        kind = jax.devices()[0].device_kind
        return f"{kind} ({', '.join(devices)})" if accelerators else f"no GPU found: CPU only ({kind})"
    return ", ".join(accelerators) if accelerators else "no GPU found: CPU only"


def pick_architecture(input_shape: tuple[int, int, int], candidates: int, seed: int) -> Any:
    """The median-FLOPs architecture of ``candidates`` drawn at random from the default space."""
    import optuna

    import searchspace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = searchspace.SearchSpace.default()
    drawn = []
    for _ in range(candidates):
        spec = searchspace.sample_architecture(study.ask(), space, input_shape=input_shape, num_classes=10)
        drawn.append((searchspace.analyze(spec, input_shape, 10).flops, spec))
    drawn.sort(key=lambda pair: pair[0])
    return drawn[len(drawn) // 2][1]


def build(
    spec: Any, input_shape: tuple[int, int, int], precision: str, jit_compile: bool | str, **compile_kw: Any
) -> Any:
    """The driver's model (normalisation inside) under ``precision``, compiled with ``jit_compile``."""
    model = make_candidate(spec, input_shape, precision)
    compile_for_fit(model, jit_compile, **compile_kw)
    return model


def make_candidate(spec: Any, input_shape: tuple[int, int, int], precision: str) -> Any:
    """The driver's model (normalisation inside) under ``precision``, in a fresh Keras session."""
    import keras

    import searchspace
    from automl._training import wrap_with_normalization

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    try:
        core = searchspace.build_model(spec, input_shape=input_shape, num_classes=10)
        return wrap_with_normalization(core, input_shape, (127.5,) * input_shape[-1], (64.0,) * input_shape[-1])
    finally:
        keras.mixed_precision.set_global_policy("float32")


def compile_for_fit(model: Any, jit_compile: bool | str, **compile_kw: Any) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        **compile_kw,
    )


def timed_fit(model: Any, data: Any, *, steps: int, batch_size: int, callbacks: list | None = None) -> float:
    """Seconds for one epoch of ``fit`` over ``steps`` batches of ``data`` (arrays or a feeder)."""
    start = time.perf_counter()
    if isinstance(data, tuple):
        x, y = data
        n = steps * batch_size
        model.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, shuffle=False, callbacks=callbacks, verbose=0)
    else:
        model.fit(data, epochs=1, shuffle=False, callbacks=callbacks, verbose=0)
    return time.perf_counter() - start


def images_per_second(model: Any, data: Any, args: argparse.Namespace, callbacks: list | None = None) -> float:
    """Training images/s of ``model`` on ``data``, from a second ``fit`` (the first compiles)."""
    timed_fit(model, data, steps=args.warmup, batch_size=args.batch_size, callbacks=callbacks)
    seconds = timed_fit(model, data, steps=args.steps, batch_size=args.batch_size, callbacks=callbacks)
    return args.steps * args.batch_size / seconds


def measure_precisions(spec: Any, shape: tuple[int, int, int], arrays: tuple, args: argparse.Namespace) -> None:
    """Print the precision x XLA table: compile time, steps/s, images/s and the speed-up."""
    rows, baseline = [], None
    for precision in PRECISIONS:
        for jit in (False, True) if args.xla == "both" else (True,):
            model = build(spec, shape, precision, jit)
            compile_s = timed_fit(model, arrays, steps=args.warmup, batch_size=args.batch_size)
            steps = args.steps if jit else min(args.steps, args.eager_steps)  # without XLA a step is slow
            rate = steps / timed_fit(model, arrays, steps=steps, batch_size=args.batch_size)
            baseline = baseline or rate
            rows.append(
                [precision, "on" if jit else "off", f"{compile_s:.1f}", f"{rate:.1f}",
                 f"{rate * args.batch_size:,.0f}", f"{rate / baseline:.2f}x"]
            )  # fmt: skip
    first = "float32 no XLA" if args.xla == "both" else "float32"
    print(_common.format_table(["precision", "XLA", "compile s", "steps/s", "images/s", f"vs {first}"], rows))


def measure_driver_path(spec: Any, shape: tuple[int, int, int], arrays: tuple, args: argparse.Namespace) -> None:
    """Print the driver's callback cost, ``steps_per_execution`` and whether the feeder keeps up."""
    import pipelines
    from automl._training import TrialCallback

    x, y = arrays  # uint8 images, as the driver hands them to fit (the model casts them)
    n = args.steps * args.batch_size
    model = build(spec, shape, "float32", "auto")
    rates = {"fit from arrays (uint8 in, float32, jit auto, as the driver)": images_per_second(model, arrays, args)}
    rates["  + the driver's TrialCallback"] = images_per_second(
        model, arrays, args, callbacks=[TrialCallback(report=lambda epoch: False)]
    )
    spe = build(spec, shape, "float32", "auto", steps_per_execution=args.steps_per_execution)
    rates[f"  with steps_per_execution={args.steps_per_execution}"] = images_per_second(spe, arrays, args)
    policies = {"default augmentation": pipelines.AugmentPolicy(), "no augmentation": pipelines.AugmentPolicy.none()}
    for name, policy in policies.items():
        feeder = pipelines.Feeder(x[:n], y[:n], batch_size=args.batch_size, normalization=None, policy=policy, seed=0)
        start = time.perf_counter()
        for index in range(len(feeder)):
            feeder[index]
        rates[f"feeder alone, 1 thread, {name}"] = n / (time.perf_counter() - start)
    for name, policy in policies.items():
        for workers in args.workers if name == "default augmentation" else args.workers[:1]:
            feeder = pipelines.Feeder(
                x[:n], y[:n], batch_size=args.batch_size, normalization=None, policy=policy, seed=0, workers=workers
            )
            rates[f"fit fed by the feeder, {name}, {workers} threads"] = images_per_second(model, feeder, args)
    for processes in args.processes:
        feeder = pipelines.Feeder(
            x[:n], y[:n], batch_size=args.batch_size, normalization=None, policy=policies["default augmentation"],
            seed=0, processes=processes,
        )  # fmt: skip
        feeder[0]  # starts the processes outside the timing, as a study's first trial does once
        rates[f"fit fed by the feeder, default augmentation, {processes} processes"] = images_per_second(
            model, feeder, args
        )
    reference = next(iter(rates.values()))
    rows = [[name, f"{rate:,.0f}", f"{rate / reference:.2f}"] for name, rate in rates.items()]
    print(_common.format_table(["driver path", "images/s", "vs arrays"], rows))
    for name, rate in rates.items():
        if name.startswith("fit fed"):
            verdict = "keeps up" if rate >= 0.9 * reference else "does NOT keep up (training waits for data)"
            print(f"{name.removeprefix('fit fed by the ')}: {verdict} ({rate / reference:.0%} of fit from arrays)")
    print()


def driver_settings() -> tuple[str, int]:
    """The precision and ``steps_per_execution`` the driver trains with on this machine."""
    from automl._training import on_accelerator, steps_per_call

    return ("mixed_bfloat16" if on_accelerator() else "float32", steps_per_call())


def build_augmented(spec: Any, shape: tuple[int, int, int], augmented: bool, seed: int) -> tuple[Any, Any]:
    """``(model, fit_model)`` with the driver's settings: ``fit_model`` has the default
    ``AugmentPolicy`` on the device before ``model`` when ``augmented``, else is ``model``."""
    import pipelines

    precision, steps_per_execution = driver_settings()
    model = make_candidate(spec, shape, precision)
    fit_model = model
    if augmented:
        augmentation = pipelines.device_augmentation(pipelines.AugmentPolicy(), shape, seed=seed)
        fit_model = pipelines.training_model(model, augmentation)
    compile_for_fit(fit_model, "auto", steps_per_execution=steps_per_execution)
    return model, fit_model


def compile_seconds(spec: Any, shape: tuple[int, int, int], arrays: tuple, augmented: bool, args: Any) -> float:
    """The first ``fit`` of ``--warmup`` steps less a second one of as many: tracing and compiling."""
    _, fit_model = build_augmented(spec, shape, augmented, args.seed)
    first = timed_fit(fit_model, arrays, steps=args.warmup, batch_size=args.batch_size)
    return first - timed_fit(fit_model, arrays, steps=args.warmup, batch_size=args.batch_size)


def time_trial(spec: Any, shape: tuple[int, int, int], args: argparse.Namespace) -> dict[str, float]:
    """Seconds of each phase of one trial with on-device augmentation, as the driver runs it."""
    import keras

    rng = np.random.default_rng(args.seed + 1)
    x = rng.integers(0, 256, (args.trial_images, *shape), dtype=np.uint8)  # as the driver hands them to fit
    y = rng.integers(0, 10, args.trial_images).astype(np.int64)
    val = (x[: max(1, len(x) // 5)], y[: max(1, len(x) // 5)])
    phases = {}
    start = time.perf_counter()
    model, fit_model = build_augmented(spec, shape, True, args.seed)  # build and compile()
    phases["build + compile()"] = time.perf_counter() - start
    mark = time.perf_counter()
    fit_model.fit(
        x, y, batch_size=args.batch_size, epochs=args.trial_epochs, validation_data=val,
        validation_batch_size=4 * args.batch_size, shuffle=True, verbose=0,
    )  # fmt: skip
    phases["fit (with its compiling and validation)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as folder:
        model.save(Path(folder) / "trial.keras")
    phases["save"] = time.perf_counter() - mark
    keras.backend.clear_session()
    return phases


def measure_device_augmentation(spec: Any, shape: tuple[int, int, int], arrays: tuple, args: Any) -> None:
    """Print on-device augmentation against arrays, compile time per candidate and one trial's overhead."""
    precision, steps_per_execution = driver_settings()
    print(f"on-device augmentation, default policy ({precision}, steps_per_execution={steps_per_execution}, "
          f"jit_compile auto):")  # fmt: skip
    rates = {}
    for name, augmented in (("fit from arrays, no augmentation", False), ("fit with on-device augmentation", True)):
        _, fit_model = build_augmented(spec, shape, augmented, args.seed)
        rates[name] = images_per_second(fit_model, arrays, args)
    reference, augmented_rate = rates.values()
    rows = [[name, f"{rate:,.0f}", f"{rate / reference:.2f}"] for name, rate in rates.items()]
    print(_common.format_table(["fit", "images/s", "vs arrays"], rows))
    verdict = "meets" if augmented_rate >= 0.8 * reference else "does NOT meet"
    print(f"on-device augmentation {verdict} the target (>= 0.8 of fit from arrays): {augmented_rate / reference:.2f}")

    specs = [spec, *pick_architectures(shape, args.compile_candidates - 1, args.seed + 1)]
    rows = []
    for candidate in specs:
        plain, augmented = (compile_seconds(candidate, shape, arrays, a, args) for a in (False, True))
        rows.append([candidate.digest()[:12], f"{plain:.2f}", f"{augmented:.2f}"])
    print(_common.format_table(["candidate", "compile s, arrays", "compile s, on-device aug."], rows))

    phases = time_trial(spec, shape, args)
    total = sum(phases.values())
    steps = args.trial_epochs * math.ceil(args.trial_images / args.batch_size)
    training = min(total, steps * args.batch_size / augmented_rate)
    rows = [[name, f"{seconds:.2f}"] for name, seconds in phases.items()]
    rows += [["trial", f"{total:.2f}"], [f"  of which training steps ({steps} at the rate above)", f"{training:.2f}"]]
    print(_common.format_table([f"one trial: {args.trial_epochs} epochs of {args.trial_images:,} images", "s"], rows))
    share = 1 - training / total
    length = "a trial of 30 s or more" if total >= 30 else "a trial under 30 s: the target is for 30 s or more"
    print(f"share of the trial that is not training steps: {share:.1%} (target < 10%; {length})\n")


def pick_architectures(input_shape: tuple[int, int, int], count: int, seed: int) -> list[Any]:
    """``count`` more architectures for the compile-time table, each the median of its own draw."""
    return [pick_architecture(input_shape, 5, seed + k) for k in range(count)]


def run_shape(shape: tuple[int, int, int], args: argparse.Namespace) -> None:
    import searchspace

    spec = pick_architecture(shape, args.candidates, args.seed)
    analysis = searchspace.analyze(spec, shape, 10)
    rng = np.random.default_rng(args.seed)
    n = max(args.steps, args.warmup) * args.batch_size
    arrays = (rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))
    print(f"== {'x'.join(map(str, shape))} images, batch {args.batch_size}: model {spec.digest()[:12]}, "
          f"{analysis.params:,} parameters, {analysis.flops:,} FLOPs per image "
          f"(median of {args.candidates} drawn)")  # fmt: skip
    if "precisions" in args.sections:
        measure_precisions(spec, shape, (arrays[0].astype("float32"), arrays[1]), args)
    if "driver" in args.sections:
        measure_driver_path(spec, shape, arrays, args)
    if "device-augmentation" in args.sections:
        measure_device_augmentation(spec, shape, arrays, args)


def _shape(text: str) -> tuple[int, int, int]:
    parts = tuple(int(p) for p in text.split(","))
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"a shape is H,W,C with positive sizes, got {text!r}")
    return parts  # type: ignore[return-value]


def main() -> None:
    from automl._training import default_augment_processes

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", type=_shape, nargs="+", default=[(28, 28, 1), (32, 32, 3)], help="H,W,C ...")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--eager-steps", type=int, default=20, help="timed steps without XLA")
    parser.add_argument("--warmup", type=int, default=10, help="steps of the first (compiling) fit")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[2], help="feeder thread counts to try (the driver's default is 2)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="*",
        default=[default_augment_processes(accelerated=True) or 1],
        help="augmentation process counts to try (default: the driver's count beside an accelerator)",
    )
    parser.add_argument("--steps-per-execution", type=int, default=10, help="for the steps_per_execution row")
    parser.add_argument("--xla", choices=("both", "on"), default="both", help="'on' skips the slow runs without XLA")
    parser.add_argument("--candidates", type=int, default=15, help="architectures drawn to pick the median from")
    parser.add_argument("--compile-candidates", type=int, default=3, help="architectures timed for compile time")
    parser.add_argument("--trial-images", type=int, default=50_000, help="training images of the timed trial")
    parser.add_argument("--trial-epochs", type=int, default=20, help="epochs of the timed trial")
    parser.add_argument("--sections", choices=SECTIONS, nargs="+", help=f"parts to run (default: all, {SECTIONS})")
    parser.add_argument("--quick", action="store_true", help=f"small sizes to check the script on a CPU: {QUICK}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sections = args.sections
    if args.quick:
        vars(args).update(QUICK)
    args.sections = sections or args.sections or list(SECTIONS)
    _common.print_provenance(args.seed)
    print(f"device: {describe_device()}\n")
    for shape in args.shapes:
        run_shape(shape, args)
    print("steps/s from the second fit (the first compiles); images/s = steps/s x batch size")


if __name__ == "__main__":
    main()
