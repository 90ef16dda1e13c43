"""The run loop: claim queued trials of an open study and run them until none is left.

``run_study`` is what ``automl.search`` (in-process or ``--isolate``) and ``automl worker``
call. The whole search workflow (report, comparison, export) is ``automl._search``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from automl._backends import active_backend
from automl._budget import FINAL_STRETCH, LEAD_ENV, Plan, make_plan
from automl._compare import (
    MAX_STRETCH,
    finalist_records,
    likeliest_first,
    member_seconds,
    retrain_cost,
    retrain_seconds,
)
from automl._config import StudyConfig
from automl._data import (
    StudyData,
    absent_classes_note,
    conversions_note,
    describe_data,
    flips_line,
    imbalance_note,
    skipped_note,
    value_map_note,
)
from automl._errors import (
    Interrupted,
    Outgrown,
    ProcessDied,
    SearchFailed,
    StudyStopped,
    TrialFailed,
    UserError,
)
from automl._interrupts import interrupt_reason, raise_if_interrupted
from automl._progress import Progress
from automl._queue import (
    claim_trial,
    heartbeat,
    may_retry,
    process_identity,
    requeue,
    retry_of,
    total_reached,
)
from automl._records import StudyRecord, TrialRecord, record_failure, record_oom, record_outcome, record_parent_run
from automl._recycle import MemoryGuard, default_limit_mb, shared_limit
from automl._settings import RuntimeSettings, runtime_settings
from automl._stores import store_lock
from automl._studies import (
    best_value,
    enqueue_trials,
    header,
    open_study,
    process_alive,
    seed_sampler,
    top_up,
    versions,
)
from automl._study_data import study_data
from automl._tables import counted
from automl._tracking import Tracker
from automl._training import FinalWindow, as_trial_failure, configure_runtime
from automl._trial import Outcome, StudyContext, config_key_of, run_trial
from automl._workers import local_workers, start_worker, wait_passing_on_interrupts, worker_command

__all__ = ["run_study", "StudyRun", "StudyStopped", "close_orphan_runs"]

# Queueing this many trials takes seconds (one storage write each): say so on a terminal.
QUEUE_STATUS_AT = 200


@dataclass(frozen=True, kw_only=True)
class StudyRun:
    """What a call of ``run_study`` did, with what the rest of the workflow reuses."""

    study: optuna.Study
    config: StudyConfig
    ran: int
    tracker: Tracker
    data: StudyData
    plan: Plan
    created: bool = False
    stopped_early: str | None = None

    @property
    def parent_run_id(self) -> str | None:
        return self.tracker.parent_run_id


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def _open_parent_run(study: optuna.Study, config: StudyConfig, tracker: Tracker, data: StudyData, worker: bool) -> None:
    run_id = StudyRecord.of(study).parent_run_id
    if worker:
        if run_id is None:
            raise UserError(
                f"study {config.study_name!r} has no MLflow parent run yet; start it with 'automl search' first"
            )
        tracker.attach_parent(config.study_name, run_id)
        return
    opened = tracker.open_parent(config.study_name, run_id)
    if run_id is None:
        record_parent_run(study, opened)
        _log_study_settings(tracker, config, data)


def _log_study_settings(tracker: Tracker, config: StudyConfig, data: StudyData) -> None:
    parent = tracker.parent()
    settings = {k: v for k, v in config.to_dict(redacted=True).items() if k != "space"}
    settings["backend"] = config.backend or active_backend()  # not 'None' when KERAS_BACKEND chose it
    parent.log_params(
        {
            **{f"study.{k}": v for k, v in settings.items()},
            "data.source": data.dataset.source,
            "data.mirror_asymmetry": data.mirror_asymmetry,
            "data.flips": data.flips,
        }
    )
    parent.set_tags({"git_commit": _git_commit() or "unknown", **{f"version.{k}": v for k, v in versions().items()}})
    tracker.log_json(parent.run_id, config.space.to_dict(), "search_space.json")
    tracker.log_json(parent.run_id, data.dataset.summary(), "data/summary.json")
    tracker.log_json(parent.run_id, data.splits.summary(), "data/splits.json")
    tracker.log_json(parent.run_id, data.normalization.to_dict(), "data/normalization.json")
    tracker.log_json(parent.run_id, versions(), "versions.json")


@contextlib.contextmanager
def _deleted_on_failure(study: optuna.Study, created: bool) -> Iterator[None]:
    """Delete a study created just now again if what runs inside fails (its data cannot be
    read, its MLflow store cannot be opened): no trial ran, and a retry starts it afresh."""
    try:
        yield
    except BaseException:
        if created:
            optuna.delete_study(study_name=study.study_name, storage=study._storage)
        raise


def _print_data_notes(data: StudyData) -> None:
    """Files left out, values mapped, arrays read in another layout and classes absent from a
    held-out split; printed even with ``--quiet``: what is searched and what the exported
    model takes depend on them."""
    dataset = data.dataset
    for note in (
        skipped_note(dataset),
        value_map_note(dataset),
        conversions_note(dataset),
        absent_classes_note(data.splits),
        imbalance_note(data.splits),
    ):
        if note:
            print(note, file=sys.stderr)


def run_study(
    config: StudyConfig,
    *,
    worker: bool = False,
    lead: bool = False,
    helper: bool = False,
    max_trials: int | None = None,
    progress: Progress | None = None,
    plan: Plan | None = None,
    started: float | None = None,
    helpers: int = 0,
) -> StudyRun:
    """Open (or resume, or join as a ``worker``) the study and run queued trials until none is left.

    A ``lead`` worker runs the search's own trials (one that ``--isolate`` started): its first
    model may train through the final window, as in the search's process. A ``helper`` worker
    (one that ``--workers`` started) stops past its memory limit, raising ``Outgrown``: the
    search that started it starts another.

    ``max_trials`` bounds how many trials this call runs (a worker's ``--trials``; 0 only
    prepares the study, its queue and its parent run). ``helpers`` worker processes
    (``automl search --workers``, less this process) run trials beside this one once the
    parent run is open; the call returns when they have ended too. ``plan`` says when the trials stop
    (a time budget's search deadline) and whether the queue is filled as they go; by default
    it is made from the study's settings (a resumed study's stored ones), its budget counted
    from ``started`` (a ``time.monotonic()`` value, default now).

    Raises:
        StudyStopped: ``config.max_consecutive_failures`` trials failed in a row.
        UserError, pipelines.DataError: the study or its data cannot be opened.
    """
    study, config, created = open_study(config, create=not worker)
    # The total of trials this process keeps to: its run's. A worker joined by hand (no plan
    # from a search) runs the queue as it finds it, which a later search may have filled
    # past the total the study was made with, the one stored.
    total = None if worker and plan is None else config.trials
    plan = plan or make_plan(config, started=time.monotonic() if started is None else started)
    progress = progress or Progress(total=config.trials)
    # The process that runs the study, or prepares it for workers, says what it runs.
    describing = not worker
    if describing:
        progress.message(header(config, created, study))
        progress.message(plan.describe())
    seed_sampler(study, config)  # each process its own seed: processes sharing a study sample distinct candidates
    with _deleted_on_failure(study, created):
        data = _read_data(study, config, progress, describing=describing)
        if not worker:  # after loading the data: warm starts are tailored to the images
            _queue_trials(study, config, data, plan, progress)
        # A study that has its parent run has its store and experiment: none is created elsewhere.
        recorded_parent = StudyRecord.of(study).parent_run_id is not None
        tracker = Tracker(config.tracking_uri, experiment_name=config.study_name, create=not recorded_parent)
    with store_lock(config.storage):  # one parent run, however many processes start together
        _open_parent_run(study, config, tracker, data, worker)
    if helpers:
        progress.message(f"study {config.study_name!r}: this process and {helpers} worker process(es) run its trials")
        progress.shown = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    try:
        with shared_limit(helpers + 1), local_workers(config, helpers, plan) as codes:
            ran, stopped = _run_trials(
                study,
                config,
                data,
                tracker,
                progress,
                plan,
                worker=worker,
                lead=lead,
                helper=helper,
                max_trials=max_trials,
                total=total,
            )
            raise_if_interrupted()  # one lost after the last trial: no comparison or export follows
        _fail_dead_workers(study, tracker)  # a worker killed mid-trial (by the out-of-memory killer) left it RUNNING
        show_others(study, progress)  # the helpers' last trials
        if failed := sum(code != 0 for code in codes):
            stopped = "; ".join(filter(None, (stopped, f"{failed} worker process(es) exited with an error")))
    except BaseException as exc:
        if not worker:  # a worker leaves the study's parent run to the process that owns it
            tracker.close_parent_on_error("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        with contextlib.suppress(Exception):  # a child killed after its SIGTERM's grace left its trial RUNNING
            _fail_dead_workers(study, tracker)
        raise
    close_orphan_runs(study, tracker)
    return StudyRun(
        study=study,
        config=config,
        ran=ran,
        tracker=tracker,
        data=data,
        plan=plan,
        created=created,
        stopped_early=stopped,
    )


def _read_data(study: optuna.Study, config: StudyConfig, progress: Progress, *, describing: bool) -> StudyData:
    """The study's data, with a status line while it is read and, where this process
    ``describing`` the study, a line on what was read and one on its mirror symmetry."""
    reading = time.perf_counter()
    if describing:
        progress.status(f"data: reading {config.data_name} ...")  # a large folder takes a minute
    try:
        data = study_data(study, config)
    finally:
        progress.clear_status()
    if describing:
        progress.message(describe_data(data, time.perf_counter() - reading))
        progress.message(flips_line(data.mirror_asymmetry))
    return data


def _queue_trials(study: optuna.Study, config: StudyConfig, data: StudyData, plan: Plan, progress: Progress) -> None:
    """Queue the study's trials (``enqueue_trials``; as the search goes with a lazy ``plan``),
    with a status line when many are queued now, then print the notes on the data."""
    queueing = 0 if plan.lazy_queue else config.trials - len(study.trials)
    if queueing >= QUEUE_STATUS_AT:
        progress.status(f"queueing {queueing:,} trials ...")  # ~5-20 ms each
    try:
        enqueue_trials(study, config, data, lazy=plan.lazy_queue)
    finally:
        progress.clear_status()
    _print_data_notes(data)


def _run_trials(
    study: optuna.Study,
    config: StudyConfig,
    data: StudyData,
    tracker: Tracker,
    progress: Progress,
    plan: Plan,
    *,
    worker: bool,
    lead: bool,
    helper: bool,
    max_trials: int | None,
    total: int | None,
) -> tuple[int, str | None]:
    """Everything after the parent run is open: the runtime, its tags and plan, then the trials
    (in this process, or each in its own); how many ran, and why the search stopped early.
    ``worker``, ``lead`` and ``helper`` say which process this is (``run_study``).
    ``max_trials``: the most trials this process runs; ``total``: the study's total it stops at."""
    runtime = configure_runtime()
    if not worker:
        tracker.parent().set_tags({f"runtime.{k}": v for k, v in runtime.items()})
        tracker.log_json(tracker.parent().run_id, plan.to_dict(), "plan.json")
    progress.best = best_value(study)
    ctx = StudyContext(
        config=config,
        data=data,
        tracker=tracker,
        progress=progress,
        settings=runtime_settings(),
    )
    # Everything loaded so far (TensorFlow, Keras, MLflow: ~700,000 objects) lives as long as
    # the process: freezing it keeps each trial's garbage collections from walking it again.
    gc.collect()
    gc.freeze()
    _fail_dead_workers(study, tracker)
    if config.isolate and not worker:
        return _run_isolated(study, ctx, max_trials, plan, total=total)
    # A worker that --isolate started runs the search's own trials (``lead``): its first model
    # may train through the final window. Without it, a minute's search on 5,000 Fashion-MNIST
    # images exported a model cut at 1.2 epochs (test 0.7990, 0.8760 in one process).
    lead = lead or not worker
    # None for a worker joined by hand: nothing would replace it.
    guard = _memory_guard(ctx.settings) if lead or helper else None
    ran, stopped = _run_in_process(study, ctx, max_trials, plan, total=total, final_window=lead, guard=guard)
    if helper and guard is not None and guard.tripped and ran:  # one that ran none: another would not either
        raise Outgrown(f"this process has grown by {guard.grown_mb / 1024:.1f} GB in {counted(ran, 'trial')}")
    if worker or guard is None or not guard.tripped:
        return ran, stopped
    note = (
        f"note: this process has grown by {guard.grown_mb / 1024:.1f} GB in {counted(ran, 'trial')} "
        "(the backend keeps part of every model it trained); the trials left run in fresh processes"
    )
    return _run_isolated(study, ctx, max_trials, plan, total=total, per_process=None, ran_before=ran, note=note)


def _memory_guard(settings: RuntimeSettings) -> MemoryGuard:
    limit = default_limit_mb() if settings.recycle_after_mb is None else settings.recycle_after_mb
    return MemoryGuard(limit_mb=limit)


def close_orphan_runs(study: optuna.Study, tracker: Tracker) -> int:
    """Close as KILLED the MLflow runs of failed trials whose process died mid-trial.

    Such a trial was failed by Optuna's heartbeat check in another process, so nobody
    recorded its failure or closed its run; returns how many runs were closed.
    """
    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        record = TrialRecord.of(trial)
        if record.mlflow_run_id is None or record.failure is not None:
            continue
        if tracker.run_status(record.mlflow_run_id) == "RUNNING":
            reason = "its worker stopped sending heartbeats (killed or lost) mid-trial"
            tracker.close_run(
                record.mlflow_run_id, "KILLED", tags={"state": TrialState.FAIL.name, "fail_reason": reason}
            )
            closed += 1
    return closed


def _run_in_process(
    study: optuna.Study,
    ctx: StudyContext,
    max_trials: int | None,
    plan: Plan,
    *,
    total: int | None = None,
    final_window: bool = True,
    guard: MemoryGuard | None = None,
) -> tuple[int, str | None]:
    """Run trials here until the plan, ``max_trials``, the study's ``total`` (``claim_trial``),
    the queue or the memory ``guard`` (``automl._recycle``) ends them. With
    ``final_window`` (the process that retrains the finalists), the study's first trial may
    train through the plan's final window (``_first_window``), unless ``--timeout`` bounds
    the trials: a trial does not train past it."""
    timeout = _timeout_deadline(ctx.config)
    deadline = _deadline(study, ctx.data, plan, timeout, ctx.config)
    ran, failures = 0, _Failures(ctx.config.max_consecutive_failures)
    late = 0  # trials started past the deadline, looking for a first complete one
    while (max_trials is None or ran < max_trials) and _time_left(
        study, deadline, late, _useful_epochs(plan), lead=final_window
    ):
        raise_if_interrupted()  # one lost in a finalizer: no trial starts after it
        if guard is not None and guard.check():
            break
        late += deadline is not None and time.monotonic() >= deadline
        if plan.lazy_queue:
            top_up(study, ctx.config, config_key=functools.partial(config_key_of, ctx=ctx))
        trial = claim_trial(study, deadline=deadline, total=total)
        if trial is None:
            break
        try:  # from the claim on: no trial is left RUNNING, or failed without its reason
            if (failed := retry_of(trial)) is not None:
                print(
                    f"note: trial {trial.number} runs again trial {failed}, {_why_again(study, failed)}",
                    file=sys.stderr,
                )
            with heartbeat(trial):
                window = _first_window(study, ctx.data, plan) if final_window and timeout is None else None
                outcome = run_trial(trial, ctx, deadline=deadline, window=window, limit=_limit_name(deadline, timeout))
        except KeyboardInterrupt as stop:  # failed now, and run again when the study resumes
            _fail_to_run_again(study, trial, Interrupted(interrupt_reason(stop)))
            raise
        except Exception as exc:  # the search's own error (run_trial records the candidate's)
            _fail_to_run_again(study, trial, SearchFailed(str(as_trial_failure(exc))))
            raise
        _tell(study, trial, outcome)
        ran += 1
        value = outcome.values[0] if outcome.values else TrialRecord.of(trial).val_accuracy
        ctx.progress.trial_finished(trial.number, outcome.state.name.lower(), value, outcome.reason, best_value(study))
        show_others(study, ctx.progress)  # those the helpers finished meanwhile
        failures.count(outcome.failure, outcome.reason)
        deadline = _deadline(study, ctx.data, plan, timeout, ctx.config)
    return ran, _stop_reason(study, ran, deadline, timeout, _useful_epochs(plan))


def _fail_to_run_again(study: optuna.Study, trial: optuna.Trial, failure: Interrupted | SearchFailed) -> None:
    """Fail the ``trial`` during which the search stops, with the reason (an interrupt, or an
    error of the search's own: its MLflow server gone, a bug; passwords masked), and queue it
    to run again when the study resumes. An interrupted one is queued each time; one the
    search failed in, at most ``MAX_RETRY`` times (a bug it meets again). Left RUNNING, it had
    no reason until a resume found its process gone. If the study's store fails too (or
    another process failed the trial as stale), the trial stays as it is, and the error
    being raised is still the one shown."""
    with contextlib.suppress(Exception):
        record_failure(trial, failure)
        told = study.tell(trial, state=TrialState.FAIL)
        if isinstance(failure, Interrupted) or may_retry(told):
            requeue(study, told)


def show_others(study: optuna.Study, progress: Progress) -> None:
    """Show the line of each trial that another process finished since the last look, where
    ``progress`` shows them (``Progress.shown``: a search's ``--workers`` helpers are quiet, and
    a trial they ran was seen only in the results table)."""
    if progress.shown is None:
        return
    shown = progress.shown
    unseen = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.number not in shown]
    best = best_value(study) if unseen else None  # read once, not once a line
    for frozen in unseen:
        record = TrialRecord.of(frozen)
        value = frozen.values[0] if frozen.values else record.val_accuracy
        progress.trial_finished(
            frozen.number, frozen.state.name.lower(), value, record.reason, best, seconds=record.seconds
        )


def _why_again(study: optuna.Study, number: int) -> str:
    """Why trial ``number`` runs again: it was interrupted, or its worker died."""
    failed = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    record = TrialRecord.of(failed) if failed is not None else None
    if record is not None and record.failure is Interrupted:
        return "which was interrupted"
    if record is not None and record.failure is SearchFailed:
        return f"during which the search ended on an error: {record.reason}"
    if record is not None and record.failure is ProcessDied:  # found gone on this host, not by its heartbeat
        return f"whose worker died: {record.reason}"
    return "whose worker died (no heartbeat)"


def _stop_reason(
    study: optuna.Study, ran: int, deadline: float | None, timeout: float | None, epochs: int
) -> str | None:
    """Why the trials stopped early: the deadline passed (before any trial ran, on a resume),
    or too little time was left before it for a new trial's first ``epochs`` (``_time_left``:
    a resumed study's budget could end at once, its time unused, without a word)."""
    if deadline is None:
        return None
    if (now := time.monotonic()) < deadline:
        needed = _new_trial_seconds(study, epochs)
        if needed is None or now + needed < deadline:
            return None
        return (
            f"no time for {'another' if ran else 'a'} trial: {deadline - now:.0f}s left before "
            f"{'the timeout' if _limit_name(deadline, timeout) == 'timeout' else 'the search deadline'}, "
            f"and a new trial's first {counted(epochs, 'epoch')} take about {needed:.0f}s, "
            "as the study's finished trials show"
        )
    reached = "timeout reached" if _limit_name(deadline, timeout) == "timeout" else "time budget's search time reached"
    return reached if ran else f"{reached} before a trial could run"


def _limit_name(deadline: float | None, timeout: float | None) -> str:
    """What ``deadline`` is: the ``--timeout``'s, or the time budget's search deadline."""
    return "timeout" if deadline is not None and deadline == timeout else "time budget"


class _Failures:
    """Costly failures in a row (a cheap one, such as an infeasible sample, ends a run of them)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row = limit, 0
        self.last_reason: str | None = None

    def count(self, failure: TrialFailed | type[TrialFailed] | None, reason: str | None) -> None:
        """Count a finished trial's outcome.

        Raises:
            StudyStopped: ``limit`` costly failures in a row.
        """
        self.in_a_row = self.in_a_row + 1 if failure is not None and not failure.cheap else 0
        self.last_reason = reason or self.last_reason
        if self.in_a_row >= self.limit:
            raise StudyStopped(f"{self.in_a_row} trials failed in a row; the last one: {self.last_reason}")


def _fail_orphans(study: optuna.Study, tracker: Tracker, pid: int, code: int) -> None:
    """Fail the trials that the isolated trial's process ``pid``, ended with ``code``, left
    RUNNING: it died mid-trial, and no other process would fail them (none beats for it).
    A SIGKILL is taken for the out-of-memory killer's: the configuration is remembered as an
    out-of-memory one, so the study skips it when it is drawn again, as it skips those that
    ran out of memory in process."""
    killed = code == -signal.SIGKILL
    died = ProcessDied(
        f"its process was killed by {signal.Signals(-code).name}"
        + (" (as the out-of-memory killer does)" if killed else "")
        if code < 0
        else f"its process exited with code {code} mid-trial"
    )
    worker = process_identity(pid)
    for record in _fail_running(study, tracker, lambda by: by == worker, died, retry=False):
        if killed and record.config_digest:
            record_oom(study, record.config_digest, record.number)


def _fail_dead_workers(study: optuna.Study, tracker: Tracker) -> None:
    """Fail, and queue again once (as the heartbeat would, ``MAX_RETRY``), the trials left
    RUNNING by a process of this host that is gone (killed, the machine restarted): a
    resumed study runs them now, and its pruner no longer compares new trials with them,
    instead of waiting out the heartbeat's grace period."""
    died = ProcessDied("its process is gone (killed mid-trial)")
    _fail_running(study, tracker, lambda by: by is not None and not process_alive(by), died, retry=True)


def _fail_running(
    study: optuna.Study, tracker: Tracker, gone: Callable[[str | None], bool], died: ProcessDied, *, retry: bool
) -> list[TrialRecord]:
    """Fail the RUNNING trials whose worker (``host:pid``) is ``gone``, closing their MLflow
    runs. Returns the records of those this process failed."""
    failed = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = TrialRecord.of(frozen)
        if not gone(record.worker):
            continue
        trial = optuna.Trial(study, frozen._trial_id)
        try:
            record_outcome(trial, timings={}, failure=died, note=None)
            if record.mlflow_run_id is not None:
                tracker.close_run(
                    record.mlflow_run_id, "FAILED", tags={"state": TrialState.FAIL.name, "fail_reason": str(died)}
                )
            told = study.tell(trial, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process (a worker's heartbeat check) failed it first
        print(f"trial {frozen.number} failed: {died}", file=sys.stderr)
        failed.append(record)
        if retry and may_retry(told):
            requeue(study, told)
    return failed


# Past the deadline, at most this many trials are started while none has completed: a budget
# shorter than one trial still ends with a model to export, and never much later.
MAX_LATE_TRIALS = 2


def _time_left(study: optuna.Study, deadline: float | None, late: int, epochs: int = 1, *, lead: bool = True) -> bool:
    """Whether another trial may start: with time for ``epochs`` epochs before the deadline
    (``_trial_seconds``), or while no trial has completed.

    Past the deadline, a process that is not the ``lead`` (a worker beside the search's own
    process) leaves the late trials to the trials running elsewhere: its late trial, cut in
    its first epoch, would only slow down the first model training through the final window.
    """
    if deadline is None:
        return True
    needed = _new_trial_seconds(study, epochs)
    if needed is None:
        if time.monotonic() < deadline:
            return True
        return late < MAX_LATE_TRIALS and (lead or not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    return time.monotonic() + needed < deadline


def _new_trial_seconds(study: optuna.Study, epochs: int) -> float | None:
    """What a new trial's first ``epochs`` take, as the study's finished trials show
    (``_trial_seconds``); None while no trial has completed."""
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if not any(t.state == TrialState.COMPLETE for t in finished):
        return None
    return _trial_seconds(finished, epochs)


def _trial_seconds(finished: list[optuna.trial.FrozenTrial], epochs: int) -> float:
    """What a new trial's first ``epochs`` epochs take, as the completed and pruned trials
    show: the median of each one's time outside its fit (building, compiling, saving) and
    ``epochs`` of the epochs it ran. With the quickest trial's epoch alone (0.6 s on small
    images), a trial started 2 s before the deadline, was cut after its first epoch (10 s,
    tracing included) at chance, and took that time from the final training. Without the
    pruned trials, whose one epoch holds its tracing as a new trial's does, a trial started
    with 2.5 s to go on 300 images took 15.7 s (bench/RESULTS.md, "Other shapes")."""
    costs = []
    for trial in finished:
        record = TrialRecord.of(trial)
        fit = record.timings.get("fit", 0.0)
        ran = len(trial.intermediate_values) or record.epochs  # reported once an epoch
        costs.append(record.seconds - fit + fit / ran * epochs)
    return float(np.median(costs))


def _useful_epochs(plan: Plan) -> int:
    """The epochs a new trial needs time for: successive halving's second rung (3 of 9), where
    a trial first shows more than a first epoch's promise. A trial cut shorter by the deadline
    cannot beat the trials that ran their epochs; its time goes to the final training instead
    (``automl._compare`` re-plans it to fill the window). One epoch without rungs."""
    return plan.rungs[1] if len(plan.rungs) > 1 else 1


def _deadline(
    study: optuna.Study, data: StudyData, plan: Plan, timeout: float | None, config: StudyConfig
) -> float | None:
    """When trials must stop: ``--timeout``, or the budget's search time, shortened so that
    retraining the likeliest winner so far (``likeliest_first`` of the finalists) still
    fits in the final window (stretched, or as two members, if it can be)."""
    n_val = len(data.splits.val[1])
    best = likeliest_first(finalist_records(study, config.top_k, n_val), n_val)
    retrain = retrain_seconds(best[0], data, best[0].epochs) if best else 0.0
    stretched = None
    if best and _of_an_earlier_run(study, best[0], plan):
        # A resume: a model retrained before is loaded, not retrained, and another is re-planned
        # to what the window holds (``automl._compare``). Its time must not take the search's:
        # a first model that trained 20 epochs through the last window left none.
        retrain = 0.0
    elif best:  # the retraining's time is linear in its epochs
        members = member_seconds(
            best[0], data, config.members, max_params=config.max_params, max_flops=config.max_flops
        )
        stretched = FINAL_STRETCH * retrain if members is None else max(members, FINAL_STRETCH * retrain)
    deadlines = [d for d in (plan.search_deadline(retrain, stretched), timeout) if d is not None]
    return min(deadlines) if deadlines else None


def _of_an_earlier_run(study: optuna.Study, record: TrialRecord, plan: Plan) -> bool:
    """Whether trial ``record`` finished before this run's plan started (a resumed study)."""
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == record.number), None)
    if trial is None or trial.datetime_complete is None:
        return False
    started = time.time() - (time.monotonic() - plan.started)
    return trial.datetime_complete.timestamp() < started


def _first_window(study: optuna.Study, data: StudyData, plan: Plan) -> FinalWindow | None:
    """The final window offered to the study's first model (none once a trial has completed):
    when that model's retraining would not fit in the window, or its planned epochs do not
    fit before the search's deadline, it is the final model and trains through it (large
    data or a short budget leave no time for anything else)."""
    if plan.final_until is None or plan.final_until == plan.search_until:
        return None
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return FinalWindow(until=plan.final_until, retrain_cost=retrain_cost(data), max_stretch=MAX_STRETCH)


def _timeout_deadline(config: StudyConfig) -> float | None:
    return time.monotonic() + config.timeout if config.timeout else None


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome) -> None:
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
    study: optuna.Study,
    ctx: StudyContext,
    max_trials: int | None,
    plan: Plan,
    *,
    total: int | None = None,
    per_process: int | None = 1,
    ran_before: int = 0,
    note: str | None = None,
) -> tuple[int, str | None]:
    """Run the trials in fresh ``automl worker`` processes, ``per_process`` trials each (hard
    memory isolation); ``None``: as many as each runs before its memory guard stops it.
    ``ran_before``: trials this search ran already (in its own process); ``note`` is said
    before the first process starts, if one does. Returns the trials run, those included.

    The loop is ``_run_in_process``'s: the plan's deadlines (handed to each process, which
    cuts its trial at them), the queue topped up as the budget lasts, and the failures in a
    row counted here, where they add up."""
    config = ctx.config
    env = {**plan.to_env(), LEAD_ENV: "1"}
    timeout = _timeout_deadline(config)
    deadline = _deadline(study, ctx.data, plan, timeout, config)
    ran, failures, late = ran_before, _Failures(config.max_consecutive_failures), 0
    while (max_trials is None or ran < max_trials) and _time_left(study, deadline, late, _useful_epochs(plan)):
        raise_if_interrupted()
        late += deadline is not None and time.monotonic() >= deadline
        if plan.lazy_queue:
            top_up(study, config, config_key=functools.partial(config_key_of, ctx=ctx))
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not waiting or (total is not None and total_reached(study, total)):
            break
        finished = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        left = None if timeout is None else max(timeout - time.monotonic(), 1.0)
        limit = [] if per_process is None else ["--trials", str(per_process)]
        limit += ["--quiet"] if ctx.progress.quiet else []
        if note is not None:
            ctx.progress.message(note)
            note = None
        with start_worker(config, worker_command(config, timeout=left) + limit, env) as child:
            (code,) = wait_passing_on_interrupts([child])  # it fails its trial, then the interrupt goes on
        if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):  # its exit on a Ctrl-C or a SIGTERM
            raise KeyboardInterrupt
        _fail_orphans(study, ctx.tracker, child.pid, code)
        ended = [
            TrialRecord.of(t)
            for t in study.get_trials(deepcopy=False)
            if t.state.is_finished() and t.number not in finished
        ]
        for record in ended:
            failures.count(record.failure, record.reason)
        own = [record.number for record in ended if record.worker == process_identity(child.pid)]
        if ctx.progress.shown is not None:  # the fresh process showed its own trials
            ctx.progress.shown.update(own)
            show_others(study, ctx.progress)
        its_own = len(own)
        ran += per_process or its_own
        if per_process is None and not its_own:  # it ran none: another would not either
            if code:  # its error is above, on its standard error
                return ran, f"a fresh trial process exited with code {code} before it ran a trial"
            break
        deadline = _deadline(study, ctx.data, plan, timeout, config)
    return ran, _stop_reason(study, ran, deadline, timeout, _useful_epochs(plan))
