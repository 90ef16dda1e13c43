"""The model card's Markdown, rendered from its JSON."""

from __future__ import annotations

from automl._card import render_card_markdown


def test_the_card_is_titled_by_the_study_and_its_sections_come_in_a_fixed_order() -> None:
    card = {"notes": ["retrained"], "data": {"source": "pets"}, "model": {"name": "sequential"}, "name": "pets-study"}
    markdown = render_card_markdown(card)
    assert markdown.startswith("# Model card: pets-study\n")  # the study's name, not the Keras model's
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == ["## Model", "## Data", "## Notes"]  # known sections first, in their order; the name heads it


def test_a_given_title_heads_the_card_and_is_no_section() -> None:
    markdown = render_card_markdown({"title": "Pets classifier", "model": {"name": "m"}})
    assert markdown.startswith("# Pets classifier\n") and "## Title" not in markdown


def test_table_cells_keep_their_columns_and_floats_show_4_digits() -> None:
    markdown = render_card_markdown({"metrics": {"test_accuracy": 0.987654, "source": "a|b\nc"}})
    assert "| test_accuracy | 0.9877 |" in markdown
    assert "| source | a\\|b c |" in markdown  # a bar would start another column, a newline end the row


def test_an_empty_list_says_none() -> None:
    assert "## Skipped\n\n(none)\n" in render_card_markdown({"skipped": []})
