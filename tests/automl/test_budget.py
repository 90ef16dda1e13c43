"""The time budget: durations, the plan, and a search that keeps to it (by its plan, not a clock)."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import automl
import automl._budget
import pipelines
from automl import _compare
from automl._budget import EXPORT_MIN_S, PLAN_ENV, make_plan, plan_from_env, rungs
from automl._bundle import load_keras_file
from automl._compare import (
    FinalTraining,
    _contenders,
    _fill_deadlines,
    _final_models,
    _fitting_epochs,
    _keeps,
    _member_plan,
    _MemberPlan,
    _Retrained,
    _seeds_within,
    _stretch,
    _stretches,
    finalist_records,
    likeliest_first,
)
from automl._config import StudyConfig, parse_duration
from automl._data import StudyData
from automl._driver import _deadline, _first_window, _stop_reason, _time_left, _useful_epochs
from automl._errors import UserError
from automl._hparams import TrainingSpec
from automl._records import TrialRecord
from automl._studies import load_existing
from automl._views import count_views
from automl._winner import export_winner


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400), ("300", 300), (" 2M ", 120)])
def test_durations_take_seconds_minutes_and_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ten minutes", "10x", "-5m", "0s", ""])
def test_a_bad_duration_is_quoted(text):
    with pytest.raises(UserError, match=repr(text).replace("\\", "\\\\")):
        parse_duration(text)


def test_successive_halving_compares_trials_at_epochs_one_three_nine():
    assert rungs(9, "asha") == (1, 3)
    assert rungs(27, "asha") == (1, 3, 9)
    assert rungs(9, "median") == ()


def test_the_plan_splits_the_budget_into_search_final_training_and_export():
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=100.0)
    assert plan.search_until is not None and plan.final_until is not None
    search, final = plan.search_until - 100.0, plan.final_until - plan.search_until
    export = 600 - search - final
    assert search > final > 0 and export >= EXPORT_MIN_S
    assert plan.lazy_queue and "plan for 10m00s" in plan.describe()
    without_final = make_plan(StudyConfig(time_budget=600, final_training=False), started=0.0)
    assert without_final.final_until == without_final.search_until
    # no retraining follows: the search keeps all its time, whatever one would take
    assert without_final.search_deadline(120.0, 300.0) == without_final.search_until
    assert plan.search_deadline(10.0) == plan.search_until and plan.search_deadline(1e6) == plan.started
    assert make_plan(StudyConfig(), started=0.0).search_until is None


@pytest.mark.parametrize(("budget", "kept"), [(60, 10.0), (120, 10.0), (400, 10.0), (600, 15.0), (3600, 90.0)])
def test_comparing_and_exporting_keep_10_s_or_a_fortieth_of_the_budget(budget, kept):
    # The export does not grow with the budget: at 10 minutes, 30 s kept for it (a twentieth)
    # left about 25 s of the budget unused on a 2-core CPU, where it took 2-7 s; at one
    # minute, 15 s left about 10 s unused, the views' predictions and 1.5-2 s after them.
    plan = make_plan(StudyConfig(time_budget=budget, trials=1000), started=0.0)
    assert plan.final_until == pytest.approx(budget - kept)


def test_test_time_views_may_take_half_of_the_reserve():
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=100.0)
    assert plan.final_until == pytest.approx(685.0) and plan.views_until == pytest.approx(692.5)
    short = make_plan(StudyConfig(time_budget=60, trials=1000), started=0.0)
    assert short.final_until == pytest.approx(50.0) and short.views_until == pytest.approx(55.0)
    assert make_plan(StudyConfig(trials=3), started=0.0).views_until is None


def test_a_plan_reaches_a_worker_process_through_its_environment():
    plan = make_plan(StudyConfig(time_budget=600, trials=1000, epochs=27), started=time.monotonic() - 100)
    again = plan_from_env(plan.to_env())
    assert again is not None
    for deadline in ("started", "search_until", "final_until"):  # through the wall clock, which processes share
        assert getattr(again, deadline) == pytest.approx(getattr(plan, deadline), abs=0.01)
    for name in ("budget_s", "max_epochs", "rungs", "trials", "lazy_queue"):
        assert getattr(again, name) == getattr(plan, name)
    grid = make_plan(StudyConfig(time_budget=600, sampler="grid"), started=time.monotonic())
    assert not grid.lazy_queue and not plan_from_env(grid.to_env()).lazy_queue  # grid points are queued up front
    assert plan_from_env({}) is None
    with pytest.raises(UserError, match=f"{PLAN_ENV} does not hold a search's plan"):
        plan_from_env({PLAN_ENV: '{"budget_s": 60}'})


def test_a_budget_shorter_than_a_trial_still_exports_a_model(workdir):
    # The shortest budget, spent before the search starts (a slow start-up, or a slow machine).
    result = automl.search(study_name="tiny", time_budget="20s", started=time.monotonic() - 20, epochs=3, quiet=True)

    # The first trial always finishes, but its first epoch would end past the budget: it is
    # cut after 21 of its steps. The search's time was then long gone, so it stopped, and no
    # finalist could be retrained: the search's own model is exported. The trial's record
    # says the one epoch of its three it counts as.
    assert len(result.trials) == 1 and result.trials["state"][0] == "complete"
    assert result.trials["reason"][0].startswith("stopped by the time budget in its first epoch")
    assert "21 of 37 steps, no time left for more" in result.trials["reason"][0]
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{workdir / 'mlruns' / 'optuna.db'}")
    assert TrialRecord.of(study.trials[0]).epochs == 1
    assert result.stopped_early == "time budget's search time reached"
    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["trained_on"].startswith("train (")
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parent = next(r for r in runs if r.info.run_name == "tiny")
    plan = json.loads(open(client.download_artifacts(parent.info.run_id, "plan.json", str(workdir))).read())
    assert plan["budget_s"] == 20.0 and plan["rungs"] == [1]


def test_a_search_model_exported_as_the_final_one_has_its_views(workdir, monkeypatch):
    # As above, but with all the time in the world for the views' test predictions: the
    # exported search model averages the digits warm start's 5 views (no flips), and that
    # model, not the plain one logged by its trial, is registered as the champion.
    monkeypatch.setattr(automl._budget, "VIEWS_SHARE", 1e6)
    result = automl.search(study_name="viewed", time_budget="20s", started=time.monotonic() - 20, epochs=3, quiet=True)

    card = json.loads((result.export_dir / "model_card.json").read_text())
    assert card["trained_on"].startswith("train (") and card["test_time_views"] == 5
    assert count_views(load_keras_file(result.export_dir / "model.keras")) == 5
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("viewed-model", "champion")
    assert result.registered.startswith("models:/viewed-model@champion")
    assert client.get_logged_model(champion.source.removeprefix("models:/")).name == "winner"
    # A later export of the study's winner is that viewed model too, not its trial's plain one.
    study, config = load_existing("viewed", storage=None, tracking_uri=None)
    again = export_winner(study, config, workdir / "exports" / "again")
    assert count_views(load_keras_file(again.result.keras_path)) == 5


def _finalist(fit_seconds: float, epochs: int = 9) -> TrialRecord:
    training = TrainingSpec(epochs=epochs, batch_size=32)
    return TrialRecord(number=0, state=TrialState.COMPLETE, training=training, timings={"fit": fit_seconds})


def _study_data(train: int, val: int) -> StudyData:
    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((n, 8, 8, 1), np.uint8), np.arange(n) % 2

    splits = pipelines.Splits(train=split(train), val=split(val), test=split(10), class_names=("a", "b"))
    return StudyData(dataset=None, splits=splits, normalization=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("left", "epochs"),
    [
        (1000.0, 27),  # time for the whole stretch
        (60.0, 15),  # 15 epochs of 4 s fit: the schedule is shortened to fit
        (28.0, 7),  # the fewest that take as many steps as the trial (9 x 3/4 -> 7)
        (27.0, 0),  # fewer would not beat the trial's own model: not retrained
    ],
)
def test_a_finalist_retrains_for_the_epochs_that_fit_the_time_left(left, epochs):
    # 9 epochs over 300 training images took 27 s; train+validation is 400 images: 4 s an epoch.
    record, data = _finalist(27.0), _study_data(300, 100)
    assert _fitting_epochs(record, data, 27, left) == epochs


def test_the_search_gives_up_time_for_a_longer_final_training_but_at_most_half():
    # Budget 600 s from t=0: search until 435 s, final training until 585 s (150 s window).
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)
    assert (plan.search_until, plan.final_until) == (435.0, 585.0)
    # A 100 s retraining fits the window; stretched to 200 s, the search ends 50 s earlier.
    assert plan.search_deadline(100.0) == 435.0
    assert plan.search_deadline(100.0, 200.0) == 385.0
    # Stretched to 500 s it would take most of the search: the search keeps half its time.
    assert plan.search_deadline(100.0, 500.0) == 217.5
    # A plain retraining longer than the window still moves the search's end as far as it needs.
    assert plan.search_deadline(400.0, 800.0) == 185.0
    assert plan.search_deadline(700.0, 1400.0) == 0.0


def _contender(number: int, val_accuracy: float, fit_seconds: float = 27.0) -> TrialRecord:
    return dataclasses.replace(_finalist(fit_seconds), number=number, val_accuracy=val_accuracy)


def test_only_the_finalists_that_could_win_are_retrained():
    data = _study_data(300, 400)
    best, close, far = _contender(0, 0.85), _contender(1, 0.80), _contender(2, 0.70)
    # 5 points below is within 2 standard errors of the difference (2 x 2.7 points) and the
    # margin; 15 points below is not (2 x 2.9 points), unless the margin is 10 points.
    assert [r.number for r in _contenders([best, close, far], data, 0.01)] == [0, 1]
    assert [r.number for r in _contenders([best, close, far], data, 0.0)] == [0, 1]
    assert [r.number for r in _contenders([best, far], data, 0.05)] == [0]
    assert [r.number for r in _contenders([best, far], data, 0.10)] == [0, 2]


def _retrained_now(monkeypatch, records: list[TrialRecord], data: StudyData, final: FinalTraining):
    """The (trial, epochs) ``_final_models`` retrains (each retraining recorded, not run) and what it says."""
    retrained: list[tuple[int, int]] = []

    def retrain(record: TrialRecord, data: StudyData, *, epochs: int, **kwargs: object) -> _Retrained:
        retrained.append((record.number, epochs))
        return _Retrained(model=None, epochs=epochs)

    monkeypatch.setattr(_compare, "_retrain", retrain)
    monkeypatch.setattr(_compare, "_keep_retrained", lambda *args: None)
    said: list[str] = []
    study = optuna.create_study(direction="maximize")
    _final_models(study, records, data, final, 0, said.append, None, 0.01)  # type: ignore[arg-type]
    return retrained, said


def test_without_a_final_window_every_finalist_is_retrained(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 400)
    best, far = _contender(0, 0.85), _contender(2, 0.70)  # 15 points below: it could not win
    assert _retrained_now(monkeypatch, [best, far], data, FinalTraining())[0] == [(0, 9), (2, 9)]
    retrained, said = _retrained_now(monkeypatch, [best, far], data, FinalTraining(until=2000.0))
    assert [number for number, _ in retrained] == [0]  # a window goes to those that could
    assert "trial 2: not retrained, 15.0 points below the best on validation" in said


def test_a_finalist_whose_fewest_useful_epochs_do_not_fit_keeps_its_search_model(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 100)  # 4 s an epoch over train+validation; 7 take the trial's steps
    retrained, said = _retrained_now(monkeypatch, [_finalist(27.0)], data, FinalTraining(until=1027.0))
    assert retrained == []  # not 0 epochs of retraining
    assert said == ["trial 0: no time left to retrain it (28s needed, 27s left)"]
    assert _retrained_now(monkeypatch, [_finalist(27.0)], data, FinalTraining(until=1028.0))[0] == [(0, 7)]


def test_a_warm_start_within_one_standard_error_of_the_best_retrains_first():
    # 750 validation images: the standard error of a difference near 0.87 is 1.7 points.
    best, second, warm = _contender(21, 0.8813), _contender(19, 0.876), _contender(0, 0.8733)
    warm = dataclasses.replace(warm, warm_start="convnet")
    assert [r.number for r in likeliest_first([best, second, warm], 750)] == [0, 21, 19]
    # A lead of 3 points is more than the standard error: the best stays first.
    ahead = _contender(21, 0.9033)
    assert [r.number for r in likeliest_first([ahead, second, warm], 750)] == [21, 19, 0]
    # The same lead on 100 validation images is within it (4.6 points).
    assert [r.number for r in likeliest_first([ahead, second, warm], 100)] == [0, 21, 19]
    # Without a warm start among them, or with one first already, nothing moves.
    assert likeliest_first([best, second], 750) == [best, second]
    assert likeliest_first([warm, best], 750) == [warm, best]
    assert likeliest_first([], 750) == []
    # The contenders follow it: the warm start is retrained first, and stretched.
    data = _study_data(300, 750)
    assert [r.number for r in _contenders([best, second, warm], data, 0.01)] == [0, 21, 19]


def _completed(study: optuna.Study, value: float, fit: float, **attrs: str) -> None:
    training = TrainingSpec(epochs=9, batch_size=32).to_dict()
    extra = {"training": training, "timings": {"fit": fit}, "val_accuracy": value, "model_uri": "m", **attrs}
    study.add_trial(optuna.trial.create_trial(value=value, user_attrs=extra))


@pytest.mark.parametrize(("warm_start", "deadline"), [("convnet", 435.0), (None, 345.0)])
def test_the_search_ends_in_time_to_retrain_the_likeliest_winner(warm_start, deadline):
    data = _study_data(300, 100)  # retraining on train+validation: 4/3 of a trial's fit time
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)  # window 435-585 s
    study = optuna.create_study(direction="maximize")
    _completed(study, 0.88, fit=90.0)  # the best on validation: 120 s to retrain, 240 s stretched
    _completed(study, 0.875, fit=27.0, **({"warm_start": warm_start} if warm_start else {}))  # 36 s, 72 s
    # A warm start half a point below (within a standard error on 100 images) is the likelier
    # winner: twice its retraining fits the window, so the search keeps all its time. A sampled
    # trial there is not: the search ends 90 s early, for twice the best one's retraining.
    assert _deadline(study, data, plan, None, StudyConfig(members=1)) == deadline


@pytest.mark.parametrize(("warm_start", "deadline"), [("convnet", 435.0), (None, 217.5)])
def test_the_search_ends_in_time_to_retrain_the_likeliest_winner_as_two_members(warm_start, deadline):
    data = _study_data(300, 100)
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)  # window 435-585 s
    study = optuna.create_study(direction="maximize")
    _completed(study, 0.88, fit=90.0)  # 120 s to retrain: two members need 11/3 of it, 440 s
    _completed(study, 0.875, fit=27.0, **({"warm_start": warm_start} if warm_start else {}))  # 36 s: 132 s
    # The warm start's two members fit the window; the sampled trial's would take more than
    # half the search, which keeps half its time.
    assert _deadline(study, data, plan, None, StudyConfig()) == deadline


def test_the_trials_stop_at_the_timeout_or_the_budget_s_search_deadline_whichever_comes_first():
    data = _study_data(300, 100)
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)  # search until 435 s
    study = optuna.create_study(direction="maximize")
    config = StudyConfig(members=1)
    assert _deadline(study, data, plan, 100.0, config) == 100.0
    assert _deadline(study, data, plan, 500.0, config) == 435.0
    assert _deadline(study, data, make_plan(StudyConfig(trials=5), started=0.0), 100.0, config) == 100.0
    assert _deadline(study, data, make_plan(StudyConfig(trials=5), started=0.0), None, config) is None


@pytest.mark.parametrize("retrained_before", [False, True])
def test_a_resumed_search_keeps_its_time_from_a_winner_of_an_earlier_run(retrained_before):
    # A first model that trained 20 epochs through the last run's window: its retraining at
    # those epochs took more than the whole search, which ended before it began, and a
    # resumed 30 s budget ran no trial. A model retrained before is loaded, not retrained.
    data = _study_data(300, 100)
    study = optuna.create_study(direction="maximize")
    _completed(study, 0.88, fit=900.0)  # 1,200 s to retrain, from an earlier run
    if retrained_before:
        study.set_user_attr("final_models", {"0": "models:/m-0"})
    started = time.monotonic() + 1.0  # this run began after the trial finished
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=started)  # window 435-585 s

    deadline = _deadline(study, data, plan, None, StudyConfig(members=1))

    assert deadline == pytest.approx(started + 435.0)
    fresh = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)  # the trial is of this run
    assert _deadline(study, data, fresh, None, StudyConfig(members=1)) == 0.0


def test_the_only_contender_is_retrained_as_two_members_when_the_window_holds_them(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 100)  # 4 s an epoch over train+validation, 9 epochs in the trial
    best = dataclasses.replace(_contender(0, 0.9), params=100, flops=1000)
    window = FinalTraining(until=1132.0, members=2)  # 33 epochs: 12 continued, then 21 from scratch
    assert _member_plan([best], data, window) == _MemberPlan(epochs=12, first_until=1048.0, scratch_epochs=21)
    wide = FinalTraining(until=2000.0, members=2)  # the continued member still stops at 6 x 9 epochs
    assert _member_plan([best], data, wide) == _MemberPlan(epochs=54, first_until=1748.0, scratch_epochs=63)
    assert _member_plan([best], data, FinalTraining(until=1132.0, members=2, max_params=200, max_flops=2000))
    for final, contenders in (
        (FinalTraining(until=1131.0, members=2), [best]),  # 4/3 + 7/3 of the trial's 36 s do not fit
        (FinalTraining(until=1132.0, members=1), [best]),
        (FinalTraining(until=1132.0, members=2, max_params=199), [best]),  # two hold 200 parameters
        (FinalTraining(until=1132.0, members=2, max_flops=1999), [best]),  # and 2,000 FLOPs
        (window, [best, _contender(1, 0.9)]),  # two contenders share the window instead
        (FinalTraining(until=1132.0, members=2, epochs=4), [best]),
        (FinalTraining(until=1132.0, members=2, seeds=2), [best]),
        (FinalTraining(members=2), [best]),
    ):
        assert _member_plan(contenders, data, final) is None


def test_the_seeds_compare_averages_keep_within_the_study_s_cost_budget():
    # `automl compare --final-epochs 2 --seeds 2` on a study of --max-params 100000 exported
    # two averaged models of 199,244 parameters: twice the budget the study was searched in.
    record = dataclasses.replace(_contender(0, 0.9), params=100, flops=1000)
    notes: list[str] = []
    assert _seeds_within(record, FinalTraining(epochs=2, seeds=3, max_params=250), notes.append) == 2
    assert notes == [
        "trial 0: 2 seed(s) averaged, not 3: 3 models of 100 parameters and 1,000 FLOPs together exceed "
        "the study's --max-params or --max-flops"
    ]
    assert _seeds_within(record, FinalTraining(epochs=2, seeds=3, max_flops=999), notes.append) == 1  # one at least
    assert _seeds_within(record, FinalTraining(epochs=2, seeds=3, max_params=300, max_flops=3000), notes.append) == 3
    assert len(notes) == 2


def test_a_warm_start_close_to_the_best_takes_the_last_place_among_the_finalists():
    study = optuna.create_study(direction="maximize")
    for value in (0.896, 0.893, 0.891):  # three sampled trials above the warm start
        _completed(study, value, fit=30.0)
    _completed(study, 0.884, fit=25.0, warm_start="convnet")  # trial 3
    _completed(study, 0.80, fit=25.0, warm_start="resnet")
    # 1.2 points below the best: within the standard error (1.6 points) on 750 images.
    assert [r.number for r in finalist_records(study, 3, 750)] == [0, 1, 3]
    # On 7,500 images the standard error is 0.5 points: the top three stand.
    assert [r.number for r in finalist_records(study, 3, 7_500)] == [0, 1, 2]
    assert [r.number for r in finalist_records(study, 5, 750)] == [0, 1, 2, 3, 4]  # among them already
    assert [r.number for r in finalist_records(study, 1, 750)] == [3]
    assert finalist_records(optuna.create_study(direction="maximize"), 3, 750) == []


def test_the_final_window_stretches_the_retraining_of_the_contenders(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 100)  # 9 epochs of 27 s over train: 36 s over train+validation
    one, two = _contender(0, 0.9), _contender(1, 0.9)
    assert _stretch([one], data, FinalTraining(until=1072.0)) == 2.0
    assert _stretch([one, two], data, FinalTraining(until=1072.0)) == 1.0
    assert _stretch([one], data, FinalTraining(until=1054.0)) == 1.5
    assert _stretch([one], data, FinalTraining(until=5000.0)) == 6.0  # at most MAX_STRETCH
    assert _stretch([one], data, FinalTraining(until=1010.0)) == 1.0  # fewer epochs: _fitting_epochs
    assert _stretch([one], data, FinalTraining(until=None)) == 1.0
    assert _stretch([one], data, FinalTraining(until=5000.0, epochs=4)) == 1.0


def test_no_trial_starts_without_time_for_its_epochs_as_the_completed_trials_take_them(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    study = optuna.create_study(direction="maximize")
    # No trial has completed: one starts before the deadline, and up to two after it.
    assert _time_left(study, 100.5, late=0) and _time_left(study, 90.0, late=1)
    assert not _time_left(study, 90.0, late=2)
    training = TrainingSpec(epochs=9, batch_size=32).to_dict()
    for build, fit in ((2.0, 36.0), (1.0, 54.0), (4.0, 90.0)):  # 4, 6 and 10 s an epoch
        attrs = {"training": training, "timings": {"build": build, "fit": fit}}
        study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs=attrs))
    # The median of each trial's time outside its fit and an epoch of its own: 6, 7 and 14 s.
    # The quickest trial's epoch alone (4 s) let a trial start that was then cut after one epoch.
    assert _time_left(study, 107.5, late=0)
    assert not _time_left(study, 106.5, late=0)
    assert _time_left(study, None, late=5)
    # Time for three epochs (successive halving's second rung): 14, 19 and 34 s.
    assert _time_left(study, 119.5, late=0, epochs=3)
    assert not _time_left(study, 118.5, late=0, epochs=3)
    # Why the trials stopped before the deadline: a resumed study's budget ended at once, unused, silently.
    assert _stop_reason(study, 0, 118.5, None, epochs=3) == (
        "no time for a trial: 18s left before the search deadline, and a new trial's first 3 epochs take "
        "about 19s, as the study's finished trials show"
    )
    assert _stop_reason(study, 2, 118.5, 118.5, epochs=3).startswith(
        "no time for another trial: 18s left before the timeout"
    )
    assert _stop_reason(study, 2, 119.5, None, epochs=3) is None  # time for one: stopped by --trials or the queue
    assert _stop_reason(study, 2, 99.0, None, epochs=3) == "time budget's search time reached"
    assert _stop_reason(study, 0, 99.0, None, epochs=3) == "time budget's search time reached before a trial could run"
    assert _stop_reason(study, 0, 99.0, 99.0, epochs=3) == "timeout reached before a trial could run"


def test_the_time_a_trial_takes_counts_the_pruned_trials_first_epochs(monkeypatch):
    # From the completed trial alone (2 s), a trial started with 2.5 s to go on 300 images:
    # it took 15.7 s, tracing its first epoch, and the final training lost that time.
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    study = optuna.create_study(direction="maximize")
    training = TrainingSpec(epochs=9, batch_size=32).to_dict()
    attrs = {"training": training, "timings": {"build": 1.0, "fit": 9.0}}  # 1 s an epoch
    study.add_trial(
        optuna.trial.create_trial(value=0.9, user_attrs=attrs, intermediate_values={e: 0.9 for e in range(1, 10)})
    )
    for build, fit in ((0.5, 5.0), (0.5, 3.0)):  # pruned after their first epoch, tracing included
        attrs = {"training": training, "timings": {"build": build, "fit": fit}}
        pruned = optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs=attrs, intermediate_values={1: 0.2})
        study.add_trial(pruned)
    # The median of 2, 5.5 and 3.5 s: 1.1 s with the pruned trials counted at their planned 9 epochs.
    assert _time_left(study, 103.6, late=0)
    assert not _time_left(study, 103.4, late=0)


def test_a_worker_leaves_late_trials_to_a_trial_running_elsewhere(monkeypatch):
    # Past the deadline with no trial complete, the search's own process starts late trials
    # so that a model exists; a worker beside it started one too while the first model
    # trained through the final window, and its trial, cut in its first epoch, slowed it.
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    study = optuna.create_study(direction="maximize")
    assert _time_left(study, 90.0, late=0, lead=False)  # nothing runs anywhere: a worker may start one
    study.ask()  # a trial running in another process
    assert _time_left(study, 90.0, late=0, lead=True)
    assert not _time_left(study, 90.0, late=0, lead=False)
    assert _time_left(study, 100.5, late=0, lead=False)  # before the deadline, as any process


@pytest.mark.parametrize(
    ("pruner", "epochs", "useful"), [("asha", 9, 3), ("asha", 27, 3), ("asha", 2, 1), ("none", 9, 1)]
)
def test_a_trial_starts_only_with_time_to_reach_the_second_rung(pruner, epochs, useful):
    plan = make_plan(StudyConfig(time_budget=600, trials=1000, pruner=pruner, epochs=epochs), started=0.0)
    assert _useful_epochs(plan) == useful


def test_a_window_too_short_for_all_stretches_the_best_finalist_first(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 100)  # each finalist: 36 s for its own epochs on train+validation
    best, second = _contender(0, 0.9), _contender(1, 0.89)
    # 150 s hold twice the epochs of both (144 s): both stretch alike, for a fair comparison.
    assert _stretches([best, second], data, FinalTraining(until=1150.0)) == [150 / 72] * 2
    # 90 s do not: the best takes 2.5 times its epochs, the second keeps its own (if time is left).
    assert _stretches([best, second], data, FinalTraining(until=1090.0)) == [2.5, 1.0]
    assert _stretches([best], data, FinalTraining(until=1090.0)) == [2.5]


def test_each_retraining_is_re_planned_to_end_where_the_next_ones_still_fit(monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    data = _study_data(300, 100)  # each finalist: 36 s for its own epochs on train+validation
    best, second, third = _contender(0, 0.9), _contender(1, 0.89), _contender(2, 0.89)
    # Stretched alike (150 / 72 of their epochs: 18 each, 72 s planned): each ends where the
    # planned retraining of those after it still fits.
    window = FinalTraining(until=1150.0)
    stretches = _stretches([best, second], data, window)
    assert _fill_deadlines([best, second], stretches, data, window) == [1078.0, 1150.0]
    # The best stretched alone keeps the whole window; after it, the second leaves the
    # third its own epochs (36 s).
    window = FinalTraining(until=1090.0)
    stretches = _stretches([best, second, third], data, window)
    assert stretches[1:] == [1.0, 1.0]
    assert _fill_deadlines([best, second, third], stretches, data, window) == [1090.0, 1054.0, 1090.0]
    # Fixed epochs, averaged seeds or no window: nothing is re-planned.
    for final in (FinalTraining(until=1090.0, epochs=4), FinalTraining(until=1090.0, seeds=2), FinalTraining()):
        assert _fill_deadlines([best], [1.0], data, final) == [None]


def test_only_the_first_trial_of_a_study_with_a_final_window_may_train_through_it():
    data = _study_data(300, 100)
    study = optuna.create_study(direction="maximize")
    plan = make_plan(StudyConfig(time_budget=600, trials=1000), started=0.0)
    window = _first_window(study, data, plan)
    assert window is not None and window.until == plan.final_until == 585.0
    assert window.retrain_cost == 400 / 300 and window.max_stretch == 6
    no_final = make_plan(StudyConfig(time_budget=600, final_training=False), started=0.0)
    assert _first_window(study, data, no_final) is None
    assert _first_window(study, data, make_plan(StudyConfig(), started=0.0)) is None
    study.add_trial(optuna.trial.create_trial(value=0.9))
    assert _first_window(study, data, plan) is None  # a model exists: the window is for the finalists


def test_a_timeout_bounds_the_first_trial_under_a_time_budget(workdir):
    # The first model was offered the final window, and trained 24 s past --timeout 3.
    started = time.monotonic()
    result = automl.search(study_name="tb", time_budget="40s", timeout=3, epochs=9, no_export=True, quiet=True)

    first = result.trials.iloc[0]
    assert "final window" not in first["reason"] and first["seconds"] < 15, first["reason"]  # 3 s here, 27 s then
    assert "timeout" in first["reason"] and "budget" not in first["reason"], first["reason"]  # the limit it met
    assert time.monotonic() - started < 40


def test_a_model_retrained_before_is_retrained_again_only_where_the_window_holds_more_epochs():
    # A finished study searched again under a budget kept its 1-epoch final model, and left
    # its final window idle.
    study = optuna.create_study(direction="maximize")
    _completed(study, 0.88, fit=9.0)
    _completed(study, 0.87, fit=9.0)
    study.set_user_attr("final_models", {"0": "models:/m-0", "1": "models:/m-1"})
    study.set_user_attr("final_epochs", {"0": [1]})  # trial 1's were not recorded (an older study)
    first, second = (TrialRecord.of(t) for t in study.trials)
    assert _keeps(study, first, None)  # no final window: nothing to gain
    assert _keeps(study, first, 1) and not _keeps(study, first, 6)
    assert _keeps(study, second, 6)
