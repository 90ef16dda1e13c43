"""Every registered classic, scaled to small and medium inputs: feasible, exact, trainable."""

from __future__ import annotations

import numpy as np
import pytest

import searchspace as ss
from tests.searchspace.helpers import SHAPES, build_and_compare, train_one_step


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
@pytest.mark.parametrize("input_shape", SHAPES)
def test_classic_builds_matches_and_trains(name, input_shape):
    spec = ss.classic(name, input_shape, 10)
    model, _ = build_and_compare(spec, input_shape)
    assert np.isfinite(train_one_step(model, input_shape))
    assert ss.ArchitectureSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
@pytest.mark.parametrize("input_shape", [(1, 1, 1), (5, 7, 2), (16, 16, 1), (96, 96, 3), (224, 224, 3)])
def test_classic_tiles_unusual_and_large_inputs(name, input_shape):
    ss.analyze(ss.classic(name, input_shape, 10), input_shape, 10)


def test_the_five_classics_are_registered():
    assert set(ss.CLASSICS) == {"lenet", "alexnet", "vgg", "inception", "resnet"}


def _layers(name, input_shape):
    return {info.name: info for info in ss.analyze(ss.classic(name, input_shape, 10), input_shape, 10).layers}


def test_lenet_keeps_the_paper_layout_on_32x32():
    layers = _layers("lenet", (32, 32, 1))
    assert [layers[n].output_shape for n in ("s1b1_conv", "s1b2_pool", "s2b1_conv", "s2b2_pool", "s3b1_conv")] == [
        (28, 28, 6),
        (14, 14, 6),
        (10, 10, 16),
        (5, 5, 16),
        (1, 1, 120),
    ]
    assert layers["head_dense1"].output_shape == (84,)


@pytest.mark.parametrize(("input_shape", "stages"), [((8, 8, 1), 3), ((28, 28, 1), 4), ((32, 32, 3), 5)])
def test_vgg_has_as_many_stages_as_the_input_can_be_halved(input_shape, stages):
    spec = ss.classic("vgg", input_shape, 10)
    assert len(spec.stages) == stages
    assert ss.analyze(spec, input_shape, 10).layers[-3].output_shape[0] >= 1


def test_resnet_projects_where_stages_change_shape():
    spec = ss.classic("resnet", (32, 32, 3), 10)
    firsts = [stage.blocks[0] for stage in spec.stages]
    assert [block.stride for block in firsts] == [1, 2, 2]
    layers = _layers("resnet", (32, 32, 3))
    assert "s1b1_proj_conv" not in layers and "s2b1_proj_conv" in layers
    assert layers["s3b2_act"].output_shape == (8, 8, 64)


def test_inception_stages_are_inception_blocks():
    spec = ss.classic("inception", (28, 28, 1), 10)
    kinds = [type(block).__name__ for stage in spec.stages for block in stage.blocks]
    assert kinds.count("InceptionBlock") == 6


def test_unknown_classic_is_quoted():
    with pytest.raises(ValueError, match="unknown classic architecture 'googlenet'"):
        ss.classic("googlenet", (28, 28, 1), 10)


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
def test_a_channels_first_keras_config_builds_the_network_analysed(name):
    # Keras' image layers follow keras.json's image_data_format by default: with
    # "channels_first" (a PyTorch user's setting) ResNet had other widths than analysed,
    # and VGG and LeNet did not build.
    import keras

    keras.config.set_image_data_format("channels_first")
    try:
        spec = ss.classic(name, (28, 28, 1), 10)
        model, _ = build_and_compare(spec, (28, 28, 1))
        assert np.isfinite(train_one_step(model, (28, 28, 1)))
    finally:
        keras.config.set_image_data_format("channels_last")
