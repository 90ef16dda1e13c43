"""``automl.search``: the front door of the search workflow, named like ``automl search``'s options.

It builds the study's settings (a study file, overridden by the options given), selects
the Keras backend before Keras is imported, then runs ``automl._workflow.run_search``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._backends import select_backend
from automl._budget import BUDGET_TRIALS_CAP, LEAD_ENV, plan_from_env
from automl._config import StudyConfig, as_image_size, parse_duration, read_study_file
from automl._console import import_keras_quietly, quiet_console
from automl._errors import UserError
from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV, from_env
from automl._progress import Progress
from automl._recycle import HELPER_ENV
from automl._settings import RuntimeSettings, use_settings
from pipelines import ArrayData, check_source, save_arrays

if TYPE_CHECKING:
    from automl._workflow import SearchResult

__all__ = ["search", "work", "study_config"]


def study_config(config: str | Path | None = None, **options: Any) -> StudyConfig:
    """The study's settings: the study file ``config`` (TOML or YAML), overridden by ``options``.

    ``options`` are ``StudyConfig`` fields; those that are ``None`` are not given. Stores
    given by neither come from ``AUTOML_STORAGE`` and ``AUTOML_TRACKING_URI`` when those are set.

    Raises:
        UserError: an unknown setting or a bad value, quoted.
    """
    from_file = read_study_file(config) if config else StudyConfig.from_dict({})
    given = from_file.given | {name for name, value in options.items() if value is not None}
    study = from_file.replace(**options, given=given)
    stores = {"storage": from_env(STORAGE_ENV), "tracking_uri": from_env(TRACKING_URI_ENV)}
    return study.replace(**{name: url for name, url in stores.items() if url and getattr(study, name) is None})


def search(
    *,
    config: str | Path | None = None,
    data: str | os.PathLike[str] | ArrayData | None = None,
    image_size: tuple[int, int] | None = None,
    path_column: str | None = None,
    label_column: str | None = None,
    study_name: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    time_budget: float | str | None = None,
    epochs: int | None = None,
    margin: float | None = None,
    final_training: bool | None = None,
    members: int | None = None,
    views: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    objective: str | None = None,
    cost_metric: str | None = None,
    max_params: int | None = None,
    max_flops: int | None = None,
    seed: int | None = None,
    seed_architectures: Sequence[str] | str | None = None,
    backend: str | None = None,
    max_consecutive_failures: int | None = None,
    isolate: bool | None = None,
    workers: int | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
    top: int | None = None,
    export_dir: str | Path | None = None,
    no_export: bool = False,
    create_only: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    settings: RuntimeSettings | None = None,
    progress: Progress | None = None,
    started: float | None = None,
) -> SearchResult:
    """Run (or resume) a search study, compare its finalists and export the winner.

    Exactly what ``automl search`` does: the options are its long options with
    underscores, and ``None`` leaves a setting to the study file ``config`` or the default.
    The study resumes if it exists; its MLflow parent run ends FINISHED, FAILED or KILLED
    (Ctrl-C) with the workflow.

    Args:
        config: a study file (TOML or YAML) whose keys are these option names.
        data: what ``--data`` takes (a path or a data set name), or arrays in memory:
            ``(x, y)``, ``(x, y, x_test, y_test)``, ``keras.datasets.*.load_data()``'s
            ``((x, y), (x_test, y_test))``, or a dict keyed as an ``.npz`` file
            (``x_train``, ``y_train``, ``x_val``, ...). Arrays are checked, then saved once as
            ``<home>/data/arrays-<digest>.npz`` (``home``: ``settings.home``, ``mlruns/`` by
            default), so the study can resume and workers can read them: the same arrays
            given again resume the same study.
        time_budget: the whole call's wall time in seconds, or a duration such as
            ``"10m"``: the search, the final training of the finalists, their comparison
            and the export end within it.
        margin: a cheaper finalist wins only if it is non-inferior within this margin of
            test accuracy (0.01 is 1 point).
        final_training: retrain the finalists on train+validation before comparing and
            exporting them (default on).
        members: with a time budget, the likeliest winner is retrained as up to this many
            averaged models when the final window holds them (default 2; 1: one model).
        views: a retrained finalist averages its predictions over up to this many test-time
            views (``automl._views``; default 10; 1: the image only).
        top: how many of the best trials are compared with McNemar's test.
        no_export: compare the finalists but export nothing.
        create_only: create the study, its trial queue and its parent run, then return
            (workers join it with ``automl worker``).
        quiet: no per-trial progress lines.
        verbose: show TensorFlow's and MLflow's own log lines too.
        settings: runtime settings (stores' folder, augmentation processes, heartbeats);
            default: from the environment (see ``automl._settings``).
        progress: where progress lines go (default: standard output).
        started: when the command started (``time.monotonic()``), for the time budget;
            default: now.

    Returns:
        The trials, the comparison, the winner (``result.winner``) and its export folder
        (``result.export_dir``).

    Raises:
        UserError: a bad option or study file, quoted.
        pipelines.DataError: the data cannot be read.
        automl.StudyStopped: too many trials failed in a row.

    Example::

        import automl

        result = automl.search(study_name="api", trials=3, epochs=1)
        print(result.winner, result.export_dir)
    """
    started = time.monotonic() if started is None else started  # the budget counts saving arrays too
    if data is not None and not isinstance(data, str | os.PathLike):
        with use_settings(settings) as in_force:
            data = save_arrays(data, in_force.arrays_folder)  # checked before anything else is made
    if isinstance(seed_architectures, str):
        seed_architectures = [s.strip() for s in seed_architectures.split(",") if s.strip()]
    if seed_architectures is not None and not isinstance(seed_architectures, list | tuple):
        raise UserError(f"seed_architectures must be a list of names, got {seed_architectures!r}")
    if config is not None and not isinstance(config, str | os.PathLike):
        raise UserError(f"config must be the path of a study file, got {config!r}")
    study = study_config(
        config,
        data=None if data is None else os.fspath(data),
        image_size=as_image_size(image_size),
        path_column=path_column,
        label_column=label_column,
        study_name=study_name,
        trials=trials,
        timeout=timeout,
        time_budget=parse_duration(time_budget) if isinstance(time_budget, str) else time_budget,
        epochs=epochs,
        margin=margin,
        final_training=final_training,
        members=members,
        views=views,
        sampler=sampler,
        pruner=pruner,
        objective=objective,
        cost_metric=cost_metric,
        max_params=max_params,
        max_flops=max_flops,
        seed=seed,
        seed_architectures=tuple(seed_architectures) if seed_architectures else None,
        backend=backend,
        max_consecutive_failures=max_consecutive_failures,
        isolate=isolate,
        workers=workers,
        storage=storage,
        tracking_uri=tracking_uri,
        top_k=top,
        export_dir=str(export_dir) if export_dir is not None else None,
    )
    if create_only and study.time_budget is not None:
        raise UserError(
            "--create-only prepares a study for workers, which run its queue to the end; a time budget is kept "
            "by a running search (automl search --time-budget, with --workers N for local workers): drop one, "
            "or give the workers --timeout"
        )
    if study.time_budget is not None and "trials" not in study.given:
        study = study.replace(trials=BUDGET_TRIALS_CAP)  # the budget ends the search
    # A mistyped --data, or a file of the wrong kind, fails here: before a store is made or Keras imported.
    check_source(study.data, path_column=study.path_column, label_column=study.label_column)
    select_backend(study.backend)
    quiet_console(verbose=verbose)
    import_keras_quietly(verbose=verbose)
    from automl._workflow import run_search  # imports Keras: only once the backend is chosen

    with use_settings(settings):
        return run_search(
            study,
            progress=progress or Progress(total=study.trials, quiet=quiet),
            export=not no_export,
            create_only=create_only,
            started=started,
        )


def work(
    study_name: str,
    *,
    storage: str | None = None,
    tracking_uri: str | None = None,
    backend: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    max_consecutive_failures: int | None = None,
    quiet: bool = False,
    verbose: bool = False,
    settings: RuntimeSettings | None = None,
) -> int:
    """Join the existing study ``study_name`` as a worker and run its queued trials.

    Runs until the queue is empty and no trial runs elsewhere, or ``trials`` trials ran, or
    ``timeout`` seconds of trials passed; returns how many ran. What ``automl worker`` does.
    A worker that ``automl search --workers`` or ``--isolate`` started also keeps to the
    search's time budget, whose plan it finds in its environment (``automl._budget.PLAN_ENV``),
    and tops up the queue as the search would.

    Raises:
        UserError: no such study, or a bad option.
        automl.StudyStopped: too many trials failed in a row.
        Outgrown: a helper of ``automl search --workers`` grew past its memory limit.
    """
    if trials is not None and trials < 1:
        raise UserError(f"trials must be at least 1, got {trials!r}")
    select_backend(backend)
    quiet_console(verbose=verbose)
    import_keras_quietly(verbose=verbose)
    from automl._driver import run_study  # imports Keras: only once the backend is chosen

    plan = plan_from_env(os.environ)
    config = StudyConfig(study_name=study_name, storage=storage, tracking_uri=tracking_uri, backend=backend)
    limits: dict[str, Any] = {"timeout": timeout, "max_consecutive_failures": max_consecutive_failures}
    if plan is not None:
        limits["trials"] = plan.trials  # what the queue is topped up to
    config = dataclasses.replace(config, **{name: value for name, value in limits.items() if value is not None})
    with use_settings(settings):
        progress = Progress(total=0, quiet=quiet)
        # LEAD_ENV: started by --isolate (or a search past its memory limit) to run its own trials
        lead = os.environ.get(LEAD_ENV) == "1"
        helper = os.environ.get(HELPER_ENV) == "1"  # started by --workers: replaced past its memory limit
        return run_study(
            config, worker=True, lead=lead, helper=helper, max_trials=trials, progress=progress, plan=plan
        ).ran
