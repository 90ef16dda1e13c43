"""``render_table``, the one plain-text table of the command line and the reports, and ``counted``."""

from __future__ import annotations

from automl._tables import counted, render_table


def test_columns_are_aligned_two_spaces_apart_with_a_rule_under_the_named_ones_only():
    table = render_table(("trial", "model", ""), [(3, "resnet", "<- winner"), (12, "lenet", "")], left=(1, 2))

    assert table.splitlines() == [
        "trial  model",
        "-----  ------",
        "    3  resnet  <- winner",
        "   12  lenet",
    ]


def test_a_table_without_a_rule_is_the_header_then_the_rows():
    assert render_table(("class", "images"), [("cat", 12), ("dog", 8)], left=(0,), rule=False) == (
        "class  images\ncat        12\ndog         8"
    )


def test_counted_is_singular_for_one_only():
    assert [counted(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
