"""Opening a study: create it, or load it with its stored settings (resume, status, compare,
export all start here), with its sampler, pruner and MLflow tracker.

The study's settings, MLflow parent run id and comparison are stored on the Optuna study
(``automl._records.StudyRecord``), so any process that knows the study name and storage can
resume it, report on it or join it as a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata as md
import itertools
import os
import random
import socket
import sys
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

import searchspace
from automl._budget import ASHA_REDUCTION, BUDGET_TRIALS_CAP
from automl._config import StudyConfig
from automl._data import StudyData
from automl._errors import UserError
from automl._hparams import GRID
from automl._neighbours import incumbent, neighbour_params
from automl._queue import effective_trials, enqueue_up_to, process_identity
from automl._records import (
    INFEASIBLE_KEY,
    StudyRecord,
    TrialRecord,
    record_finish,
    record_sampler_seed,
    record_study_config,
    recorded_config_key,
    with_neighbour_of,
    with_seed_architecture,
)
from automl._stores import default_storage, open_storage, redact, store_lock
from automl._tracking import Tracker
from automl._warmstart import enqueue_warm_starts, resolve_warm_starts

__all__ = [
    "open_study",
    "load_existing",
    "study_tracker",
    "study_settings",
    "enqueue_trials",
    "top_up",
    "grid_points",
    "best_trials",
    "study_rows",
    "best_value",
    "versions",
    "header",
    "trial_record",
    "seed_sampler",
    "claim_finish",
    "FinishClaim",
    "release_finish",
    "study_names",
    "NEIGHBOUR_DRAWS",
]

# Settings a resumed study keeps from its first run (they define what is searched).
_FROZEN_ON_RESUME = (
    "data", "image_size", "path_column", "label_column", "epochs", "sampler", "pruner", "objective", "cost_metric",
    "seed", "val_fraction", "test_fraction", "max_val_images", "max_test_images", "space", "max_params", "max_flops",
    "seed_architectures",  # queued when the study is made
)  # fmt: skip


# Per-run settings that ``automl compare`` and ``automl export`` take from the study as it
# was made (not the defaults): its finalists, winner rule and test-time views.
_COMPARISON_SETTINGS = ("top_k", "prefer", "margin", "views", "members")


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


def open_study(
    config: StudyConfig, *, create: bool = True, read_only: bool = False
) -> tuple[optuna.Study, StudyConfig, bool]:
    """Load the study named in ``config`` (its stored settings win), or create it.

    Returns the study, the settings in force and whether it was created now. Processes
    starting together create it once: loading and creating happen under the store's lock.
    ``read_only`` (``automl status``) writes nothing, not even the lock file.

    Raises:
        UserError: ``create`` is false and there is no such study (or no store).
    """
    storage = open_storage(config.storage, create=create, read_only=read_only)
    with contextlib.nullcontext() if read_only else store_lock(config.storage):
        study = _load(config.study_name, storage)
        if study is None:
            if not create:
                shown = redact(config.storage or default_storage())
                raise UserError(f"no study named {config.study_name!r} in {shown}{_names_note(storage)}")
            study = _create(config, storage)
            if study is not None:
                return study, config, True
            study = _load(config.study_name, storage)  # created meanwhile by a process we cannot lock out
            if study is None:
                raise UserError(f"study {config.study_name!r} vanished while it was being created")
    stored = StudyRecord.of(study).config_json
    if stored is None:
        raise UserError(f"study {config.study_name!r} was not created by automl (it has no stored settings)")
    # The sampler and pruner depend on the stored settings, known only once it is loaded.
    folder = (StudyRecord.of(study).data or {}).get("folder")  # where it first read its data
    config = _resume_config(StudyConfig.from_json(stored), config, folder=folder)
    study.sampler = _make_sampler(config)
    study.pruner = _PRUNERS[config.pruner](config)
    return study, config, False


def _load(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    """The names of the storage's studies, oldest first."""
    return optuna.get_all_study_names(storage)


def _names_note(storage: optuna.storages.BaseStorage, shown: int = 5) -> str:
    """What the storage holds instead, for the error that names a missing study."""
    names = study_names(storage)
    if not names:
        return " (it holds no study yet)"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"; it holds {', '.join(map(repr, names[:shown]))}{more} (automl studies lists them)"


def _create(config: StudyConfig, storage: optuna.storages.BaseStorage) -> optuna.Study | None:
    """A new study with its settings recorded, or None if another process created it first."""
    try:
        study = optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            sampler=_make_sampler(config),
            pruner=_PRUNERS[config.pruner](config),
            directions=_directions(config),
            load_if_exists=False,
        )
    except optuna.exceptions.DuplicatedStudyError:
        return None
    record_study_config(study, dataclasses.replace(config, storage=None, tracking_uri=None).to_json())
    return study


def seed_sampler(study: optuna.Study, config: StudyConfig) -> int:
    """Give this process its own sampler seed, derived from the study's seed; returns it.

    Processes sharing a study (``--workers``, ``automl worker``, searches started
    together) would all sample the same candidates with the study's seed. The n-th process
    to join (counted in the study, under the store's lock) gets the seed derived from
    ``(seed, n)``; the first keeps the study's own seed. Each seed is recorded against the
    process (``StudyRecord.sampler_seeds``, keyed like a trial's ``worker``), so a run can
    be reproduced.
    """
    import numpy as np

    process = process_identity()
    with store_lock(config.storage):
        index = len(StudyRecord.of(study).sampler_seeds)
        seed = config.seed if index == 0 else int(np.random.SeedSequence([config.seed, index]).generate_state(1)[0])
        record_sampler_seed(study, process, seed)
    study.sampler = _make_sampler(dataclasses.replace(config, seed=seed))
    return seed


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinishClaim:
    """Who compares and exports: this process (``elected``), or why not and who closes the parent run."""

    elected: bool
    reason: str | None = None
    #: Another live process is comparing and will close the study's parent run.
    closed_elsewhere: bool = False
    #: The study's finished trials were compared (and exported, where asked) by an earlier run.
    done_before: bool = False


def claim_finish(study: optuna.Study, config: StudyConfig, *, export: bool = True) -> FinishClaim:
    """Elect one process to compare the finalists and export the winner, once per set of results.

    Processes that ran the same study together all reach the end. The first to see no
    trial running elsewhere claims the study's finished trials (under the store's lock);
    the others do not compare or export them again, nor does a later run that finished no
    new trial, unless it would ``export`` them and the one that compared them did not. A claim
    whose process died (same host) is taken over; one whose comparison or export was
    interrupted was given up (``release_finish``).
    """
    me = process_identity()
    with store_lock(config.storage):
        trials = effective_trials(study)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        if running:
            reason = f"{running} trial(s) still run in other processes; the last one to finish compares and exports"
            return FinishClaim(elected=False, reason=reason, closed_elsewhere=True)
        claim = StudyRecord.of(study).finish
        done = sum(t.state.is_finished() for t in trials)
        if claim and claim.get("trials") == done and (claim.get("exported", True) or not export):
            by, comparing = str(claim.get("by")), bool(claim.get("open"))
            if not comparing:
                exported = " and exported" if claim.get("exported", True) else ""
                reason = f"its {done} finished trials were already compared{exported} (by process {by})"
                if not any(t.state == TrialState.COMPLETE for t in trials):
                    reason = f"none of its {done} finished trials completed"
                return FinishClaim(elected=False, reason=reason, done_before=True)
            if by != me and process_alive(by):  # this process's own id is a dead one's reused
                reason = f"process {by} compares and exports them"
                return FinishClaim(elected=False, reason=reason, closed_elsewhere=True)
        record_finish(study, {"by": me, "trials": done, "open": True})
    return FinishClaim(elected=True)


def release_finish(study: optuna.Study, config: StudyConfig, *, finished: bool, exported: bool) -> None:
    """Mark this process's comparison and export as over (see ``claim_finish``): ``finished``,
    and ``exported`` or not; or given up (an interrupt, an error), so the next run does them."""
    with store_lock(config.storage):
        claim = StudyRecord.of(study).finish
        if claim and claim.get("by") == process_identity():
            done = {"trials": claim.get("trials"), "exported": exported} if finished else {"trials": None}
            record_finish(study, {**claim, **done, "open": False})


def process_alive(process: str) -> bool:
    """Whether ``host:pid`` (``process_identity``) may still run (a process on another host is assumed alive)."""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdecimal():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_existing(
    study_name: str, *, storage: str | None, tracking_uri: str | None, read_only: bool = False
) -> tuple[optuna.Study, StudyConfig]:
    """An existing study and its stored settings, with the given stores (``UserError`` if absent):
    the frozen ones, and how it compares its finalists (``_COMPARISON_SETTINGS``).

    ``read_only`` opens it without writing anything (``automl status``).
    """
    study, config, _ = open_study(
        StudyConfig(study_name=study_name, storage=storage), create=False, read_only=read_only
    )
    stored = StudyConfig.from_json(StudyRecord.of(study).config_json or "{}")
    kept = {name: getattr(stored, name) for name in _COMPARISON_SETTINGS}
    return study, config.replace(tracking_uri=tracking_uri, **kept)


def study_settings(config: StudyConfig) -> dict[str, Any]:
    """The settings that define the study, which every run of it keeps (not the per-run ones,
    such as ``trials``, ``time_budget`` or ``backend``, which differ between its commands)."""
    return {name: value for name, value in config.to_dict().items() if name in _FROZEN_ON_RESUME}


def study_tracker(study: optuna.Study, config: StudyConfig) -> Tracker:
    """The study's MLflow tracker, attached to its parent run when it has one (then its
    store and experiment must exist: nothing is created in a mistyped store)."""
    parent = StudyRecord.of(study).parent_run_id
    tracker = Tracker(config.tracking_uri, experiment_name=config.study_name, create=parent is None)
    if parent is not None:
        tracker.attach_parent(study.study_name, parent)
    return tracker


def _resume_config(stored: StudyConfig, given: StudyConfig, *, folder: str | None = None) -> StudyConfig:
    """The stored settings, with the per-run ones (total, timeout, stores...) from ``given``.

    Each setting the user gave (``given.given``) that the stored study overrides gets a
    note comparing the two values; other data than the study's (``folder``: where the study
    first read its data) is refused.

    Raises:
        UserError: the user gave data that is not the study's.
    """
    defaults = StudyConfig()
    # Built without ``study_config`` (the Python API), ``given.given`` is empty: then every
    # setting that is not the default counts as given (the total of trials too: ``_keeps_its_total``).
    named = given.given or {n for n in (*_FROZEN_ON_RESUME, "trials") if getattr(given, n) != getattr(defaults, n)}
    if "data" in named and not _same_data(stored.data_name, given.data_name, folder):
        raise UserError(
            f"study {stored.study_name!r} searches data {stored.data_name!r}, not {given.data_name!r}: "
            f"search other data as a new study (--study-name NAME, or study_name= in Python), "
            f"or delete this one first (automl studies --delete {stored.study_name})"
        )
    for name in _FROZEN_ON_RESUME:
        value, kept = _comparable(given, name), _comparable(stored, name)
        if name in named and value != kept and name != "data":
            if name == "space":  # ~1.4 KB each: only the settings that differ
                value, kept = _differing(value, kept), _differing(kept, value)
            print(
                f"note: study {stored.study_name!r} keeps its stored {name}={kept!r}; "
                f"ignoring {name}={value!r} (start a new --study-name to change it)",
                file=sys.stderr,
            )
    per_run = {
        f.name: getattr(given, f.name)
        for f in dataclasses.fields(StudyConfig)
        if f.name not in _FROZEN_ON_RESUME and f.name != "given"
    }
    if _keeps_its_total(stored, given, named):
        per_run["trials"] = stored.trials
    return dataclasses.replace(stored, **per_run)


def _keeps_its_total(stored: StudyConfig, given: StudyConfig, named: Collection[str]) -> bool:
    """Whether a resumed study keeps the total of trials it was made with: where none is given
    (``named``: the settings given) and no time budget ends this run (a study made with
    --create-only --trials 2 for workers was topped up to the default 6 by the search that
    finishes it), unless the budget of the run that made it set the total (``BUDGET_TRIALS_CAP``)."""
    return "trials" not in named and given.time_budget is None and stored.trials < BUDGET_TRIALS_CAP


def _same_data(stored: str, given: str, folder: str | None) -> bool:
    """Whether ``given`` names the study's data, ``stored``: the same text, or the same path,
    the stored one read from here or (relative) from ``folder``, where the study first read it."""
    if given == stored:
        return True
    here = Path(given).expanduser().resolve()
    paths = [Path(stored).expanduser()] + ([Path(folder) / stored] if folder else [])
    return any(path.resolve() == here for path in paths)


def _differing(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The items of ``mine`` whose value ``other`` does not have."""
    return {key: value for key, value in mine.items() if other.get(key) != value}


def _comparable(config: StudyConfig, name: str) -> Any:
    """``config``'s setting ``name`` as the user names it: the data by its ``data_name``; a space as its dict."""
    if name == "data":
        return config.data_name
    value = getattr(config, name)
    return value.to_dict() if name == "space" else value


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
    one at a time while the budget lasts. Under the store's lock, so processes starting
    together enqueue the missing trials once.
    """
    with store_lock(config.storage):
        if config.sampler != "grid":
            if not study.trials:
                seeds = _seed_names(config, data)
                _note_seeds_left_out(seeds, config.trials)
                enqueue_up_to(study, min(len(seeds), config.trials), [with_seed_architecture(n) for n in seeds])
                _enqueue_warm_starts(study, config, data)
            if not lazy:
                enqueue_up_to(study, config.trials)
            return
        points = grid_points(config)
        for index in range(len(effective_trials(study)), config.trials):
            study.enqueue_trial(points[index % len(points)], skip_if_exists=False)


NEIGHBOUR_DRAWS = 8
"""Neighbours drawn, one after another, for one that trains what no trial of the study has."""


def top_up(
    study: optuna.Study, config: StudyConfig, *, config_key: Callable[[dict[str, Any]], str | None] | None = None
) -> None:
    """Queue one more trial when none is waiting, up to ``config.trials`` in all (time budgets).

    In a TPE search for accuracy, every other one (even trial numbers) is a neighbour of the
    best completed trial (``automl._neighbours``), seeded by the study's seed and its number.
    With ``config_key`` (fixed parameters -> ``automl._records.config_key``, None where they
    do not fix one), a neighbour that would train what a trial of the study trained already
    (the same move drawn twice, or a stage narrowed below the one before, which rising
    widths undo) is drawn again; after ``NEIGHBOUR_DRAWS`` such draws the sampler picks.
    Under the store's lock: workers topping up together queue one trial, not the same one twice.
    """
    with store_lock(config.storage):
        _top_up(study, config, config_key)


def _top_up(
    study: optuna.Study, config: StudyConfig, config_key: Callable[[dict[str, Any]], str | None] | None
) -> None:
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return
    total = len(effective_trials(study))
    if total >= config.trials:
        return
    neighbours = config.sampler == "tpe" and config.objective == "accuracy" and total % 2 == 0
    best = incumbent(study) if neighbours else None
    rng = np.random.default_rng([config.seed, total])
    params = None if best is None else _new_neighbour(study, best, rng, config_key)
    if best is None or params is None:
        enqueue_up_to(study, total + 1)
        return
    study.enqueue_trial(params, user_attrs=with_neighbour_of(best.number), skip_if_exists=False)


def _new_neighbour(
    study: optuna.Study,
    best: FrozenTrial,
    rng: np.random.Generator,
    config_key: Callable[[dict[str, Any]], str | None] | None,
) -> dict[str, Any] | None:
    """The first of up to ``NEIGHBOUR_DRAWS`` neighbours of ``best`` that trains something new
    (not a configuration trained already, nor one that cannot be: ``INFEASIBLE_KEY``), or None."""
    if config_key is None:
        return neighbour_params(best, rng)
    trained = {_trains(t, config_key) for t in study.get_trials(deepcopy=False)} | {INFEASIBLE_KEY}
    for _ in range(NEIGHBOUR_DRAWS):
        params = neighbour_params(best, rng)
        key = config_key(params)
        if key is None or key not in trained:
            return params
    return None


def _trains(trial: FrozenTrial, config_key: Callable[[dict[str, Any]], str | None]) -> str | None:
    """``config_key`` of what ``trial`` trains: as it recorded it, or, before it did (waiting,
    or just claimed by another worker), as its queued parameters make it."""
    recorded = recorded_config_key(trial)
    fixed = trial.system_attrs.get("fixed_params")
    return recorded if recorded is not None or not fixed else config_key(dict(fixed))


def _seed_names(config: StudyConfig, data: StudyData) -> list[str]:
    """The seed architectures to queue, each once. One over the study's cost budget runs narrowed to it
    (``searchspace.fit_budget``), with a note; one over it even narrowed is left out with a
    note, as a warm start is (it failed as a trial, taking one of the trials asked for).

    Raises:
        UserError: an unknown name, listing the known ones.
    """
    unknown = [name for name in config.seed_architectures if name not in searchspace.CLASSICS]
    if unknown:
        raise UserError(f"unknown seed architecture(s) {unknown}; choose from {sorted(searchspace.CLASSICS)}")
    names = list(dict.fromkeys(config.seed_architectures))
    if len(names) < len(config.seed_architectures):
        print(f"note: each seed architecture runs once: {', '.join(names)}", file=sys.stderr)
    kept = []
    for name in names:
        spec = searchspace.classic(name, data.input_shape, data.num_classes)
        try:
            fitted = searchspace.fit_budget(
                spec,
                input_shape=data.input_shape,
                num_classes=data.num_classes,
                max_params=config.max_params,
                max_flops=config.max_flops,
            )
        except searchspace.InfeasibleArchitecture as exc:
            print(f"note: seed architecture {name!r} left out: {exc}", file=sys.stderr)
            continue
        if fitted.scale < 1:
            print(
                f"note: seed architecture {name!r} runs at {fitted.scale:.0%} of its widths "
                f"({fitted.analysis.params:,} parameters, {fitted.analysis.flops:,} FLOPs), within the cost budget",
                file=sys.stderr,
            )
        kept.append(name)
    return kept


def _note_seeds_left_out(seeds: list[str], trials: int) -> None:
    """Say which seed architectures a study of ``trials`` trials has no trial for."""
    if len(seeds) <= trials:
        return
    names = ", ".join(seeds[trials:])
    print(
        f"note: seed architecture(s) {names} left out: the study's {trials} trial(s) run the first {trials}; "
        f"give --trials {len(seeds)} or more to run them all",
        file=sys.stderr,
    )


def _enqueue_warm_starts(study: optuna.Study, config: StudyConfig, data: StudyData) -> None:
    """Enqueue the warm starts a new study can run; say which it cannot, and why."""
    configs, left_out = resolve_warm_starts(
        data.input_shape,
        data.num_classes,
        len(data.splits.train[1]),
        max_epochs=config.epochs,
        flips=data.flips,
        space=config.space,
        max_params=config.max_params,
        max_flops=config.max_flops,
    )
    enqueue_warm_starts(study, configs, limit=config.trials - len(study.trials))
    for skipped in left_out:
        print(f"note: warm start {skipped.name!r} left out: {skipped.reason}", file=sys.stderr)


def header(config: StudyConfig, created: bool, study: optuna.Study) -> str:
    """The line a search prints when it starts."""
    done = sum(t.state.is_finished() for t in effective_trials(study))
    budgeted = config.time_budget is not None and config.trials >= BUDGET_TRIALS_CAP
    total = "trials until the time budget ends" if budgeted else f"{config.trials} trials in total"
    if budgeted:
        finished = f"{done} trials finished"
    elif done > config.trials:  # a resume that asks for fewer trials than have finished
        finished = f"{done} trials finished, more than the {config.trials} asked for"
    else:
        finished = f"{done} of {config.trials} trials finished"
    verb = "new study" if created else f"resuming study ({finished})"
    return (
        f"{verb} {config.study_name!r}: data {config.data_name}, {total}, "
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
