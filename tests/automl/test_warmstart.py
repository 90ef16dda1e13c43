"""Warm starts: every registered configuration is a valid trial of the default space, run first by the driver."""

from __future__ import annotations

import re
import warnings

import optuna
import pytest
from optuna.trial import TrialState

import pipelines
import searchspace as ss
from automl._config import StudyConfig
from automl._data import load_study_data
from automl._driver import run_study
from automl._hparams import TrainingSpec, sample_training
from automl._progress import Progress
from automl._records import TrialRecord
from automl._studies import enqueue_trials
from automl._warmstart import WARM_STARTS, LeftOut, enqueue_warm_starts, resolve_warm_starts
from tests.automl.helpers import stores

SHAPES = [(8, 8, 1), (16, 16, 1), (28, 28, 1), (32, 32, 3), (480, 640, 3)]


def _configs(shape, **kwargs):
    return resolve_warm_starts(shape, 10, 3_250, max_epochs=3, **kwargs)[0]


@pytest.mark.parametrize("flips", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(WARM_STARTS))
def test_each_warm_start_is_a_feasible_trial_of_the_default_space(
    name: str, shape: tuple[int, int, int], flips: bool
) -> None:
    config = {c.name: c for c in _configs(shape, flips=flips)}[name]
    spec = ss.ArchitectureSpec.from_dict(config.architecture)
    ss.analyze(spec, shape, 10)  # tiles the input
    assert all(block.batch_norm for _, _, block in spec.blocks() if hasattr(block, "batch_norm"))
    training = TrainingSpec.from_dict(config.training)
    assert training.epochs == 3 and training.schedule == "warmup_cosine"
    policy = pipelines.AugmentPolicy.from_dict(config.augmentation)
    assert policy.hflip_p == (0.5 if flips else 0.0)  # only images that look the same in a mirror

    # An Optuna trial with these parameters fixed samples exactly this configuration, every
    # value inside its distribution (Optuna would warn otherwise), and asks for no other.
    study = optuna.create_study()
    study.enqueue_trial(config.params)
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampled = ss.sample_architecture(trial, ss.SearchSpace.default(), input_shape=shape, num_classes=10)
        assert sample_training(trial, max_epochs=3, num_train=3_250) == training
        assert pipelines.sample_augmentation(trial, input_shape=shape, flips=flips) == policy
    assert sampled == spec
    assert trial.params == config.params


def test_warm_starts_the_space_cannot_express_are_left_out_with_the_reason() -> None:
    residual_only = ss.SearchSpace(block_types=ss.Choice(choices=("residual",)))
    assert [c.name for c in _configs((28, 28, 1), space=residual_only)] == ["resnet"]
    no_batch_norm = ss.SearchSpace(batch_norm=ss.Choice(choices=(False,)))
    assert _configs((28, 28, 1), space=no_batch_norm) == []
    _, left_out = resolve_warm_starts((28, 28, 1), 10, 3_250, max_epochs=3, space=residual_only)
    reason = "the search space does not offer arch.s1b1.type='conv'"  # not "'conv' not in ('residual',)"
    assert left_out == [LeftOut(name="convnet", reason=reason)]
    narrow = ss.SearchSpace(filters=ss.IntRange(low=8, high=32, log=True))
    _, left_out = resolve_warm_starts((28, 28, 1), 10, 3_250, max_epochs=3, space=narrow)
    assert [x.name for x in left_out] == ["convnet", "resnet"]
    assert all(x.reason.startswith("the search space does not offer arch.s2.filters=48") for x in left_out)
    only_pools_of_3 = ss.SearchSpace(pool_sizes=ss.Choice(choices=(3,)))
    _, left_out = resolve_warm_starts((28, 28, 1), 10, 3_250, max_epochs=3, space=only_pools_of_3)
    assert {x.reason for x in left_out} == {"the search space does not offer arch.s2.pool_size=2"}


def test_warm_starts_over_the_budget_are_kept_where_a_narrowing_fits() -> None:
    everything = _configs((28, 28, 1))
    smallest = min(
        ss.analyze(ss.ArchitectureSpec.from_dict(c.architecture), (28, 28, 1), 10).params for c in everything
    )
    # The trials narrow them (``searchspace.fit_budget``): a warm start over a budget that a
    # narrowing meets still runs first.
    assert len(_configs((28, 28, 1), max_params=smallest // 4)) == len(everything)
    assert _configs((28, 28, 1), max_flops=1_000) == []
    _, left_out = resolve_warm_starts((28, 28, 1), 10, 3_250, max_epochs=3, max_flops=1_000)
    assert [x.name for x in left_out] == list(WARM_STARTS)
    reason = r"[\d,]+ FLOPs \(multiply-accumulates\) exceed --max-flops 1,000, and it has .* at 1/64 of its widths"
    assert all(re.fullmatch(reason, x.reason) for x in left_out)


def test_a_new_study_says_which_warm_starts_it_left_out_and_why(workdir, capsys: pytest.CaptureFixture) -> None:
    config = StudyConfig(study_name="w", trials=4, epochs=1, max_flops=1_000, **stores(workdir))
    study = optuna.create_study()
    enqueue_trials(study, config, load_study_data(config))
    assert [TrialRecord.of(t).warm_start for t in study.trials] == [None] * 4
    assert re.search(
        r"^note: warm start 'resnet' left out: [\d,]+ FLOPs \(multiply-accumulates\) exceed --max-flops 1,000, .*$",
        capsys.readouterr().err,
        re.MULTILINE,
    )


def test_the_batch_size_follows_the_training_split() -> None:
    small, large = (resolve_warm_starts((8, 8, 1), 10, n, max_epochs=2)[0][0] for n in (1_000, 60_000))
    assert small.training["batch_size"] == 32 and large.training["batch_size"] == 128


def test_the_shifts_are_a_fourteenth_of_the_shorter_side() -> None:
    assert {c.params["aug.pad_px"] for c in _configs((16, 64, 1))} == {1}
    assert {c.params["aug.pad_px"] for c in _configs((28, 28, 1))} == {2}


def test_bad_inputs_are_quoted() -> None:
    with pytest.raises(ValueError, match=r"got input_shape=\(0, 8, 1\)"):
        resolve_warm_starts((0, 8, 1), 10, 100, max_epochs=1)[0]
    with pytest.raises(ValueError, match="num_classes=1"):
        resolve_warm_starts((8, 8, 1), 1, 100, max_epochs=1)[0]


def test_enqueueing_stops_at_the_limit() -> None:
    study = optuna.create_study()
    assert enqueue_warm_starts(study, _configs((8, 8, 1)), limit=0) == 0 and not study.trials
    assert enqueue_warm_starts(study, _configs((8, 8, 1)), limit=1) == 1
    (waiting,) = study.get_trials(states=(TrialState.WAITING,))
    assert TrialRecord.of(waiting).warm_start == "convnet"


def test_a_study_runs_seeds_then_warm_starts_then_sampled_trials(workdir) -> None:
    config = StudyConfig(study_name="w", trials=4, epochs=1, seed_architectures=("lenet",), **stores(workdir))
    study = run_study(config, progress=Progress(total=4, quiet=True)).study
    trials = sorted(study.trials, key=lambda t: t.number)
    assert [t.user_attrs.get("seed_architecture") for t in trials] == ["lenet", None, None, None]
    assert [TrialRecord.of(t).warm_start for t in trials] == [None, "convnet", "resnet", None]
    splits = load_study_data(config).splits
    configs = {c.name: c for c in resolve_warm_starts((8, 8, 1), 10, len(splits.train[1]), max_epochs=1)[0]}
    for trial in trials[1:3]:
        assert trial.state == TrialState.COMPLETE
        assert trial.params == configs[TrialRecord.of(trial).warm_start].params
        assert trial.user_attrs["training"] == configs[TrialRecord.of(trial).warm_start].training
    assert "arch.stages" in trials[3].params  # sampled
