"""Every registered block type: analysis equals Keras, serialisation round-trips, fields are checked."""

from __future__ import annotations

import dataclasses
import itertools

import optuna
import pytest

import searchspace as ss
from tests.searchspace.helpers import build_and_compare, random_trials

# A map where every 'valid' window fits, an odd one, and one too small for most windows.
BLOCK_INPUTS = [(9, 9, 3), (7, 5, 4), (2, 2, 6)]


def _sampled_blocks(name: str, input_shape: tuple[int, int, int], n: int) -> list[ss.Block]:
    space = ss.SearchSpace(block_types=ss.Choice(choices=(name,)))
    trials = random_trials(sum(input_shape))
    blocks = []
    for trial, filters in zip(itertools.islice(trials, n), (5, 8, 12), strict=False):
        ctx = ss.SampleContext(
            trial=trial,
            space=space,
            prefix="arch.s1b1",
            shape=input_shape,
            filters=filters,
            activation="relu",
            batch_norm=trial.number % 2 == 0,
        )
        blocks.append(ss.BLOCKS[name].sample(ctx))
    return blocks


def _single_block_spec(block: ss.Block) -> ss.ArchitectureSpec:
    return ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(block,)),))


@pytest.mark.parametrize("name", sorted(ss.BLOCKS))
@pytest.mark.parametrize("input_shape", BLOCK_INPUTS)
def test_sampled_block_matches_keras(name, input_shape):
    for block in _sampled_blocks(name, input_shape, n=3):
        assert type(block) is ss.BLOCKS[name]
        build_and_compare(_single_block_spec(block), input_shape)


@pytest.mark.parametrize("name", sorted(ss.BLOCKS))
def test_block_dict_round_trip(name):
    for block in _sampled_blocks(name, (9, 9, 3), n=3):
        data = block.to_dict()
        assert data["type"] == name
        spec = _single_block_spec(block)
        assert ss.ArchitectureSpec.from_json(spec.to_json()).stages[0].blocks[0] == block


def test_registry_names_the_contracted_types():
    assert {"conv", "pool", "bottleneck", "residual", "inception", "dropout", "batchnorm"} <= set(ss.BLOCKS)
    for name, cls in ss.BLOCKS.items():
        assert cls.type_name == name
        assert dataclasses.is_dataclass(cls)


def test_registering_a_taken_name_fails():
    from searchspace._blocks import register

    with pytest.raises(ValueError, match="'conv' is already registered"):
        register("conv")(ss.ConvBlock)


def _kinds(spec, input_shape=(8, 8, 4)):
    return {info.name: info for info in ss.analyze(spec, input_shape, 10).layers}


def test_residual_identity_shortcut_when_shape_is_kept():
    layers = _kinds(_single_block_spec(ss.ResidualBlock(filters=4)))
    assert not any(name.startswith("s1b1_proj") for name in layers)
    assert [n for n in layers if n.endswith("_conv")] == ["s1b1_1_conv", "s1b1_2_conv"]
    assert layers["s1b1_add"].output_shape == (8, 8, 4)


@pytest.mark.parametrize(("filters", "stride", "out"), [(4, 2, (4, 4, 4)), (6, 1, (8, 8, 6)), (6, 2, (4, 4, 6))])
def test_residual_projection_when_shape_changes(filters, stride, out):
    spec = _single_block_spec(ss.ResidualBlock(filters=filters, stride=stride))
    model, analysis = build_and_compare(spec, (8, 8, 4))
    projection = model.get_layer("s1b1_proj_conv")
    assert projection.kernel_size == (1, 1) and projection.strides == (stride, stride)
    assert model.get_layer("s1b1_add").output.shape[1:] == out


def test_residual_bottleneck_has_three_convolutions():
    spec = _single_block_spec(ss.ResidualBlock(filters=8, reduce=2, kernel_size=5, stride=2))
    model, _ = build_and_compare(spec, (8, 8, 8))
    kernels = [model.get_layer(f"s1b1_{part}_conv").kernel_size for part in ("reduce", "mid", "expand")]
    assert kernels == [(1, 1), (5, 5), (1, 1)]
    assert model.get_layer("s1b1_mid_conv").strides == (2, 2)
    assert model.get_layer("s1b1_proj_conv").strides == (2, 2)


def test_bottleneck_reduces_convolves_and_expands():
    spec = _single_block_spec(ss.BottleneckBlock(filters=16, reduce=4, kernel_size=3))
    model, _ = build_and_compare(spec, (6, 6, 8))
    channels = [model.get_layer(f"s1b1_{part}_conv").filters for part in ("reduce", "mid", "expand")]
    assert channels == [4, 4, 16]
    assert model.get_layer("s1b1_mid_conv").kernel_size == (3, 3)


@pytest.mark.parametrize(("filters", "ratio", "reduce"), [(5, 4, 5), (12, 4, 8), (16, 4, 8), (16, 2, 8), (64, 4, 16)])
def test_a_sampled_bottleneck_keeps_at_least_eight_channels(filters, ratio, reduce):
    # A 16-filter stage with ratio 4 passed 4 channels (a 12-filter one 3), with no skip
    # around them; such samples trained far slower than with conv blocks.
    space = ss.SearchSpace(
        block_types=ss.Choice(choices=("bottleneck",)), bottleneck_ratios=ss.Choice(choices=(ratio,))
    )
    trial = next(iter(random_trials(0)))
    ctx = ss.SampleContext(
        trial=trial,
        space=space,
        prefix="arch.s1b1",
        shape=(8, 8, 4),
        filters=filters,
        activation="relu",
        batch_norm=True,
    )
    block = ss.BLOCKS["bottleneck"].sample(ctx)
    assert (block.filters, block.reduce) == (filters, reduce)


def test_inception_concatenates_four_branches():
    block = ss.InceptionBlock(branch1=3, branch3_reduce=2, branch3=5, branch5_reduce=1, branch5=2, pool_proj=4)
    model, analysis = build_and_compare(_single_block_spec(block), (7, 7, 6))
    concat = model.get_layer("s1b1_concat")
    assert len(concat.input) == 4
    assert concat.output.shape[1:] == (7, 7, 3 + 5 + 2 + 4)
    assert model.get_layer("s1b1_5x5_conv").kernel_size == (5, 5)


def test_inception_from_width_keeps_googlenet_ratios():
    block = ss.InceptionBlock.from_width(256, activation="relu", batch_norm=False)
    assert (block.branch1, block.branch3_reduce, block.branch3) == (64, 96, 128)
    assert (block.branch5_reduce, block.branch5, block.pool_proj) == (16, 32, 32)


def test_batch_norm_has_four_parameters_per_channel():
    layers = _kinds(_single_block_spec(ss.BatchNormBlock()), (5, 5, 7))
    assert layers["s1b1_bn"].params == 4 * 7
    model, _ = build_and_compare(_single_block_spec(ss.BatchNormBlock()), (5, 5, 7))
    assert len(model.get_layer("s1b1_bn").weights) == 4


def test_conv_without_bias_under_batch_norm():
    plain = _kinds(_single_block_spec(ss.ConvBlock(filters=5, kernel_size=3)), (6, 6, 2))
    normed = _kinds(_single_block_spec(ss.ConvBlock(filters=5, kernel_size=3, batch_norm=True)), (6, 6, 2))
    assert plain["s1b1_conv"].params - normed["s1b1_conv"].params == 5


@pytest.mark.parametrize(
    ("make", "quoted"),
    [
        (lambda: ss.ConvBlock(filters=8, kernel_size=4), "got 4"),
        (lambda: ss.ConvBlock(filters=0), "got 0"),
        (lambda: ss.ConvBlock(filters=8, padding="full"), "got 'full'"),
        (lambda: ss.ConvBlock(filters=8, activation="softplus"), "got 'softplus'"),
        (lambda: ss.ConvBlock(filters=8, dropout=1.0), "got 1.0"),
        (lambda: ss.PoolBlock(kind="min"), "got 'min'"),
        (lambda: ss.PoolBlock(size=4), "got 4"),
        (lambda: ss.ResidualBlock(filters=8, reduce=0), "got 0"),
        (lambda: ss.ResidualBlock(filters=8, batch_norm="yes"), "got 'yes'"),
        (lambda: ss.DropoutBlock(rate=-0.1), "got -0.1"),
        (lambda: ss.ConvBlock(filters=True), "got True"),
        (lambda: ss.ConvBlock(filters=8, kernel_size=True), "got True"),  # not read as kernel size 1
    ],
)
def test_invalid_block_fields_are_quoted(make, quoted):
    with pytest.raises(ValueError, match=quoted):
        make()


@pytest.mark.parametrize(("map_size", "padding"), [(3, "valid"), (2, "same")])
def test_a_fitting_pool_is_valid_where_its_window_fits_the_map_exactly(map_size, padding):
    pool = ss.PoolBlock.fitting(kind="max", size=3, map_size=map_size)
    assert pool.padding == padding
    shape = (
        ss.analyze(
            ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(pool,)),), head=ss.HeadSpec()), (map_size, map_size, 1), 2
        )
        .layers[0]
        .output_shape
    )
    assert shape[:2] == (1, 1)


@pytest.mark.parametrize(("map_size", "offered"), [(3, {"same", "valid"}), (2, {"same"})])
def test_a_sampled_conv_is_offered_valid_padding_where_its_kernel_fits_the_map_exactly(map_size, offered):
    space = ss.SearchSpace.from_dict({"kernel_sizes": [3], "paddings": ["valid", "same"]})
    paddings = set()
    for seed in range(12):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        ctx = ss.SampleContext(
            trial=study.ask(),
            space=space,
            prefix="b",
            shape=(map_size, map_size, 4),
            filters=8,
            activation="relu",
            batch_norm=False,
        )
        paddings.add(ss.ConvBlock.sample(ctx).padding)
    assert paddings == offered
