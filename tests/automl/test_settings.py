"""Runtime settings: read from the environment, and handed on to child processes whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl._errors import UserError
from automl._settings import RuntimeSettings, runtime_settings, use_settings


def test_a_child_process_gets_the_same_settings_through_its_environment():
    settings = RuntimeSettings(
        home=Path("/tmp/stores"), faults={2: "nan", 0: "error"}, device_augmentation=False, augment_processes=0
    )

    env = settings.to_env()

    assert env["AUTOML_INJECT_FAULT"] == "error@0,nan@2" and env["AUTOML_DEVICE_AUGMENTATION"] == "0"
    assert RuntimeSettings.from_env(env) == settings
    assert RuntimeSettings.from_env(RuntimeSettings(device_augmentation=True).to_env()).device_augmentation is True


def test_a_blank_home_is_the_default_one():
    assert RuntimeSettings.from_env({"AUTOML_HOME": "  "}).home == Path("mlruns")
    assert RuntimeSettings.from_env({"AUTOML_HOME": " /data/automl "}).home == Path("/data/automl")


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ("nan@1,explode@2", "unknown fault 'explode' for trial 2; use one of ['error', 'nan', 'oom', 'slow', 'kill']"),
        ("nan@1,oom", "AUTOML_INJECT_FAULT items look like kind@trial_number, got 'oom'"),
        ("nan@x", "AUTOML_INJECT_FAULT items look like kind@trial_number, got 'nan@x'"),
        (
            "nan@\u00b2",
            "AUTOML_INJECT_FAULT items look like kind@trial_number, got 'nan@\u00b2'",
        ),  # a digit int() refuses
    ],
)
def test_a_bad_fault_is_refused_quoting_it(faults, message):
    with pytest.raises(UserError) as caught:
        RuntimeSettings.from_env({"AUTOML_INJECT_FAULT": faults})
    assert str(caught.value) == message


def test_a_grace_period_no_longer_than_the_heartbeat_is_refused():
    with pytest.raises(UserError, match="got interval=10, grace period=10"):
        RuntimeSettings(heartbeat_interval_s=10, grace_period_s=10)
    assert RuntimeSettings(heartbeat_interval_s=10, grace_period_s=11).grace_period_s == 11


def test_settings_put_in_force_end_with_their_block_even_when_it_fails(monkeypatch):
    monkeypatch.delenv("AUTOML_HOME", raising=False)
    with pytest.raises(RuntimeError, match="trial failed"), use_settings(RuntimeSettings(home=Path("/tmp/other"))):
        assert runtime_settings().home == Path("/tmp/other")
        raise RuntimeError("trial failed")
    assert runtime_settings().home == Path("mlruns")


@pytest.mark.parametrize("text", ["-1", "two", "\u00b2"])
def test_a_process_count_that_is_no_whole_number_is_refused_quoting_it(text):
    # "²" is a digit to str.isdigit but not to int(): it was a ValueError traceback.
    with pytest.raises(UserError, match=f"^AUTOML_AUGMENT_PROCESSES must be a whole number >= 0, got {text!r}$"):
        RuntimeSettings.from_env({"AUTOML_AUGMENT_PROCESSES": text})
