"""Progress output: the live status on a terminal, and plain lines elsewhere."""

from __future__ import annotations

import io

import numpy as np
import pytest

import automl
from automl._progress import Progress
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
