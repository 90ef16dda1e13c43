"""The studies of a store: ``automl studies`` lists them, ``--delete`` removes one and what
is its alone, and a study whose MLflow experiment was deleted says how to go on."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from optuna.trial import TrialState

import automl
from automl._catalog import still_running_note
from automl._config import StudyConfig
from automl._errors import UserError
from automl._records import (
    StudyRecord,
    record_claim,
    record_comparison,
    record_finish,
    record_retrained,
    record_study_config,
)
from automl.cli import main
from tests.automl.helpers import cli_env, run_cli, stores


def _client(workdir) -> MlflowClient:
    return MlflowClient(tracking_uri=stores(workdir)["tracking_uri"])


def test_compare_takes_the_studys_winner_rule_and_finalists(workdir):
    # It compared the top 3 by the cost rule whatever the study's prefer and top_k, and its
    # winner is the one a later export takes.
    (workdir / "acc.toml").write_text('study_name = "acc"\ntrials = 3\nepochs = 1\nprefer = "accuracy"\ntop_k = 2\n')
    automl.search(config=str(workdir / "acc.toml"), no_export=True, quiet=True)
    compared = run_cli(["compare", "--study", "acc", "--json"], workdir)
    assert compared.returncode == 0, compared.stderr
    comparison = json.loads(compared.stdout.splitlines()[-1])
    assert comparison["prefer"] == "accuracy" and len(comparison["finalists"]) == 2
    given = run_cli(["compare", "--study", "acc", "--json", "--prefer", "cost", "--top", "3"], workdir)
    comparison = json.loads(given.stdout.splitlines()[-1])
    assert comparison["prefer"] == "cost" and len(comparison["finalists"]) == 3
    assert "note: the study's winner is now" not in given.stderr  # the same winner as before, or none noted


def test_compare_says_when_it_changes_the_study_s_winner(workdir):
    # A re-comparison replaced the winner an export had registered, without a word.
    automl.search(study_name="w", trials=2, epochs=1, no_export=True, quiet=True)
    study = optuna.load_study(study_name="w", storage=stores(workdir)["storage"])
    record_comparison(study, {**StudyRecord.of(study).comparison, "winner": 7})  # as if trial 7 had won
    compared = run_cli(["compare", "--study", "w"], workdir)
    assert compared.returncode == 0, compared.stderr
    winner = StudyRecord.of(study).comparison["winner"]
    assert f"note: the study's winner is now trial {winner} (it was trial 7" in compared.stderr
    assert "`automl export --study w` exports and registers this one" in compared.stderr
    # The same winner with a new final model: an export made before holds the old one.
    retrained = run_cli(["compare", "--study", "w", "--final-epochs", "1"], workdir)
    assert retrained.returncode == 0, retrained.stderr
    assert f"note: trial {winner}, the study's winner, now has the model retrained here for 1 epoch(s)" in (
        retrained.stderr
    )
    # --final-epochs is what each finalist retrains for, not its search's epochs (1 here)
    longer = run_cli(["compare", "--study", "w", "--final-epochs", "2"], workdir)
    assert longer.returncode == 0, longer.stderr
    assert set(re.findall(r"retraining on train\+validation for (\d+) epochs?", longer.stdout)) == {"2"}


def _dump(workdir) -> list[str]:
    """The Optuna store's contents, as SQL."""
    with contextlib.closing(sqlite3.connect(workdir / "mlruns" / "optuna.db")) as connection:
        return list(connection.iterdump())


def _create(name: str, trials: int = 1, **options) -> None:
    """A study with its queue and its parent run, and no trial run (``--create-only``)."""
    automl.search(study_name=name, trials=trials, create_only=True, quiet=True, **options)


def test_studies_lists_each_study_with_its_counts_and_winner(workdir):
    fresh = run_cli(["studies"], workdir)  # a folder no search ran in: none, not an error
    assert fresh.returncode == 0 and fresh.stdout.startswith("0 studies in sqlite:///"), fresh.stderr
    assert run_cli(["studies", "--json"], workdir).stdout == ""
    missing = run_cli(["studies", "--storage", f"sqlite:///{workdir}/typo.db"], workdir)  # given: it must exist
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert not (workdir / "mlruns").exists() and not (workdir / "typo.db").exists()  # looking created nothing

    searched = automl.search(study_name="searched", trials=2, epochs=1, views=1, quiet=True)
    _create("queued", trials=3)
    optuna.create_study(study_name="foreign", storage=stores(workdir)["storage"])
    before = _dump(workdir)

    listed = run_cli(["studies", "--json"], workdir)

    assert listed.returncode == 0, listed.stderr
    assert _dump(workdir) == before  # listing writes nothing
    rows = {row["study"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert list(rows) == ["searched", "queued", "foreign"]  # oldest first
    done = rows["searched"]
    assert done["data"] == "digits" and done["total"] == 2 and done["complete"] + done["pruned"] + done["fail"] == 2
    winner = searched.comparison.winner
    assert done["winner"] == winner and done["started"] is not None
    expected = next(f.accuracy for f in searched.comparison.finalists if f.trial == winner)
    assert done["test_accuracy"] == pytest.approx(expected)
    assert done["best"]["val_accuracy"] == pytest.approx(searched.trials["val_accuracy"].max())
    assert rows["queued"]["waiting"] == 3 and rows["queued"]["winner"] is None and rows["queued"]["started"] is None
    assert rows["foreign"]["data"] is None and rows["foreign"]["total"] == 0

    table = run_cli(["studies"], workdir)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("3 studies in sqlite:///")
    assert lines[1].split()[:4] == ["study", "data", "started", "trials"]
    assert lines[3].split()[:2] == ["searched", "digits"] and lines[3].endswith(f"{winner}    {expected:.4f}")
    assert "(not an automl study)" in lines[5]

    unknown = run_cli(["status", "--study", "nope"], workdir)
    assert unknown.returncode == 2
    assert "it holds 'searched', 'queued', 'foreign' (automl studies lists them)" in unknown.stderr


def test_deleting_a_study_frees_its_name_and_keeps_its_runs_in_mlflow_s_trash(workdir):
    _create("old")
    client = _client(workdir)
    experiment = client.get_experiment_by_name("old")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the parent run

    refused = run_cli(["studies", "--delete", "old"], workdir)  # no terminal to ask on
    assert refused.returncode == 2 and "add --yes to delete study 'old' (1 trial)" in refused.stderr
    assert optuna.get_all_study_names(stores(workdir)["storage"]) == ["old"]

    deleted = run_cli(["studies", "--delete", "old", "--yes"], workdir)

    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith("deleted study 'old' (1 trial) from sqlite:///")
    assert optuna.get_all_study_names(stores(workdir)["storage"]) == []
    assert client.get_experiment_by_name("old") is None
    trashed = client.get_experiment(experiment.experiment_id)
    assert trashed.lifecycle_stage == "deleted" and trashed.name.startswith("old.deleted-")
    kept = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)
    assert [run.info.run_id for run in kept] == [runs[0].info.run_id]
    # The way back it prints works as given, run from the folder of the store (without the
    # store, MLflow looked for ./mlflow.db: "No Experiment with id=... exists").
    (restore,) = [line.strip() for line in deleted.stdout.splitlines() if "mlflow experiments restore" in line]
    assert restore.endswith(f"mlflow experiments restore --experiment-id {experiment.experiment_id}")
    assert "mlflow gc --backend-store-uri sqlite:///" in deleted.stdout
    variable, *command = shlex.split(restore)
    uri = variable.removeprefix("MLFLOW_TRACKING_URI=")
    subprocess.run([sys.executable, "-m", *command], cwd=workdir, env=cli_env(MLFLOW_TRACKING_URI=uri), check=True)
    assert client.get_experiment(experiment.experiment_id).lifecycle_stage == "active"
    client.delete_experiment(experiment.experiment_id)

    _create("old")  # the name is free: a new study gets a new experiment
    again = client.get_experiment_by_name("old")
    assert again.lifecycle_stage == "active" and again.experiment_id != experiment.experiment_id
    assert len(client.search_runs([again.experiment_id])) == 1
    second = automl.delete_study("old")  # at once, maybe in the same second: a name of its own in the trash
    assert second.experiment == (again.experiment_id, client.get_experiment(again.experiment_id).name)
    assert second.experiment[1] != trashed.name

    gone = run_cli(["studies", "--delete", "never", "--yes"], workdir)
    assert gone.returncode == 2 and "no study named 'never'" in gone.stderr and "(it holds no study yet)" in gone.stderr


def test_a_study_in_use_is_deleted_only_once_its_process_is_gone_or_with_force(workdir):
    _create("busy", trials=2)
    study = optuna.load_study(study_name="busy", storage=stores(workdir)["storage"])
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        record_claim(study.ask(), f"{socket.gethostname()}:{worker.pid}")  # a live process runs trial 0

        for confirm in (["--yes"], []):  # told so before being asked
            refused = run_cli(["studies", "--delete", "busy", *confirm], workdir)

            assert refused.returncode == 2
            assert f"study 'busy' is in use: trial 0 runs in process {socket.gethostname()}:{worker.pid};" in (
                refused.stderr
            )
        assert optuna.get_all_study_names(stores(workdir)["storage"]) == ["busy"]
        assert _client(workdir).get_experiment_by_name("busy") is not None  # nothing was touched
    finally:
        worker.kill()
        worker.wait()

    assert automl.delete_study("busy").trials == 2  # its process is gone

    _create("remote")
    study = optuna.load_study(study_name="remote", storage=stores(workdir)["storage"])
    record_claim(study.ask(), "another-host:1")  # cannot be looked up from here
    with pytest.raises(UserError, match="trial 0 runs in process another-host:1; .* add --force"):
        automl.delete_study("remote")
    forced = run_cli(["studies", "--delete", "remote", "--yes", "--force"], workdir)
    assert forced.returncode == 0, forced.stderr
    assert optuna.get_all_study_names(stores(workdir)["storage"]) == []

    _create("exporting")
    study = optuna.load_study(study_name="exporting", storage=stores(workdir)["storage"])
    me = f"{socket.gethostname()}:{os.getpid()}"
    record_finish(study, {"by": me, "trials": 0, "open": True})  # this process compares and exports it
    with pytest.raises(UserError, match=f"process {me} compares and exports its trials"):
        automl.delete_study("exporting")
    record_finish(study, {"by": me, "trials": 0, "open": False})  # done
    assert automl.delete_study("exporting").name == "exporting"


def test_a_study_whose_experiment_was_deleted_says_how_to_restore_it(workdir):
    _create("kept", trials=2)
    client = _client(workdir)
    number = client.get_experiment_by_name("kept").experiment_id
    client.delete_experiment(number)  # as the MLflow UI's delete does

    with pytest.raises(UserError, match=r"experiment 'kept' \(id \d+\) is deleted") as error:
        _create("kept", trials=2)
    message = str(error.value)
    assert "automl studies --delete kept --yes" in message

    # The advice works as given: restore it, and the study goes on in its experiment.
    restore = message.split("(MLFLOW_TRACKING_URI=")[1].split(")")[0]
    uri, command = restore.split(" ", 1)
    assert command == f"mlflow experiments restore --experiment-id {number}"
    subprocess.run(
        [sys.executable, "-m", *command.split()], env=cli_env(MLFLOW_TRACKING_URI=uri), check=True, capture_output=True
    )
    _create("kept", trials=2)
    assert client.get_experiment(number).lifecycle_stage == "active"

    # Deleted again, in MLflow: deleting the study renames it in the trash all the same.
    client.delete_experiment(number)
    automl.delete_study("kept")
    assert client.get_experiment(number).name.startswith("kept.deleted-")
    assert client.get_experiment(number).lifecycle_stage == "deleted"


def test_a_study_whose_parent_run_was_deleted_says_how_to_restore_it(workdir):
    _create("parent", trials=2)
    client = _client(workdir)
    (run,) = client.search_runs([client.get_experiment_by_name("parent").experiment_id])
    client.delete_run(run.info.run_id)  # as the MLflow UI's delete does

    with pytest.raises(UserError, match=f"parent run of study 'parent' \\({run.info.run_id}\\) is deleted") as error:
        _create("parent", trials=2)
    assert f"mlflow runs restore --run-id {run.info.run_id}" in str(error.value)

    client.restore_run(run.info.run_id)  # the advice, through the client
    _create("parent", trials=2)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


@pytest.mark.parametrize("command", ["compare", "export"])
def test_compare_and_export_refuse_a_study_whose_parent_run_was_deleted(workdir, command):
    # compare did its work, wrote into the deleted run, then failed with MLflow's traceback;
    # export registered a champion without a word.
    searched = run_cli(["search", "--study-name", "gone", "--trials", "1", "--epochs", "1", "--no-export"], workdir)
    assert searched.returncode == 0, searched.stderr
    client = _client(workdir)
    runs = client.search_runs([client.get_experiment_by_name("gone").experiment_id])
    (run,) = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    client.delete_run(run.info.run_id)

    refused = run_cli([command, "--study", "gone"], workdir)
    assert refused.returncode == 2, refused.stderr
    assert f"parent run of study 'gone' ({run.info.run_id}) is deleted" in refused.stderr
    assert "Traceback" not in refused.stderr and client.search_registered_models() == []


def test_deleting_a_study_through_another_tracking_store_is_refused(workdir):
    elsewhere = f"sqlite:///{workdir / 'track' / 'mlflow.db'}"
    _create("x", trials=2, tracking_uri=elsewhere)

    # The default tracking store holds none of its runs: they would be left behind.
    with pytest.raises(UserError, match="does not hold study 'x''s runs .*give the study's --tracking-uri"):
        automl.delete_study("x")
    assert automl.delete_study("x", tracking_uri=elsewhere).experiment is not None
    client = MlflowClient(tracking_uri=elsewhere)
    assert client.get_experiment_by_name("x") is None  # in the trash under its dated name

    _create("y", trials=1, tracking_uri=elsewhere)
    assert automl.delete_study("y", force=True).experiment is None  # its store gone: its trials alone


def test_deleting_a_study_deletes_the_arrays_saved_for_it_alone(workdir, capsys):
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (90, 8, 8), dtype=np.uint8), np.repeat(np.arange(3), 30))
    _create("first", data=data)
    _create("second", data=data)
    saved = list((workdir / "mlruns" / "data").iterdir())
    assert len(saved) == 1  # one file for both

    first = automl.delete_study("first")
    assert first.arrays is None and saved[0].is_file()  # "second" still reads them

    assert main(["studies", "--delete", "second", "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted study 'second' (1 trial) from sqlite:///") and "its MLflow experiment (id" in out
    assert f"  deleted the arrays saved for it: {saved[0].relative_to(workdir)}\n" in out and not saved[0].exists()


def test_deleting_a_study_deletes_the_models_it_kept_after_an_interrupt(workdir):
    # They stayed in mlruns/retrained/ for good.
    _create("kept")
    study = optuna.load_study(study_name="kept", storage=stores(workdir)["storage"])
    folder = workdir / "mlruns" / "retrained" / "kept"
    folder.mkdir(parents=True)
    paths = [folder / "trial-0-member-0.keras", folder / "trial-0-member-1.keras"]
    for path in paths:
        path.write_bytes(b"a model")
    record_retrained(study, 0, [str(p) for p in paths], [3, 3])
    deleted = automl.delete_study("kept")
    assert deleted.retrained == tuple(paths) and not folder.exists() and (workdir / "mlruns" / "retrained").is_dir()


def test_compare_and_export_say_when_trials_still_run(workdir):
    # They compared (and exported, moving the champion alias) the trials finished so far
    # without a word.
    _create("live", trials=3)
    study = optuna.load_study(study_name="live", storage=stores(workdir)["storage"])
    assert still_running_note(study, "compares") is None
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        record_claim(study.ask(), f"{socket.gethostname()}:{worker.pid}")
        assert still_running_note(study, "compares") == (
            "note: 1 trial(s) of study 'live' still run; this compares its 0 completed trial(s) so far, "
            "and the search compares and exports again when they end"
        )
        compared = run_cli(["compare", "--study", "live"], workdir)
        assert compared.stderr.startswith("note: 1 trial(s) of study 'live' still run; this compares its 0 ")
        assert compared.returncode == 2 and "no completed trial" in compared.stderr, compared.stderr
    finally:
        worker.kill()
        worker.wait()
    assert still_running_note(study, "compares") is None  # its process is gone: orphaned, not running


def _finished_study(completed: int) -> optuna.Study:
    """An in-memory study of ``completed`` completed trials (no MLflow needed)."""
    study = optuna.create_study(direction="maximize")
    for _ in range(completed):
        study.tell(study.ask(), 0.5)
    return study


def test_trials_finished_since_the_last_comparison_leave_the_study_pending() -> None:
    from automl._catalog import finish_status

    study = _finished_study(2)
    record_finish(study, {"trials": 1, "open": False, "exported": True})
    assert finish_status(study)["state"] == "pending"
    record_finish(study, {"trials": 2, "open": False, "exported": True})
    assert finish_status(study)["state"] == "done"


def test_a_running_trial_whose_process_on_this_host_is_gone_is_orphaned_and_runs_no_more() -> None:
    from automl._catalog import study_status

    study = _finished_study(1)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    study.ask().set_user_attr("worker", f"{socket.gethostname()}:{ended.pid}")  # killed
    status = study_status(study)
    assert (status["running"], status["orphaned"]) == (1, 1) and status["finish"]["state"] != "searching"
    assert still_running_note(study, "comparison compares") is None
    study.ask().set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # alive
    assert (study_status(study)["orphaned"], study_status(study)["finish"]["state"]) == (1, "searching")
    assert still_running_note(study, "comparison compares").startswith("note: 1 trial(s) of study")


def test_a_study_in_use_by_several_processes_names_the_first_and_counts_the_others() -> None:
    from automl._catalog import refuse_in_use

    study = _finished_study(0)
    for _ in range(3):
        study.ask().set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    with pytest.raises(UserError, match=r"is in use: trial 0 runs in process \S+ and 2 more; stop that first"):
        refuse_in_use(study)


def _stored_study(workdir, name: str = "s", **config) -> tuple[optuna.Study, str]:
    """A study automl could have made (its settings stored), in a SQLite store of its own, and the store's URL."""
    storage = f"sqlite:///{workdir / 'o.db'}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    record_study_config(study, StudyConfig(study_name=name, **config).to_json())
    return study, storage


def _add(study: optuna.Study, state: TrialState, accuracy: float | None = None, **attrs) -> None:
    model = {"val_accuracy": accuracy, "model_uri": "models:/m-1"} if accuracy is not None else {}
    value = accuracy if state == TrialState.COMPLETE else None
    study.add_trial(optuna.trial.create_trial(state=state, value=value, user_attrs={**model, **attrs}))


def test_status_says_the_counts_the_best_trial_and_where_the_comparison_stands(workdir, capsys):
    study, storage = _stored_study(workdir)
    status = ["status", "--study", "s", "--storage", storage]

    assert main(status) == 0
    assert capsys.readouterr().out.splitlines() == [
        "study 's': 0 trials",
        "  complete 0  pruned 0  fail 0  running 0  waiting 0",
        "  best: none yet",
        "  nothing to compare: no trial completed",
    ]

    _add(study, TrialState.COMPLETE, 0.9, params=123456)
    assert main(status) == 0
    assert capsys.readouterr().out.startswith("study 's': 1 trial\n")

    _add(study, TrialState.COMPLETE, 0.95, params=1234567)
    _add(study, TrialState.FAIL, fail_reason="interrupted")
    _add(study, TrialState.PRUNED, 0.5)
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, system_attrs={"failed_trial": 2}))  # its retry
    record_comparison(study, {"winner": 1, "finalists": [{"trial": 1, "accuracy": 0.93}]})
    record_finish(study, {"trials": 4, "open": False, "exported": False})
    assert main(status) == 0
    assert capsys.readouterr().out.splitlines() == [
        "study 's': 4 trials",
        "  complete 2  pruned 1  fail 1  running 0  waiting 0",
        "  retried 1 (interrupted, or their worker died: failed and run again)",
        "  best: trial 1  val_accuracy 0.9500  params 1,234,567",
        "  compared: its 4 finished trials, not exported (that run had --no-export; `automl export --study s` "
        "exports the winner); the last comparison's winner: trial 1 (test accuracy 0.9300)",
    ]

    assert main([*status, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)  # one JSON object, and nothing else
    assert shown["finish"]["state"] == "done" and shown["best"]["params"] == 1234567 and shown["retried"] == 1


def test_studies_puts_each_count_in_its_column_and_the_data_path_relative_to_here(workdir, capsys):
    study, storage = _stored_study(workdir, data=str(workdir / "data" / "d.npz"))
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL):
        _add(study, state, 0.9 if state == TrialState.COMPLETE else None)

    assert main(["studies", "--storage", storage]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"1 study in {storage}"
    assert lines[1].split()[:8] == ["study", "data", "started", "trials", "complete", "pruned", "failed", "best"]
    name, data, _, _, trials, complete, pruned, failed, best, winner, tested = lines[3].split()
    assert (name, data, trials, complete, pruned, failed) == ("s", "data/d.npz", "4", "1", "1", "2")
    assert (best, winner, tested) == ("0.9000", "-", "-")


def test_a_delete_answered_no_deletes_nothing_and_fails(workdir, capsys, monkeypatch):
    study, storage = _stored_study(workdir)
    _add(study, TrialState.COMPLETE, 0.9)
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")

    assert main(["studies", "--delete", "s", "--storage", storage]) == 1

    assert asked == ["delete study 's' (1 trial) and move its MLflow experiment to the trash? [y/N] "]
    assert capsys.readouterr().out == "nothing deleted\n"
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["s"]


def test_status_says_which_process_compares_and_how_many_running_trials_lost_theirs(workdir, capsys):
    study, storage = _stored_study(workdir)
    _add(study, TrialState.COMPLETE, 0.9, params=1000)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    study.ask().set_user_attr("worker", f"{socket.gethostname()}:{ended.pid}")  # killed
    comparer = f"{socket.gethostname()}:{os.getpid()}"
    record_finish(study, {"open": True, "by": comparer})

    assert main(["status", "--study", "s", "--storage", storage]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == [
        "  complete 1  pruned 0  fail 0  running 1  waiting 0",
        "  1 of the running trials lost their process (killed): the study's next search or worker fails them and "
        "runs them again",
    ]
    assert lines[-1] == f"  comparing: process {comparer} compares its 1 finished trials and exports"
