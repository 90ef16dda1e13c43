"""Sampling with Optuna: conditional ``arch.*`` parameters, determinism, TPE, adaptation to the input."""

from __future__ import annotations

import itertools
import re

import optuna
import pytest

import searchspace as ss
from tests.searchspace.helpers import SHAPES, random_trials

KERNEL_TYPES = {"conv", "residual", "bottleneck"}


def _samples(n, input_shape, space=None, seed=0):
    space = space or ss.SearchSpace.default()
    for trial in itertools.islice(random_trials(seed), n):
        yield trial, ss.sample_architecture(trial, space, input_shape=input_shape, num_classes=10)


@pytest.mark.parametrize("input_shape", SHAPES)
def test_parameters_exist_only_where_their_parent_does(input_shape):
    space = ss.SearchSpace(block_types=ss.Choice(choices=tuple(sorted(ss.BLOCKS))))
    for trial, spec in _samples(100, input_shape, space):
        params = trial.params
        assert all(name.startswith("arch.") for name in params)
        stages = params["arch.stages"]
        assert len(spec.stages) == stages
        assert not any(name.startswith(f"arch.s{stages + 1}") for name in params)
        for i in range(1, stages + 1):
            blocks = params[f"arch.s{i}.blocks"]
            assert not any(name.startswith(f"arch.s{i}b{blocks + 1}.") for name in params)
            for j in range(1, blocks + 1):
                kind = params[f"arch.s{i}b{j}.type"]
                assert (f"arch.s{i}b{j}.kernel_size" in params) == (kind in KERNEL_TYPES)
                assert f"arch.s{i}b{j}.bottleneck_ratio" not in params or kind == "bottleneck"
                assert f"arch.s{i}b{j}.padding" not in params or kind == "conv"
        dense = params["arch.head.dense_layers"]
        units = sorted(name for name in params if re.fullmatch(r"arch\.head\.dense\d+\.units", name))
        assert units == [f"arch.head.dense{k}.units" for k in range(1, dense + 1)]
        assert spec.head.dense_units == tuple(params[name] for name in units)


def test_same_seed_same_specs_and_other_seed_other_specs():
    first = [spec for _, spec in _samples(30, (28, 28, 1), seed=7)]
    again = [spec for _, spec in _samples(30, (28, 28, 1), seed=7)]
    other = [spec for _, spec in _samples(30, (28, 28, 1), seed=8)]
    assert first == again
    assert first != other


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("input_shape", [(8, 8, 1), (32, 32, 3)])
def test_tpe_multivariate_grouped_sampling_runs(input_shape):
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, n_startup_trials=5)
    study = optuna.create_study(sampler=sampler)

    def objective(trial):
        spec = ss.sample_architecture(trial, ss.SearchSpace.default(), input_shape=input_shape, num_classes=10)
        return ss.analyze(spec, input_shape, 10).params

    study.optimize(objective, n_trials=20)  # a parameter whose distribution changed would raise here
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({frozenset(t.params) for t in study.trials}) > 1  # the structure varies between trials


@pytest.mark.parametrize(("input_shape", "most"), [((8, 8, 1), 3), ((28, 28, 1), 5), ((32, 32, 3), 5), ((1, 1, 1), 0)])
def test_downsampling_stops_when_the_map_is_one_pixel(input_shape, most):
    deep = ss.SearchSpace(stages=ss.IntRange(low=6, high=6), blocks_per_stage=ss.IntRange(low=1, high=1))
    for trial, spec in _samples(50, input_shape, deep):
        analysis = ss.analyze(spec, input_shape, 10)
        downsamples = sum(f"arch.s{i}.downsample" in trial.params for i in range(2, 7))
        assert downsamples <= most
        features = next(info for info in reversed(analysis.layers) if len(info.output_shape) == 3)
        if downsamples < 5:
            assert features.output_shape[:2] == (1, 1)


def test_valid_padding_is_offered_only_where_the_kernel_fits():
    space = ss.SearchSpace(paddings=ss.Choice(choices=("valid",)), kernel_sizes=ss.Choice(choices=(5, 7)))
    for trial, spec in _samples(50, (6, 6, 1), space):
        ss.analyze(spec, (6, 6, 1), 10)  # feasible
        for name in (n for n in trial.params if n.endswith(".padding")):
            assert trial.params[name.replace("padding", "kernel_size")] <= 6


@pytest.mark.parametrize("input_shape", SHAPES + [(2, 2, 1), (5, 3, 2)])
def test_default_space_samples_tile_every_input(input_shape):
    space = ss.SearchSpace(block_types=ss.Choice(choices=tuple(sorted(ss.BLOCKS))))
    for _, spec in _samples(200, input_shape, space):
        ss.analyze(spec, input_shape, 10)


def test_flatten_is_offered_only_for_small_maps():
    # One to three stages: single-stage samples leave maps too large to flatten.
    space = ss.SearchSpace(
        head_pooling=ss.Choice(choices=("flatten",)), max_flatten_features=300, stages=ss.IntRange(low=1, high=3)
    )
    poolings = set()
    for trial, spec in _samples(50, (8, 8, 1), space):
        flattened = [info for info in ss.analyze(spec, (8, 8, 1), 10).layers if info.name == "head_flatten"]
        assert ("arch.head.pooling" in trial.params) == bool(flattened)
        assert all(info.output_shape[0] <= 300 for info in flattened)
        poolings.add(spec.head.pooling)
    assert poolings == {"flatten", "gap"}


def test_invalid_input_shape_is_quoted():
    trial = next(random_trials(0))
    with pytest.raises(ValueError, match=r"got \(0, 8, 1\)"):
        ss.sample_architecture(trial, ss.SearchSpace.default(), input_shape=(0, 8, 1), num_classes=10)


@pytest.mark.parametrize(("input_shape", "largest_map"), [((8, 8, 1), 2), ((28, 28, 1), 7), ((32, 32, 3), 8)])
def test_default_samples_normalise_and_downsample_before_the_head(input_shape, largest_map):
    """What lets a sample learn in its first epoch: batch norm, and no global pooling of a large map."""
    for _, spec in _samples(60, input_shape):
        assert all(block.batch_norm for _, _, block in spec.blocks() if hasattr(block, "batch_norm"))
        assert len(spec.stages) >= 3
        analysis = ss.analyze(spec, input_shape, 10)
        features = next(info for info in reversed(analysis.layers) if len(info.output_shape) == 3)
        assert max(features.output_shape[:2]) <= largest_map


@pytest.mark.parametrize(
    ("input_shape", "stride", "pools", "stage_input"),
    [
        ((56, 56, 3), 1, 0, (56, 56)),  # at most stem_max_size: full resolution
        ((64, 64, 3), 2, 0, (32, 32)),
        ((96, 128, 3), 2, 0, (48, 64)),  # the smaller side decides
        ((224, 224, 3), 2, 1, (56, 56)),
        ((227, 227, 1), 2, 2, (28, 28)),  # 'same' stride-2 conv: ceil(227 / 2) = 114, then pools
    ],
)
def test_the_stem_halves_large_inputs_down_to_stem_max_size(input_shape, stride, pools, stage_input):
    for _, spec in _samples(5, input_shape):
        conv, *rest = spec.stem
        assert conv.stride == stride
        assert [(b.kind, b.size, b.stride) for b in rest] == [("max", 2, 2)] * pools
        stem = [info for info in ss.analyze(spec, input_shape, 10).layers if info.name.startswith("s0")]
        assert stem[-1].output_shape[:2] == stage_input


def test_stem_max_size_is_a_space_setting():
    small = ss.SearchSpace(stem_max_size=16)
    for _, spec in _samples(5, (32, 32, 3), small):
        assert spec.stem[0].stride == 2
    assert ss.SearchSpace.from_dict({"stem_max_size": 16}) == small
    with pytest.raises(ss.SearchSpaceError, match="stem_max_size"):
        ss.SearchSpace(stem_max_size=0)


@pytest.mark.parametrize("rising", [True, False])
def test_stage_widths_rise_unless_the_space_lets_them_fall(rising):
    space = ss.SearchSpace(rising_widths=rising)
    fell = 0
    for trial, spec in _samples(60, (28, 28, 1), space):
        sampled = [trial.params[f"arch.s{i}.filters"] for i in range(1, len(spec.stages) + 1)]
        widest = list(itertools.accumulate(sampled, max))
        fell += sampled != widest
        for stage, width in zip(spec.stages, widest if rising else sampled, strict=True):
            assert {block.filters for block in stage.blocks if hasattr(block, "filters")} <= {width}
    assert fell > 10  # the space samples falling widths: the setting decides what they build
    assert ss.SearchSpace.from_dict({"rising_widths": rising}) == space


def test_rising_widths_must_be_true_or_false():
    with pytest.raises(ss.SearchSpaceError, match="space.rising_widths must be true or false, got 'yes'"):
        ss.SearchSpace.from_dict({"rising_widths": "yes"})


def test_hidden_head_layers_are_at_least_as_wide_as_the_classes():
    # 43% of the hidden layers sampled for 100 classes had 16-99 units: logits of rank < 100.
    widths = [
        units
        for trial in itertools.islice(random_trials(3), 200)
        for units in ss.sample_architecture(
            trial, ss.SearchSpace.default(), input_shape=(32, 32, 3), num_classes=100
        ).head.dense_units
    ]
    assert len(widths) > 20 and min(widths) == 100 and max(widths) > 100
