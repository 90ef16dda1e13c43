"""``format_table``: the trials table the search prints."""

from __future__ import annotations

import pandas as pd

from automl._report import format_table

REASON = "stopped by the time budget after epoch 3 (val_accuracy 0.9442, re-planned from 4 to 3 epochs)"


def test_a_long_reason_is_cut_at_a_word_and_says_so() -> None:
    frame = pd.DataFrame(
        [{"trial": 0, "state": "complete", "val_accuracy": 0.9442, "params": 1000, "flops": 2000, "seconds": 3.0,
          "reason": REASON}]
    )  # fmt: skip
    line = format_table(frame).splitlines()[-1]
    shown = line[line.index("stopped") :].rstrip()
    assert shown == "stopped by the time budget after epoch 3 (val_accuracy ..."  # not "0.944", a wrong value
