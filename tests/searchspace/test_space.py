"""The search space definition: defaults, files, and invalid definitions quoted."""

from __future__ import annotations

import json
import math

import pytest
import yaml

import searchspace as ss


def test_default_space_round_trips_through_plain_data():
    space = ss.SearchSpace.default()
    data = json.loads(json.dumps(space.to_dict()))
    assert ss.SearchSpace.from_dict(data) == space


def test_toml_study_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(
        '[train]\nepochs = 3\n\n[space]\nblock_types = ["conv", "pool"]\nmax_flatten_features = 512\n'
        "filters = { low = 4, high = 16, log = true }\ndropout = { low = 0, high = 0.5 }\n"
    )
    space = ss.SearchSpace.from_file(path)
    assert space.block_types == ss.Choice(choices=("conv", "pool"))
    assert space.filters == ss.IntRange(low=4, high=16, log=True)
    assert space.dropout == ss.FloatRange(low=0.0, high=0.5)
    assert space.max_flatten_features == 512
    assert space.stages == ss.SearchSpace.default().stages


def test_yaml_file_without_a_space_table(tmp_path):
    path = tmp_path / "space.yml"
    path.write_text(yaml.safe_dump({"stages": {"low": 2, "high": 4}, "activations": ["gelu"]}))
    space = ss.SearchSpace.from_file(path)
    assert space.stages == ss.IntRange(low=2, high=4)
    assert space.activations == ss.Choice(choices=("gelu",))
    assert ss.SearchSpace.from_dict(space.to_dict()) == space


def test_a_study_file_without_a_space_table_searches_the_default_space(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('trials = 3\nsampler = "random"\n')
    assert ss.SearchSpace.from_file(path) == ss.SearchSpace.default()


def test_a_yaml_study_file_with_an_empty_space_key_searches_the_default_space(tmp_path):
    # The study read it as the default space; 'automl space show --config' refused it.
    path = tmp_path / "study.yaml"
    path.write_text("trials: 3\nspace:\n")
    assert ss.SearchSpace.from_file(path) == ss.SearchSpace.default()


@pytest.mark.parametrize(
    ("data", "quoted"),
    [
        ({"filters": {"low": 64, "high": 8}}, r"low <= high must hold, got low=64, high=8"),
        ({"head_dropout": {"low": 0.4, "high": 0.1}}, r"got low=0.4, high=0.1"),
        ({"block_types": []}, r"non-empty list, got \(\)"),
        ({"kernel_sizes": []}, r"non-empty"),
        ({"block_types": ["conv", "dense"]}, r"unknown block type\(s\) \['dense'\]"),
        ({"filters": {"low": 0, "high": 8, "log": True}}, r"log scale needs low > 0, got low=0"),
        ({"dropout": {"low": -0.1, "high": 0.2, "log": True}}, r"low > 0, got low=-0.1"),
        ({"filters": {"low": 4, "high": 8, "log": True, "step": 2}}, r"step = 1, got step=2"),
        ({"filters": {"low": 4.5, "high": 8}}, r"integers, got low=4.5"),
        ({"stages": {"low": 1, "high": 2, "step": None}}, r"step must be a positive integer, got step=None"),
        ({"dropout": {"low": 0.0, "high": 0.3, "step": math.inf}}, r"step must be finite and at least .*got step=inf"),
        (
            {"dropout": {"low": 0.0, "high": 0.3, "step": 1e-300}},
            r"at least \(high - low\) / 1,000,000, got step=1e-300",
        ),
        ({"dropout": {"low": -math.inf, "high": 0.3}}, r"low and high must be finite, got low=-inf"),
        ({"filters": {"low": 8, "high": 16, 2: 3}}, r"unknown field\(s\) \[2\]"),
        ({"kernel_sizes": [3, 4]}, r"got 4"),
        ({"paddings": ["same", "full"]}, r"got 'full'"),
        ({"activations": ["relu", "relu"]}, r"distinct"),
        ({"dropout": {"low": 0.0, "high": 1.0}}, r"\[0, 1\), got 1.0"),
        ({"stages": {"low": 0, "high": 2}}, r">= 1, got 0"),
        ({"max_flatten_features": 0}, r"got 0"),
        ({"bottleneck_ratios": [0]}, r"got 0"),  # a ratio of 0 divided the filters by zero mid-study
        ({"kernel_sizes": [True]}, r"got True"),
        ({"depth": {"low": 1, "high": 2}}, r"unknown search space field\(s\) \['depth'\]"),
        ({"filters": [8, 16]}, r"space.filters must be a mapping, got \[8, 16\]"),
        ({"filters": {"low": 8, "high": 16, "base": 2}}, r"unknown field\(s\) \['base'\]"),
        ({"filters": {"low": 8}}, r"space.filters is missing field\(s\) \['high'\]"),
    ],
)
def test_invalid_definitions_raise_quoting_the_value(data, quoted):
    with pytest.raises(ss.SearchSpaceError, match=quoted):
        ss.SearchSpace.from_dict(data)


def test_invalid_direct_construction_is_rejected():
    with pytest.raises(ss.SearchSpaceError, match="space.stages must be of type IntRange, got 3"):
        ss.SearchSpace(stages=3)  # type: ignore[arg-type]
    assert issubclass(ss.SearchSpaceError, ValueError)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("space.cfg", "{}", r"must end in .toml, .yaml, .yml, .json, got '.*space.cfg'"),
        ("bad.json", "{", r"bad.json: invalid JSON: "),
        ("bad.toml", "stages = [", r"bad.toml: invalid TOML: "),
        ("bad.yaml", "a: [", r"bad.yaml: invalid YAML: "),
        ("bad.YML", "a: [", r"bad.YML: invalid YAML: "),
    ],
)
def test_unreadable_files_raise_search_space_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ss.SearchSpaceError, match=message):
        ss.SearchSpace.from_file(path)
