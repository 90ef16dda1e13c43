"""The study driver: open or resume a study, then run trials from its queue until it is done.

``run_study`` is what ``automl search`` and ``automl worker`` call. The study's settings,
data summary and MLflow parent run id are stored on the Optuna study, so any process that
knows the study name and storage can resume it or join it as a worker.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from automl._config import StudyConfig
from automl._errors import UserError
from automl._progress import Progress
from automl._queue import claim_trial, effective_trials, enqueue_up_to, heartbeat
from automl._stores import model_dir, open_storage
from automl._tracking import Tracker

__all__ = [
    "run_study",
    "open_study",
    "load_existing",
    "study_tracker",
    "load_context_data",
    "StudyStopped",
    "PARENT_RUN_ATTR",
    "versions",
]

PARENT_RUN_ATTR = "mlflow_parent_run_id"
CONFIG_ATTR = "config"
# Settings a resumed study keeps from its first run (they define what is searched).
_FROZEN_ON_RESUME = (
    "data", "image_size", "epochs", "sampler", "pruner", "objective", "cost_metric", "seed",
    "val_fraction", "test_fraction", "space", "max_params", "max_flops",
)  # fmt: skip


class StudyStopped(Exception):
    """Too many trials failed in a row; carries the last failure's reason."""


@dataclass(frozen=True, kw_only=True)
class StudyRun:
    """What a call of ``run_study`` did."""

    study: optuna.Study
    config: StudyConfig
    ran: int
    parent_run_id: str
    stopped_early: str | None = None
    data: tuple[Any, Any, Any] | None = None  # (dataset, splits, normalization), reused by compare/export


def versions() -> dict[str, str]:
    """Versions of the packages that shape a result, for provenance."""
    import importlib.metadata as md

    names = ("keras", "tensorflow", "jax", "torch", "optuna", "mlflow", "albumentations", "numpy", "scikit-learn")
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    found["python"] = sys.version.split()[0]
    return found


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def _make_sampler(config: StudyConfig) -> optuna.samplers.BaseSampler:
    if config.sampler in ("random", "grid"):  # grid trials are enqueued with all their parameters fixed
        return optuna.samplers.RandomSampler(seed=config.seed)
    startup = min(10, max(3, config.trials // 3))
    with warnings.catch_warnings():  # multivariate/group are "experimental" but the right tool here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=config.seed, multivariate=True, group=True, n_startup_trials=startup)


def grid_points(config: StudyConfig) -> list[dict[str, Any]]:
    """Every combination of the grid (classics x ``GRID``), in a seeded random order."""
    import itertools
    import random

    import searchspace
    from automl._hparams import GRID

    axes = {"arch.classic": sorted(searchspace.CLASSICS), **GRID}
    points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    random.Random(config.seed).shuffle(points)
    return points


def _enqueue(study: optuna.Study, config: StudyConfig, splits: Any) -> None:
    """Fill the study's queue up to ``config.trials``: seed architectures, then warm starts; grid points cycle."""
    if config.sampler != "grid":
        if not study.trials:
            seeds = _seed_attrs(config)
            enqueue_up_to(study, min(len(seeds), config.trials), seeds)
            _enqueue_warm_starts(study, config, splits)
        enqueue_up_to(study, config.trials)
        return
    points = grid_points(config)
    for index in range(len(effective_trials(study)), config.trials):
        study.enqueue_trial(points[index % len(points)], skip_if_exists=False)


# Steps are epochs. The median pruner may stop a trial after its first epoch, once two
# trials have completed: on 20 digits trials of up to 5 epochs it halved the search's time
# with the same best trial (bench/RESULTS.md).
_PRUNERS: dict[str, Callable[[StudyConfig], optuna.pruners.BasePruner]] = {
    "median": lambda config: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    "hyperband": lambda config: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs),
    "none": lambda config: optuna.pruners.NopPruner(),
}


def _make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    return _PRUNERS[config.pruner](config)


def _directions(config: StudyConfig) -> list[str]:
    return ["maximize", "minimize"] if config.objective == "pareto" else ["maximize"]


def open_study(config: StudyConfig, *, create: bool = True) -> tuple[optuna.Study, StudyConfig, bool]:
    """Load the study named in ``config`` (its stored settings win), or create it.

    Returns the study, the settings in force and whether it was created now.
    """
    storage = open_storage(config.storage)
    try:
        study = optuna.load_study(study_name=config.study_name, storage=storage)
    except KeyError:
        study = None
    if study is not None:
        # The sampler and pruner depend on the stored settings, known only once it is loaded.
        config = _resume_config(StudyConfig.from_dict(json.loads(study.user_attrs[CONFIG_ATTR])), config)
        study.sampler = _make_sampler(config)
        study.pruner = _make_pruner(config)
        return study, config, False
    if not create:
        raise UserError(f"no study named {config.study_name!r} in {config.storage or 'the default storage'}")
    study = optuna.create_study(
        study_name=config.study_name,
        storage=storage,
        sampler=_make_sampler(config),
        pruner=_make_pruner(config),
        directions=_directions(config),
        load_if_exists=False,
    )
    stored = dataclasses.replace(config, storage=None, tracking_uri=None)
    study.set_user_attr(CONFIG_ATTR, stored.to_json())
    return study, config, True


def load_existing(
    study_name: str, *, storage: str | None, tracking_uri: str | None
) -> tuple[optuna.Study, StudyConfig]:
    """An existing study and its stored settings, with the given stores (``UserError`` if absent)."""
    study, config, _ = open_study(StudyConfig(study_name=study_name, storage=storage), create=False)
    return study, config.replace(tracking_uri=tracking_uri)


def study_tracker(study: optuna.Study, config: StudyConfig) -> Tracker:
    """The study's MLflow tracker, attached to its parent run when it has one."""
    tracker = Tracker(config.tracking_uri, experiment_name=config.study_name)
    if PARENT_RUN_ATTR in study.user_attrs:
        tracker.attach_parent(study.user_attrs[PARENT_RUN_ATTR])
    return tracker


def _resume_config(stored: StudyConfig, given: StudyConfig) -> StudyConfig:
    """The stored settings, with the per-run ones (total, timeout, stores...) from ``given``."""
    defaults = StudyConfig()
    for name in _FROZEN_ON_RESUME:
        value = getattr(given, name)
        if value != getattr(defaults, name) and value != getattr(stored, name):
            print(
                f"note: study {stored.study_name!r} keeps its {name}={getattr(stored, name)!r}; "
                f"ignoring {name}={value!r} (start a new --study-name to change it)",
                file=sys.stderr,
            )
    per_run = {
        f.name: getattr(given, f.name) for f in dataclasses.fields(StudyConfig) if f.name not in _FROZEN_ON_RESUME
    }
    return dataclasses.replace(stored, **per_run)


def load_context_data(config: StudyConfig) -> tuple[Any, Any, Any]:
    """Load and split the study's data: (dataset, splits, normalization from the train split)."""
    import pipelines

    dataset = pipelines.load_dataset(config.data, image_size=config.image_size)
    splits = pipelines.split_dataset(
        dataset, val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed
    )
    normalization = pipelines.Normalization.fit(splits.train[0])
    return dataset, splits, normalization


def _open_parent_run(
    study: optuna.Study, config: StudyConfig, tracker: Tracker, data: tuple[Any, Any, Any], worker: bool
) -> str:
    run_id = study.user_attrs.get(PARENT_RUN_ATTR)
    if worker:
        if run_id is None:
            raise UserError(
                f"study {config.study_name!r} has no MLflow parent run yet; start it with 'automl search' first"
            )
        tracker.attach_parent(run_id)
        return run_id
    created = run_id is None
    run_id = tracker.open_parent(config.study_name, run_id)
    if created:
        study.set_user_attr(PARENT_RUN_ATTR, run_id)
        _log_study_settings(tracker, config, data)
    return run_id


def _log_study_settings(tracker: Tracker, config: StudyConfig, data: tuple[Any, Any, Any]) -> None:
    import searchspace

    dataset, splits, normalization = data
    parent = tracker.parent()
    settings = {k: v for k, v in config.to_dict().items() if k != "space"}
    parent.log_params({**{f"study.{k}": v for k, v in settings.items()}, "data.source": dataset.source})
    parent.set_tags({"git_commit": _git_commit() or "unknown", **{f"version.{k}": v for k, v in versions().items()}})
    space = searchspace.SearchSpace.from_dict(dict(config.space)) if config.space else searchspace.SearchSpace.default()
    tracker.log_json(parent.run_id, space.to_dict(), "search_space.json")
    tracker.log_json(parent.run_id, dataset.summary(), "data/summary.json")
    tracker.log_json(parent.run_id, splits.summary(), "data/splits.json")
    tracker.log_json(parent.run_id, normalization.to_dict(), "data/normalization.json")
    tracker.log_json(parent.run_id, versions(), "versions.json")


def _seed_attrs(config: StudyConfig) -> list[dict]:
    import searchspace

    unknown = [name for name in config.seed_architectures if name not in searchspace.CLASSICS]
    if unknown:
        raise UserError(f"unknown seed architecture(s) {unknown}; choose from {sorted(searchspace.CLASSICS)}")
    return [{"seed_architecture": name} for name in config.seed_architectures]


def _enqueue_warm_starts(study: optuna.Study, config: StudyConfig, splits: Any) -> None:
    from automl._warmstart import enqueue_warm_starts, warm_start_configs

    images, labels = splits.train
    configs = warm_start_configs(
        images.shape[1:],
        len(splits.class_names),
        len(labels),
        max_epochs=config.epochs,
        space=_space(config),
        max_params=config.max_params,
        max_flops=config.max_flops,
    )
    enqueue_warm_starts(study, configs, limit=config.trials - len(study.trials))


def run_study(
    config: StudyConfig,
    *,
    worker: bool = False,
    max_trials: int | None = None,
    progress: Progress | None = None,
) -> StudyRun:
    """Open (or resume, or join as a ``worker``) the study and run queued trials until none is left.

    ``max_trials`` bounds how many trials this call runs (a worker's ``--trials``).
    Raises ``StudyStopped`` after ``config.max_consecutive_failures`` failures in a row.
    """
    from automl._training import configure_runtime
    from automl._trial import StudyContext

    study, config, created = open_study(config, create=not worker)
    progress = progress or Progress(total=config.trials)
    if not worker and max_trials != 0:
        progress.message(_header(config, created, study))
    if worker:  # workers share the study's seed: without this they would all sample the same candidates
        study.sampler.reseed_rng()
    data = load_context_data(config)
    if not worker:  # after loading the data: warm starts are tailored to the images
        _enqueue(study, config, data[1])
    tracker = Tracker(config.tracking_uri, experiment_name=config.study_name)
    parent_run_id = _open_parent_run(study, config, tracker, data, worker)
    runtime = configure_runtime()
    if not worker:
        tracker.parent().set_tags({f"runtime.{k}": v for k, v in runtime.items()})
    progress.best = _best_value(study)
    ctx = StudyContext(
        config=config,
        splits=data[1],
        normalization=data[2],
        space=_space(config),
        tracker=tracker,
        progress=progress,
        model_dir=model_dir(config.study_name),
    )
    # Everything loaded so far (TensorFlow, Keras, MLflow: ~700,000 objects) lives as long as
    # the process: freezing it keeps each trial's garbage collections from walking it again.
    gc.collect()
    gc.freeze()
    if config.isolate and not worker:
        ran, stopped = _run_isolated(config, study, progress, max_trials)
    else:
        ran, stopped = _run_in_process(study, ctx, max_trials)
    close_orphan_runs(study, tracker)
    return StudyRun(study=study, config=config, ran=ran, parent_run_id=parent_run_id, stopped_early=stopped, data=data)


def close_orphan_runs(study: optuna.Study, tracker: Tracker) -> int:
    """Close as KILLED the MLflow runs of failed trials whose process died mid-trial.

    Such a trial was failed by Optuna's heartbeat check in another process, so nobody
    closed its run; returns how many runs were closed.
    """
    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id is None or "fail_reason" in trial.user_attrs:
            continue
        if tracker.client.get_run(run_id).info.status == "RUNNING":
            reason = "its worker stopped sending heartbeats (killed or lost) mid-trial"
            tracker.client.set_tag(run_id, "fail_reason", reason)
            tracker.client.set_terminated(run_id, status="KILLED")
            closed += 1
    return closed


def _header(config: StudyConfig, created: bool, study: optuna.Study) -> str:
    done = sum(t.state.is_finished() for t in effective_trials(study))
    verb = "new study" if created else f"resuming study ({done} of {config.trials} trials finished)"
    return (
        f"{verb} {config.study_name!r}: data {config.data or 'digits'}, {config.trials} trials in total, "
        f"up to {config.epochs} epochs each, sampler {config.sampler}, pruner {config.pruner}, "
        f"objective {config.objective}"
    )


def _space(config: StudyConfig) -> Any:
    import searchspace

    return searchspace.SearchSpace.from_dict(dict(config.space)) if config.space else searchspace.SearchSpace.default()


def _best_value(study: optuna.Study) -> float | None:
    values = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max(values) if values else None


def _run_in_process(study: optuna.Study, ctx: Any, max_trials: int | None) -> tuple[int, str | None]:
    from automl._trial import run_trial

    deadline = time.monotonic() + ctx.config.timeout if ctx.config.timeout else None
    ran, failures, last_reason = 0, 0, None
    while (max_trials is None or ran < max_trials) and (deadline is None or time.monotonic() < deadline):
        trial = claim_trial(study, deadline=deadline)
        if trial is None:
            break
        with heartbeat(trial):
            try:
                outcome = run_trial(trial, ctx)
            except KeyboardInterrupt:
                study.tell(trial, state=TrialState.FAIL)
                raise
        _tell(study, trial, outcome)
        ran += 1
        best = _best_value(study)
        value = outcome.values[0] if outcome.values else trial.user_attrs.get("val_accuracy")
        ctx.progress.trial_finished(trial.number, outcome.state.name.lower(), value, outcome.reason, best)
        failures = failures + 1 if outcome.state == TrialState.FAIL and not _is_cheap_failure(outcome) else 0
        last_reason = outcome.reason or last_reason
        if failures >= ctx.config.max_consecutive_failures:
            raise StudyStopped(f"{failures} trials failed in a row; the last one: {last_reason}")
    return ran, None if deadline is None or time.monotonic() < deadline else "timeout reached"


def _is_cheap_failure(outcome: Any) -> bool:
    """Infeasible or over-budget samples cost nothing and do not count as failures in a row."""
    return bool(outcome.reason and outcome.reason.startswith("infeasible"))


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: Any) -> None:
    try:
        if outcome.state == TrialState.COMPLETE:
            study.tell(trial, outcome.values)
        else:
            study.tell(trial, state=outcome.state)
    except optuna.exceptions.UpdateFinishedTrialError:
        # Another process failed this trial as stale (its heartbeat paused longer than the
        # grace period) and queued a retry; the retry's result stands, this one is dropped.
        print(f"note: trial {trial.number} was failed as stale elsewhere; its result is dropped", file=sys.stderr)


def _run_isolated(
    config: StudyConfig, study: optuna.Study, progress: Progress, max_trials: int | None
) -> tuple[int, str | None]:
    """Run each trial in a fresh ``automl worker --trials 1`` process (hard memory isolation)."""
    from automl._workers import worker_command

    ran = 0
    command = worker_command(config) + ["--trials", "1"]
    while max_trials is None or ran < max_trials:
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            break
        result = subprocess.run(command, env=os.environ.copy(), check=False)
        if result.returncode == 130:
            raise KeyboardInterrupt
        ran += 1
    return ran, None


def study_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One readable row per effective trial, ordered by trial number."""
    from automl._trial import describe_trial

    return [describe_trial(t) for t in effective_trials(study) if t.state != TrialState.WAITING]


def best_trials(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    """The ``k`` completed trials with the best validation accuracy (with a saved model)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "model_path" in t.user_attrs]
    return sorted(done, key=lambda t: (-t.user_attrs["val_accuracy"], t.user_attrs.get("params", 0)))[:k]
