"""Study options: study files, samplers, the Pareto objective, seeds, isolation, resume settings."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import automl
import searchspace as ss
from automl import _studies
from automl._budget import BUDGET_TRIALS_CAP
from automl._choices import PRUNERS
from automl._config import StudyConfig, load_study_file, read_study_file
from automl._data import load_study_data
from automl._driver import run_study
from automl._errors import ProcessDied, StudyStopped, UserError
from automl._progress import Progress
from automl._records import StudyRecord, TrialRecord
from automl._search import study_config
from automl._studies import _resume_config
from automl.cli import build_parser
from automl.cli._search import config_from_args
from searchspace import sample_architecture
from tests.automl.helpers import run_cli, stores


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_study_file_is_read_and_flags_override_it(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(
        'study_name = "from-file"\ntrials = 12\nepochs = 7\nseed_architectures = ["lenet", "vgg"]\n'
        '[space]\nstages = {low = 2, high = 2}\nblock_types = ["residual"]\n'
    )
    config = config_from_args(_parse(["search", "--config", str(path), "--trials", "20"]))
    assert config.study_name == "from-file"
    assert config.trials == 20  # the flag wins
    assert config.epochs == 7
    assert config.seed_architectures == ("lenet", "vgg")
    # the [space] table shapes what is sampled
    space = config.space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        spec = sample_architecture(study.ask(), space, input_shape=(16, 16, 1), num_classes=3)
        assert len(spec.stages) == 2
        kinds = {type(b).__name__ for stage in spec.stages for b in stage.blocks}
        assert "ResidualBlock" in kinds and not kinds & {"InceptionBlock", "BottleneckBlock"}


def test_yaml_study_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("study_name: y\nsampler: random\n")
    assert load_study_file(path) == {"study_name": "y", "sampler": "random"}


def test_json_study_file_and_an_unknown_suffix(tmp_path):
    # A .json file was parsed as TOML ("Invalid statement"), and TOML in it ran a search.
    path = tmp_path / "study.json"
    path.write_text('{"study_name": "j", "trials": 3, "space": {"stages": {"low": 2, "high": 2}}}')
    assert StudyConfig.from_dict(load_study_file(path)).space.stages == ss.IntRange(low=2, high=2)
    assert ss.SearchSpace.from_file(path).stages == ss.IntRange(low=2, high=2)
    with pytest.raises(UserError, match=r"a study file ends in .toml, .yaml, .yml, .json, got '.*study.cfg'"):
        load_study_file(tmp_path / "study.cfg")


@pytest.mark.parametrize(
    ("name", "text"), [("bad.json", '{"trials": '), ("bad.toml", "trials = ["), ("bad.yaml", "a: ["), ("x.YML", "a: [")]
)
def test_a_study_file_that_does_not_parse_is_named_with_its_format(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    kind = {".json": "JSON", ".toml": "TOML"}.get(path.suffix, "YAML")
    with pytest.raises(UserError, match=rf"cannot parse study file '.*{name}': invalid {kind}: \S"):
        load_study_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trials = 0\n", "trials must be at least 1, got 0"),
        ('sampler = "bayes"\n', "sampler must be one of ['tpe', 'random', 'grid'], got 'bayes'"),
        ("colour = 1\n", "unknown study setting(s) ['colour']"),
        ("val_fraction = 0.9\n", "val_fraction=0.9"),
        ("max_val_images = 0\n", "max_val_images must be positive and finite, got 0"),
        ("max_test_images = 0.5\n", "max_test_images must be a whole number, got 0.5"),
        ("margin = 1.0\n", "margin must be in [0, 1)"),
        ("test_fraction = 0\n", "test_fraction=0"),
        ("test_fraction = -0.1\n", "test_fraction=-0.1"),
        ("views = 0\n", "views must be at least 1, got 0"),
        ("members = 0\n", "members must be at least 1, got 0"),
    ],
)
def test_bad_study_settings_quote_the_value(tmp_path, text, message):
    path = tmp_path / "study.toml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        StudyConfig.from_dict(load_study_file(path))
    assert message in str(info.value)


def test_a_study_file_takes_durations_and_sizes_as_the_flags_do(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text('timeout = "10m"\ntime_budget = "1.5m"\nimage_size = "16,24"\n')
    config = read_study_file(path)
    assert (config.timeout, config.time_budget, config.image_size) == (600, 90, (16, 24))
    assert config.given == {"timeout", "time_budget", "image_size"}


def test_a_relative_data_path_is_read_beside_the_study_file_where_it_is_not_here(workdir):
    folder = workdir / "cfg"
    folder.mkdir()
    (folder / "pool.npz").write_bytes(b"")
    (folder / "study.toml").write_text('data = "pool.npz"\n')
    assert read_study_file(folder / "study.toml").data == str(folder / "pool.npz")
    (workdir / "pool.npz").write_bytes(b"")  # found from the working folder: read from there, as before
    assert read_study_file(folder / "study.toml").data == "pool.npz"
    (folder / "study.toml").write_text('data = "fashion_mnist"\n')  # a data set's name stays one
    assert read_study_file(folder / "study.toml").data == "fashion_mnist"


def test_held_out_caps_shape_the_study_split():
    splits = load_study_data(StudyConfig(max_val_images=100, max_test_images=200)).splits  # 1,797 digits
    sizes = [len(y) for _, y in (splits.train, splits.val, splits.test)]
    assert abs(sizes[1] - 100) <= 10 and abs(sizes[2] - 200) <= 10  # 10 classes round their shares
    assert sum(sizes) == 1797


def test_a_study_stored_before_the_caps_keeps_its_uncapped_split():
    stored = json.loads(StudyConfig(study_name="old").to_json())
    assert stored["max_val_images"] == stored["max_test_images"] == 5000  # stored since: kept as stored
    old = {k: v for k, v in stored.items() if k not in ("max_val_images", "max_test_images")}
    config = StudyConfig.from_json(json.dumps(old))
    assert config.max_val_images is None and config.max_test_images is None


def test_a_study_stored_before_rising_widths_keeps_its_widths_as_sampled():
    stored = json.loads(StudyConfig(study_name="old").to_json())
    assert stored["space"]["rising_widths"] is True  # stored since: kept as stored
    del stored["space"]["rising_widths"]
    assert StudyConfig.from_json(json.dumps(stored)).space.rising_widths is False
    assert StudyConfig.from_dict({"space": {}}).space.rising_widths is True  # a study file's [space]: today's default


def test_unknown_seed_architecture_is_a_clear_error(workdir):
    result = run_cli(["search", "--seed-architectures", "lenet,googlenet9", "--trials", "1"], workdir)
    assert result.returncode == 2
    assert "unknown seed architecture(s) ['googlenet9']" in result.stderr


def _run(workdir, **overrides):
    config = StudyConfig(**{"study_name": "o", "trials": 2, "epochs": 1, **stores(workdir), **overrides})
    return run_study(config, progress=Progress(total=config.trials, quiet=True))


def test_seed_architectures_run_first(workdir):
    result = _run(workdir, seed_architectures=("lenet", "resnet"), trials=3)
    trials = sorted(result.study.trials, key=lambda t: t.number)
    assert [TrialRecord.of(t).seed_architecture for t in trials] == ["lenet", "resnet", None]
    assert all(t.state == TrialState.COMPLETE for t in trials[:2])
    assert not any(name.startswith("arch.") for name in trials[0].params)  # a classic, not sampled


def _noted(capsys, note: str) -> bool:
    """Whether the command wrote ``note: NOTE`` (a regular expression) as a line of its own."""
    return re.search(rf"^note: {note}$", capsys.readouterr().err, re.MULTILINE) is not None


def test_seed_architectures_over_the_cost_budget_run_narrowed_to_it(workdir, capsys):
    result = _run(workdir, seed_architectures=("vgg",), trials=1, max_params=50_000)
    assert _noted(
        capsys,
        r"seed architecture 'vgg' runs at \d+% of its widths \(4\d,\d{3} parameters, [\d,]+ FLOPs\), "
        r"within the cost budget",
    )
    (trial,) = result.study.trials
    record = TrialRecord.of(trial)
    assert record.seed_architecture == "vgg" and trial.state == TrialState.COMPLETE
    assert 40_000 < trial.user_attrs["params"] <= 50_000
    assert ss.analyze(record.architecture, (8, 8, 1), 10).params == trial.user_attrs["params"]


def test_seed_architectures_over_the_cost_budget_even_narrowed_are_left_out_with_a_note(workdir, capsys):
    # They were queued, failed as infeasible and each took one of the trials asked for.
    result = _run(workdir, seed_architectures=("vgg", "lenet"), trials=1, max_params=300)
    assert _noted(
        capsys,
        r"seed architecture 'vgg' left out: [\d,]+ parameters exceed --max-params 300, "
        r"and it has [\d,]+ parameters and [\d,]+ FLOPs at 1/64 of its widths",
    )
    (trial,) = result.study.trials
    assert TrialRecord.of(trial).seed_architecture == "lenet" and trial.state == TrialState.COMPLETE


def test_pareto_is_a_real_multi_objective_study(workdir):
    result = _run(workdir, objective="pareto", cost_metric="flops", trials=2)
    study = result.study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.values[1] == trial.user_attrs["flops"]
    assert study.best_trials  # the Pareto front


def test_grid_sampler_walks_classics_and_learning_rates(workdir):
    result = _run(workdir, sampler="grid", trials=2)
    for trial in result.study.trials:
        assert trial.params["arch.classic"] in ("alexnet", "inception", "lenet", "resnet", "vgg")
        assert trial.params["train.learning_rate"] in (1e-3, 3e-3)


def test_resume_keeps_the_stored_settings(workdir, capsys):
    _run(workdir, trials=1, epochs=1)
    result = _run(workdir, trials=2, epochs=4, seed_architectures=("lenet",))  # part of the study; trials is not
    assert result.config.epochs == 1 and result.config.trials == 2
    assert len(result.study.trials) == 2
    err = capsys.readouterr().err
    assert "keeps its stored epochs=1; ignoring epochs=4" in err
    assert "keeps its stored seed_architectures=(); ignoring seed_architectures=('lenet',)" in err  # queued at start


def test_a_flag_comes_before_a_study_file_and_the_file_before_the_environment(workdir, monkeypatch):
    (workdir / "study.toml").write_text('storage = "sqlite:///file.db"\nseed_architectures = "lenet, resnet"\n')
    monkeypatch.setenv("AUTOML_STORAGE", "sqlite:///env.db")
    assert config_from_args(_parse(["search", "--config", "study.toml"])).storage == "sqlite:///file.db"
    flagged = _parse(["search", "--config", "study.toml", "--storage", "sqlite:///flag.db"])
    assert config_from_args(flagged).storage == "sqlite:///flag.db"
    assert config_from_args(_parse(["search"])).storage == "sqlite:///env.db"
    assert config_from_args(_parse(["search", "--config", "study.toml"])).seed_architectures == ("lenet", "resnet")


def test_isolated_trials_keep_to_the_time_budget_and_count_failures_in_a_row(workdir, monkeypatch):
    # The budget is spent before the search starts: the first isolated trial is cut in its
    # first epoch (the process gets the search's plan), and no other starts.
    result = automl.search(
        study_name="iso", time_budget="20s", started=time.monotonic() - 20, epochs=3, isolate=True, quiet=True
    )
    assert len(result.trials) == 1 and result.trials["reason"][0].startswith("stopped by the time budget")
    assert result.stopped_early == "time budget's search time reached"

    # Each process runs one trial, so the failures in a row are counted by the search.
    monkeypatch.setenv("AUTOML_INJECT_FAULT", "error@0,error@1,error@2")
    with pytest.raises(StudyStopped, match="2 trials failed in a row; the last one: .*injected failure"):
        automl.search(study_name="faults", trials=4, epochs=1, isolate=True, max_consecutive_failures=2, quiet=True)
    study = optuna.load_study(study_name="faults", storage=stores(workdir)["storage"])
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 2


def test_an_isolated_trial_whose_process_is_killed_is_failed_and_the_study_goes_on(workdir, monkeypatch):
    monkeypatch.setenv("AUTOML_INJECT_FAULT", "kill@0")  # SIGKILL, as the out-of-memory killer sends it
    result = automl.search(study_name="killed", trials=2, epochs=1, pruner="none", isolate=True, quiet=True)

    study = optuna.load_study(study_name="killed", storage=stores(workdir)["storage"])
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    record = TrialRecord.of(study.trials[0])
    assert record.failure is ProcessDied and record.reason.startswith("its process was killed by SIGKILL")
    # Its configuration is remembered as one that ran out of memory: drawn again, it is skipped.
    assert StudyRecord.of(study).oom_digests == {record.config_digest: 0} and record.config_digest
    client = MlflowClient(tracking_uri=stores(workdir)["tracking_uri"])
    run = client.get_run(record.mlflow_run_id)
    assert run.info.status == "FAILED"  # not left RUNNING
    assert run.data.tags["state"] == "FAIL"  # as other failed trials' runs say, for the UI's filters
    assert result.winner == 1 and result.export_dir is not None  # compared and exported as usual


def test_a_resumed_study_plans_by_its_stored_settings(workdir, capsys):
    automl.search(study_name="r", trials=1, epochs=30, create_only=True, quiet=True)
    # A grid sampler given on resume is ignored (the study keeps TPE): its budget's queue
    # is filled as TPE's is, one trial at a time, not with 1,000 trials up front.
    automl.search(study_name="r", sampler="grid", time_budget="20s", started=time.monotonic() - 20, quiet=True)
    assert "keeps its stored sampler='tpe'" in capsys.readouterr().err
    study = optuna.load_study(study_name="r", storage=stores(workdir)["storage"])
    assert len(study.get_trials(states=(TrialState.WAITING,))) <= 1
    assert len(study.trials) <= 3


def test_a_resumed_study_s_space_note_names_only_the_settings_that_differ(capsys):
    # It printed both whole spaces (~1.4 KB each), where one range differed.
    stored = StudyConfig(study_name="s")
    narrower = dataclasses.replace(stored.space, stages=ss.IntRange(low=2, high=2))
    assert _resume_config(stored, study_config(study_name="s", space=narrower)).space == stored.space
    kept, ignored = stored.space.stages.to_data(), narrower.stages.to_data()
    assert capsys.readouterr().err == (
        f"note: study 's' keeps its stored space={{'stages': {kept!r}}}; ignoring space={{'stages': {ignored!r}}} "
        "(start a new --study-name to change it)\n"
    )


def test_a_resumed_study_keeps_its_total_of_trials_unless_one_is_given():
    # The README's many-machine steps: a study made with --create-only --trials 2 and run by
    # workers was topped up to the default 6 trials by the search that was to finish it.
    made = StudyConfig(study_name="big", trials=2)
    assert _resume_config(made, study_config(study_name="big")).trials == 2
    assert _resume_config(made, study_config(study_name="big", trials=9)).trials == 9
    assert _resume_config(made, study_config(study_name="big", trials=6)).trials == 6  # the default, given
    assert _resume_config(made, StudyConfig(study_name="big", trials=5)).trials == 5  # the API without study_config
    budget = study_config(study_name="big", time_budget=60.0).replace(trials=BUDGET_TRIALS_CAP)  # as search sets it
    assert _resume_config(made, budget).trials == BUDGET_TRIALS_CAP  # the budget ends this run
    by_a_budget = StudyConfig(study_name="big", trials=BUDGET_TRIALS_CAP)
    assert _resume_config(by_a_budget, study_config(study_name="big")).trials == StudyConfig().trials


def test_a_study_resumed_with_a_lower_total_stops_there_and_keeps_the_rest_queued(workdir, capsys):
    # Made with 4 trials queued and resumed with --trials 2, it said "2 trials in total" and
    # ran all 4: the loop ran while anything waited. Seeds past the total went without a word.
    automl.search(study_name="q", trials=4, epochs=1, create_only=True, seed_architectures=("lenet",) * 2 + ("vgg",))
    assert "note: each seed architecture runs once: lenet, vgg" in capsys.readouterr().err
    result = automl.search(study_name="q", trials=2, epochs=1, no_export=True, quiet=True)

    study = optuna.load_study(study_name="q", storage=stores(workdir)["storage"])
    assert len(result.trials) == 2 and [t.number for t in study.trials if t.state.is_finished()] == [0, 1]
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2  # a later, larger total runs them
    assert [TrialRecord.of(t).seed_architecture for t in study.trials[:2]] == ["lenet", "vgg"]

    automl.search(study_name="few", trials=1, epochs=1, create_only=True, seed_architectures=("lenet", "vgg"))
    assert "note: seed architecture(s) vgg left out: the study's 1 trial(s) run the first 1; give --trials 2" in (
        capsys.readouterr().err
    )


def test_isolated_trials_run_in_fresh_processes(workdir):
    result = run_cli(["search", "--isolate", "--trials", "2", "--epochs", "1", "--no-export"], workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="default", storage=stores(workdir)["storage"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert len({TrialRecord.of(t).worker for t in study.trials}) == 2  # one process each
    # Each prints its trial's line; the search, not they, says how many ran.
    assert "trial   1  complete" in result.stdout and "worker done" not in result.stdout


def test_every_pruner_a_study_accepts_has_what_makes_it():
    assert set(_studies._PRUNERS) == set(PRUNERS)
    for name in PRUNERS:
        assert isinstance(_studies._PRUNERS[name](StudyConfig(pruner=name)), optuna.pruners.BasePruner)
