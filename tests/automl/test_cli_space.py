"""``automl space show | sample | describe``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import searchspace as ss
from automl.cli import main
from automl.cli._space import sample_lines

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ["space", "sample", "--n", "12", "--input-shape", "28,28,1", "--seed", "5"]


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_show_prints_the_default_space(capsys):
    code, out, _ = _run(capsys, "space", "show")
    assert code == 0
    assert ss.SearchSpace.from_dict(json.loads(out)) == ss.SearchSpace.default()
    assert out == json.dumps(ss.SearchSpace.default().to_dict(), indent=2) + "\n"  # a file to read and edit


def test_show_reads_a_study_file_and_writes_yaml(capsys, tmp_path):
    import yaml

    config = tmp_path / "study.toml"
    config.write_text('[space]\nblock_types = ["residual"]\n')
    code, out, _ = _run(capsys, "space", "show", "--config", str(config), "--format", "yaml")
    assert code == 0
    assert ss.SearchSpace.from_dict(yaml.safe_load(out)).block_types == ss.Choice(choices=("residual",))


@pytest.mark.parametrize("name", ["study.toml", "study.YAML"])
def test_show_of_a_study_file_without_a_space_table_is_the_default_space(capsys, tmp_path, name):
    config = tmp_path / name
    config.write_text("trials = 2\nepochs = 1\n" if name.endswith(".toml") else "trials: 2\nepochs: 1\n")
    code, out, err = _run(capsys, "space", "show", "--config", str(config))
    assert code == 0, err
    assert ss.SearchSpace.from_dict(json.loads(out)) == ss.SearchSpace.default()  # what its search searches


def test_show_reports_an_invalid_space_as_a_user_error(capsys, tmp_path):
    config = tmp_path / "space.yaml"
    config.write_text("filters: {low: 64, high: 8}\n")
    code, _, err = _run(capsys, "space", "show", "--config", str(config))
    assert code == 2
    assert "low=64, high=8" in err and repr(str(config)) in err  # which file says it


def test_sample_prints_one_analysed_json_object_per_line(capsys):
    code, out, _ = _run(capsys, *SAMPLE)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 12
    for line in lines:
        record = json.loads(line)
        assert {"spec", "feasible", "reason", "params", "flops", "output_shapes"} <= set(record)
        spec = ss.ArchitectureSpec.from_dict(record["spec"])
        analysis = ss.analyze(spec, (28, 28, 1), 10)
        assert record["feasible"] is True and record["reason"] is None
        assert (record["params"], record["flops"]) == (analysis.params, analysis.flops)
        assert [tuple(shape) for shape in record["output_shapes"]] == analysis.output_shapes
        assert record["digest"] == spec.digest()


def test_sample_narrows_over_budget_samples_as_a_study_does(capsys):
    code, out, _ = _run(capsys, *SAMPLE, "--max-params", "20000")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    _, plain, _ = _run(capsys, *SAMPLE)
    sampled = [json.loads(line) for line in plain.splitlines()]
    narrowed = [r for r in records if r["width_scale"] < 1]
    assert narrowed and len(narrowed) < len(records)
    for record, original in zip(records, sampled, strict=True):
        assert record["feasible"] is True and record["params"] <= 20000
        expected = ss.fit_budget(
            ss.ArchitectureSpec.from_dict(original["spec"]),
            input_shape=(28, 28, 1),
            num_classes=10,
            max_params=20000,
            max_flops=None,
        )
        assert (record["spec"], record["width_scale"]) == (expected.spec.to_dict(), expected.scale)
        assert (record["width_scale"] == 1.0) == (original["params"] <= 20000)


def test_sample_keeps_to_a_study_file_s_budget(capsys, tmp_path):
    # The study file's max_params was ignored: samples of 1.1M parameters, width_scale 1.0.
    (tmp_path / "study.toml").write_text("max_params = 20000\n")
    _, out, _ = _run(capsys, *SAMPLE, "--config", str(tmp_path / "study.toml"))
    _, flagged, _ = _run(capsys, *SAMPLE, "--max-params", "20000")
    assert out == flagged and all(json.loads(line)["params"] <= 20000 for line in out.splitlines())
    _, given, _ = _run(capsys, *SAMPLE, "--config", str(tmp_path / "study.toml"), "--max-params", "50000")
    assert max(json.loads(line)["params"] for line in given.splitlines()) > 20000  # the flag wins


def test_sample_reports_samples_over_the_budget_even_narrowed_with_their_reason(capsys):
    code, out, _ = _run(capsys, *SAMPLE, "--max-params", "100")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and records
    for record in records:
        assert record["feasible"] is False and record["params"] > 100 and record["width_scale"] == 1.0  # as sampled
        assert record["reason"].startswith(f"{record['params']:,} parameters exceed --max-params 100, and it has")


def test_sample_reports_specs_that_do_not_tile(monkeypatch):
    too_deep = ss.ArchitectureSpec(stages=tuple(ss.StageSpec(blocks=(ss.PoolBlock(),)) for _ in range(3)))
    monkeypatch.setattr(ss, "sample_architecture", lambda trial, space, **kwargs: too_deep)
    (record,) = sample_lines(n=1, input_shape=(4, 4, 1), seed=0)
    assert record["feasible"] is False
    assert record["reason"].startswith("stage 3, block 1 (pool): layer s3b1_pool:")
    assert record["params"] is None and record["output_shapes"] is None and record["width_scale"] == 1.0


def test_sample_is_the_same_in_fresh_processes_and_in_process():
    def run():
        result = subprocess.run(
            [sys.executable, "-m", "automl", *SAMPLE], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return result.stdout

    first, second = run(), run()
    assert first == second
    in_process = [json.dumps(r, sort_keys=True) for r in sample_lines(n=12, input_shape=(28, 28, 1), seed=5)]
    assert first.splitlines() == in_process
    assert first != "\n".join(
        json.dumps(r, sort_keys=True) for r in sample_lines(n=12, input_shape=(28, 28, 1), seed=6)
    )


@pytest.mark.parametrize("name", sorted(ss.CLASSICS))
def test_describe_prints_the_classic_table(capsys, name):
    code, out, _ = _run(capsys, "space", "describe", name, "--input-shape", "32,32,3", "--num-classes", "7")
    assert code == 0
    assert out.strip() == ss.analyze(ss.classic(name, (32, 32, 3), 7), (32, 32, 3), 7).table()


def test_describe_reads_a_spec_file(capsys, tmp_path):
    spec = ss.classic("vgg", (8, 8, 1), 10)
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    code, out, _ = _run(capsys, "space", "describe", str(path), "--input-shape", "8,8,1")
    assert code == 0 and "s3b4_pool" in out


def test_describe_reads_a_line_of_space_sample(capsys, tmp_path):
    # It printed the whole record (several KB) as not a spec.
    line = sample_lines(n=1, input_shape=(8, 8, 1), seed=0)[0]  # what `automl space sample` prints
    (tmp_path / "sample.json").write_text(json.dumps(line))
    code, out, _ = _run(capsys, "space", "describe", str(tmp_path / "sample.json"), "--input-shape", "8,8,1")
    assert code == 0
    assert out.strip() == ss.analyze(ss.ArchitectureSpec.from_dict(line["spec"]), (8, 8, 1), 10).table()


@pytest.mark.parametrize("flag", ["--max-params", "--max-flops"])
@pytest.mark.parametrize("value", ["0", "-5"])
def test_sample_refuses_a_budget_that_is_not_positive(capsys, flag, value):
    # Every sample came out infeasible ("exceed --max-params -5"), exit 0; a search refuses it.
    with pytest.raises(SystemExit) as exit_info:
        main(["space", "sample", "--n", "1", "--input-shape", "8,8,1", "--seed", "0", flag, value])
    assert exit_info.value.code == 2
    assert f"must be a positive integer, got '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "says"), [("nonsense", "Expecting value"), ('{"x": 1}', "exactly stem, stages, head")]
)
def test_describe_a_file_that_is_no_spec_is_a_user_error(capsys, tmp_path, text, says):
    (tmp_path / "bad.json").write_text(text)
    code, _, err = _run(capsys, "space", "describe", str(tmp_path / "bad.json"), "--input-shape", "8,8,1")
    assert code == 2 and "bad.json' is not an architecture spec" in err and says in err


def test_one_class_is_refused_as_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["space", "sample", "--input-shape", "8,8,1", "--num-classes", "1"])
    assert exit_info.value.code == 2 and "a classifier needs at least 2 classes, got '1'" in capsys.readouterr().err


def test_describe_an_unknown_name_is_a_user_error(capsys):
    code, _, err = _run(capsys, "space", "describe", "googlenet", "--input-shape", "8,8,1")
    assert code == 2 and "'googlenet'" in err


@pytest.mark.parametrize("subcommand", ["show", "sample", "describe"])
def test_help_has_examples(capsys, subcommand):
    with pytest.raises(SystemExit) as exit_info:
        main(["space", subcommand, "--help"])
    assert exit_info.value.code == 0
    assert f"automl space {subcommand}" in capsys.readouterr().out.split("Examples:")[1]
