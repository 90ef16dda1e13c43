"""A search that has grown too large runs its trials left in fresh processes, and a ``--workers``
helper that has stops for another (``automl._recycle``)."""

from __future__ import annotations

import contextlib
import re

import optuna
import pytest

import automl
from automl._errors import UserError
from automl._queue import process_identity
from automl._records import TrialRecord
from automl._recycle import HELPER_ENV, OUTGROWN_EXIT, MemoryGuard, default_limit_mb, rss_mb, shared_limit
from automl._settings import RuntimeSettings, runtime_settings, use_settings
from tests.automl.helpers import run_cli, stores


def test_the_guard_trips_once_the_process_has_grown_past_its_limit():
    guard, never = MemoryGuard(limit_mb=20), MemoryGuard(limit_mb=0)
    assert not guard.check() and not never.check()
    ballast = bytearray(64 * 2**20)  # zeros the kernel maps: touched, so resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    assert guard.check() and guard.tripped and 48 <= guard.grown_mb < 128  # in MiB, as the limit
    assert not never.check()
    del ballast
    assert guard.check()  # it stays tripped: the trials have moved on
    assert rss_mb() is not None and 1 <= default_limit_mb() <= 4096


@pytest.mark.parametrize(("memory_gib", "limit_mb"), [(8, 2048), (2, 512), (64, 4096)])
def test_the_default_limit_is_a_quarter_of_the_machine_s_memory_at_most_4_gib(monkeypatch, memory_gib, limit_mb):
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": memory_gib * 2**30 // 4096}
    monkeypatch.setattr("automl._recycle.os.sysconf", lambda name: sizes[name])
    assert default_limit_mb() == limit_mb


def test_the_limit_is_a_runtime_setting():
    assert RuntimeSettings.from_env({"AUTOML_RECYCLE_AFTER_MB": "0"}).recycle_after_mb == 0
    settings = RuntimeSettings.from_env({"AUTOML_RECYCLE_AFTER_MB": "512"})
    assert RuntimeSettings.from_env(settings.to_env()) == settings
    with pytest.raises(UserError, match="AUTOML_RECYCLE_AFTER_MB must be a whole number >= 0, got '1.5GB'"):
        RuntimeSettings.from_env({"AUTOML_RECYCLE_AFTER_MB": "1.5GB"})
    with pytest.raises(UserError, match="recycle_after_mb must be >= 0, got -1"):
        RuntimeSettings(recycle_after_mb=-1)


def test_a_search_s_processes_share_the_default_limit_but_keep_one_set_each(monkeypatch):
    # Each of a search's processes growing to a quarter of the machine's memory, 4 of them
    # filled it; together they now grow as much as one alone.
    monkeypatch.setattr("automl._recycle.default_limit_mb", lambda: 4000)
    with use_settings(RuntimeSettings()):
        with shared_limit(4):
            assert runtime_settings().recycle_after_mb == 1000  # handed to the helpers with the settings
        assert runtime_settings().recycle_after_mb is None
        with shared_limit(1):
            assert runtime_settings().recycle_after_mb is None
    with use_settings(RuntimeSettings(recycle_after_mb=512)), shared_limit(4):
        assert runtime_settings().recycle_after_mb == 512


def test_a_search_with_workers_shares_the_default_limit_with_its_helpers(workdir, monkeypatch):
    from automl import _driver

    seen = []

    @contextlib.contextmanager
    def local_workers(config, count, plan):  # in force where the helpers start
        seen.append((count, runtime_settings().recycle_after_mb))
        yield []

    monkeypatch.setattr(_driver, "local_workers", local_workers)
    monkeypatch.setattr("automl._recycle.default_limit_mb", lambda: 3000)
    automl.search(study_name="s", trials=1, epochs=1, workers=3, no_export=True, quiet=True)
    assert seen == [(2, 1000)]


def test_a_search_past_its_memory_limit_runs_the_trials_left_in_fresh_processes(workdir):
    # TensorFlow keeps part of every model it trained: a search of the digits grew 125 MB a
    # trial (6.5 GB after 40), towards the machine's end. With a limit of 1 MB, the search's
    # process runs one trial; each fresh process after it runs one more.
    result = run_cli(
        ["search", "--study-name", "grow", "--trials", "4", "--epochs", "1", "--pruner", "none", "--no-export"],
        workdir,
        AUTOML_RECYCLE_AFTER_MB="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the trials left run in fresh processes" in result.stdout
    study = optuna.load_study(study_name="grow", storage=stores(workdir)["storage"])
    records = [TrialRecord.of(t) for t in study.trials]
    assert [r.state for r in records] == [optuna.trial.TrialState.COMPLETE] * 4, [r.reason for r in records]
    workers = [r.worker for r in records]
    assert len(set(workers)) == 4 and process_identity() not in workers  # one process each
    assert "Winner: trial" in result.stdout  # compared as usual, in the search's own process


def test_a_search_with_helpers_past_their_limits_shows_each_trial_once(workdir):
    # The search's process moves its trials to fresh processes, which show their own lines,
    # and its helper is replaced after its trial: each trial is still shown once, and the
    # replaced helpers are no error.
    result = run_cli(
        ["search", "--study-name", "both", "--trials", "4", "--epochs", "1", "--pruner", "none", "--workers", "2"]
        + ["--no-export"],
        workdir,
        AUTOML_RECYCLE_AFTER_MB="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = re.findall(r"^trial +(\d+)  complete", result.stdout, flags=re.MULTILINE)
    assert sorted(shown) == ["0", "1", "2", "3"], result.stdout
    assert "exited with an error" not in result.stdout + result.stderr


def test_a_search_past_its_limit_with_no_trial_left_says_nothing_of_fresh_processes(workdir):
    result = run_cli(
        ["search", "--study-name", "one", "--trials", "1", "--epochs", "1", "--no-export"],
        workdir,
        AUTOML_RECYCLE_AFTER_MB="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trial   0  complete" in result.stdout
    assert "fresh processes" not in result.stdout and "stopped early" not in result.stdout, result.stdout


def test_a_workers_helper_past_its_limit_stops_after_a_trial_and_one_joined_by_hand_does_not(workdir):
    # A --workers helper grew as the search's process does (125 MB a trial on TensorFlow),
    # with nothing to stop it: past its limit it now exits after its trial, with its own
    # code, for the search to start a fresh one (``automl._workers``).
    automl.search(study_name="h", trials=3, epochs=1, pruner="none", create_only=True, quiet=True)
    storage = stores(workdir)["storage"]

    helper = run_cli(["worker", "--study", "h"], workdir, AUTOML_RECYCLE_AFTER_MB="1", **{HELPER_ENV: "1"})
    assert helper.returncode == OUTGROWN_EXIT, helper.stdout + helper.stderr
    assert "worker stopped: this process has grown by" in helper.stderr and "in 1 trial, past its memory limit" in (
        helper.stderr
    )
    states = [t.state for t in optuna.load_study(study_name="h", storage=storage).trials]
    assert states == [optuna.trial.TrialState.COMPLETE] + [optuna.trial.TrialState.WAITING] * 2

    # A worker joined by hand has nobody to replace it: it runs on past the limit.
    by_hand = run_cli(["worker", "--study", "h"], workdir, AUTOML_RECYCLE_AFTER_MB="1")
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    states = [t.state for t in optuna.load_study(study_name="h", storage=storage).trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3


def test_a_helper_past_its_limit_before_any_trial_ends_as_done_not_to_be_replaced(workdir, monkeypatch):
    # A limit below what the process grows before its first trial: replacing such a helper
    # would start processes in a loop, each stopping at once.
    from automl.cli import main

    automl.search(study_name="h0", trials=2, epochs=1, pruner="none", create_only=True, quiet=True)
    monkeypatch.setenv(HELPER_ENV, "1")

    def past_the_limit(self: MemoryGuard) -> bool:
        self.tripped = True
        return True

    monkeypatch.setattr(MemoryGuard, "check", past_the_limit)

    assert main(["worker", "--study", "h0", "--quiet"]) == 0
    states = [t.state for t in optuna.load_study(study_name="h0", storage=stores(workdir)["storage"]).trials]
    assert states == [optuna.trial.TrialState.WAITING] * 2
