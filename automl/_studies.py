"""Opening a study: create it, or load it with its stored settings (resume, status, compare,
export all start here), with its sampler, pruner and MLflow tracker.

The study's settings, MLflow parent run id and comparison are stored on the Optuna study
(``automl._records.StudyRecord``), so any process that knows the study name and storage can
resume it, report on it or join it as a worker.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import itertools
import random
import sys
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import searchspace
from automl._budget import ASHA_REDUCTION, BUDGET_TRIALS_CAP
from automl._config import StudyConfig
from automl._data import StudyData
from automl._errors import UserError
from automl._hparams import GRID
from automl._queue import effective_trials, enqueue_up_to
from automl._records import StudyRecord, TrialRecord, record_study_config, with_seed_architecture
from automl._stores import open_storage
from automl._tracking import Tracker
from automl._warmstart import enqueue_warm_starts, warm_start_configs

__all__ = [
    "open_study",
    "load_existing",
    "study_tracker",
    "enqueue_trials",
    "top_up",
    "grid_points",
    "best_trials",
    "study_rows",
    "best_value",
    "versions",
    "header",
    "trial_record",
]

# Settings a resumed study keeps from its first run (they define what is searched).
_FROZEN_ON_RESUME = (
    "data", "image_size", "epochs", "sampler", "pruner", "objective", "cost_metric", "seed",
    "val_fraction", "test_fraction", "space", "max_params", "max_flops",
)  # fmt: skip


def versions() -> dict[str, str]:
    """Versions of the packages that shape a result, for provenance."""
    names = ("keras", "tensorflow", "jax", "torch", "optuna", "mlflow", "albumentations", "numpy", "scikit-learn")
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    found["python"] = sys.version.split()[0]
    return found


def _make_sampler(config: StudyConfig) -> optuna.samplers.BaseSampler:
    if config.sampler in ("random", "grid"):  # grid trials are enqueued with all their parameters fixed
        return optuna.samplers.RandomSampler(seed=config.seed)
    startup = min(10, max(3, config.trials // 3))
    with warnings.catch_warnings():  # multivariate/group are "experimental" but the right tool here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=config.seed, multivariate=True, group=True, n_startup_trials=startup)


# Steps are epochs. The median pruner may stop a trial after its first epoch, once two
# trials have completed: on 20 digits trials of up to 5 epochs it halved the search's time
# with the same best trial (bench/RESULTS.md).
# Successive halving (ASHA) promotes the best third of the trials at epochs 1, 3, 9...: most
# candidates cost an epoch or three, the promising ones train to the end.
_PRUNERS: dict[str, Callable[[StudyConfig], optuna.pruners.BasePruner]] = {
    "asha": lambda config: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=ASHA_REDUCTION, min_early_stopping_rate=0
    ),
    "median": lambda config: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    "hyperband": lambda config: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs),
    "none": lambda config: optuna.pruners.NopPruner(),
}


def _directions(config: StudyConfig) -> list[optuna.study.StudyDirection]:
    maximize, minimize = optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE
    return [maximize, minimize] if config.objective == "pareto" else [maximize]


def open_study(config: StudyConfig, *, create: bool = True) -> tuple[optuna.Study, StudyConfig, bool]:
    """Load the study named in ``config`` (its stored settings win), or create it.

    Returns the study, the settings in force and whether it was created now.

    Raises:
        UserError: ``create`` is false and there is no such study.
    """
    storage = open_storage(config.storage)
    try:
        study = optuna.load_study(study_name=config.study_name, storage=storage)
    except KeyError:
        study = None
    if study is not None:
        stored = StudyRecord.of(study).config_json
        if stored is None:
            raise UserError(f"study {config.study_name!r} was not created by automl (it has no stored settings)")
        # The sampler and pruner depend on the stored settings, known only once it is loaded.
        config = _resume_config(StudyConfig.from_json(stored), config)
        study.sampler = _make_sampler(config)
        study.pruner = _PRUNERS[config.pruner](config)
        return study, config, False
    if not create:
        raise UserError(f"no study named {config.study_name!r} in {config.storage or 'the default storage'}")
    study = optuna.create_study(
        study_name=config.study_name,
        storage=storage,
        sampler=_make_sampler(config),
        pruner=_PRUNERS[config.pruner](config),
        directions=_directions(config),
        load_if_exists=False,
    )
    record_study_config(study, dataclasses.replace(config, storage=None, tracking_uri=None).to_json())
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
    parent = StudyRecord.of(study).parent_run_id
    if parent is not None:
        tracker.attach_parent(parent)
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


def grid_points(config: StudyConfig) -> list[dict[str, Any]]:
    """Every combination of the grid (classics x ``GRID``), in a seeded random order."""
    axes = {"arch.classic": sorted(searchspace.CLASSICS), **GRID}
    points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    random.Random(config.seed).shuffle(points)
    return points


def enqueue_trials(study: optuna.Study, config: StudyConfig, data: StudyData, *, lazy: bool = False) -> None:
    """Fill the study's queue up to ``config.trials``; grid points cycle.

    A new study runs its seed architectures first, then the warm starts (known-good
    configurations for its images, ``automl._warmstart``), then sampled trials. ``lazy``
    (a time budget) queues only the seeds and warm starts now; ``top_up`` adds the others
    one at a time while the budget lasts.
    """
    if config.sampler != "grid":
        if not study.trials:
            seeds = _seed_attrs(config)
            enqueue_up_to(study, min(len(seeds), config.trials), seeds)
            _enqueue_warm_starts(study, config, data)
        if not lazy:
            enqueue_up_to(study, config.trials)
        return
    points = grid_points(config)
    for index in range(len(effective_trials(study)), config.trials):
        study.enqueue_trial(points[index % len(points)], skip_if_exists=False)


def top_up(study: optuna.Study, cap: int) -> None:
    """Queue one more trial when none is waiting, up to ``cap`` trials in all (time budgets)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        enqueue_up_to(study, min(len(effective_trials(study)) + 1, cap))


def _seed_attrs(config: StudyConfig) -> list[dict[str, str]]:
    unknown = [name for name in config.seed_architectures if name not in searchspace.CLASSICS]
    if unknown:
        raise UserError(f"unknown seed architecture(s) {unknown}; choose from {sorted(searchspace.CLASSICS)}")
    return [with_seed_architecture(name) for name in config.seed_architectures]


def _enqueue_warm_starts(study: optuna.Study, config: StudyConfig, data: StudyData) -> None:
    configs = warm_start_configs(
        data.input_shape,
        data.num_classes,
        len(data.splits.train[1]),
        max_epochs=config.epochs,
        space=config.space,
        max_params=config.max_params,
        max_flops=config.max_flops,
    )
    enqueue_warm_starts(study, configs, limit=config.trials - len(study.trials))


def header(config: StudyConfig, created: bool, study: optuna.Study) -> str:
    """The line a search prints when it starts."""
    done = sum(t.state.is_finished() for t in effective_trials(study))
    budgeted = config.time_budget is not None and config.trials >= BUDGET_TRIALS_CAP
    total = "trials until the time budget ends" if budgeted else f"{config.trials} trials in total"
    finished = f"{done} trials finished" if budgeted else f"{done} of {config.trials} trials finished"
    verb = "new study" if created else f"resuming study ({finished})"
    return (
        f"{verb} {config.study_name!r}: data {config.data or 'digits'}, {total}, "
        f"up to {config.epochs} epochs each, sampler {config.sampler}, pruner {config.pruner}, "
        f"objective {config.objective}"
    )


def best_value(study: optuna.Study) -> float | None:
    values = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max(values) if values else None


def study_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One readable row per effective trial, ordered by trial number."""
    return [TrialRecord.of(t).row() for t in effective_trials(study) if t.state != TrialState.WAITING]


def best_trials(study: optuna.Study, k: int) -> list[TrialRecord]:
    """The ``k`` completed trials with the best validation accuracy (with a saved model)."""
    done = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    with_model = [r for r in done if r.has_model and r.val_accuracy is not None]
    return sorted(with_model, key=lambda r: (-(r.val_accuracy or 0.0), r.params or 0))[:k]


def trial_record(study: optuna.Study, number: int) -> TrialRecord | None:
    frozen: FrozenTrial | None = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    return TrialRecord.of(frozen) if frozen is not None else None
