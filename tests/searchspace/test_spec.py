"""Architectures as data: exact JSON round trips, stable digests, malformed specs rejected."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

import searchspace as ss
from tests.searchspace.helpers import SHAPES, random_trials


def _sampled(n: int, input_shape=(28, 28, 1), seed=0):
    trials = itertools.islice(random_trials(seed), n)
    space = ss.SearchSpace(block_types=ss.Choice(choices=tuple(sorted(ss.BLOCKS))))
    return [ss.sample_architecture(t, space, input_shape=input_shape, num_classes=10) for t in trials]


def _classics():
    return [ss.classic(name, shape, 10) for name in ss.CLASSICS for shape in SHAPES]


def test_json_round_trip_is_exact():
    for spec in _sampled(100) + _classics():
        text = spec.to_json()
        again = ss.ArchitectureSpec.from_json(text)
        assert again == spec
        assert again.to_json() == text
        assert ss.ArchitectureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_equal_specs_share_a_digest_and_different_ones_do_not():
    specs = _sampled(100)
    digests = {}
    for spec in specs:
        digests.setdefault(spec.digest(), set()).add(spec)
    assert all(len(group) == 1 for group in digests.values())
    assert len(digests) == len(set(specs))
    rebuilt = ss.ArchitectureSpec.from_json(specs[0].to_json())
    assert rebuilt.digest() == specs[0].digest() and hash(rebuilt) == hash(specs[0])


def test_integer_rates_serialise_like_floats():
    with_int = ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(ss.DropoutBlock(rate=0),)),))
    with_float = ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(ss.DropoutBlock(rate=0.0),)),))
    assert with_int.to_json() == with_float.to_json()


def test_a_negative_zero_rate_serialises_as_zero():
    # Equal specs (-0.0 == 0.0) had different text and digests.
    negative = ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(ss.DropoutBlock(rate=-0.0),)),))
    positive = ss.ArchitectureSpec(stages=(ss.StageSpec(blocks=(ss.DropoutBlock(rate=0.0),)),))
    assert negative == positive and negative.to_json() == positive.to_json()
    assert negative.digest() == positive.digest()


def test_an_integer_too_large_for_a_float_field_is_refused_as_a_bad_value():
    text = '{"stem": [], "stages": [{"blocks": [{"type": "dropout", "rate": 1' + "0" * 400 + '}]}], "head": {}}'
    with pytest.raises(ValueError, match="rate must be a number a float holds, got an integer of 401 digits"):
        ss.ArchitectureSpec.from_json(text)


def test_digest_is_the_same_in_a_fresh_process():
    spec = ss.classic("inception", (32, 32, 3), 10)
    code = "import sys, searchspace as ss; print(ss.ArchitectureSpec.from_json(sys.stdin.read()).digest())"
    result = subprocess.run(
        [sys.executable, "-c", code], input=spec.to_json(), capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == spec.digest()


def test_layers_are_named_after_stage_and_block():
    spec = ss.classic("resnet", (28, 28, 1), 10)
    names = [info.name for info in ss.analyze(spec, (28, 28, 1), 10).layers]
    assert names[0] == "s0b1_conv"
    assert "s2b1_proj_conv" in names and "s3b2_add" in names
    assert names[-1] == "head_output"


@pytest.mark.parametrize(
    ("data", "quoted"),
    [
        ({"stem": [], "stages": []}, "exactly stem, stages, head"),
        ({"stem": [{"type": "dense"}], "stages": [], "head": {}}, "unknown block type 'dense'"),
        ({"stem": [{"type": ["conv"]}], "stages": [], "head": {}}, r"unknown block type \['conv'\]"),
        ({"stem": [{"type": "conv"}], "stages": [], "head": {}}, r"\(conv\) is missing field\(s\) \['filters'\]"),
        ({"stem": [{"type": "conv", "filters": 4, "groups": 2}], "stages": [], "head": {}}, "groups"),
        ({"stem": [], "stages": [{"blocks": []}], "head": {}}, "must not be empty"),
        ({"stem": [], "stages": [{"layers": []}], "head": {}}, "'layers'"),
        ({"stem": [], "stages": [], "head": {"pooling": "max"}}, "got 'max'"),
        ({"stem": [], "stages": [], "head": {"dense_units": [0]}}, "got 0"),
        ({"stem": {}, "stages": [], "head": {}}, "stem and stages must be lists"),
    ],
)
def test_malformed_specs_are_rejected_with_the_value(data, quoted):
    with pytest.raises(ValueError, match=quoted):
        ss.ArchitectureSpec.from_dict(data)


def test_specs_are_frozen():
    spec = ss.classic("lenet", (8, 8, 1), 10)
    with pytest.raises(AttributeError):
        spec.head = ss.HeadSpec()  # type: ignore[misc]
