"""The helpers behind a study's listing, resumption and clean-up (``automl._studies``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import optuna

from automl._studies import _names_note, _same_data, best_trials, process_alive


def test_a_process_of_this_host_is_alive_until_it_ends_and_one_elsewhere_is_assumed_alive() -> None:
    here = socket.gethostname()
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert process_alive(f"{here}:{os.getpid()}")
    assert not process_alive(f"{here}:{ended.pid}")
    # Another host's process cannot be looked up here: its pid means nothing on this one.
    assert process_alive(f"not-{here}:{ended.pid}")


def _study_of(trials: list[dict]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for attrs in trials:
        trial = study.ask()
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        study.tell(trial, attrs.get("val_accuracy", 0.0))
    return study


def test_the_best_trials_are_the_most_accurate_with_a_model_the_smaller_first_among_equals() -> None:
    model = {"model_uri": "models:/m/1"}
    study = _study_of(
        [
            {"val_accuracy": 0.8, "params": 500, **model},
            {"val_accuracy": 0.9, "params": 900, **model},
            {"val_accuracy": 0.9, "params": 300, **model},
            {"val_accuracy": 0.95, "params": 100},  # no model saved: cannot be a finalist
        ]
    )
    assert [r.number for r in best_trials(study, 2)] == [2, 1]
    assert [r.number for r in best_trials(study, 5)] == [2, 1, 0]


def test_a_missing_study_s_error_names_five_of_the_store_s_studies_and_counts_the_rest() -> None:
    storage = optuna.storages.InMemoryStorage()
    assert _names_note(storage) == " (it holds no study yet)"
    for i in range(5):
        optuna.create_study(study_name=f"s{i}", storage=storage)
    assert _names_note(storage) == "; it holds 's0', 's1', 's2', 's3', 's4' (automl studies lists them)"
    optuna.create_study(study_name="s5", storage=storage)
    assert _names_note(storage).endswith("'s4' and 1 more (automl studies lists them)")


def test_the_study_s_data_given_again_by_another_path_to_it_is_the_same_data(tmp_path, monkeypatch) -> None:
    (tmp_path / "proj" / "pets").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # Stored as the study file gave it, relative to the study file's folder.
    assert _same_data("pets", "proj/pets", str(tmp_path / "proj"))
    assert _same_data("proj/pets", str(tmp_path / "proj" / "pets"), None)
    assert not _same_data("pets", "proj/pets", None)
    assert not _same_data("proj/pets", "proj", str(tmp_path))
