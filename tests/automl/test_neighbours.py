"""Neighbours of the best trial: nearby values inside each distribution, valid trials of the
space, and every other trial of a time-budgeted TPE search."""

from __future__ import annotations

import dataclasses
import functools
import math
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

import pipelines
import searchspace as ss
from automl._config import StudyConfig
from automl._hparams import sample_training
from automl._neighbours import LINEAR_SHARE, LOG_FACTOR, incumbent, move, neighbour_params
from automl._records import INFEASIBLE_KEY, TrialRecord, record_sample, recorded_config_key, with_seed_architecture
from automl._studies import NEIGHBOUR_DRAWS, top_up
from automl._trial import config_key_of
from automl._warmstart import resolve_warm_starts

SHAPE = (28, 28, 1)

pytestmark = pytest.mark.usefixtures("workdir")  # top_up takes the default store's lock file: not in the repo


def _draws(value, dist, n=200):
    rng = np.random.default_rng(0)
    return [move(value, dist, rng) for _ in range(n)]


def test_a_log_float_moves_by_at_most_its_factor_and_stays_inside():
    dist = FloatDistribution(1e-4, 1e-2, log=True)
    moved = _draws(3e-3, dist)
    assert all(3e-3 / LOG_FACTOR - 1e-12 <= v <= 3e-3 * LOG_FACTOR + 1e-12 for v in moved)
    assert len({round(v, 12) for v in moved}) > 100
    assert min(moved) < 3e-3 / math.sqrt(LOG_FACTOR) and max(moved) > 3e-3 * math.sqrt(LOG_FACTOR)  # both ways
    near_top = _draws(8e-3, dist)
    assert max(near_top) == pytest.approx(1e-2) and all(v <= 1e-2 for v in near_top)  # clipped, never beyond


def test_a_linear_float_moves_by_a_share_of_its_range_on_its_step():
    dist = FloatDistribution(0.0, 0.5, step=0.1)
    moved = _draws(0.2, dist)
    assert all(abs(v - 0.2) <= LINEAR_SHARE * 0.5 + 1e-9 for v in moved)
    assert all(math.isclose(v / 0.1, round(v / 0.1), abs_tol=1e-9) for v in moved)
    assert {round(v, 9) for v in moved} == {0.1, 0.3}  # never back where it started


def test_a_float_on_a_coarse_grid_moves_at_least_one_step():
    # A quarter of the range, rounded to the step, left it where it was: never on 0..0.2 by
    # 0.1, and one time in four for a stage's dropout of 0.0 in the default space.
    assert {round(v, 9) for v in _draws(0.1, FloatDistribution(0.0, 0.2, step=0.1))} == {0.0, 0.2}
    assert {round(v, 9) for v in _draws(0.0, FloatDistribution(0.0, 0.5, step=0.25))} == {0.25}
    assert {round(v, 9) for v in _draws(0.0, FloatDistribution(0.0, 0.3, step=0.1))} == {0.1}
    assert {round(v, 9) for v in _draws(0.3, FloatDistribution(0.0, 0.3, step=0.1))} == {0.2}


def test_an_int_moves_one_step_and_a_log_int_by_a_factor_of_two():
    assert set(_draws(2, IntDistribution(1, 3))) == {1, 3}
    assert set(_draws(3, IntDistribution(1, 3))) == {2}  # the top can only go down
    assert set(_draws(32, IntDistribution(8, 64, log=True))) == {16, 64}
    assert set(_draws(5, IntDistribution(5, 5))) == {5}  # nothing is near
    assert set(_draws(40, IntDistribution(32, 48, log=True))) == {39, 41}  # no factor of two inside: a step


def test_an_ordered_choice_moves_one_notch_and_another_kind_to_any_other():
    assert set(_draws(32, CategoricalDistribution((16, 24, 32, 48, 64)))) == {24, 48}
    assert set(_draws(16, CategoricalDistribution((16, 24, 32, 48, 64)))) == {24}
    assert set(_draws("conv", CategoricalDistribution(("conv", "residual", "inception")))) == {"residual", "inception"}
    assert set(_draws(True, CategoricalDistribution((True, False)))) == {False}


def test_a_distribution_without_a_move_is_quoted():
    class Odd(BaseDistribution):
        def to_external_repr(self, v):
            return v

        def to_internal_repr(self, v):
            return v

        def single(self):
            return False

        def _contains(self, v):
            return True

    with pytest.raises(TypeError, match="no move for distribution .*Odd"):
        move(1, Odd(), np.random.default_rng(0))


def _finished(study: optuna.Study, params: dict, value: float, state=TrialState.COMPLETE, **attrs) -> None:
    study.enqueue_trial(params, user_attrs=attrs or None)
    trial = study.ask()
    _sample_all(trial)  # asks for every parameter: the trial records their distributions
    study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)


def _sample_all(trial) -> tuple:
    spec = ss.sample_architecture(trial, ss.SearchSpace.default(), input_shape=SHAPE, num_classes=10)
    training = sample_training(trial, max_epochs=3, num_train=3_250)
    policy = pipelines.sample_augmentation(trial, input_shape=SHAPE)
    return spec, training, policy


def _warm_start_params() -> dict:
    # With flips allowed, as ``_sample_all`` asks for them: every parameter it asks is fixed.
    return resolve_warm_starts(SHAPE, 10, 3_250, max_epochs=3, flips=True)[0][0].params


@pytest.mark.parametrize("seed", range(40))
def test_a_neighbour_is_a_valid_trial_one_or_two_parameters_away(seed):
    study = optuna.create_study(direction="maximize")
    _finished(study, _warm_start_params(), 0.9)
    best = study.trials[0]

    params = neighbour_params(best, np.random.default_rng(seed))

    changed = {k for k in best.params if params[k] != best.params[k]}
    assert 1 <= len(changed) <= 2
    assert all(best.distributions[k]._contains(best.distributions[k].to_internal_repr(params[k])) for k in params)
    # The sampler runs it without a warning (no value out of its range), and the
    # architecture it gives tiles the input.
    study.enqueue_trial(params)
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec, _, _ = _sample_all(trial)
    ss.analyze(spec, SHAPE, 10)
    asked = set(trial.params)
    assert all(trial.params[k] == params[k] for k in asked & set(params))


def test_the_incumbent_is_the_best_complete_trial_that_is_not_a_seed_architecture():
    study = optuna.create_study(direction="maximize")
    assert incumbent(study) is None
    params = _warm_start_params()
    _finished(study, params, 0.80)
    _finished(study, params, 0.95, state=TrialState.PRUNED)
    _finished(study, params, 0.99, **with_seed_architecture("lenet"))
    _finished(study, params, 0.85)
    assert incumbent(study).number == 3
    _finished(study, params, 0.85)  # as good, later: the first to reach it stays the incumbent
    assert incumbent(study).number == 3


def _top_up_once(study: optuna.Study, config: StudyConfig) -> optuna.trial.FrozenTrial:
    top_up(study, config)
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    trial = study.ask()  # takes the waiting one
    assert trial.number == waiting.number
    study.tell(trial, state=TrialState.FAIL)
    return waiting


def test_every_other_trial_of_a_tpe_search_is_a_neighbour_of_the_best_one():
    study = optuna.create_study(direction="maximize")
    config = StudyConfig(time_budget=60, trials=10)
    _finished(study, _warm_start_params(), 0.9)
    _finished(study, _warm_start_params(), 0.7)

    even, odd = _top_up_once(study, config), _top_up_once(study, config)

    assert TrialRecord.of(even).neighbour_of == 0
    fixed = even.system_attrs["fixed_params"]
    assert set(fixed) == set(study.trials[0].params) and fixed != study.trials[0].params
    assert TrialRecord.of(odd).neighbour_of is None and not odd.system_attrs["fixed_params"]  # all sampled
    # Reproducible: the same seed and trial number give the same neighbour.
    again = optuna.create_study(direction="maximize")
    _finished(again, _warm_start_params(), 0.9)
    _finished(again, _warm_start_params(), 0.7)
    assert _top_up_once(again, config).system_attrs["fixed_params"] == fixed


@pytest.mark.parametrize(
    "config", [StudyConfig(sampler="random", trials=10), StudyConfig(objective="pareto", trials=10)]
)
def test_random_and_pareto_searches_get_no_neighbours(config):
    study = optuna.create_study(direction="maximize")
    _finished(study, _warm_start_params(), 0.9)
    _finished(study, _warm_start_params(), 0.7)
    assert TrialRecord.of(_top_up_once(study, config)).neighbour_of is None


def test_without_a_complete_trial_or_past_the_cap_nothing_is_a_neighbour():
    study = optuna.create_study(direction="maximize")
    _finished(study, _warm_start_params(), 0.9, state=TrialState.PRUNED)
    _finished(study, _warm_start_params(), 0.7, state=TrialState.PRUNED)
    assert TrialRecord.of(_top_up_once(study, StudyConfig(trials=10))).neighbour_of is None
    top_up(study, StudyConfig(trials=3))
    assert not study.get_trials(states=(TrialState.WAITING,))


def _context(config: StudyConfig) -> SimpleNamespace:
    """What ``config_key_of`` reads of a study's context, for ``SHAPE`` images as ``_sample_all`` asks."""
    splits = SimpleNamespace(train=(np.zeros((3_250, *SHAPE), np.uint8), np.zeros(3_250, np.int64)))
    return SimpleNamespace(
        config=config, input_shape=SHAPE, num_classes=10, splits=splits, data=SimpleNamespace(flips=True)
    )


def _trained(study: optuna.Study, params: dict, value: float) -> optuna.trial.FrozenTrial:
    """A complete trial that sampled ``params`` and recorded what it trained, as a trial does."""
    study.enqueue_trial(params)
    trial = study.ask()
    spec, training, policy = _sample_all(trial)
    record_sample(trial, spec, training, policy.to_dict())
    study.tell(trial, value)
    return study.trials[-1]


def test_a_trial_s_parameters_give_the_key_of_what_it_recorded_and_rising_widths_undo_a_narrowing():
    ctx = _context(StudyConfig(epochs=3))
    study = optuna.create_study(direction="maximize")
    params = _warm_start_params()
    best = _trained(study, params, 0.9)

    key = config_key_of(best.params, ctx)
    assert key is not None and key == recorded_config_key(best)
    last = f"arch.s{params['arch.stages']}.filters"
    assert params[last] > params["arch.s1.filters"]
    narrowed = {**params, last: params["arch.s1.filters"]}  # below the stage before it: widened again
    assert config_key_of(narrowed, ctx) == key
    assert config_key_of({**params, "train.learning_rate": params["train.learning_rate"] / 2}, ctx) != key
    assert config_key_of({k: v for k, v in params.items() if k != last}, ctx) is None  # left to the sampler


def test_parameters_of_an_architecture_over_the_cost_budget_even_narrowed_give_the_infeasible_key():
    # Not None ("left to the sampler"): a neighbour that cannot be is drawn again, not queued.
    params = _warm_start_params()
    assert config_key_of(params, _context(StudyConfig(epochs=3))) not in (None, INFEASIBLE_KEY)
    assert config_key_of(params, _context(StudyConfig(epochs=3, max_params=10))) == INFEASIBLE_KEY


def test_a_trial_re_planned_to_other_epochs_keeps_the_key_of_its_parameters():
    # A trial re-planned, cut or stopped by the budget records the epochs it ran; a neighbour
    # that moves nothing must still be known for what it is.
    ctx = _context(StudyConfig(epochs=3))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(_warm_start_params())
    trial = study.ask()
    spec, training, policy = _sample_all(trial)
    record_sample(trial, spec, dataclasses.replace(training, epochs=8, steps_per_epoch=40), policy.to_dict())
    study.tell(trial, 0.9)
    assert config_key_of(study.trials[0].params, ctx) == recorded_config_key(study.trials[0])


# Tops up the queue of the study at argv[1], slowly: both processes see an empty queue first.
TOP_UP_SLOWLY = """
import sys, time, optuna
import automl._studies as studies
from automl._config import StudyConfig

def slow_incumbent(study, real=studies.incumbent):
    time.sleep(3)
    return real(study)

studies.incumbent = slow_incumbent
study = optuna.load_study(study_name="s", storage=sys.argv[1])
studies.top_up(study, StudyConfig(time_budget=60, trials=1000, storage=sys.argv[1]))
"""


def test_workers_topping_up_together_queue_one_trial(workdir):
    url = f"sqlite:///{workdir / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    _trained(study, _warm_start_params(), 0.9)
    _trained(study, _warm_start_params(), 0.8)  # trial 2 is a neighbour of trial 0

    command = [sys.executable, "-c", TOP_UP_SLOWLY, url]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [w.communicate(timeout=120)[1] for w in workers]

    assert [w.returncode for w in workers] == [0, 0], errors
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))  # not the same neighbour twice
    assert TrialRecord.of(waiting).neighbour_of == 0


def test_a_neighbour_that_would_train_what_a_trial_trained_is_drawn_again():
    ctx = _context(StudyConfig(epochs=3))
    config = StudyConfig(time_budget=60, trials=10, epochs=3)
    study = optuna.create_study(direction="maximize")
    best = _trained(study, _warm_start_params(), 0.9)
    rng = np.random.default_rng([config.seed, 2])  # what trial 2's neighbour draws
    first, second = neighbour_params(best, rng), neighbour_params(best, rng)
    assert len({config_key_of(p, ctx) for p in (best.params, first, second)}) == 3
    _trained(study, first, 0.7)  # trial 1 trained the first draw already

    top_up(study, config, config_key=functools.partial(config_key_of, ctx=ctx))

    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert TrialRecord.of(waiting).neighbour_of == 0 and waiting.system_attrs["fixed_params"] == second
    # Without the keys, it would have run the first draw again.
    again = optuna.create_study(direction="maximize")
    _trained(again, _warm_start_params(), 0.9)
    _trained(again, first, 0.7)
    top_up(again, config)
    assert again.get_trials(states=(TrialState.WAITING,))[0].system_attrs["fixed_params"] == first


def test_a_neighbour_that_cannot_be_is_drawn_again():
    # Fully fixed but over --max-params even narrowed: it was queued, and failed as infeasible.
    config = StudyConfig(time_budget=60, trials=10, epochs=3)
    study = optuna.create_study(direction="maximize")
    _trained(study, _warm_start_params(), 0.9)
    _trained(study, _warm_start_params(), 0.7)
    drawn = []

    def infeasible_twice(params):
        drawn.append(params)
        return INFEASIBLE_KEY if len(drawn) <= 2 else f"new-{len(drawn)}"

    top_up(study, config, config_key=infeasible_twice)

    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert len(drawn) == 3 and waiting.system_attrs["fixed_params"] == drawn[2]


def test_when_every_neighbour_drawn_was_trained_the_sampler_picks():
    config = StudyConfig(time_budget=60, trials=10, epochs=3)
    study = optuna.create_study(direction="maximize")
    best = _trained(study, _warm_start_params(), 0.9)
    _trained(study, _warm_start_params(), 0.7)
    drawn = []

    def trained_already(params):
        drawn.append(params)
        return recorded_config_key(best)

    top_up(study, config, config_key=trained_already)

    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert TrialRecord.of(waiting).neighbour_of is None and not waiting.system_attrs.get("fixed_params")
    assert len(drawn) == NEIGHBOUR_DRAWS
