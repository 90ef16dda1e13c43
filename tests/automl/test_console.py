"""A quiet console: TensorFlow's and MLflow's chatter hidden unless asked for, and the user's own levels kept."""

from __future__ import annotations

import logging
import os

import pytest

from automl._console import quiet_console

_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")


@pytest.fixture
def console(monkeypatch):
    """The environment and loggers quiet_console sets, restored after the test."""
    for name in (*_VARIABLES, "NO_ALBUMENTATIONS_UPDATE"):
        monkeypatch.setenv(name, "")  # so that the variable's absence, too, is restored
        monkeypatch.delenv(name)
    for name in ("tensorflow", "absl"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    return monkeypatch


@pytest.mark.parametrize(("verbose", "expected"), [(False, ("3", "WARNING", "false")), (True, ("0", "INFO", "true"))])
def test_a_quiet_process_hides_the_chatter_and_a_verbose_one_shows_it(console, verbose, expected):
    quiet_console(verbose=verbose)

    assert tuple(os.environ[name] for name in _VARIABLES) == expected
    quiet = logging.getLogger("tensorflow").level == logging.ERROR == logging.getLogger("absl").level
    assert quiet is not verbose


def test_a_level_the_user_set_is_kept(console):
    console.setenv("TF_CPP_MIN_LOG_LEVEL", "1")

    quiet_console(verbose=False)

    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
