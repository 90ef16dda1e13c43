"""The search workflow: run the study's trials, report, compare the finalists, export the winner.

``automl.search`` (and so ``automl search``) is this workflow behind a light front door
that selects the Keras backend first; this module imports Keras.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import TrialState

from automl._bundle import ExportResult, read_export
from automl._compare import FinalistsResult, FinalTraining, compare_study
from automl._config import StudyConfig
from automl._driver import StudyRun, run_study
from automl._errors import USER_ERRORS
from automl._mcnemar import Comparison
from automl._progress import Progress
from automl._queue import effective_trials
from automl._records import StudyRecord
from automl._report import log_study_report, trials_frame
from automl._stores import check_connection_budget
from automl._studies import claim_finish, release_finish, study_tracker
from automl._tracking import Tracker
from automl._winner import check_export_target, export_winner
from automl._workers import join_command

__all__ = ["SearchResult", "run_search", "prepare_study", "close_finished", "Recompared", "recompare"]


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What a search did: its trials, the comparison of its finalists and the exported winner.

    Attributes:
        study_name: the study searched (resumed or created).
        config: the study's settings in force.
        trials: one row per finished trial (trial, state, val_accuracy, params, flops,
            seconds, reason).
        comparison: McNemar's comparison of the finalists, or ``None`` (see
            ``no_comparison``).
        export: the files written for the winner, or ``None`` (``no_export``, or no
            comparison).
        registered: the MLflow registry name of the winner (``models:/NAME@champion ...``).
        stopped_early: why the trials stopped before the study's total (timeout, workers).
        no_comparison: why there is no comparison (e.g. no trial completed).
        earlier: where the comparison and export are an earlier run's (the study had no new
            finished trial to compare), why this run made none of its own.
    """

    study_name: str
    config: StudyConfig
    trials: pd.DataFrame
    comparison: Comparison | None = None
    export: ExportResult | None = None
    registered: str | None = None
    stopped_early: str | None = None
    no_comparison: str | None = None
    earlier: str | None = None

    @property
    def winner(self) -> int | None:
        """The winning trial's number."""
        return self.comparison.winner if self.comparison is not None else None

    @property
    def export_dir(self) -> Path | None:
        return self.export.out_dir if self.export is not None else None


def prepare_study(config: StudyConfig, progress: Progress, *, started: float | None = None) -> StudyRun:
    """Create (or top up) the study, its trial queue and its MLflow parent run; run no trial.

    This is ``automl search --create-only``: the step that must happen once, before workers
    on any machine join the study. Says how many trials wait and how to join. ``started``
    is when a time budget began (``run_study``).
    """
    prepared = run_study(config, max_trials=0, progress=progress, started=started)
    waiting = sum(t.state == TrialState.WAITING for t in effective_trials(prepared.study))
    progress.message(f"study {config.study_name!r} is ready: {waiting} trial(s) waiting; join it with:")
    progress.message("  " + join_command(prepared.config))
    return prepared


def _run_with_workers(config: StudyConfig, progress: Progress, started: float) -> StudyRun:
    """Run the study here with ``config.workers - 1`` worker processes beside this one, to the
    end of its queue or of the search time of a budget that began at ``started``.

    This process creates the study, its schema and its parent run before any worker starts,
    so workers never race to create them, and runs trials itself: it has the data loaded and
    TensorFlow started, and its first trial may train through the final window as a search
    of one process does (a short budget's workers, each starting TensorFlow, ran no trial to
    its end). A worker that dies leaves its trial to the heartbeat: the others fail it once
    it is stale and run its retry.
    """
    check_connection_budget(config.storage, config.workers)  # the search's own process is one of them
    return run_study(config, progress=progress, started=started, helpers=config.workers - 1)


def run_search(
    config: StudyConfig,
    *,
    progress: Progress,
    export: bool = True,
    create_only: bool = False,
    started: float | None = None,
) -> SearchResult:
    """Run the whole workflow of ``automl search`` on ``config``; see ``automl.search``.

    ``started`` (a ``time.monotonic()`` value, default now) is when the time budget began.
    The study's MLflow parent run ends FINISHED when the workflow does, FAILED when it
    fails and KILLED on Ctrl-C.
    """
    if create_only:
        prepared = prepare_study(config, progress)
        return SearchResult(study_name=config.study_name, config=prepared.config, trials=trials_frame(prepared.study))
    if export:
        check_export_target(config.export_path, config.study_name)
    started = time.monotonic() if started is None else started
    if config.workers > 1:
        study_run = _run_with_workers(config, progress, started)
    else:
        study_run = run_study(config, progress=progress, started=started)
    claim = claim_finish(study_run.study, study_run.config, export=export)
    if not claim.elected:  # compared and exported once, by the process that claimed these results
        if not claim.closed_elsewhere:
            study_run.tracker.close_parent(_closing_status(study_run.study))
        result = SearchResult(
            study_name=config.study_name,
            config=study_run.config,
            trials=trials_frame(study_run.study),
            no_comparison=claim.reason,
            stopped_early=study_run.stopped_early,
        )
        return _earlier(result, study_run.study, claim.reason) if claim.done_before else result
    finished = False
    try:
        result = _finish(study_run, export=export, progress=progress)
        finished = True
    except KeyboardInterrupt:
        study_run.tracker.close_parent_on_error("KILLED")
        raise
    except BaseException:
        study_run.tracker.close_parent_on_error("FAILED")
        raise
    else:
        study_run.tracker.close_parent(_closing_status(study_run.study))
    finally:  # interrupted or failed, the comparison and export are the next run's to do
        release_finish(study_run.study, study_run.config, finished=finished, exported=export)
    return result


def close_finished(study: optuna.Study, config: StudyConfig, tracker: Tracker) -> None:
    """Close the study's parent run, with its trials table and plots as a search logs them,
    where it is still RUNNING and no trial is left to run: a study whose workers ran its
    trials (``--create-only``), then compared or exported by ``automl compare`` or ``automl
    export`` rather than ``automl search``, was left RUNNING without a report."""
    run_id = tracker.parent_run_id
    if run_id is None or tracker.run_status(run_id) != "RUNNING":
        return
    if study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)):
        return
    log_study_report(study, tracker, run_id, pareto=config.objective == "pareto")
    tracker.close_parent(_closing_status(study))


@dataclass(frozen=True, kw_only=True)
class Recompared:
    """An existing study's finalists compared again (``recompare``), and what that changed:
    ``note`` says where the study's winner, or its final model, is no longer what an earlier
    export exported (None where it still is)."""

    result: FinalistsResult
    note: str | None = None


def recompare(
    study: optuna.Study,
    config: StudyConfig,
    *,
    top_k: int | None = None,
    final_epochs: int | None = None,
    seeds: int | None = None,
    prefer: str | None = None,
    alpha: float = 0.05,
    margin: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Recompared:
    """``automl compare``: compare the study's ``top_k`` best trials (default: its settings'),
    retrained for ``final_epochs`` on train+validation first where given (``seeds`` of them
    averaged), with its MLflow store as a search logs to; its parent run is closed where its
    trials are done (``close_finished``)."""
    tracker = study_tracker(study, config)
    before = (StudyRecord.of(study).comparison or {}).get("winner")
    final = None if final_epochs is None else FinalTraining.for_study(config, epochs=final_epochs, seeds=seeds or 1)
    result = compare_study(
        study,
        config,
        top_k=config.top_k if top_k is None else top_k,
        prefer=config.prefer if prefer is None else prefer,
        alpha=alpha,
        margin=config.margin if margin is None else margin,
        final=final,
        tracker=tracker,
        progress=progress,
    )
    close_finished(study, config, tracker)
    return Recompared(
        result=result, note=_changed_winner_note(study.study_name, before, result.comparison.winner, final_epochs)
    )


def _changed_winner_note(study_name: str, before: int | None, winner: int, final_epochs: int | None) -> str | None:
    """What a comparison changed for an earlier export (winner ``before``): the winner, or
    the winner's final model (retrained for ``final_epochs``); None where nothing changed."""
    export = f"`automl export --study {study_name}` exports and registers this one"
    if before is not None and before != winner:
        return (
            f"the study's winner is now trial {winner} (it was trial {before}, which an earlier search or export "
            f"may have exported and registered): {export}"
        )
    if before is not None and final_epochs is not None:
        return (
            f"trial {winner}, the study's winner, now has the model retrained here for {final_epochs} epoch(s) as "
            f"its final model (an earlier export holds the one it replaces): {export}"
        )
    return None


def _closing_status(study: optuna.Study) -> str:
    """The status of the study's parent run when a search of it ends: a study none of whose
    trials completed failed, as the command that ran it does."""
    return "FINISHED" if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else "FAILED"


def _earlier(result: SearchResult, study: optuna.Study, reason: str | None) -> SearchResult:
    """``result`` with the comparison the study recorded and the bundle its winner was
    exported to (where the study's export folder holds it), from the run that made them."""
    recorded = StudyRecord.of(study).comparison
    if not recorded:
        return result
    comparison = Comparison.from_dict(recorded)
    found = read_export(result.config.export_path)
    ours = found is not None and (found[1].get("study"), found[1].get("trial")) == (study.study_name, comparison.winner)
    bundle = found[0] if found is not None and ours else None
    return dataclasses.replace(result, comparison=comparison, export=bundle, no_comparison=None, earlier=reason)


def _finish(study_run: StudyRun, *, export: bool, progress: Progress) -> SearchResult:
    """Report the trials, compare the finalists and export the winner."""
    study, config, tracker, plan = study_run.study, study_run.config, study_run.tracker, study_run.plan
    frame = trials_frame(study)
    if study_run.parent_run_id is not None:
        log_study_report(study, tracker, study_run.parent_run_id, pareto=config.objective == "pareto")
    result = SearchResult(
        study_name=config.study_name, config=config, trials=frame, stopped_early=study_run.stopped_early
    )
    final = (
        FinalTraining.for_study(config, until=plan.final_until, members=config.members, views_until=plan.views_until)
        if config.final_training
        else None
    )
    try:
        finalists = compare_study(
            study,
            config,
            top_k=config.top_k,
            prefer=config.prefer,
            margin=config.margin,
            final=final,
            tracker=tracker,
            data=study_run.data,
            progress=progress.message,
        )
    except USER_ERRORS as exc:  # the search itself succeeded; say why there is no comparison
        return dataclasses.replace(result, no_comparison=str(exc))
    result = dataclasses.replace(result, comparison=finalists.comparison)
    if not export:
        return result
    out = config.export_path
    winner = finalists.comparison.winner
    exported = export_winner(
        study,
        config,
        out,
        tracker=tracker,
        data=study_run.data,
        model=finalists.final_models.get(winner),
        search_model=finalists.search_models.get(winner),
    )
    return dataclasses.replace(result, export=exported.result, registered=exported.registered)
