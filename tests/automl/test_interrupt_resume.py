"""Ctrl-C stops a study cleanly, and the same command resumes it to the exact total."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from automl import _trial
from automl._catalog import finish_status
from automl._interrupts import interrupt_reason, interrupts_as_ctrl_c, raise_if_interrupted, stopped_by
from automl._queue import effective_trials
from tests.automl.helpers import cli_env, output_within, run_cli, stores


def _wait_for_running(storage: str, number: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"search exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            study = optuna.load_study(study_name="resume", storage=storage)
            if any(t.number == number and t.state == TrialState.RUNNING for t in study.trials):
                return
        except KeyError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"trial {number} never started")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell script starts a background job


@pytest.mark.parametrize(
    ("signum", "isolate"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
    # A SIGTERM reaches the search, not its trial's process; there, as in a background job, SIGINT is ignored.
    ids=["ctrl-c", "sigterm", "sigterm-isolate-background"],
)
def test_an_interrupted_trial_is_failed_and_run_again_when_the_same_command_resumes(workdir, signum, isolate):
    paths = stores(workdir)
    (workdir / "mlruns").mkdir()
    command = ["search", "--study-name", "resume", "--trials", "3", "--epochs", "2", "--pruner", "none",
               "--storage", paths["storage"], "--tracking-uri", paths["tracking_uri"], "--no-export",
               *(["--isolate"] if isolate else [])]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", *command],
        cwd=workdir,
        env=cli_env(AUTOML_INJECT_FAULT="slow@1"),  # trial 1 sleeps in every batch: time to press Ctrl-C
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint if isolate else None,
    )
    _wait_for_running(paths["storage"], 1, proc)
    time.sleep(2)
    proc.send_signal(signum)  # SIGTERM, as timeout, kill, Docker and Slurm send it, stops it as Ctrl-C does
    output = output_within(proc, timeout=120)
    assert proc.returncode == 128 + signum, output  # 130 after a Ctrl-C, 143 after a SIGTERM, as a shell says

    study = optuna.load_study(study_name="resume", storage=paths["storage"])
    by_number = {t.number: t for t in study.trials}
    assert by_number[0].state == TrialState.COMPLETE
    assert by_number[1].state == TrialState.FAIL
    said = "interrupted by a SIGTERM" if signum == signal.SIGTERM else "interrupted by the user (Ctrl-C)"
    assert said in by_number[1].user_attrs["fail_reason"]  # the signal that stopped it, not always Ctrl-C
    assert not any(t.state == TrialState.RUNNING for t in study.trials)
    # It is queued again, as it was sampled: the resumed study runs it, not another.
    (again,) = [t for t in study.trials if t.state == TrialState.WAITING and t.params]
    assert again.params == by_number[1].params and "fail_reason" not in again.user_attrs
    client = MlflowClient(tracking_uri=paths["tracking_uri"])
    experiment = client.get_experiment_by_name("resume")
    runs = client.search_runs([experiment.experiment_id])
    assert "RUNNING" not in {r.info.status for r in runs if "optuna.trial_number" in r.data.tags}
    killed = [r for r in runs if r.data.tags.get("optuna.trial_number") == "1"]
    assert [r.info.status for r in killed] == ["KILLED"]
    parent = [r for r in runs if "optuna.trial_number" not in r.data.tags]
    assert [r.info.status for r in parent] == ["KILLED"]  # stopped by its user, not FAILED
    completed_params = by_number[0].params

    resumed = run_cli(command, workdir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"note: trial {again.number} runs again trial 1, which was interrupted" in resumed.stderr
    study = optuna.load_study(study_name="resume", storage=paths["storage"])
    trials = effective_trials(study)
    assert sorted(t.number for t in trials) == [0, 2, 3]  # exactly the requested total, trial 1 run again as 3
    started = {t.number: t.datetime_start for t in trials}
    assert started[3] < started[2]  # the interrupted trial's configuration first, as the README says
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert {t.number: t for t in trials}[0].params == completed_params  # trial 0 was not re-run
    runs = client.search_runs([experiment.experiment_id])
    numbers = [r.data.tags["optuna.trial_number"] for r in runs if "optuna.trial_number" in r.data.tags]
    assert sorted(numbers) == ["0", "1", "2", "3"]  # one nested run per trial, none repeated
    parents = [r for r in runs if "optuna.trial_number" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


def _native_op_interrupted(*_args: object) -> None:
    """A Ctrl-C inside a TensorFlow op, as pybind11 reports it: a RuntimeError, not the interrupt."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        raise RuntimeError("pybind11::error_already_set: MISMATCH ... REPLACED BY KeyboardInterrupt") from None


def test_an_error_raised_after_ctrl_c_is_the_interrupt(monkeypatch):
    monkeypatch.setattr(_trial, "_train_candidate", _native_op_interrupted)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as raised:
        _trial._train_or_interrupt(None, None, None, None, None)
    assert "MISMATCH" in str(raised.value.__cause__) and raised.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is handler  # the watch is undone


_LOST_IN_A_FINALIZER = """
import os, signal, sys, time
from automl._interrupts import interrupts_as_ctrl_c, raise_if_interrupted

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), SIGNUM)
        time.sleep(5)  # the handler runs here, in a finalizer: its KeyboardInterrupt is lost

with interrupts_as_ctrl_c():
    Finalized()
    print("went on", flush=True)
    try:
        raise_if_interrupted()
    except KeyboardInterrupt as stop:
        print("raised again:", stop.signum)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_lost_in_a_finalizer_is_raised_again(signum):
    # A Ctrl-C 10 s into a search, in a weakref callback ("Exception ignored in: <function
    # WeakValueDictionary.__init__.<locals>.remove ...> KeyboardInterrupt"), was lost: the
    # search ran, compared and exported to the end and exited 0 (one in five tries).
    script = _LOST_IN_A_FINALIZER.replace("SIGNUM", str(int(signum)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert done.stdout.splitlines() == ["went on", f"raised again: {int(signum)}"], done.stderr
    # Python's report of the lost interrupt, a traceback on the console before the search's
    # own "interrupted" line, is left out: the interrupt is not lost.
    assert "Exception ignored" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr


_LOST_IN_A_COMMAND = """
import os, signal, sys, time
import automl.cli._space as space
from automl.cli import main

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(2)  # lost here, in a finalizer

show = space.run_show
space.run_show = lambda args: (Finalized(), show(args))[1]
sys.exit(main(["space", "show"]))
"""


def test_an_interrupt_lost_in_a_command_that_does_not_look_for_one_still_stops_it():
    # `automl space show` (as export, status or compare outside a training) never looks for a
    # lost interrupt: with its report kept off the console, it exited 0 as if never stopped.
    done = subprocess.run([sys.executable, "-c", _LOST_IN_A_COMMAND], capture_output=True, text=True, timeout=120)

    assert done.returncode == 143, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "automl space: interrupted", done.stderr


def test_other_errors_in_a_finalizer_are_still_reported():
    script = _LOST_IN_A_FINALIZER.replace("os.kill(os.getpid(), SIGNUM)", "raise ValueError('broken finalizer')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert "Exception ignored" in done.stderr and "ValueError: broken finalizer" in done.stderr, done.stderr
    assert done.stdout.splitlines() == ["went on"], done.stderr


def test_an_error_without_ctrl_c_stays_an_error(monkeypatch):
    def failing(*_args: object) -> None:
        raise RuntimeError("a candidate's own failure")

    monkeypatch.setattr(_trial, "_train_candidate", failing)
    with pytest.raises(RuntimeError, match="own failure"):
        _trial._train_or_interrupt(None, None, None, None, None)


def test_a_comparison_or_export_that_did_not_end_is_done_by_the_next_run(workdir, monkeypatch):
    import automl
    from automl import _workflow

    # The trials ran, but not the export the command asked for: --no-export, then a Ctrl-C in it.
    automl.search(study_name="ended", trials=1, epochs=1, no_export=True, quiet=True)
    study = optuna.load_study(study_name="ended", storage=stores(workdir)["storage"])
    assert finish_status(study)["state"] == "done" and finish_status(study)["exported"] is False
    export = _workflow.export_winner
    monkeypatch.setattr(_workflow, "export_winner", lambda *a, **kw: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        automl.search(study_name="ended", trials=1, epochs=1, quiet=True)
    monkeypatch.setattr(_workflow, "export_winner", export)

    result = automl.search(study_name="ended", trials=1, epochs=1, quiet=True)
    assert result.export_dir is not None and (result.export_dir / "model_card.json").is_file()
    written = (result.export_dir / "model_card.json").stat().st_mtime_ns
    again = automl.search(study_name="ended", trials=1, epochs=1, quiet=True)  # done: nothing to redo
    assert "already compared and exported" in (again.earlier or "") and again.export_dir == result.export_dir
    assert (result.export_dir / "model_card.json").stat().st_mtime_ns == written  # not exported again


def test_the_finalists_retrained_before_an_interrupt_are_not_retrained_again(workdir, monkeypatch):
    # An interrupt in the second finalist's retraining (or in the test predictions after it)
    # lost the first one's: the next run retrained every finalist again.
    import automl
    from automl import _compare
    from automl._records import StudyRecord

    retrain, retrained = _compare._retrain, []

    def interrupted_second(record, *args, **kwargs):
        retrained.append(record.number)
        if len(retrained) == 2:
            raise KeyboardInterrupt
        return retrain(record, *args, **kwargs)

    monkeypatch.setattr(_compare, "_retrain", interrupted_second)
    options = {"study_name": "kept", "trials": 3, "epochs": 1, "pruner": "none", "top": 2, "quiet": True}
    with pytest.raises(KeyboardInterrupt):
        automl.search(**options, no_export=True)
    first, second = retrained
    study = optuna.load_study(study_name="kept", storage=stores(workdir)["storage"])
    assert set(StudyRecord.of(study).retrained) == {first} and not StudyRecord.of(study).final_models
    status = run_cli(["status", "--study", "kept"], workdir)  # says what is left to do, and who does it
    assert status.returncode == 0, status.stderr
    assert (
        "comparison pending: the last comparison or export was interrupted, 1 finalist(s) retrained before an "
        "interrupt wait to be taken up; the study's next `automl search --study-name kept` compares them"
    ) in status.stdout

    retrained.clear()
    result = automl.search(**options)
    assert retrained == [second]  # the first is taken up, not retrained again
    record = StudyRecord.of(study)
    assert set(record.final_models) == {first, second} and record.final_epochs[first] == record.final_epochs[second]
    assert record.retrained == {} and not list((workdir / "mlruns" / "retrained").rglob("*.keras"))
    assert result.comparison is not None and len(result.comparison.finalists) == 2
    assert json.loads((result.export_dir / "model_card.json").read_text())["trained_on"].startswith("train+validation")
    status = run_cli(["status", "--study", "kept", "--json"], workdir)
    finish = json.loads(status.stdout)["finish"]
    assert finish["state"] == "done" and finish["compared"] == 3 and finish["exported"] and finish["kept"] == 0
    won = next(f for f in result.comparison.finalists if f.trial == result.winner)
    assert finish["winner"] == result.winner and finish["test_accuracy"] == won.accuracy


def test_a_comparison_is_recorded_only_once_its_final_models_are(workdir, monkeypatch):
    # Recorded first, a crash before the retrained models were logged left a comparison that
    # `automl export` then exported with a search model, its card describing the retrained one.
    import automl
    from automl import _compare
    from automl._records import StudyRecord

    def crash(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_compare, "log_model", crash)
    with pytest.raises(KeyboardInterrupt):
        automl.search(study_name="order", trials=1, epochs=1, no_export=True, quiet=True)
    study = optuna.load_study(study_name="order", storage=stores(workdir)["storage"])
    assert StudyRecord.of(study).comparison is None and set(StudyRecord.of(study).retrained) == {0}


def test_an_open_claim_under_this_process_s_own_id_was_a_dead_process_s(workdir):
    # A restarted container's search may get the pid its killed predecessor had: it took the
    # open claim for a live process's and left the study uncompared and unexported for good.
    import automl
    from automl._queue import process_identity
    from automl._records import record_finish
    from automl._studies import claim_finish

    made = automl.search(study_name="claim", trials=1, create_only=True, quiet=True)
    study = optuna.load_study(study_name="claim", storage=stores(workdir)["storage"])
    record_finish(study, {"by": process_identity(), "trials": 0, "open": True})
    assert claim_finish(study, made.config).elected
    record_finish(study, {"by": process_identity(1), "trials": 0, "open": True})  # pid 1 lives: another's claim
    assert not claim_finish(study, made.config).elected
    assert finish_status(study, searching=0)["state"] == "nothing"  # no trial ran: nothing to compare


def test_status_says_whether_the_finished_trials_were_compared_since_they_ended(workdir):
    import automl
    from automl._queue import process_identity
    from automl._records import record_finish

    automl.search(study_name="since", trials=2, epochs=1, pruner="none", no_export=True, quiet=True)
    study = optuna.load_study(study_name="since", storage=stores(workdir)["storage"])
    record_finish(study, {"by": process_identity(), "trials": 1, "open": False, "exported": False})
    finish = finish_status(study)
    assert finish["state"] == "pending" and finish["compared"] == 1 and not finish["interrupted"]
    record_finish(study, {"by": process_identity(1), "trials": 1, "open": True})  # pid 1 lives: comparing
    assert finish_status(study)["state"] == "comparing" and finish_status(study)["by"] == process_identity(1)
    assert finish_status(study, searching=1)["state"] == "searching"


def test_a_trial_whose_process_is_gone_is_run_again_at_once_when_the_study_resumes(workdir, monkeypatch, capsys):
    import keras

    import automl
    from automl._config import offset_seed
    from automl._queue import claim_trial, process_identity
    from automl._records import TrialRecord, record_claim

    automl.search(study_name="gone", trials=2, epochs=1, pruner="none", seed=7, create_only=True, quiet=True)
    study = optuna.load_study(study_name="gone", storage=stores(workdir)["storage"])
    trial = claim_trial(study)  # as a process that was then killed (SIGKILL: nothing recorded)
    assert trial is not None and trial.number == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record_claim(trial, process_identity(gone.pid))
    seeds: list[int] = []
    seed = keras.utils.set_random_seed
    monkeypatch.setattr(keras.utils, "set_random_seed", lambda value: (seeds.append(value), seed(value))[1])

    automl.search(study_name="gone", trials=2, epochs=1, pruner="none", no_export=True, quiet=True)
    trials = {t.number: t for t in study.trials}
    assert trials[0].state == TrialState.FAIL
    assert TrialRecord.of(trials[0]).reason == "its process is gone (killed mid-trial)"
    ran = effective_trials(study)
    assert len(ran) == 2 and all(t.state == TrialState.COMPLETE for t in ran)
    warm_start = trials[0].user_attrs["warm_start"]  # the first warm start, run again
    assert [t.user_attrs.get("warm_start") for t in ran].count(warm_start) == 1
    again = next(t for t in ran if t.user_attrs.get("warm_start") == warm_start)
    assert again.params.items() >= trials[0].system_attrs["fixed_params"].items()  # as queued
    said = f"note: trial {again.number} runs again trial 0, whose worker died: its process is gone (killed mid-trial)"
    assert said in capsys.readouterr().err  # found gone on this host, not by a heartbeat
    # ... with trial 0's seed: a retried trial took its own number's, so it did not reproduce the trial it ran again
    by_trial = {offset_seed(7 * 100_003, number): number for number in range(3)}
    assert sorted(by_trial[value] for value in seeds if value in by_trial) == [0, 1]  # trials 1 and 2 (as 0)


_SERVER_GONE = "API request to http://automl:Pw9xq7@mlflow-host:5000/api/2.0/mlflow/runs/create failed"


@pytest.mark.parametrize(
    ("raised", "kind", "reason", "why"),
    [
        (
            RuntimeError(_SERVER_GONE),
            "search_failed",
            "RuntimeError: API request to http://automl:***@mlflow-host:5000/api/2.0/mlflow/runs/create failed",
            "during which the search ended on an error: RuntimeError: API request to http://automl:***@",
        ),
        (KeyboardInterrupt(), "interrupted", "interrupted by the user (Ctrl-C)", "which was interrupted"),
    ],
    ids=["server-gone", "ctrl-c"],
)
def test_a_trial_stopped_before_it_trained_is_failed_with_its_reason_and_run_again_on_resume(
    workdir, monkeypatch, capsys, raised, kind, reason, why
):
    # The MLflow server gone, or a Ctrl-C, as trial 1 opened its run, before run_trial's own
    # handlers: trial 1 stayed RUNNING with no reason until a resume found its process gone
    # (the server), or was failed and queued again with none (the Ctrl-C).
    import automl
    from automl._records import TrialRecord
    from automl._tracking import Tracker

    start = Tracker.start_trial

    def stopped_at_trial_1(self: Tracker, study_name: str, number: int):  # type: ignore[no-untyped-def]
        if number == 1:
            raise raised
        return start(self, study_name, number)

    monkeypatch.setattr(Tracker, "start_trial", stopped_at_trial_1)
    with pytest.raises(type(raised)):
        automl.search(study_name="ended", trials=2, epochs=1, pruner="none", no_export=True, quiet=True)
    study = optuna.load_study(study_name="ended", storage=stores(workdir)["storage"])
    trials = {t.number: t for t in study.trials}
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["failure_kind"] == kind
    assert TrialRecord.of(trials[1]).reason == reason
    assert trials[2].state == TrialState.WAITING  # queued again

    monkeypatch.setattr(Tracker, "start_trial", start)
    capsys.readouterr()
    automl.search(study_name="ended", trials=2, epochs=1, pruner="none", no_export=True, quiet=True)
    ran = effective_trials(study)
    assert [t.number for t in ran] == [0, 2] and all(t.state == TrialState.COMPLETE for t in ran)
    assert f"note: trial 2 runs again trial 1, {why}" in capsys.readouterr().err


def test_a_dead_process_s_trial_failed_meanwhile_elsewhere_is_passed_over(workdir):
    # Another process (a worker's heartbeat check) failed the trial between the listing and
    # its failure here: the UpdateFinishedTrialError ended the search before its comparison.
    from automl import _driver
    from automl._queue import claim_trial, enqueue_up_to, process_identity
    from automl._records import record_claim
    from automl._stores import open_storage

    study = optuna.create_study(study_name="race", storage=open_storage(stores(workdir)["storage"]))
    enqueue_up_to(study, 1)
    trial = claim_trial(study)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record_claim(trial, process_identity(gone.pid))

    def failed_elsewhere(worker: str | None) -> bool:
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        return True

    _driver._fail_running(study, None, failed_elsewhere, _driver.ProcessDied("gone"), retry=True)  # type: ignore[arg-type]
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # as the other process left it, not queued again


def test_a_dead_process_s_trial_is_queued_again_once(workdir):
    # As the heartbeat does (MAX_RETRY): a configuration whose processes keep dying is not run forever.
    from automl import _driver
    from automl._queue import claim_trial, enqueue_up_to, process_identity
    from automl._records import record_claim
    from automl._stores import open_storage

    study = optuna.create_study(study_name="twice", storage=open_storage(stores(workdir)["storage"]))
    enqueue_up_to(study, 1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for number in (0, 1):  # the trial, then its copy, each claimed by a process that is gone
        trial = claim_trial(study)
        assert trial is not None and trial.number == number
        record_claim(trial, process_identity(gone.pid))
        _driver._fail_dead_workers(study, None)  # type: ignore[arg-type]
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]  # no third copy queued


def test_a_sigterm_that_stops_a_trial_is_named_as_the_sigterm_not_the_ctrl_c_it_passes_on(monkeypatch):
    # The CLI passes a SIGTERM on to SIGINT's handler, the trial's watch: the trial's reason
    # must name the SIGTERM that arrived first, and the command must exit as a SIGTERM does.
    def stopped(*_args: object) -> None:
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(_trial, "_train_candidate", stopped)
    with interrupts_as_ctrl_c():
        with pytest.raises(KeyboardInterrupt) as raised:
            _trial._train_or_interrupt(None, None, None, None, None)
        assert stopped_by() == signal.SIGTERM
    assert raised.value.signum == signal.SIGTERM
    assert interrupt_reason(raised.value).startswith("interrupted by a SIGTERM")
    assert interrupt_reason(KeyboardInterrupt()) == "interrupted by the user (Ctrl-C)"


def test_an_ignored_ctrl_c_stays_ignored_but_a_sigterm_still_stops_the_command():
    # A background job of a shell script ignores SIGINT: a SIGTERM must still stop it at once.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_as_ctrl_c():
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pytest.fail("an ignored Ctrl-C stopped the command")
            assert stopped_by() is None
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGTERM)
            assert stopped_by() == signal.SIGTERM
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_recorded_interrupt_is_raised_again_in_the_main_thread_only():
    # Keras may run batch callbacks on threads of its own: the interrupt belongs to the main one.
    seen: list[BaseException] = []

    def look() -> None:
        try:
            raise_if_interrupted()
        except KeyboardInterrupt as stop:
            seen.append(stop)

    with interrupts_as_ctrl_c():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        assert seen == []
        with pytest.raises(KeyboardInterrupt) as raised:
            raise_if_interrupted()
        assert raised.value.signum == signal.SIGTERM
    try:
        raise_if_interrupted()
    except KeyboardInterrupt:
        pytest.fail("a signal received inside the block is raised again after it")


def test_an_interrupt_raised_in_a_finalizer_without_a_signal_is_still_reported(monkeypatch):
    # Only the report of a recorded signal's interrupt is kept off the console (it is raised
    # again); another is Python's to report, or it would be lost without a word.
    reported: list[type] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: reported.append(type(unraisable.exc_value)))

    class Finalized:
        def __del__(self) -> None:
            raise KeyboardInterrupt

    with interrupts_as_ctrl_c():
        Finalized()
    assert reported == [KeyboardInterrupt]
