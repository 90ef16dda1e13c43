"""Narrowing to a cost budget: every width scaled by one factor, the widest that fits."""

from __future__ import annotations

import dataclasses

import pytest

import searchspace as ss
from tests.searchspace.helpers import build_and_compare, random_trials

SHAPE = (28, 28, 1)


def _sampled(n: int) -> list[ss.ArchitectureSpec]:
    return [
        ss.sample_architecture(trial, ss.SearchSpace.default(), input_shape=SHAPE, num_classes=10)
        for trial, _ in zip(random_trials(7), range(n), strict=False)
    ]


def _structure(spec: ss.ArchitectureSpec) -> list[dict]:
    """Everything of a spec but its widths."""
    blocks = [
        {key: value for key, value in block.to_dict().items() if key not in ss.WIDTH_FIELDS}
        for _, _, block in spec.blocks()
    ]
    head = spec.head.to_dict()
    return [*blocks, {**head, "dense_units": len(head["dense_units"])}]


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
def test_an_architecture_within_the_budget_is_left_as_it_is(name):
    spec = ss.classic(name, SHAPE, 10)
    params = ss.analyze(spec, SHAPE, 10).params
    fitted = ss.fit_budget(spec, input_shape=SHAPE, num_classes=10, max_params=params, max_flops=None)
    assert fitted.spec == spec and fitted.scale == 1.0 and fitted.analysis.params == params


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
def test_a_classic_over_the_budget_is_narrowed_to_the_widest_that_fits(name):
    spec = ss.classic(name, SHAPE, 10)
    full = ss.analyze(spec, SHAPE, 10)
    limit = full.params // 5
    fitted = ss.fit_budget(spec, input_shape=SHAPE, num_classes=10, max_params=limit, max_flops=None)
    assert ss.MIN_SCALE <= fitted.scale < 1
    assert fitted.analysis == ss.analyze(fitted.spec, SHAPE, 10)
    assert fitted.analysis.params <= limit
    # The same layers, each as wide or narrower, and a little wider is over the budget.
    assert [layer.name for layer in fitted.analysis.layers] == [layer.name for layer in full.layers]
    assert all(
        a.output_shape[:-1] == b.output_shape[:-1] and a.output_shape[-1] <= b.output_shape[-1]
        for a, b in zip(fitted.analysis.layers, full.layers, strict=True)
    )
    wider = ss.narrowed(spec, fitted.scale + 0.001, num_classes=10)
    assert ss.analyze(wider, SHAPE, 10).params > limit
    # The Keras model has exactly the analysed parameters (a residual block's shortcut stays
    # the identity or a projection as its widths say).
    build_and_compare(fitted.spec, SHAPE)


def test_sampled_architectures_keep_everything_but_their_widths():
    for spec in _sampled(12):
        flops = ss.analyze(spec, SHAPE, 10).flops
        fitted = ss.fit_budget(spec, input_shape=SHAPE, num_classes=10, max_params=None, max_flops=flops // 3)
        assert fitted.analysis.flops <= flops // 3 < ss.analyze(spec, SHAPE, 10).flops
        assert _structure(fitted.spec) == _structure(spec)


def test_each_width_field_is_scaled_and_other_fields_are_kept():
    inception = ss.InceptionBlock(
        branch1=16, branch3_reduce=8, branch3=24, branch5_reduce=4, branch5=8, pool_proj=8, batch_norm=True
    )
    assert inception.narrowed(0.5) == dataclasses.replace(
        inception, branch1=8, branch3_reduce=4, branch3=12, branch5_reduce=2, branch5=4, pool_proj=4
    )
    assert ss.ResidualBlock(filters=64, reduce=16, stride=2).narrowed(0.25) == ss.ResidualBlock(
        filters=16, reduce=4, stride=2
    )
    assert ss.ResidualBlock(filters=64).narrowed(0.25) == ss.ResidualBlock(filters=16)  # no reduce stays none
    assert ss.ConvBlock(filters=3, kernel_size=5).narrowed(0.1) == ss.ConvBlock(filters=1, kernel_size=5)
    for block in (ss.PoolBlock(kind="max", size=2), ss.DropoutBlock(rate=0.2), ss.BatchNormBlock()):
        assert block.narrowed(0.1) is block


def test_hidden_dense_layers_keep_at_least_a_unit_per_class():
    spec = ss.classic("alexnet", SHAPE, 10)
    assert spec.head.dense_units and min(spec.head.dense_units) > 10
    assert ss.narrowed(spec, ss.MIN_SCALE, num_classes=10).head.dense_units == (10,) * len(spec.head.dense_units)


def test_a_hidden_layer_narrower_than_the_classes_is_never_widened():
    # A 16-unit layer before 100 classes became 100 units wide at every scale: "narrowing"
    # tripled the cost, and no budget below it could be met.
    spec = ss.ArchitectureSpec(
        stages=(ss.StageSpec(blocks=(ss.ConvBlock(filters=64),)),), head=ss.HeadSpec(dense_units=(16,))
    )
    assert ss.narrowed(spec, 0.5, num_classes=100).head.dense_units == (16,)
    params = ss.analyze(spec, (8, 8, 1), 100).params
    fitted = ss.fit_budget(spec, input_shape=(8, 8, 1), num_classes=100, max_params=params - 1, max_flops=None)
    assert ss.analyze(fitted.spec, (8, 8, 1), 100).params < params


def test_a_budget_no_narrowing_meets_is_refused_with_both_costs():
    spec = ss.classic("resnet", SHAPE, 10)
    with pytest.raises(ss.OverBudget, match=r"^[\d,]+ parameters exceed --max-params 100, and it has [\d,]+ "):
        ss.fit_budget(spec, input_shape=SHAPE, num_classes=10, max_params=100, max_flops=None)
    with pytest.raises(ss.OverBudget, match=r"FLOPs at 1/64 of its widths$"):
        ss.fit_budget(spec, input_shape=SHAPE, num_classes=10, max_params=None, max_flops=1_000)


def test_an_architecture_that_does_not_tile_is_still_infeasible():
    conv = ss.ConvBlock(filters=8, kernel_size=7, padding="valid")
    spec = ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(conv,)),))
    with pytest.raises(ss.InfeasibleArchitecture, match="does not fit|kernel"):
        ss.fit_budget(spec, input_shape=(4, 4, 1), num_classes=10, max_params=10, max_flops=None)
