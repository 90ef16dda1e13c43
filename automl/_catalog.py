"""The studies of a store: what each one holds (``automl status``, ``automl studies``), and
deleting one with what belongs to it alone.

A study's trials live in the Optuna storage, its runs in an MLflow experiment of the same
name, and arrays given in memory in ``<home>/data/arrays-<digest>.npz``. Deleting a study
removes it from the storage, moves its experiment to MLflow's trash under a dated name (so
the name is free for a new study, and the runs can still be restored), deletes its saved
arrays when no other study of the store reads them, and the finalists' models it retrained
before an interrupt and kept (``mlruns/retrained/<study>/``). Its registered model and exported
folders are the user's and stay. A study that a live process runs or exports is not deleted
(``users``).
"""

from __future__ import annotations

import contextlib
import enum
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

import pipelines
from automl._config import StudyConfig
from automl._errors import UserError
from automl._queue import RETRY_ATTR, effective_trials
from automl._records import StudyRecord, TrialRecord
from automl._settings import runtime_settings
from automl._stores import default_storage, open_storage, redact, store_lock
from automl._studies import best_trials, load_existing, process_alive, study_names
from automl._tracking import Tracker

__all__ = [
    "STATES",
    "FinishState",
    "study_status",
    "finish_status",
    "still_running_note",
    "StudySummary",
    "list_studies",
    "DeletedStudy",
    "delete_study",
    "refuse_in_use",
    "users",
]

STATES = ("complete", "pruned", "fail", "running", "waiting")


def study_status(study: optuna.Study) -> dict[str, Any]:
    """Counts by state (retried failures excluded, counted apart), the running trials whose
    process on this host is gone (``orphaned``), and the best completed trial."""
    counts = dict.fromkeys(STATES, 0)
    effective = effective_trials(study)
    for trial in effective:
        counts[trial.state.name.lower()] += 1
    retried = sum(RETRY_ATTR in t.system_attrs for t in study.get_trials(deepcopy=False))
    # RUNNING in the store, but their process on this host is gone (killed): nothing fails
    # them until the study's next search or worker does; a read must not.
    orphaned = sum(
        record.worker is not None and not process_alive(record.worker)
        for record in map(TrialRecord.of, study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    )
    best = best_trials(study, 1)
    best_row = None
    if best:
        record = best[0]
        best_row = {
            "trial": record.number,
            "val_accuracy": record.val_accuracy,
            "params": record.params,
            "flops": record.flops,
            "params_sampled": dict(record.params_sampled),
        }
    total = sum(counts.values())
    return {
        "study": study.study_name,
        **counts,
        "retried": retried,
        "orphaned": orphaned,
        "total": total,
        "best": best_row,
        "finish": finish_status(study, searching=counts["running"] - orphaned, trials=effective),
    }


class FinishState(enum.StrEnum):
    """Where a study's comparison and export stand (``finish_status``); a ``str``, so that
    ``automl status --json`` writes it as its value."""

    SEARCHING = "searching"
    NOTHING = "nothing"
    COMPARING = "comparing"
    DONE = "done"
    PENDING = "pending"


def finish_status(
    study: optuna.Study, *, searching: int = 0, trials: list[optuna.trial.FrozenTrial] | None = None
) -> dict[str, Any]:
    """Where the comparison of the study's finished trials and the export of its winner stand.

    ``state`` is ``done`` (the finished trials were compared, and ``exported`` or not as that
    run was asked), ``comparing`` (process ``by`` compares them now), ``pending`` (trials
    finished since the last comparison, or it was interrupted: the study's next search does
    it), ``searching`` (``searching`` trials run in live processes; the last to finish
    compares) or ``nothing`` (no trial completed). ``compared`` is how many finished trials
    the last comparison saw (None where none ended: never compared, or ``interrupted``),
    ``kept`` how many finalists retrained before an interrupt wait to be taken up, and
    ``winner``/``test_accuracy`` are the last comparison's. ``trials``: the study's
    ``effective_trials`` where the caller has them (``study_status``), not read again.
    """
    record = StudyRecord.of(study)
    trials = effective_trials(study) if trials is None else trials
    finished = sum(t.state.is_finished() for t in trials)
    claim = record.finish or {}
    closed = bool(claim) and not claim.get("open")
    compared = claim.get("trials") if closed else None
    comparison = record.comparison or {}
    winner = comparison.get("winner")
    by = str(claim.get("by")) if claim.get("open") else None
    if searching:
        state = FinishState.SEARCHING
    elif not any(t.state == TrialState.COMPLETE for t in trials):
        state = FinishState.NOTHING
    elif by is not None and process_alive(by):
        state = FinishState.COMPARING
    elif compared == finished:
        state = FinishState.DONE
    else:
        state = FinishState.PENDING
    return {
        "state": state,
        "finished": finished,
        "compared": compared,
        "exported": bool(claim.get("exported", True)) if compared is not None else None,
        "by": by if state == FinishState.COMPARING else None,
        "interrupted": bool(claim) and compared is None and state == FinishState.PENDING,
        "kept": len(record.retrained),
        "winner": winner,
        "test_accuracy": next((f["accuracy"] for f in comparison.get("finalists", ()) if f["trial"] == winner), None),
    }


def still_running_note(study: optuna.Study, doing: str) -> str | None:
    """A note for a command that is ``doing`` something with the study's finished trials
    while others still run (their processes alive), or None where none runs."""
    status = study_status(study)
    running = status["running"] - status["orphaned"]
    if not running:
        return None
    return (
        f"note: {running} trial(s) of study {study.study_name!r} still run; this {doing} its "
        f"{status['complete']} completed trial(s) so far, and the search compares and exports again when they end"
    )


@dataclass(frozen=True, kw_only=True)
class StudySummary:
    """One study of a store, as ``automl studies`` lists it.

    ``data`` is None for a study automl did not create (it has no stored settings);
    ``started`` is when its first trial started (None before any did); ``status`` is
    ``study_status``; ``winner`` and ``test_accuracy`` come from its last comparison.
    """

    name: str
    data: str | None
    started: datetime | None
    status: dict[str, Any]
    winner: int | None
    test_accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.status,
            "data": self.data,
            "started": self.started.isoformat(timespec="seconds") if self.started else None,
            "winner": self.winner,
            "test_accuracy": self.test_accuracy,
        }


def list_studies(storage: str | None = None) -> list[StudySummary]:
    """Every study of the Optuna storage (default: ``mlruns/optuna.db``), oldest first.

    Raises:
        UserError: there is no such storage, or it cannot be opened.
    """
    opened = open_storage(storage, create=False, read_only=True)
    found = optuna.get_all_study_summaries(opened, include_best_trial=False)
    return [_summary(optuna.load_study(study_name=s.study_name, storage=opened), s.datetime_start) for s in found]


def _summary(study: optuna.Study, started: datetime | None) -> StudySummary:
    record = StudyRecord.of(study)
    data = None if record.config_json is None else StudyConfig.from_json(record.config_json).data_name
    status = study_status(study)
    finish = status["finish"]
    return StudySummary(
        name=study.study_name,
        data=data,
        started=started,
        status=status,
        winner=finish["winner"],
        test_accuracy=finish["test_accuracy"],
    )


@dataclass(frozen=True, kw_only=True)
class DeletedStudy:
    """What ``delete_study`` removed: the study and its trial count, the storage (redacted),
    its MLflow experiment's id and name in the trash (None if it had none), in the tracking
    store ``tracking`` (redacted), the saved arrays file deleted with it (None if none was),
    and the finalists' models retrained before an interrupt and kept on this machine."""

    name: str
    trials: int
    storage: str
    experiment: tuple[str, str] | None
    arrays: Path | None
    tracking: str = ""
    retrained: tuple[Path, ...] = ()


def delete_study(
    name: str, *, storage: str | None = None, tracking_uri: str | None = None, force: bool = False
) -> DeletedStudy:
    """Delete the automl study ``name``: its trials, its MLflow experiment (to the trash, renamed)
    and the arrays saved for it alone; its registered model and exports stay.

    A study in use (``users``: a process runs one of its trials, or compares and exports its
    results) is refused unless ``force``: for a process on another host whose store keeps no
    heartbeats (a journal file), whether it is gone cannot be told here. So is one whose
    MLflow runs are not in the tracking store given (another store's, or a store that is gone).

    The experiment goes first: if the storage then fails, deleting again finishes the job,
    and no new study of the same name meanwhile logs into the old experiment.

    Raises:
        UserError: there is no such study, it was not created by automl, it is in use, its
            runs are not in the tracking store, or a store cannot be opened.
    """
    study, config = load_existing(name, storage=storage, tracking_uri=tracking_uri)
    if not force:
        refuse_in_use(study)
    trials = len(study.get_trials(deepcopy=False))
    tracker = Tracker(config.tracking_uri, experiment_name=None)
    parent = StudyRecord.of(study).parent_run_id
    if parent is not None and not force and not tracker.has_run(parent):
        raise UserError(
            f"the MLflow store {redact(tracker.tracking_uri)!r} does not hold study {name!r}'s runs (its parent run "
            f"{parent}): give the study's --tracking-uri, or add --force (force=True) to delete its trials alone "
            "if its MLflow store is gone"
        )
    experiment = tracker.retire_experiment(name)
    kept = [Path(path) for entry in StudyRecord.of(study).retrained.values() for path in entry["paths"]]
    with store_lock(config.storage):
        optuna.delete_study(study_name=name, storage=study._storage)
        arrays = _saved_arrays(config)
        if arrays is not None and config.data in {_data_of(study._storage, n) for n in study_names(study._storage)}:
            arrays = None  # another study reads them
    if arrays is not None:
        with contextlib.suppress(FileNotFoundError):
            arrays.unlink()
    retrained = tuple(path for path in kept if path.is_file())
    for path in retrained:
        path.unlink()
    for folder in {path.parent for path in kept}:
        with contextlib.suppress(OSError):  # not empty, or gone
            folder.rmdir()
    shown = redact(config.storage or default_storage())
    return DeletedStudy(
        name=name,
        trials=trials,
        storage=shown,
        experiment=experiment,
        arrays=arrays,
        tracking=redact(tracker.tracking_uri),
        retrained=retrained,
    )


def refuse_in_use(study: optuna.Study) -> None:
    """Raise if the study is in use (``users``), naming the first use.

    Raises:
        UserError: a live process runs one of its trials, or compares and exports them.
    """
    in_use = users(study)
    if in_use:
        more = f" and {len(in_use) - 1} more" if len(in_use) > 1 else ""
        raise UserError(
            f"study {study.study_name!r} is in use: {in_use[0]}{more}; stop that first, "
            "or add --force (force=True) if the process is gone"
        )


def users(study: optuna.Study) -> list[str]:
    """What uses the study now: its running trials and its comparison, each with the
    process (``host:pid``) that runs it, if that process may still run.

    A trial's process on this host is looked up; on another host it counts as alive unless
    the store's heartbeats tell it is gone (Optuna then fails the trial as stale, as any
    worker of the study would).
    """
    with warnings.catch_warnings():  # "experimental" since Optuna 2.9, and the right tool here
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a store without heartbeats is left as it is
    found = [
        f"trial {record.number} runs in process {record.worker}"
        for record in map(TrialRecord.of, study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if record.worker is not None and process_alive(record.worker)
    ]
    finish = StudyRecord.of(study).finish
    if finish and finish.get("open") and process_alive(str(finish.get("by"))):
        found.append(f"process {finish['by']} compares and exports its trials")
    return found


def _saved_arrays(config: StudyConfig) -> Path | None:
    """The file ``automl.search(data=arrays)`` saved for this study, if its data is one."""
    if config.data is None or not pipelines.is_saved_arrays(config.data, runtime_settings().arrays_folder):
        return None
    return Path(config.data)


def _data_of(storage: optuna.storages.BaseStorage, name: str) -> str | None:
    stored = StudyRecord.of(optuna.load_study(study_name=name, storage=storage)).config_json
    return None if stored is None else StudyConfig.from_json(stored).data
