"""Which trial an export takes, and what its model card quotes of the comparison."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import keras
import optuna
import pytest
from optuna.trial import TrialState

from automl._config import StudyConfig
from automl._ensemble import average_models
from automl._errors import UserError
from automl._records import TrialRecord, record_comparison, record_final_model, record_model, record_result
from automl._views import View, with_views
from automl._winner import _winner, build_card


def _trial(study: optuna.Study, val_accuracy: float, *, model: bool = True) -> None:
    trial = study.ask()
    record_result(trial, val_accuracy)
    if model:
        record_model(trial, uri=f"models:/m-{trial.number}", path=f"/tmp/m-{trial.number}.keras")
    study.tell(trial, val_accuracy)


def test_the_winner_is_the_requested_trial_else_the_comparison_s_else_the_best():
    study = optuna.create_study(study_name="w", direction="maximize")
    with pytest.raises(UserError, match="study 'w' has no completed trial to export"):
        _winner(study, None)
    with pytest.raises(UserError, match=r"study 'w' has no trial 3 \(it has no trial yet\)$"):
        _winner(study, 3)  # it said "numbered 0 to -1"
    for accuracy, model in ((0.5, True), (0.8, True), (0.9, False)):
        _trial(study, accuracy, model=model)

    assert _winner(study, None).number == 1  # the best with a saved model
    assert _winner(study, 0).number == 0
    record_comparison(study, {"winner": 0, "finalists": []})
    assert _winner(study, None).number == 0
    with pytest.raises(UserError, match="trial 2 of study 'w' has no saved model to export"):
        _winner(study, 2)
    with pytest.raises(UserError, match=r"study 'w' has no trial 9 \(its trials are numbered 0 to 2\)$"):
        _winner(study, 9)


def _model() -> keras.Model:
    image = keras.Input((8, 8, 1))
    return keras.Model(image, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(image)))


def _data(value_map: tuple[float, float] | None = None) -> Any:
    dataset = SimpleNamespace(value_map=value_map, conversions=(), source="digits", summary=dict)
    return SimpleNamespace(
        class_names=("a", "b", "c"),
        input_shape=(8, 8, 1),
        dataset=dataset,
        normalization=SimpleNamespace(to_dict=lambda: {"mean": [0.0], "std": [1.0]}),
        splits=SimpleNamespace(summary=dict),
    )


def _card(
    study: optuna.Study, number: int, model: keras.Model, *, retrained: bool = True, data: Any = None
) -> dict[str, Any]:
    record = TrialRecord(number=number, state=TrialState.COMPLETE, val_accuracy=0.8, params=100, flops=1000)
    config = StudyConfig(study_name="w")
    return build_card(study, record, config, data or _data(), retrained=retrained, model=model)


def test_a_card_quotes_the_comparison_of_the_model_it_compared():
    study = optuna.create_study(study_name="w")
    record_comparison(
        study,
        {
            "winner": 1,
            "finalists": [
                {"trial": 1, "accuracy": 0.9, "members": 2, "views": 1, "params": 250, "flops": 2500},
                {"trial": 2, "accuracy": 0.85, "members": 1, "views": 1, "params": 100, "flops": 1000},
            ],
        },
    )
    record_final_model(study, 1, "models:/f-1", epochs=[3, 2])

    winner = _card(study, 1, average_models([_model(), _model()]))
    assert winner["members"] == 2 and winner["test_time_views"] == 1
    assert winner["metrics"]["test_accuracy"] == 0.9
    assert (winner["metrics"]["params"], winner["metrics"]["flops"]) == (250, 2500)
    assert winner["metrics"]["test_accuracy_note"].startswith("the winner of 2 finalists compared on this test split")
    assert winner["trained_on"] == "train+validation (retrained after the search)"
    assert winner["retraining_epochs"] == [3, 2]

    other = _card(study, 2, _model())
    assert other["metrics"]["test_accuracy"] == 0.85 and "test_accuracy_note" not in other["metrics"]

    searched = _card(study, 1, _model(), retrained=False)  # not the model the comparison compared
    assert searched["metrics"]["test_accuracy"] is None and "test_accuracy_note" not in searched["metrics"]
    assert searched["trained_on"] == "train (the search's model)" and searched["retraining_epochs"] is None


def test_the_only_finalist_s_card_has_no_note_of_a_best_of_several():
    study = optuna.create_study(study_name="w")
    record_comparison(study, {"winner": 1, "finalists": [{"trial": 1, "accuracy": 0.9}]})
    card = _card(study, 1, _model())
    assert card["metrics"]["test_accuracy"] == 0.9 and "test_accuracy_note" not in card["metrics"]


def test_an_uncompared_model_s_cost_counts_its_members_and_views():
    study = optuna.create_study(study_name="w")
    views = (View(), View(flip=True), View(dy=1))
    card = _card(study, 4, with_views(average_models([_model(), _model()]), views), retrained=False)
    assert card["members"] == 2 and card["test_time_views"] == 3
    assert card["metrics"]["params"] == 2 * 100 and card["metrics"]["flops"] == 2 * 3 * 1000
    assert card["metrics"]["test_accuracy"] is None and card["mcnemar"] is None
    assert card["preprocessing"]["input"].startswith("raw pixel values in 0..255 (float32)")


def test_a_card_of_data_that_were_not_pixels_says_the_model_takes_those_values():
    card = _card(optuna.create_study(study_name="w"), 0, _model(), data=_data(value_map=(0.0, 255.0)))
    assert card["preprocessing"]["input"].startswith("the training data's values, as given (not pixels)")
