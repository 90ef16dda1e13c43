"""The analyzer: window arithmetic against Keras, infeasibility messages, budgets, receptive fields."""

from __future__ import annotations

import itertools
import json

import keras
import numpy as np
import pytest

import searchspace as ss
from tests.searchspace.helpers import build_and_compare

WINDOWS = list(itertools.product(range(1, 10), (1, 3, 5, 7), (1, 2), ("same", "valid")))


def _one_stage(*blocks):
    return ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=blocks),))


@pytest.mark.parametrize(("size", "kernel", "stride", "padding"), WINDOWS)
def test_conv_sides_agree_with_keras(size, kernel, stride, padding):
    layer = keras.layers.Conv2D(3, kernel, strides=stride, padding=padding)
    spec = _one_stage(ss.ConvBlock(filters=3, kernel_size=kernel, stride=stride, padding=padding))
    try:
        keras_shape = layer.compute_output_shape((None, size, size + 1, 2))
    except ValueError:  # Keras refuses a window larger than its input
        keras_shape = (None, 0, 0, 3)
    if min(keras_shape[1:3]) < 1:
        with pytest.raises(ss.InfeasibleArchitecture, match=f"{kernel}x{kernel} kernel"):
            ss.analyze(spec, (size, size + 1, 2), 10)
    else:
        assert ss.analyze(spec, (size, size + 1, 2), 10).layers[0].output_shape == tuple(keras_shape[1:])


@pytest.mark.parametrize(("size", "window", "padding"), list(itertools.product(range(1, 7), (2, 3), ("same", "valid"))))
def test_pool_sides_agree_with_keras(size, window, padding):
    layer = keras.layers.MaxPooling2D(window, strides=2, padding=padding)
    spec = _one_stage(ss.PoolBlock(size=window, padding=padding))
    try:
        keras_shape = layer.compute_output_shape((None, size, size, 2))
    except ValueError:
        keras_shape = (None, 0, 0, 2)
    if min(keras_shape[1:3]) < 1:
        with pytest.raises(ss.InfeasibleArchitecture, match="does not fit"):
            ss.analyze(spec, (size, size, 2), 10)
    else:
        assert ss.analyze(spec, (size, size, 2), 10).layers[0].output_shape == tuple(keras_shape[1:])


def test_too_many_pools_name_stage_block_and_sizes():
    pools = tuple(ss.StageSpec(blocks=(ss.PoolBlock(),)) for _ in range(4))
    spec = ss.ArchitectureSpec(stem=(ss.ConvBlock(filters=4),), stages=pools)
    assert ss.analyze(spec, (16, 16, 1), 10).layers[-3].output_shape == (1, 1, 4)
    with pytest.raises(ss.InfeasibleArchitecture) as info:
        ss.analyze(spec, (8, 8, 1), 10)
    message = str(info.value)
    assert message.startswith("stage 4, block 1 (pool): layer s4b1_pool:")
    assert "2x2" in message and "1x1 input" in message


def test_valid_conv_on_a_small_map_names_the_stem():
    spec = ss.ArchitectureSpec(stem=(ss.ConvBlock(filters=4, kernel_size=7, padding="valid"),), stages=())
    with pytest.raises(ss.InfeasibleArchitecture, match=r"stage 0 \(stem\), block 1 \(conv\).*7x7 kernel.*5x6 input"):
        ss.analyze(spec, (5, 6, 3), 10)


def test_infeasible_architecture_is_never_built():
    spec = _one_stage(ss.ConvBlock(filters=4, kernel_size=5, padding="valid"))
    with pytest.raises(ss.InfeasibleArchitecture):
        ss.build_model(spec, (3, 3, 1), 10)


@pytest.mark.parametrize(
    ("input_shape", "num_classes"),
    [((8, 8), 10), ((8, 8, 0), 10), ((8, 8, 1.5), 10), ((8, 8, 1), 1), ((8, 8, 1), 10.0), ((8, 8, 1), True)],
)
def test_invalid_inputs_are_quoted(input_shape, num_classes):
    spec = _one_stage(ss.ConvBlock(filters=4))
    with pytest.raises(ValueError, match="got"):
        ss.analyze(spec, input_shape, num_classes)


def test_numpy_integers_are_a_shape_and_a_class_count_as_a_data_set_gives_them():
    # y.max() + 1 and x.shape[1:] are NumPy integers; the class count was refused.
    spec = _one_stage(ss.ConvBlock(filters=4))
    labels = np.array([0, 3, 9])
    shape = tuple(np.array([8, 8, 1]))

    analysis = ss.analyze(spec, shape, labels.max() + 1)
    model = ss.build_model(spec, shape, labels.max() + 1)

    assert analysis.to_dict() == ss.analyze(spec, (8, 8, 1), 10).to_dict()
    assert type(analysis.num_classes) is int and model.output_shape == (None, 10)
    assert ss.classic("lenet", shape, np.int32(10)) == ss.classic("lenet", (8, 8, 1), 10)


def test_check_budget_quotes_the_numbers():
    analysis = ss.analyze(_one_stage(ss.ConvBlock(filters=4)), (8, 8, 1), 10)
    ss.check_budget(analysis, max_params=None, max_flops=None)
    ss.check_budget(analysis, max_params=analysis.params, max_flops=analysis.flops)
    with pytest.raises(ss.OverBudget, match=f"{analysis.params:,} parameters exceed --max-params 10"):
        ss.check_budget(analysis, max_params=10, max_flops=None)
    with pytest.raises(ss.OverBudget, match=f"{analysis.flops:,} FLOPs .* exceed --max-flops 99"):
        ss.check_budget(analysis, max_params=None, max_flops=99)
    assert issubclass(ss.OverBudget, ss.InfeasibleArchitecture)
    assert issubclass(ss.InfeasibleArchitecture, ValueError)


@pytest.mark.parametrize("limit", [float("nan"), 0, -5, True, 1e6, "1000"])
@pytest.mark.parametrize("name", ["max_params", "max_flops"])
def test_a_limit_that_is_not_a_positive_integer_is_refused_not_read_as_no_limit(name, limit):
    # NaN compared false with every count, so it let everything through; 0 and -5 let nothing.
    spec = _one_stage(ss.ConvBlock(filters=4))
    analysis = ss.analyze(spec, (8, 8, 1), 10)
    limits = {"max_params": None, "max_flops": None}
    with pytest.raises(ValueError, match=f"{name} must be a positive integer or None .*got {limit!r}") as caught:
        ss.check_budget(analysis, **{**limits, name: limit})
    assert not isinstance(caught.value, ss.OverBudget)
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        ss.fit_budget(spec, input_shape=(8, 8, 1), num_classes=10, **{**limits, name: limit})
    ss.check_budget(analysis, **{**limits, name: np.int64(10**9)})


def test_table_and_dict_describe_every_layer():
    spec = ss.classic("lenet", (28, 28, 1), 10)
    analysis = ss.analyze(spec, (28, 28, 1), 10)
    table = analysis.table()
    for info in analysis.layers:
        assert info.name in table
    assert f"{analysis.params:,}" in table and f"receptive field {analysis.receptive_field}" in table
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["params"] == analysis.params and data["flops"] == analysis.flops
    assert [tuple(layer["output_shape"]) for layer in data["layers"]] == analysis.output_shapes


RF_SPECS = {
    "convs and pools": ss.ArchitectureSpec(
        stem=(ss.ConvBlock(filters=3, kernel_size=5, activation="tanh"),),
        stages=(
            ss.StageSpec(blocks=(ss.PoolBlock(kind="avg", size=3), ss.ConvBlock(filters=3, activation="tanh"))),
            ss.StageSpec(blocks=(ss.ConvBlock(filters=3, kernel_size=3, stride=2, activation="tanh"),)),
        ),
    ),
    "residual with projection": ss.ArchitectureSpec(
        stages=(ss.StageSpec(blocks=(ss.ResidualBlock(filters=4, stride=2, activation="tanh", batch_norm=False),)),)
    ),
    "inception": ss.ArchitectureSpec(
        stem=(ss.ConvBlock(filters=3, stride=2, activation="tanh"),),
        stages=(ss.StageSpec(blocks=(ss.InceptionBlock.from_width(16, activation="tanh", batch_norm=False),)),),
    ),
}


@pytest.mark.parametrize("name", sorted(RF_SPECS))
def test_receptive_field_matches_the_pixels_that_move_one_unit(name):
    """Perturb one input column at a time; the columns that move a central unit span the receptive field."""
    spec, size = RF_SPECS[name], 64
    model, analysis = build_and_compare(spec, (size, size, 1))
    features = keras.Model(model.input, model.get_layer(analysis.layers[-3].name).output)
    base = np.random.default_rng(0).normal(size=(1, size, size, 1)).astype("float32")
    batch = np.repeat(base, size, axis=0)
    batch[np.arange(size), :, np.arange(size), 0] += 1.0
    out = features.predict(np.concatenate([base, batch]), verbose=0)
    row, col = out.shape[1] // 2, out.shape[2] // 2
    moved = np.flatnonzero(np.abs(out[1:, row, col, :] - out[0, row, col, :]).max(axis=-1) > 1e-6)
    assert 0 < moved.min() and moved.max() < size - 1  # not clipped by the border
    assert moved.max() - moved.min() + 1 == analysis.receptive_field
