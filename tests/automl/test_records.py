"""What a trial and its study record in the Optuna storage, read back as ``TrialRecord`` and ``StudyRecord``."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from automl._errors import OutOfMemory
from automl._hparams import TrainingSpec
from automl._records import (
    StudyRecord,
    TrialRecord,
    forget_retrained,
    origin_of,
    record_final_model,
    record_oom,
    record_outcome,
    record_result,
    record_retrained,
    record_sampler_seed,
    record_viewed_model,
    with_neighbour_of,
)


def _study() -> optuna.Study:
    return optuna.create_study(study_name="r", direction="maximize")


def test_a_trial_s_failure_and_timings_read_back_as_it_ended():
    study = _study()
    trial = study.ask()
    record_outcome(trial, timings={"fit": 1.23456, "save": 0.5}, failure=OutOfMemory("out of memory: 3 GiB"), note=None)
    study.tell(trial, state=TrialState.FAIL)

    record = TrialRecord.of(study.trials[0])
    assert record.failure is OutOfMemory and record.reason == "out of memory: 3 GiB"
    assert dict(record.timings) == {"fit": 1.2346, "save": 0.5}
    assert record.seconds == 1.73  # every phase, summed
    row = record.row()
    assert row["state"] == "fail" and row["reason"] == "out of memory: 3 GiB" and row["seconds"] == 1.73


def test_a_completed_trial_s_note_is_its_reason_and_its_window_is_remembered():
    study = _study()
    trial = study.ask()
    record_result(trial, 0.75, through_window=True)
    record_outcome(trial, timings={}, failure=None, note="stopped by the time budget after epoch 2")
    study.tell(trial, 0.75)
    plain = study.ask()
    record_result(plain, 0.5)
    record_outcome(plain, timings={}, failure=None, note=None)
    study.tell(plain, 0.5)

    noted, quiet = (TrialRecord.of(t) for t in study.trials)
    assert noted.reason == "stopped by the time budget after epoch 2" and noted.failure is None
    assert noted.through_window and noted.val_accuracy == 0.75 and noted.row()["state"] == "complete"
    assert not quiet.through_window and quiet.row()["reason"] == "" and quiet.seconds == 0


def test_a_trial_without_a_recipe_counts_one_epoch():
    assert TrialRecord(number=0, state=TrialState.COMPLETE).epochs == 1
    training = TrainingSpec(batch_size=16, epochs=4, learning_rate=1e-3)
    assert TrialRecord(number=0, state=TrialState.COMPLETE, training=training).epochs == 4


def test_only_an_enqueued_trial_has_an_origin():
    study = _study()
    study.enqueue_trial({}, user_attrs=with_neighbour_of(3))
    neighbour, sampled = study.ask(), study.ask()
    assert origin_of(neighbour) == {"origin.neighbour_of": 3}
    assert origin_of(sampled) == {}
    assert TrialRecord.of(neighbour).origin == {"origin.neighbour_of": 3}
    assert TrialRecord.of(sampled).origin == {}


def test_the_study_keeps_every_trial_s_entry_not_only_the_last_one_recorded():
    study = _study()
    record_oom(study, "a:32", 1)
    record_oom(study, "b:64", 4)
    record_sampler_seed(study, "host:1", 7)
    record_sampler_seed(study, "host:2", 8)
    record_final_model(study, 2, "models:/m-2", epochs=[3, 4])
    record_final_model(study, 5, "models:/m-5")
    record_viewed_model(study, 1, "models:/v-1")
    record_viewed_model(study, 6, "models:/v-6")

    record = StudyRecord.of(study)
    assert record.oom_digests == {"a:32": 1, "b:64": 4}
    assert record.sampler_seeds == {"host:1": 7, "host:2": 8}
    assert record.final_models == {2: "models:/m-2", 5: "models:/m-5"}  # read back by trial number
    assert record.final_epochs == {2: [3, 4]}  # a model without its members' epochs records none
    assert record.viewed_models == {1: "models:/v-1", 6: "models:/v-6"}


def test_a_retrained_finalist_once_logged_is_forgotten_and_the_others_kept():
    study = _study()
    record_retrained(study, 1, ["/tmp/a.keras"], [3])
    record_retrained(study, 2, ["/tmp/b.keras", "/tmp/c.keras"], [3, 2])
    forget_retrained(study, 1)
    forget_retrained(study, 9)  # never retrained: nothing to forget
    assert StudyRecord.of(study).retrained == {2: {"paths": ["/tmp/b.keras", "/tmp/c.keras"], "epochs": [3, 2]}}
