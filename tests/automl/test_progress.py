"""Progress output: the live status on a terminal, and plain lines elsewhere."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import automl
from automl._driver import show_others
from automl._errors import TrialFailed
from automl._progress import Progress
from automl._records import record_outcome
from pipelines import DataError


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_status_shows_on_a_terminal_until_cleared_and_never_in_a_pipe():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(total=1, stream=stream)
        progress.status("data: reading big ...")
        progress.clear_status()
        progress.message("data: 3 images")
        progress.clear_status()  # nothing shown: nothing to erase

    assert terminal.getvalue() == "\rdata: reading big ..." + "\r" + " " * 21 + "\r" + "data: 3 images\n"
    assert pipe.getvalue() == "data: 3 images\n"


def test_a_search_on_a_terminal_says_it_reads_the_data_then_clears_the_line(workdir):
    terminal = _Terminal()

    automl.search(study_name="live", trials=1, epochs=1, views=1, progress=Progress(total=1, stream=terminal))

    out = terminal.getvalue()
    reading = "\rdata: reading digits ..."
    assert reading in out
    after = out[out.index(reading) + len(reading) :]
    assert after.startswith("\r" + " " * (len(reading) - 1) + "\rdata: 1,797 images of 8x8x1"), after[:120]


def test_data_that_fails_once_read_leaves_no_status_before_its_error(workdir):
    np.savez(workdir / "short.npz", x=np.zeros((10, 8, 8, 1), np.uint8), y=np.arange(9) % 2)  # a label short
    terminal = _Terminal()

    with pytest.raises(DataError, match="10 training images but 9 training labels"):
        automl.search(data=str(workdir / "short.npz"), trials=1, progress=Progress(total=1, stream=terminal))

    assert terminal.getvalue().endswith("\r" + " " * len(f"data: reading {workdir / 'short.npz'} ...") + "\r")


def test_a_search_on_a_terminal_says_it_queues_a_long_queue_then_clears_the_line(workdir):
    terminal = _Terminal()

    automl.search(study_name="long", trials=250, create_only=True, progress=Progress(total=250, stream=terminal))

    out = terminal.getvalue()
    queueing = "\rqueueing 250 trials ..."
    assert queueing in out
    assert out[out.index(queueing) + len(queueing) :].startswith("\r" + " " * (len(queueing) - 1) + "\r")


def test_a_trial_s_line_in_a_pipe_shows_its_state_value_reason_and_the_best_so_far():
    pipe = io.StringIO()
    progress = Progress(total=2, stream=pipe)

    progress.trial_started(0)
    progress.trial_finished(0, "complete", 0.91234, None, 0.91234)
    progress.trial_started(1)
    progress.trial_finished(1, "fail", None, "out of memory", 0.91234)

    out = pipe.getvalue()
    assert "\r" not in out  # a log file gets plain lines
    first, second = out.splitlines()
    assert re.fullmatch(r"trial   0  complete  val_acc 0\.9123 +\d+\.\ds  best so far 0\.9123", first.rstrip())
    assert re.fullmatch(
        r"trial   1  fail      val_acc   -    +\d+\.\ds  best so far 0\.9123  \(out of memory\)", second.rstrip()
    )


def test_a_quiet_progress_writes_nothing_even_on_a_terminal():
    terminal = _Terminal()
    progress = Progress(total=1, stream=terminal, quiet=True)

    progress.status("data: reading digits ...")
    progress.clear_status()
    progress.trial_started(0)
    progress.trial_finished(0, "complete", 0.5, None, 0.5)
    progress.message("done")

    assert terminal.getvalue() == ""


def test_the_live_line_counts_epochs_from_one():
    terminal = _Terminal()
    progress = Progress(total=1, stream=terminal, best=0.8)

    progress.epoch(4, SimpleNamespace(epoch=0, val_accuracy=0.51234), 3)

    assert terminal.getvalue() == "\rtrial   4  epoch 1/3  val_acc 0.5123  best so far 0.8000   "


def test_the_trials_other_processes_finished_are_shown_once_each_where_asked():
    # A search's --workers helpers are quiet: the trials they ran were seen only in the
    # results table. The search's process shows each once, when it next looks.
    study = optuna.create_study(direction="maximize")
    for number, (value, failure) in enumerate([(0.5, None), (0.75, None), (None, TrialFailed("it broke"))]):
        trial = study.ask()
        record_outcome(trial, timings={"fit": 2.0 + number}, failure=failure, note=None)
        study.tell(trial, value, state=TrialState.COMPLETE if failure is None else TrialState.FAIL)
    study.ask()  # running elsewhere: not shown yet

    unasked = Progress(total=4, stream=io.StringIO())
    show_others(study, unasked)
    assert unasked.stream.getvalue() == ""  # a process without helpers shows only its own trials

    progress = Progress(total=4, stream=io.StringIO(), shown={0})  # trial 0 was shown (its own)
    show_others(study, progress)
    show_others(study, progress)  # nothing new
    lines = progress.stream.getvalue().splitlines()
    assert [line.split()[:3] for line in lines] == [["trial", "1", "complete"], ["trial", "2", "fail"]]
    assert "val_acc 0.7500     3.0s  best so far 0.7500" in lines[0]  # its own time, as the study stored it
    assert lines[1].rstrip().endswith("(it broke)") and progress.shown == {0, 1, 2}
