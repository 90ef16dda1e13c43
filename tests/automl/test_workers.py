"""Several processes on one study: atomic claims, dead workers, ``automl search --workers``."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import automl
from automl._catalog import study_status
from automl._config import StudyConfig
from automl._queue import (
    RETRY_ATTR,
    claim_trial,
    effective_trials,
    enqueue_up_to,
    process_identity,
    requeue,
    retry_of,
)
from automl._records import StudyRecord, TrialRecord, record_claim
from automl._stores import open_storage
from automl._studies import process_alive
from automl._workers import _stop, join_command, worker_command
from tests.automl.helpers import cli_env, output_within, run_cli, stores

FAST_HEARTBEAT = {"AUTOML_HEARTBEAT_INTERVAL": "1", "AUTOML_GRACE_PERIOD": "2"}

# Claims trials until the queue is empty and prints their numbers (no TensorFlow: starts fast).
CLAIMER = """
import json, sys, optuna
from automl._queue import claim_trial
from automl._stores import open_storage, scrub
from automl._studies import process_alive
study = optuna.load_study(study_name="race", storage=open_storage(sys.argv[1]))
claimed = []
while (trial := claim_trial(study)) is not None:
    claimed.append(trial.number)
    study.tell(trial, 0.0)
print(json.dumps(claimed))
"""


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST_HEARTBEAT.items():
        monkeypatch.setenv(name, value)


def test_concurrent_claims_on_sqlite_never_share_a_trial(workdir, monkeypatch):
    # Without BEGIN IMMEDIATE, two processes read the same WAITING trial and both run it.
    # A claimer kept waiting for the lock is no stale one: a long grace, however slow the machine.
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("AUTOML_GRACE_PERIOD", "60")
    url = stores(workdir)["storage"]
    study = optuna.create_study(study_name="race", storage=open_storage(url))
    enqueue_up_to(study, 50)
    command = [sys.executable, "-c", CLAIMER, url]
    claimers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [c.communicate(timeout=120) for c in claimers]

    assert [c.returncode for c in claimers] == [0] * 4, [err[-2000:] for _, err in outputs]
    assert sorted(n for out, _ in outputs for n in json.loads(out)) == list(range(50))
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials())


def test_a_dead_workers_trial_is_failed_then_retried_once(workdir, fast_heartbeat):
    study = optuna.create_study(study_name="dead", storage=open_storage(stores(workdir)["storage"]))
    enqueue_up_to(study, 2)
    dead = claim_trial(study)  # its worker "dies": no heartbeat after the claim
    alive = claim_trial(study)
    study.tell(alive, 1.0)
    assert claim_trial(study, deadline=time.monotonic()) is None  # a deadline ends the wait at once

    retry = claim_trial(study, deadline=time.monotonic() + 30)  # waits until the dead trial is stale

    assert retry is not None and retry.number == 2
    assert study.get_trials()[dead.number].state == TrialState.FAIL
    assert study.get_trials()[retry.number].system_attrs[RETRY_ATTR] == dead.number
    assert retry_of(retry) == dead.number  # what the driver prints
    assert TrialRecord.of(retry).worker.endswith(f":{os.getpid()}")
    # The retry dies too: it is failed but not retried again (one retry at most).
    assert claim_trial(study, deadline=time.monotonic() + 30) is None
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL]
    assert [t.number for t in effective_trials(study)] == [1, 2]
    assert study_status(study)["retried"] == 1 and study_status(study)["fail"] == 1


def test_a_trial_stopped_before_it_drew_runs_again_as_the_configuration_queued(workdir, fast_heartbeat):
    # Its copy held only the parameters drawn: a warm start interrupted (or whose worker died)
    # right after its claim ran again as a new draw of the sampler.
    study = optuna.create_study(study_name="queued", storage=open_storage(stores(workdir)["storage"]))
    study.enqueue_trial({"width": 48, "rate": 0.1})
    study.enqueue_trial({"width": 16, "rate": 0.3})
    dead = claim_trial(study)  # its worker dies: no heartbeat, nothing drawn
    interrupted = claim_trial(study)
    interrupted.suggest_int("width", 8, 64)  # drew one of its two parameters, then a Ctrl-C
    requeue(study, study.tell(interrupted, state=TrialState.FAIL))

    drawn = {}
    for _ in range(2):  # the interrupted one's copy, then the dead one's once it is stale
        again = claim_trial(study, deadline=time.monotonic() + 30)
        drawn[retry_of(again)] = (again.suggest_int("width", 8, 64), again.suggest_float("rate", 0.0, 0.5))
        study.tell(again, 1.0)
    assert drawn == {interrupted.number: (16, 0.3), dead.number: (48, 0.1)}


def test_worker_command_joins_with_the_same_stores_off_its_command_line(monkeypatch):
    monkeypatch.delenv("AUTOML_STORAGE", raising=False)
    monkeypatch.delenv("AUTOML_TRACKING_URI", raising=False)
    config = StudyConfig(
        study_name="s", storage="postgresql://u:s3cret@db/a", tracking_uri="http://h:5000", backend="jax"
    )
    command = worker_command(config)
    assert command[1:] == [  # no URL on the command line
        *("-m", "automl", "worker", "--study", "s", "--max-consecutive-failures", "5", "--backend", "jax")
    ]
    # A password goes in the variable, not on a command line (which any user of the machine sees).
    assert join_command(config) == (
        "AUTOML_STORAGE='postgresql://u:***@db/a' automl worker --study s --tracking-uri http://h:5000 --backend jax"
    )
    monkeypatch.setenv("AUTOML_STORAGE", "postgresql://u:s3cret@db/a")  # where this process took it from
    assert join_command(config) == (
        "automl worker --study s --tracking-uri http://h:5000 --backend jax  # with AUTOML_STORAGE set as here"
    )
    spaced = StudyConfig(study_name="s", storage="sqlite:///my dir/optuna.db")
    assert join_command(spaced) == "automl worker --study s --storage 'sqlite:///my dir/optuna.db'"
    limited = StudyConfig(study_name="s", timeout=90, max_consecutive_failures=2)
    assert worker_command(limited)[4:] == ["--study", "s", "--max-consecutive-failures", "2", "--timeout", "90.0"]
    assert worker_command(limited, timeout=12.34)[-2:] == ["--timeout", "12.3"]


def test_worker_refuses_a_non_positive_trial_count(workdir):
    result = run_cli(["worker", "--study", "s", "--trials", "0"], workdir)
    assert result.returncode == 2
    assert "--trials must be at least 1, got 0" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_given_another_tracking_store_is_refused(workdir, capsys):
    # It ran the trials and logged them where no other process looked: the final search
    # retrained from scratch, then failed with a traceback ("Run with id=... not found"), each run.
    from automl.cli import main

    assert main(["search", "--study-name", "q", "--trials", "2", "--epochs", "1", "--create-only"]) == 0
    capsys.readouterr()
    # A mistyped store is neither created nor given an empty experiment 'q' before the refusal.
    missing = f"sqlite:///{workdir / 'other' / 'mlflow.db'}"
    assert main(["worker", "--study", "q", "--tracking-uri", missing]) == 2
    error = capsys.readouterr().err
    assert f"no MLflow tracking store at '{missing}'" in error and "Traceback" not in error
    assert not (workdir / "other").exists()
    other = f"sqlite:///{workdir / 'other.db'}"
    MlflowClient(tracking_uri=other).search_experiments()  # another store, that exists
    assert main(["worker", "--study", "q", "--tracking-uri", other]) == 2
    error = capsys.readouterr().err
    assert f"the MLflow store '{other}' does not hold the runs of study 'q'" in error and "Traceback" not in error
    assert MlflowClient(tracking_uri=other).get_experiment_by_name("q") is None
    study = optuna.load_study(study_name="q", storage=stores(workdir)["storage"])
    assert [t.state for t in study.get_trials()] == [TrialState.WAITING] * 2  # no trial taken


@pytest.mark.parametrize(("lead", "window"), [(None, False), ("1", True)], ids=["helper", "isolated"])
def test_only_a_worker_that_runs_the_searchs_own_trials_trains_through_the_final_window(
    workdir, monkeypatch, capsys, lead, window
):
    # A process --isolate starts (AUTOML_LEAD=1) runs the search's own trials: its first model
    # may train through the final window, as in the search's process; a --workers helper's may not.
    from automl.cli import main

    assert main(["search", "--study-name", "ld", "--trials", "1", "--epochs", "1", "--create-only"]) == 0
    seen = _final_windows_offered(monkeypatch)
    if lead is not None:
        monkeypatch.setenv("AUTOML_LEAD", lead)
    assert automl.work(study_name="ld", quiet=True) == 0
    assert seen == [(window, window)]  # and a memory guard, to run the trials left in fresh processes


def _final_windows_offered(monkeypatch) -> list[tuple[bool, bool]]:
    """Whether each process that runs trials offers its first model the final window, and
    whether it guards its memory: stands in for ``_run_in_process``, which runs none."""
    from automl import _driver

    seen: list[tuple[bool, bool]] = []

    def run_in_process(*args, final_window, guard, **kwargs):
        seen.append((final_window, guard is not None))
        return 0, None  # no trial run, no reason to stop

    monkeypatch.setattr(_driver, "_run_in_process", run_in_process)
    return seen


def test_the_search_s_own_process_offers_its_first_model_the_final_window(workdir, monkeypatch):
    from automl._driver import run_study
    from automl._progress import Progress

    seen = _final_windows_offered(monkeypatch)
    run_study(StudyConfig(study_name="own", trials=1, epochs=1), progress=Progress(total=1, quiet=True))
    assert seen == [(True, True)]


def test_local_workers_start_quiet_with_the_study_s_stores_and_this_process_s_settings(monkeypatch, tmp_path):
    # Settings given through the API (use_settings) and the tracking store must reach each
    # helper, its progress lines stay out of the search's output, and its exit code is kept.
    from automl import _workers
    from automl._budget import make_plan
    from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV
    from automl._settings import RuntimeSettings, use_settings

    started = []

    class Exited:
        def wait(self, timeout: float | None = None) -> int:
            return 3

        def poll(self) -> int:
            return 3

    def popen(command, *, stores, env, **kwargs):
        started.append((command, stores, env))
        return Exited()

    monkeypatch.setattr(_workers, "popen", popen)
    config = StudyConfig(study_name="s", storage="sqlite:///a.db", tracking_uri="sqlite:///b.db")
    with use_settings(RuntimeSettings(home=tmp_path, heartbeat_interval_s=7, grace_period_s=21)):
        with _workers.local_workers(config, 2, make_plan(config, started=0.0)) as codes:
            assert len(started) == 2  # started before this process runs trials of its own
    assert codes == [3, 3]
    for command, stores_, env in started:
        assert command[-1] == "--quiet" and command[:-1] == worker_command(config)
        assert stores_ == {STORAGE_ENV: "sqlite:///a.db", TRACKING_URI_ENV: "sqlite:///b.db"}
        assert env["AUTOML_HEARTBEAT_INTERVAL"] == "7" and env["AUTOML_GRACE_PERIOD"] == "21"
    with _workers.local_workers(config, 0, make_plan(config, started=0.0)) as codes:
        assert len(started) == 2
    assert codes == []
    with _workers.local_workers(config, 1, make_plan(config, started=0.0)) as codes:  # `--workers 2`: one helper
        assert len(started) == 3


def test_a_helper_that_outgrew_its_memory_is_replaced_and_its_successor_s_code_kept(monkeypatch, capsys):
    from automl import _workers
    from automl._budget import make_plan
    from automl._recycle import HELPER_ENV, OUTGROWN_EXIT

    # The first helper outgrows its memory as the watcher looks at it (running, then ended);
    # its successor exits with 4.
    polls = iter([[None, OUTGROWN_EXIT], [0], [4]])
    started = []

    class Exited:
        def __init__(self, polled: list[int | None]) -> None:
            self.polled, self.pid = polled, 100 + len(started)  # 101, 102, 103

        def wait(self, timeout: float | None = None) -> int | None:
            return self.polled[-1]

        def poll(self) -> int | None:
            return self.polled.pop(0) if len(self.polled) > 1 else self.polled[0]

    def popen(command, *, stores, env, **kwargs):
        started.append(env)
        return Exited(next(polls))

    monkeypatch.setattr(_workers, "popen", popen)
    monkeypatch.setattr(_workers, "_WATCH_S", 0.01)
    config = StudyConfig(study_name="s")
    with _workers.local_workers(config, 2, make_plan(config, started=0.0)) as exits:
        pass
    assert exits == [4, 0] and len(started) == 3  # the successor in its place, not a third
    assert all(env[HELPER_ENV] == "1" for env in started)  # each stops past its limit, to be replaced
    assert "worker process 101 grew past its memory limit; process 103 runs trials in its place" in (
        capsys.readouterr().err
    )


def test_a_helper_that_outgrew_its_memory_with_no_process_to_replace_it_is_no_error(monkeypatch, capsys):
    # The watcher thread died with the OSError's traceback, and the outgrown helper's code
    # counted as "1 worker process(es) exited with an error".
    from automl import _workers
    from automl._budget import make_plan
    from automl._recycle import OUTGROWN_EXIT

    started = []

    class OutgrownHelper:
        pid = 101

        def wait(self, timeout: float | None = None) -> int:
            return OUTGROWN_EXIT

        def poll(self) -> int:
            return OUTGROWN_EXIT

    def popen(command, *, stores, env, **kwargs):
        started.append(env)
        if len(started) > 1:
            raise OSError(12, "Cannot allocate memory")
        return OutgrownHelper()

    monkeypatch.setattr(_workers, "popen", popen)
    monkeypatch.setattr(_workers, "_WATCH_S", 0.01)
    config = StudyConfig(study_name="s")
    with _workers.local_workers(config, 1, make_plan(config, started=0.0)) as exits:
        pass
    assert exits == [0] and len(started) == 2  # tried once, not again each second
    err = capsys.readouterr().err
    assert "worker process 101 grew past its memory limit, and no process could be started in its place" in err
    assert "[Errno 12] Cannot allocate memory" in err and "Traceback" not in err


def test_a_worker_joined_by_hand_runs_the_queue_as_a_later_search_filled_it(workdir):
    # The study was made for 1 trial, and a later search queued a second: the worker ran only
    # the total the study was made with, and left the second waiting.
    automl.search(study_name="grown", trials=1, epochs=1, create_only=True, quiet=True)
    automl.search(study_name="grown", trials=2, epochs=1, create_only=True, quiet=True)
    assert automl.work(study_name="grown", quiet=True) == 2  # the trials it ran
    study = optuna.load_study(study_name="grown", storage=stores(workdir)["storage"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_search_with_two_local_workers(workdir):
    result = run_cli(
        ["search", "--study-name", "two", "--trials", "4", "--epochs", "1", "--pruner", "none", "--workers", "2"]
        + ["--no-export"],
        workdir,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "this process and 1 worker process(es) run its trials" in result.stdout and "Results" in result.stdout
    assert "exited with an error" not in result.stdout + result.stderr  # its worker ended as it should
    assert "worker done" not in result.stdout + result.stderr  # the search sums its helper's trials up
    # Each trial's line is shown once, the quiet helper's included (they were missing).
    shown = re.findall(r"^trial +(\d+)  complete", result.stdout, flags=re.MULTILINE)
    assert sorted(shown) == ["0", "1", "2", "3"], result.stdout

    study = optuna.load_study(study_name="two", storage=stores(workdir)["storage"])
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in trials)
    # Each worker reseeds its sampler; with the study's seed alone both would sample the same candidates.
    assert len({t.user_attrs["architecture"] for t in trials}) == 4
    client = MlflowClient(tracking_uri=stores(workdir)["tracking_uri"])
    parent = StudyRecord.of(study).parent_run_id
    runs = client.search_runs(
        [client.get_experiment_by_name("two").experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    assert collections.Counter(r.data.tags["optuna.trial_number"] for r in runs) == {str(n): 1 for n in range(4)}
    assert client.get_run(parent).info.status == "FINISHED"


def test_local_workers_keep_to_the_time_budget(workdir):
    # The budget is spent before the search starts: each worker's first trial is cut in its
    # first epoch by the search's deadline, which the workers get from the search's plan.
    # Without it they trained the queued warm starts through all their epochs.
    result = automl.search(
        study_name="budget", time_budget="20s", started=time.monotonic() - 20, epochs=3, workers=2, quiet=True
    )
    assert 1 <= len(result.trials) <= 2
    assert all(reason.startswith("stopped by the time budget in its first epoch") for reason in result.trials["reason"])
    assert result.export_dir is not None


@pytest.mark.parametrize(
    ("processes", "budget"),
    [(["--workers", "2"], "30s"), (["--isolate"], "40s")],  # an isolated trial's process starts Keras first
    ids=["workers", "isolate"],
)
def test_local_workers_with_a_short_budget_train_the_first_model_through_the_final_window(workdir, processes, budget):
    # The search's process ran no trial: its two workers each started TensorFlow, began a
    # trial after 8 s of the 12 s search time and were cut in their first epoch (test
    # accuracy 0.38, against 0.99 in one process). The search's own process now runs trials
    # too, and its first trial trains through the final window where it needs it, as in a
    # search of one process. With --isolate, the process running that trial was a worker, which may not: its model
    # was cut at the search deadline (5,000 Fashion-MNIST images in a minute: 0.7990, 0.8760).
    result = run_cli(["search", "--study-name", "short", "--time-budget", budget, *processes, "--no-export"], workdir)

    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="short", storage=stores(workdir)["storage"])
    first = TrialRecord.of(study.trials[0])
    assert first.state == TrialState.COMPLETE, first.reason
    assert first.val_accuracy is not None and first.val_accuracy > 0.9
    # Its final model trained through the final window, or (where the machine is quick enough
    # for its planned epochs and their retraining to fit) was retrained in it: never a model
    # cut at the search's deadline with no time to retrain it.
    said = "trial 0: its search model, trained through a final window, is its final model"
    assert (said in result.stdout) if first.through_window else ("trial 0: retraining on" in result.stdout), (
        result.stdout
    )
    assert "trial 0: no time left to retrain it" not in result.stdout


def _two_slow_trials_running(workdir, name: str) -> tuple[subprocess.Popen, list[optuna.trial.FrozenTrial], str]:
    """A search of slow trials with workers, once two of its trials run in distinct processes:
    the search, those trials, the study's storage."""
    storage = stores(workdir)["storage"]
    (workdir / "mlruns").mkdir()
    command = ["search", "--study-name", name, "--trials", "4", "--epochs", "20", "--pruner", "none",
               "--workers", "2", "--no-export"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", *command],
        cwd=workdir,
        env=cli_env(AUTOML_INJECT_FAULT="slow@0,slow@1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, _running_trials(storage, name, 2, proc), storage


def test_a_sigterm_to_a_search_with_workers_stops_its_workers_and_requeues_their_trials(workdir):
    # The search's process and its worker each run a slow trial; a SIGTERM to the search (as
    # timeout, kill, Docker and Slurm send it) fails both trials as interrupted, queues them
    # again and stops the worker: none is left training, orphaned, with its trial RUNNING.
    # Twenty slowed epochs (minutes): with two, the worker's trial could end on a busy
    # machine before the search's own trial started, and the SIGTERM found it finished.
    proc, running, storage = _two_slow_trials_running(workdir, "stop")
    proc.send_signal(signal.SIGTERM)
    output = output_within(proc, timeout=120)

    assert proc.returncode == 143, output
    assert {TrialRecord.of(t).worker for t in running} >= {f"{socket.gethostname()}:{proc.pid}"}  # one was its own
    study = optuna.load_study(study_name="stop", storage=storage)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    for trial in running:
        (failed,) = [t for t in study.trials if t.number == trial.number]
        assert failed.state == TrialState.FAIL and "interrupted" in failed.user_attrs["fail_reason"]
        assert not process_alive(TrialRecord.of(trial).worker or "")
    assert len([t for t in study.trials if t.state == TrialState.WAITING and t.params]) == 2  # queued again


def test_a_worker_killed_mid_trial_has_its_trial_failed_and_queued_again_by_the_search(workdir):
    # A worker killed mid-trial (by the out-of-memory killer, or by the search after its
    # SIGTERM's grace) left its trial RUNNING after the search had ended, until the study
    # resumed on this host: `automl status` showed a trial running that nothing ran.
    proc, running, storage = _two_slow_trials_running(workdir, "killed")
    lead = f"{socket.gethostname()}:{proc.pid}"
    (killed,) = [t for t in running if TrialRecord.of(t).worker != lead]
    os.kill(int(str(TrialRecord.of(killed).worker).rpartition(":")[2]), signal.SIGKILL)
    proc.send_signal(signal.SIGTERM)
    output = output_within(proc, timeout=120)

    assert proc.returncode == 143, output
    study = optuna.load_study(study_name="killed", storage=storage)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING], output
    failed = study.trials[killed.number]
    assert failed.state == TrialState.FAIL and TrialRecord.of(failed).reason == "its process is gone (killed mid-trial)"
    assert f"trial {killed.number} failed: its process is gone (killed mid-trial)" in output
    waiting = [t.system_attrs.get(RETRY_ATTR) for t in study.trials if t.state == TrialState.WAITING]
    assert waiting.count(killed.number) == 1  # queued again, as an interrupted trial is


def test_a_child_that_does_not_stop_after_its_sigterm_is_killed_after_the_grace(tmp_path, capsys):
    # An interrupted search waited for its workers without end: one that hung after its
    # SIGTERM kept the search from exiting (a CI run: still there 120 s after the SIGTERM).
    ready = tmp_path / "ready"
    ignores = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    code = f"{ignores}; open({str(ready)!r}, 'w').close(); time.sleep(600)"
    child = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)

    _stop([child], grace_s=1.0)

    assert child.returncode == -signal.SIGKILL
    assert f"process {child.pid} had not stopped 1 s after its SIGTERM: killed" in capsys.readouterr().err


def _running_trials(storage: str, name: str, count: int, proc: subprocess.Popen) -> list[optuna.trial.FrozenTrial]:
    """The study's trials once ``count`` of them train in distinct processes (each has drawn its architecture)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            running = optuna.load_study(study_name=name, storage=storage).get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # not created yet
            running = []
        training = [t for t in running if "architecture" in t.user_attrs]
        if len({TrialRecord.of(t).worker for t in training}) >= count:
            return training
        time.sleep(0.5)
    raise AssertionError(f"{count} trials never ran at once")


def test_a_study_prepared_for_workers_says_what_it_runs(workdir):
    # --create-only and --workers prepare the study in a run of no trial, which printed
    # neither the study's header, nor the plan of its time budget, nor its data.
    created = run_cli(["search", "--study-name", "w", "--trials", "2", "--create-only"], workdir)

    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].startswith("new study 'w': data digits, 2 trials in total")
    assert any(line.startswith("data: 1,797 images of 8x8x1 in 10 classes") for line in lines)
    assert lines[-2].startswith("study 'w' is ready: 2 trial(s) waiting; join it with:")


def test_status_says_which_running_trials_lost_their_process(workdir, capsys):
    # A search killed mid-trial leaves its trial RUNNING; status, which only reads, said
    # "running 1" for ever, as if it were training.
    study = optuna.create_study(study_name="k", storage=open_storage(stores(workdir)["storage"]))
    enqueue_up_to(study, 2)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial = claim_trial(study)
    record_claim(trial, process_identity(int(gone.stdout)))  # its process has exited
    live = claim_trial(study)  # this process's: alive

    assert study_status(study)["orphaned"] == 1 and study_status(study)["running"] == 2
    assert [t.number for t in study.get_trials(states=(TrialState.RUNNING,))] == [trial.number, live.number]


def test_export_after_the_workers_closes_the_study_s_run_with_its_report(workdir, capsys):
    # Made with --create-only and run by workers, the study was exported by `automl export`:
    # its parent run stayed RUNNING for ever, without the trials table or plots.
    from automl.cli import main

    assert main(["search", "--study-name", "w", "--trials", "2", "--epochs", "1", "--create-only"]) == 0
    assert main(["worker", "--study", "w"]) == 0
    client = MlflowClient(tracking_uri=stores(workdir)["tracking_uri"])
    (parent,) = [r for r in client.search_runs([client.get_experiment_by_name("w").experiment_id])
                 if "mlflow.parentRunId" not in r.data.tags]  # fmt: skip
    assert client.get_run(parent.info.run_id).info.status == "RUNNING"  # the workers leave it to the search

    assert main(["export", "--study", "w"]) == 0
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    assert "trials.csv" in [a.path for a in client.list_artifacts(parent.info.run_id)]
    metrics = client.get_run(parent.info.run_id).data.metrics  # the study's row in the UI's runs table
    assert metrics["trials_complete"] + metrics["trials_pruned"] + metrics["trials_failed"] == 2
    assert 0.0 < metrics["best_val_accuracy"] <= 1.0
