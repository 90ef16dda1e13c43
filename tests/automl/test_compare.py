"""A finalist's retraining on train+validation continues from its search model; a later comparison
compares what an export exports."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from typing import Any

import keras
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import automl
import pipelines
import searchspace
from automl import _compare
from automl._compare import _candidate, _retrain, _Retrained, _search_model, compare_study
from automl._config import StudyConfig
from automl._data import StudyData
from automl._ensemble import average_models
from automl._hparams import TrainingSpec
from automl._mcnemar import Finalist, compare_finalists
from automl._records import StudyRecord, TrialRecord, record_final_model, record_retrained, record_viewed_model
from automl._stores import default_tracking_uri
from automl._studies import best_trials, load_existing, study_tracker
from automl._views import count_views, views_for, with_views
from automl._winner import export_winner
from tests.automl.helpers import RecordingRun

_SHAPE = (8, 8, 1)


def _study_data() -> StudyData:
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.integers(0, 256, (n, *_SHAPE)).astype(np.uint8), np.arange(n) % 3

    splits = pipelines.Splits(train=split(64), val=split(16), test=split(16), class_names=("a", "b", "c"))
    return StudyData(dataset=None, splits=splits, normalization=pipelines.Normalization.fit(splits.train[0]))  # type: ignore[arg-type]


def _record(architecture: searchspace.ArchitectureSpec) -> TrialRecord:
    training = TrainingSpec(batch_size=16, epochs=3, learning_rate=1e-4, steps_per_epoch=4)
    return TrialRecord(number=7, state=TrialState.COMPLETE, architecture=architecture, training=training)


def _search_model_of(architecture: searchspace.ArchitectureSpec, data: StudyData, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return _candidate(_record(architecture), data)


def _distance(a: keras.Model, b: keras.Model) -> float:
    return float(sum(np.abs(u - v).sum() for u, v in zip(a.get_weights(), b.get_weights(), strict=True)))


def test_a_retraining_starts_from_the_search_models_weights() -> None:
    """Stopped after its first batch, a retraining given the search model is still next to
    it, while one from scratch is as far from it as another initialisation."""
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = _record(architecture)
    search = _search_model_of(architecture, data, seed=123)
    stopped = time.monotonic()  # StopAt ends each training after its first batch
    continued = _retrain(record, data, epochs=3, seed=0, until=stopped, start=search)
    scratch = _retrain(record, data, epochs=3, seed=0, until=stopped)
    assert _distance(continued.model, search) < 0.1 * _distance(scratch.model, search)
    assert continued.epochs == scratch.epochs == 1  # stopped in the first: the model card says so


def test_a_search_model_of_another_shape_is_not_used_and_said() -> None:
    data = _study_data()
    record = _record(searchspace.CLASSICS["lenet"](_SHAPE, 3))
    other = _search_model_of(searchspace.CLASSICS["vgg"](_SHAPE, 3), data, seed=1)
    said: list[str] = []
    model, epochs = _retrain(record, data, epochs=1, seed=0, until=None, start=other, progress=said.append)
    assert any("retraining from scratch, its search model does not fit" in line for line in said)
    assert epochs == 1
    assert model.count_params() == searchspace.build_model(record.architecture, _SHAPE, 3).count_params()


def test_a_trial_without_a_saved_model_retrains_from_scratch() -> None:
    said: list[str] = []
    record = _record(searchspace.CLASSICS["lenet"](_SHAPE, 3))
    assert _search_model(record, tracker=None, progress=said.append) is None  # type: ignore[arg-type]
    assert said == []


def _timed_record(architecture: searchspace.ArchitectureSpec) -> TrialRecord:
    return dataclasses.replace(_record(architecture), timings={"fit": 3.0})


def test_two_members_continue_from_the_search_model_then_start_from_scratch(monkeypatch) -> None:
    """The first member is next to the search model after one batch; the second, from
    scratch with another seed, is as far from it as another initialisation."""
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = _timed_record(architecture)
    search = _search_model_of(architecture, data, seed=123)
    monkeypatch.setattr(_compare, "_search_model", lambda record, tracker, progress: search)
    until = time.monotonic() + 3600.0
    plan = _compare._MemberPlan(epochs=1, first_until=time.monotonic(), scratch_epochs=2)
    said: list[str] = []
    names: list[str] = []
    stop_after_first_batch = functools.partial(_compare._retrain, until=time.monotonic())

    def retrain(*args, **kwargs):
        kwargs.pop("until")
        names.append(kwargs["name"])
        return stop_after_first_batch(*args, **kwargs)

    monkeypatch.setattr(_compare, "_retrain", retrain)
    final = _compare.FinalTraining(until=until, members=2)
    first, second = _compare._two_members(record, data, final, plan, 0, said.append, None)  # type: ignore[arg-type]
    assert _distance(first.model, search) < 0.1 * _distance(second.model, search)
    assert "retraining as two averaged members" in said[0] and "then 2 epochs from scratch" in said[0]
    assert names == ["trial 7, member 1 of 2", "trial 7, member 2 of 2"]


def test_a_retraining_names_itself_in_its_re_plan_lines() -> None:
    """A final window that holds more epochs re-plans the retraining after its first epoch;
    the line says which model it is about."""
    data = _study_data()
    record = _timed_record(searchspace.CLASSICS["lenet"](_SHAPE, 3))
    said: list[str] = []
    name = f"trial {record.number}, member 2 of 2"
    fill = time.monotonic() + 3600.0
    _retrain(record, data, epochs=2, seed=0, until=None, fill=fill, most=3, progress=said.append, name=name)
    assert said and all(line.startswith(f"{name}: re-planned") for line in said)


def test_without_time_for_a_second_member_the_first_is_kept(monkeypatch) -> None:
    data = _study_data()
    record = _timed_record(searchspace.CLASSICS["lenet"](_SHAPE, 3))
    monkeypatch.setattr(_compare, "_search_model", lambda record, tracker, progress: None)
    now = time.monotonic()
    plan = _compare._MemberPlan(epochs=1, first_until=now, scratch_epochs=2)
    said: list[str] = []
    final = _compare.FinalTraining(until=now, members=2)  # over once the first member has started
    models = _compare._two_members(record, data, final, plan, 0, said.append, None)  # type: ignore[arg-type]
    assert len(models) == 1
    assert "no time left for its second member; it keeps one" in said[-1]


def test_a_second_member_starts_only_with_time_for_its_fewest_useful_epochs(monkeypatch) -> None:
    """After the first member, the second trains only if the epochs that take as many steps
    as the trial (4 of its 5, over train+validation: 5 s) still fit before the window ends."""
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0)
    monkeypatch.setattr(_compare, "_search_model", lambda record, tracker, progress: None)
    monkeypatch.setattr(_compare, "_retrain", lambda record, data, *, epochs, **kwargs: _Retrained(None, epochs))
    data = _study_data()  # 64 training and 16 validation images: 1.25 s an epoch over both
    training = TrainingSpec(batch_size=16, epochs=5, learning_rate=1e-4, steps_per_epoch=4)
    record = dataclasses.replace(
        _record(searchspace.CLASSICS["lenet"](_SHAPE, 3)), training=training, timings={"fit": 5.0}
    )
    plan = _compare._MemberPlan(epochs=2, first_until=1000.0, scratch_epochs=3)

    def members(until: float) -> list[int]:
        final = _compare.FinalTraining(until=until, members=2)
        return [m.epochs for m in _compare._two_members(record, data, final, plan, 0, lambda line: None, None)]  # type: ignore[arg-type]

    assert members(1004.9) == [3]  # from scratch, the first member trains the scratch epochs
    assert members(1005.1) == [3, 3]


def test_a_retraining_kept_by_an_interrupted_run_is_taken_up_only_where_it_is_what_this_run_would_train(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(_compare, "load_keras_file", lambda path: path)
    study = optuna.create_study(direction="maximize")
    saved = tmp_path / "trial-3-member-0.keras"
    saved.write_bytes(b"a model")
    record_retrained(study, 3, [str(saved)], [5])

    def taken_up(final: _compare.FinalTraining, epochs: int | None) -> list[int] | None:
        members = _compare._resumed_retraining(study, 3, final, epochs)
        return None if members is None else [m.epochs for m in members]

    window = _compare.FinalTraining()
    assert taken_up(window, None) == taken_up(window, 5) == taken_up(window, 4) == [5]
    assert taken_up(window, 6) is None  # the window now allows a longer retraining
    assert taken_up(_compare.FinalTraining(epochs=5), None) == [5]
    assert taken_up(_compare.FinalTraining(epochs=4), None) is None  # `--final-epochs 4` asks for another
    assert taken_up(_compare.FinalTraining(epochs=5, seeds=2), None) is None  # and two seeds for two members
    assert _compare._resumed_retraining(study, 2, window, None) is None  # none kept
    saved.unlink()
    assert taken_up(window, None) is None  # its file is gone


_FLIPS_AND_SHIFTS = {**pipelines.AugmentPolicy.none().to_dict(), "hflip_p": 0.5, "pad_crop_p": 0.5, "pad_px": 1}


def test_a_compared_model_has_the_views_that_fit() -> None:
    """All its views without a deadline, only the image past it, as many as ``views`` or the cost budget allow."""
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, flops=1000)
    model = _search_model_of(architecture, data, seed=0)
    x = data.splits.test[0]
    said: list[str] = []

    def views(**final: object) -> int:
        return len(_compare._compared(model, record, x, _compare.FinalTraining(**final), said.append).views)

    assert views(views=10) == 10
    assert (
        said[-1]
        == "trial 7: its predictions average 10 test-time views (the image, its mirror image, one-pixel shifts)"
    )
    assert views(views=10, views_until=time.monotonic() + 3600.0) == 10
    assert views(views=10, views_until=time.monotonic() - 1.0) == 1
    assert views(views=2) == 2 and said[-1].endswith("(the image, its mirror image)")
    assert views(views=10, max_flops=3500) == 3
    assert views(views=1) == 1
    no_flips = dataclasses.replace(record, augmentation={**_FLIPS_AND_SHIFTS, "hflip_p": 0.0})
    assert len(_compare._compared(model, no_flips, x, _compare.FinalTraining(views=10), said.append).views) == 5
    assert _compare._compared(model, record, x, None, said.append).views == ()


class _ViewClock:
    """A clock for ``automl._compare`` on which each prediction takes ``seconds[i]`` (the first
    one traces), so that the views that fit a deadline do not depend on this machine."""

    def __init__(self, seconds: list[float]) -> None:
        self.now, self.seconds = 0.0, list(seconds)

    def monotonic(self) -> float:
        return self.now

    def predicted(self, real: Any) -> Any:
        def predict(*args: Any) -> Any:
            self.now += self.seconds.pop(0)
            return real(*args)

        return predict


@pytest.mark.parametrize(
    ("seconds", "until", "expected"),
    [
        # Each view is expected to take what the last one took: the first, 2 s with its
        # tracing, leaves time for a second by 5 s; then 1 s each: the fourth ends at 5 s.
        ([2.0, 1.0, 1.0, 1.0, 1.0], 5.0, 4),
        ([2.0, 1.0, 1.0, 1.0, 1.0], 4.5, 3),
        # A first view that ends past the deadline is the only one.
        ([6.0, 1.0], 5.0, 1),
        # Views that slow down: the third took 3 s, so a fourth is expected to end at 8 s.
        ([1.0, 1.0, 3.0, 1.0], 7.5, 3),
    ],
)
def test_test_time_views_are_predicted_while_the_next_one_fits_the_deadline(monkeypatch, seconds, until, expected):
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, flops=1000)
    model, x = _search_model_of(architecture, data, seed=0), data.splits.test[0]
    clock = _ViewClock(seconds)
    monkeypatch.setattr(_compare, "time", clock)
    monkeypatch.setattr(_compare, "predict_batches", clock.predicted(_compare.predict_batches))

    compared = _compare._compared(model, record, x, _compare.FinalTraining(views=10, views_until=until), print)

    assert len(compared.views) == expected and clock.now <= max(until, seconds[0])
    # The classes are those of the viewed model that the comparison reports on.
    exported = with_views(model, compared.views)
    expected_classes = np.asarray(exported.predict(x.astype("float32"), verbose=0)).argmax(axis=1)
    assert np.mean(compared.predicted == expected_classes) > 0.99


def test_the_comparison_predicts_what_the_exported_viewed_model_does() -> None:
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, flops=1000)
    model, x = _search_model_of(architecture, data, seed=0), data.splits.test[0]
    compared = _compare._compared(model, record, x, _compare.FinalTraining(views=10), lambda line: None)
    exported = with_views(model, compared.views)
    assert len(compared.views) == 10
    np.testing.assert_array_equal(compared.predicted, exported.predict(x.astype("float32"), verbose=0).argmax(axis=1))
    assert _compare._compared(model, record, x, None, lambda line: None).views == ()


def test_a_plain_comparison_after_a_search_compares_the_models_an_export_exports(workdir) -> None:
    # The search retrains its finalists and compares them with their test-time views; a later
    # `automl compare` (no retraining) compares those same models, so the comparison it
    # records, which the model card quotes, is about the model `automl export` writes.
    searched = automl.search(study_name="c", trials=2, epochs=1, pruner="none", top=2, quiet=True)
    study, config = load_existing("c", storage=None, tracking_uri=None)

    again = compare_study(study, config, top_k=2)

    def finalists(comparison: Any) -> list[tuple[int, float, int, int]]:
        return sorted((f.trial, f.accuracy, f.views, f.members) for f in comparison.finalists)

    assert searched.comparison is not None and finalists(again.comparison) == finalists(searched.comparison)
    exported = export_winner(study, config, workdir / "exports" / "again")
    card = json.loads((exported.result.out_dir / "model_card.json").read_text())
    winner = next(f for f in again.comparison.finalists if f.trial == again.comparison.winner)
    assert card["metrics"]["test_accuracy"] == winner.accuracy and card["test_time_views"] == winner.views


def test_a_retrained_finalists_logged_model_says_where_its_trial_came_from(workdir) -> None:
    # The search's logged model of a trial has its origin.* params; its retrained model
    # (trial-N-final, the one exported) lacked them.
    automl.search(study_name="o", trials=2, epochs=1, pruner="none", top=2, quiet=True)
    study, _ = load_existing("o", storage=None, tracking_uri=None)
    client = MlflowClient(tracking_uri=default_tracking_uri())

    finals = {t.number: _compare.final_model_uri(study, t.number) for t in study.trials}
    assert any(finals.values())
    for trial in study.trials:
        if finals[trial.number] is None:
            continue
        logged = client.get_logged_model(finals[trial.number].removeprefix("models:/"))
        assert logged.name == f"trial-{trial.number}-final"
        assert trial.user_attrs["warm_start"]  # the study's first trials are its warm starts
        assert logged.params["origin.warm_start"] == trial.user_attrs["warm_start"]
        assert "test_accuracy" in {m.key for m in logged.metrics}  # its score, on the model that scored it


def _one_finalist_retrained(
    monkeypatch, name: str, *, through_window: bool = False
) -> tuple[Any, Any, Any, dict[str, float], Any]:
    """A study whose comparison retrained its best finalist and compared the other with
    test-time views added to its search model (one that trained ``through_window``, as a
    study's first trial may); the test accuracies it linked in MLflow."""
    automl.search(study_name=name, trials=2, epochs=1, pruner="none", top=1, quiet=True)  # one retrained
    study, config = load_existing(name, storage=None, tracking_uri=None)
    if through_window:
        records = _compare.finalist_records

        def second_through_window(*args: Any) -> list[TrialRecord]:
            best, other = records(*args)
            return [best, dataclasses.replace(other, through_window=True)]

        monkeypatch.setattr(_compare, "finalist_records", second_through_window)
    tracker = study_tracker(study, config)
    linked: dict[str, float] = {}
    monkeypatch.setattr(
        tracker,
        "log_model_metrics",
        lambda run_id, model_id, metrics: linked.update({model_id: metrics["test_accuracy"]}),
    )
    monkeypatch.setattr(_compare, "_contenders", lambda records, data, margin: records[:1])  # only the best retrains
    final = _compare.FinalTraining(until=time.monotonic() + 60, views=5)
    result = compare_study(study, config, top_k=2, final=final, tracker=tracker)
    return study, config, tracker, linked, result.comparison


def test_a_test_accuracy_is_linked_only_to_the_logged_model_that_scored_it(workdir, monkeypatch) -> None:
    # A finalist left with its search model is compared with test-time views added to it: no
    # logged model is that model, and its accuracy was linked to the plain search model.
    study, _, tracker, linked, comparison = _one_finalist_retrained(monkeypatch, "l")

    kept = [f for f in comparison.finalists if f.kept_search_model]
    retrained = [f for f in comparison.finalists if not f.kept_search_model]
    assert len(kept) == 1 and kept[0].views > 1 and len(retrained) == 1
    final = _compare.final_model_uri(study, retrained[0].trial)
    assert linked == {tracker.model_id_of(final): retrained[0].accuracy}


def test_a_model_trained_through_the_final_window_is_compared_as_a_final_model(workdir, monkeypatch) -> None:
    # It was compared as a search model kept beside retrained finalists, which may win only if
    # significantly more accurate: a first model trained 17 epochs through the window lost to
    # one retrained for a single epoch (a one-minute search with --workers 2).
    *_, comparison = _one_finalist_retrained(monkeypatch, "w", through_window=True)

    assert len(comparison.finalists) == 2
    assert not any(f.kept_search_model for f in comparison.finalists)
    assert "search model" not in comparison.table()


def test_a_card_quotes_the_comparison_only_for_the_model_it_compared(workdir, monkeypatch) -> None:
    # Exported with --trial, that finalist is its plain search model; its card said 5 views,
    # their FLOPs and their test accuracy.
    study, config, _, _, comparison = _one_finalist_retrained(monkeypatch, "k")
    (kept,) = [f for f in comparison.finalists if f.kept_search_model]
    record = next(r for r in best_trials(study, 2) if r.number == kept.trial)

    exported = export_winner(study, config, workdir / "exports" / "kept", trial=kept.trial)
    card = json.loads((exported.result.out_dir / "model_card.json").read_text())

    assert kept.views > 1 and card["test_time_views"] == 1 and card["members"] == 1
    assert card["metrics"]["test_accuracy"] is None
    assert (exported.result.out_dir / "model_card.md").read_text().startswith(f"# Model card: k-trial-{kept.trial}\n")
    assert card["metrics"]["flops"] == record.flops and card["metrics"]["params"] == record.params
    winner = export_winner(study, config, workdir / "exports" / "winner")
    compared = next(f for f in comparison.finalists if f.trial == winner.trial)
    winner_card = json.loads((winner.result.out_dir / "model_card.json").read_text())
    assert winner_card["metrics"]["test_accuracy"] == compared.accuracy
    assert winner_card["test_time_views"] == compared.views
    assert "the winner of 2 finalists compared on this test split" in winner_card["metrics"]["test_accuracy_note"]
    assert "test_accuracy_note" not in card["metrics"]
    # The settings that define the study, the same as the search's own export wrote them
    # (not this command's defaults: 6 trials where the search ran 2).
    searched_card = json.loads((workdir / "exports" / "k" / "model_card.json").read_text())
    assert winner_card["settings"] == searched_card["settings"] and "trials" not in winner_card["settings"]
    assert winner_card["settings"]["seed"] == config.seed


def _finalists_retrained(
    monkeypatch, records: list[TrialRecord], final: _compare.FinalTraining
) -> tuple[list[tuple[int, int, int]], list[str], dict[int, list[int]]]:
    """What ``_final_models`` retrains, as (trial, epochs, seed) (each retraining recorded, not
    run), what it says, and the epochs it reports for each finalist's members."""
    retrained: list[tuple[int, int, int]] = []

    def retrain(record: TrialRecord, data: StudyData, *, epochs: int, seed: int, **kwargs: object) -> _Retrained:
        retrained.append((record.number, epochs, seed))
        return _Retrained(model=None, epochs=epochs)  # type: ignore[arg-type]

    monkeypatch.setattr(_compare, "_retrain", retrain)
    monkeypatch.setattr(_compare, "_keep_retrained", lambda *args: None)
    monkeypatch.setattr(_compare, "_search_model", lambda record, tracker, progress: None)
    said: list[str] = []
    study = optuna.create_study(direction="maximize")
    _, _, epochs = _compare._final_models(study, records, _study_data(), final, 0, said.append, None, 0.01)  # type: ignore[arg-type]
    return retrained, said, epochs


def _finalists(*numbers: int) -> list[TrialRecord]:
    record = _timed_record(searchspace.CLASSICS["lenet"](_SHAPE, 3))
    return [dataclasses.replace(record, number=n, val_accuracy=0.9, params=100, flops=1000) for n in numbers]


def test_final_epochs_and_seeds_retrain_every_finalist_for_those_epochs_once_a_seed(monkeypatch) -> None:
    # `automl compare --final-epochs 5 --seeds 2`: each finalist trains 5 epochs (not its
    # trial's 3) with two different seeds, whose models are averaged; the time it says is
    # both seeds' (6.25 s each).
    retrained, said, epochs = _finalists_retrained(
        monkeypatch, _finalists(4, 2), _compare.FinalTraining(epochs=5, seeds=2)
    )
    assert [(number, e) for number, e, _ in retrained] == [(4, 5), (4, 5), (2, 5), (2, 5)]
    assert retrained[0][2] != retrained[1][2] and retrained[2][2] != retrained[3][2]
    assert epochs == {4: [5, 5], 2: [5, 5]}
    assert said == [
        "trial 4: retraining on train+validation for 5 epochs, from scratch (~12s)",
        "trial 2: retraining on train+validation for 5 epochs, from scratch (~12s)",
    ]


def test_seeds_beyond_the_study_s_cost_budget_are_not_retrained(monkeypatch) -> None:
    final = _compare.FinalTraining(epochs=1, seeds=3, max_params=250)  # two models of 100 parameters fit
    retrained, said, epochs = _finalists_retrained(monkeypatch, _finalists(4), final)
    assert len(retrained) == 2 and epochs == {4: [1, 1]}
    assert said[0].startswith("trial 4: 2 seed(s) averaged, not 3")
    assert said[1] == "trial 4: retraining on train+validation for 1 epoch, from scratch (~2s)"


def test_a_retraining_fits_on_every_training_and_validation_image(monkeypatch) -> None:
    data = _study_data()
    fitted: list[tuple[np.ndarray, np.ndarray]] = []
    batches = _compare.batches_for_backend

    def recorded(arrays: tuple[np.ndarray, np.ndarray], *args: Any, **kwargs: Any) -> Any:
        fitted.append(arrays)
        return batches(arrays, *args, **kwargs)

    monkeypatch.setattr(_compare, "batches_for_backend", recorded)
    _retrain(_record(searchspace.CLASSICS["lenet"](_SHAPE, 3)), data, epochs=1, seed=0, until=time.monotonic())
    ((x, y),) = fitted
    (train_x, train_y), (val_x, val_y) = data.splits.train, data.splits.val
    np.testing.assert_array_equal(x, np.concatenate([train_x, val_x]))
    np.testing.assert_array_equal(y, np.concatenate([train_y, val_y]))


def _averaged_pair(data: StudyData) -> tuple[TrialRecord, keras.Model]:
    """A finalist of 100 parameters and 1,000 FLOPs retrained as two averaged members."""
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, params=100, flops=1000)
    members = [_search_model_of(architecture, data, seed=s) for s in (0, 1)]
    return record, average_models(members)


def test_the_views_of_an_averaged_model_count_all_its_members_flops() -> None:
    # Two members of 1,000 FLOPs cost 2,000 a view: 3,500 hold one view, not three.
    data = _study_data()
    record, averaged = _averaged_pair(data)
    x = data.splits.test[0]
    final = _compare.FinalTraining(views=10, max_flops=3500)
    assert len(_compare._compared(averaged, record, x, final, lambda line: None).views) == 1
    final = _compare.FinalTraining(views=10, max_flops=4000)
    assert len(_compare._compared(averaged, record, x, final, lambda line: None).views) == 2


def test_a_model_compared_without_views_says_nothing_of_them() -> None:
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    record = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, flops=1000)
    said: list[str] = []
    model = _search_model_of(architecture, data, seed=0)
    compared = _compare._compared(model, record, data.splits.test[0], _compare.FinalTraining(views=1), said.append)
    assert len(compared.views) == 1 and said == []


def test_a_finalists_cost_counts_its_members_and_its_views() -> None:
    data = _study_data()
    record, averaged = _averaged_pair(data)
    record = dataclasses.replace(record, val_accuracy=0.5)
    x, y = data.splits.test
    compared = _compare._compared(averaged, record, x, _compare.FinalTraining(views=3), lambda line: None)
    viewed = with_views(compared.model, compared.views)
    finalist = _compare._finalist(record, compared, viewed, y, kept_search_model=False)
    assert (finalist.members, finalist.views) == (2, 3)
    assert (finalist.params, finalist.flops) == (200, 6000)  # the views cost FLOPs, not parameters
    assert finalist.accuracy == float(np.mean(compared.predicted == y)) and finalist.val_accuracy == 0.5


class _Tracker:
    """The calls ``automl._compare`` makes to an MLflow tracker, remembered."""

    def __init__(self) -> None:
        self.run, self.parent_run_id, self.files = RecordingRun("parent"), "parent", {}

    def parent(self) -> RecordingRun:
        return self.run

    def log_json(self, run_id: str, data: dict, name: str) -> None:
        self.files[name] = data

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self.files[name] = text

    def log_artifact_files(self, run_id: str, paths: list, folder: str) -> None:
        self.files.update({f"{folder}/{p.name}": p.read_bytes()[:4] for p in paths})


def test_the_comparison_reports_its_winner_where_it_is_not_the_first_finalist(monkeypatch) -> None:
    y = np.arange(60) % 3
    predictions = {1: (y + 1) % 3, 4: y.copy()}  # trial 4, the second finalist, is right everywhere
    finalists = [
        Finalist(trial=1, accuracy=0.0, val_accuracy=0.9, params=100, flops=1000),
        Finalist(trial=4, accuracy=1.0, val_accuracy=0.8, params=100, flops=1000),
    ]
    comparison = compare_finalists(y, predictions, finalists)
    assert comparison.winner == 4
    drawn: list[np.ndarray] = []
    plot = _compare.plot_confusion_matrix
    monkeypatch.setattr(
        _compare,
        "plot_confusion_matrix",
        lambda y_true, y_pred, *rest: drawn.append(y_pred) or plot(y_true, y_pred, *rest),
    )
    result = _compare.FinalistsResult(
        comparison=comparison, predictions=predictions, y_test=y, class_names=("a", "b", "c")
    )
    tracker = _Tracker()

    _compare._log_comparison(tracker, result)  # type: ignore[arg-type]

    np.testing.assert_array_equal(drawn[0], predictions[4])  # the winner's confusion matrix
    assert tracker.run.tags["winner_trial"] == 4 and tracker.run.metrics == {"winner_test_accuracy": [(1.0, 0)]}
    assert tracker.files["comparison/mcnemar.json"]["winner"] == 4
    assert {"comparison/pvalues_heatmap.png", "comparison/winner_confusion_matrix.png"} <= set(tracker.files)


def test_a_retrained_finalist_is_logged_to_its_trials_run_and_recorded_with_its_epochs(monkeypatch, tmp_path) -> None:
    logged: list[dict] = []

    def log_model(tracker: Any, model: Any, **kwargs: Any) -> Any:
        logged.append(kwargs)
        return type("Logged", (), {"uri": f"models:/m-{kwargs['name']}"})()

    monkeypatch.setattr(_compare, "log_model", log_model)
    study = optuna.create_study(direction="maximize")
    member = tmp_path / "trial-7-member-0.keras"
    member.write_bytes(b"a model")
    record_retrained(study, 7, [str(member)], [5, 6])
    record = dataclasses.replace(_record(searchspace.CLASSICS["lenet"](_SHAPE, 3)), mlflow_run_id="trial-run")
    data = dataclasses.replace(_study_data(), dataset=type("Dataset", (), {"value_map": None})())
    config = StudyConfig(study_name="s")
    _compare._log_final_models(study, {7: "model"}, [record], data, config, _Tracker(), {7: [5, 6]})  # type: ignore[arg-type]

    (kwargs,) = logged
    assert kwargs["run_id"] == "trial-run" and kwargs["name"] == "trial-7-final"
    assert kwargs["tags"]["trained_on"] == "train+validation" and kwargs["tags"]["optuna.trial_number"] == "7"
    stored = StudyRecord.of(study)
    assert stored.final_models == {7: "models:/m-trial-7-final"} and stored.final_epochs == {7: [5, 6]}
    assert stored.retrained == {} and not member.exists()  # the kept members are logged now


class _LinkingTracker(_Tracker):
    def __init__(self) -> None:
        super().__init__()
        self.linked: dict[str, float] = {}

    def model_id_of(self, uri: str) -> str:
        return uri.removeprefix("models:/")

    def log_model_metrics(self, run_id: str, model_id: str, metrics: dict) -> None:
        self.linked[model_id] = metrics["test_accuracy"]


def _compare_with_stand_ins(
    monkeypatch,
    final: _compare.FinalTraining | None,
    *,
    retrained_now: dict,
    earlier: set[int],
    stored: bool = False,
    before: Any = lambda study: None,
    loaded: dict | None = None,
) -> tuple[Any, list[int], _LinkingTracker, optuna.Study]:
    """``compare_study`` of four finalists of one architecture, nothing trained or loaded from
    MLflow: trial 1 retrained now (``retrained_now``), trial 2 by an earlier comparison
    (``earlier``), trials 3 (flipped and shifted in its search) and 4 (not augmented) left with
    their search models. Returns its result, the trials whose final model it logged, the
    tracker and the study. With ``stored``, the finalists' models retrained before are
    found as a plain comparison finds them; ``before`` prepares the study, ``loaded`` are
    the models of some logged models."""
    data = _study_data()
    architecture = searchspace.CLASSICS["lenet"](_SHAPE, 3)
    base = dataclasses.replace(_record(architecture), augmentation=_FLIPS_AND_SHIFTS, flops=1000, params=100)
    records = [
        dataclasses.replace(
            base, number=n, val_accuracy=0.9 - n / 100, mlflow_run_id=f"run-{n}", model_uri=f"models:/m-{n}"
        )
        for n in (1, 2, 3, 4)
    ]
    records[3] = dataclasses.replace(records[3], augmentation=None)
    study = optuna.create_study(direction="maximize")
    models = {n: _search_model_of(architecture, data, seed=n) for n in (1, 2, 3, 4)}
    logged: list[int] = []
    monkeypatch.setattr(_compare, "best_trials", lambda study, n: records[:n])
    monkeypatch.setattr(_compare, "finalist_records", lambda study, top_k, n_val: records)
    if not stored:
        retrained = {n: [models[n]] for n in (*retrained_now, *earlier)}
        monkeypatch.setattr(_compare, "_final_models", lambda *args: (retrained, set(earlier), retrained_now))
    monkeypatch.setattr(_compare, "load_trial_model", lambda record, tracker: models[record.number])
    monkeypatch.setattr(
        _compare, "load_model", lambda tracker, uri: (loaded or {}).get(uri) or models[int(uri.split("-")[-1])]
    )
    before(study)
    monkeypatch.setattr(_compare, "_log_final_models", lambda study, new, *args: logged.extend(new))
    tracker = _LinkingTracker()
    result = compare_study(study, StudyConfig(study_name="s"), top_k=4, final=final, tracker=tracker, data=data)  # type: ignore[arg-type]
    return result, logged, tracker, study


def test_a_final_training_compares_its_models_with_their_views_and_logs_only_the_new_ones(monkeypatch) -> None:
    final = _compare.FinalTraining(views=5)
    result, logged, tracker, _ = _compare_with_stand_ins(monkeypatch, final, retrained_now={1: [3]}, earlier={2})
    finalists = {f.trial: f for f in result.comparison.finalists}
    assert finalists[1].views == 5  # retrained now: its views
    assert finalists[2].views == 1  # retrained before: the views it was logged with (none)
    assert finalists[3].views == 5 and finalists[4].views == 1
    assert [n for n, f in finalists.items() if f.kept_search_model] == [3, 4]
    assert logged == [1]
    # The final models are exported with the views they were compared with.
    assert set(result.final_models) == {1, 2} and count_views(result.final_models[1]) == 5
    assert set(result.search_models) == {3} and count_views(result.search_models[3]) == 5
    # Trial 4's plain search model is the logged one it scored with; trial 3's viewed one is in no store.
    assert tracker.linked == {"m-4": finalists[4].accuracy}


def test_a_plain_comparison_compares_what_an_export_exports_and_logs_nothing_new(monkeypatch) -> None:
    # Trial 2's final model, retrained by an earlier comparison, is loaded: compared without
    # more views and not logged again. Trial 3 was exported before with 4 views: that viewed
    # model is the one compared.
    monkeypatch.setattr(_compare, "final_model_uri", lambda study, n: "models:/final-2" if n == 2 else None)
    viewed = with_views(
        _search_model_of(searchspace.CLASSICS["lenet"](_SHAPE, 3), _study_data(), seed=3),
        views_for(_FLIPS_AND_SHIFTS, _SHAPE)[:4],
    )
    result, logged, _, _ = _compare_with_stand_ins(
        monkeypatch,
        None,
        retrained_now={},
        earlier=set(),
        stored=True,
        before=lambda study: record_viewed_model(study, 3, "models:/viewed-3"),
        loaded={"models:/viewed-3": viewed},
    )
    finalists = {f.trial: f for f in result.comparison.finalists}
    assert logged == [] and set(result.final_models) == {2}
    assert (finalists[1].views, finalists[2].views, finalists[3].views, finalists[4].views) == (1, 1, 4, 1)
    assert [n for n, f in finalists.items() if f.kept_search_model] == [1, 3, 4]  # beside a retrained one
    monkeypatch.setattr(_compare, "final_model_uri", lambda study, n: None)  # none retrained, ever
    result, *_ = _compare_with_stand_ins(monkeypatch, None, retrained_now={}, earlier=set(), stored=True)
    assert not any(f.kept_search_model for f in result.comparison.finalists) and result.final_models == {}


def test_a_final_model_recorded_as_a_local_file_gets_no_linked_test_accuracy(monkeypatch, tmp_path) -> None:
    # Older studies recorded a retrained model's local path, no logged model: nothing to link to.
    path = tmp_path / "trial-2-final.keras"
    path.write_bytes(b"a model")
    _, _, tracker, _ = _compare_with_stand_ins(
        monkeypatch,
        _compare.FinalTraining(views=5),
        retrained_now={1: [3]},
        earlier={2},
        before=lambda study: record_final_model(study, 2, str(path)),
    )
    assert set(tracker.linked) == {"m-4"}
