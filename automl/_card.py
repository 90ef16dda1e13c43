"""The model card in Markdown: one section per top-level key of its JSON."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

# Sections of the model card in the order the Markdown shows them; other keys follow.
_CARD_ORDER = (
    "model",
    "formats",
    "architecture",
    "input_shape",
    "preprocessing",
    "class_names",
    "metrics",
    "mcnemar",
    "data",
    "versions",
)
_HEADINGS = {
    "mcnemar": "McNemar comparison of the finalists",
    "versions": "Package versions",
    "formats": "Formats and how to load them",
}
# Keys the card's title is made of, not sections of their own.
_TITLE_KEYS = ("title", "name")
# Card values shown as code blocks in the Markdown (key -> language), not as table cells.
_CODE_KEYS = {"load": "python", "cli": "bash"}


def render_card_markdown(card: Mapping[str, Any], *, file_names: Collection[str] = ()) -> str:
    """Render a (JSON-like) model card as Markdown: one section per top-level key; a key that
    is one of ``file_names`` (the bundle's files) is headed as code."""
    name = card.get("name") or card.get("model", {}).get("name", "model")  # the study's, not the layer's
    title = card.get("title") or f"Model card: {name}"
    lines = [f"# {title}", ""]
    for key in _card_keys(card):
        lines += _render_section(key, card[key], 2, file_names)
    return "\n".join(lines).rstrip() + "\n"


def _card_keys(card: Mapping[str, Any]) -> list[str]:
    known = [key for key in _CARD_ORDER if key in card]
    return known + [key for key in card if key not in _CARD_ORDER and key not in _TITLE_KEYS]


def _render_section(key: str, value: Any, level: int, file_names: Collection[str]) -> list[str]:
    title = _HEADINGS.get(key) or (f"`{key}`" if key in file_names else key.replace("_", " ").capitalize())
    heading = ["#" * level + " " + title, ""]
    if key == "class_names" and isinstance(value, list):
        return heading + [f"- `{i}`: {_cell(name)}" for i, name in enumerate(value)] + [""]
    if isinstance(value, dict):
        return heading + _render_mapping(value, level, file_names)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return heading + _render_records(value)
    if isinstance(value, list):
        return heading + ([f"- {_cell(item)}" for item in value] or ["(none)"]) + [""]
    return heading + [_format(value), ""]


def _render_mapping(mapping: Mapping[str, Any], level: int, file_names: Collection[str]) -> list[str]:
    """Scalars (and short lists) as a key/value table, code as code blocks, nested structures as subsections."""
    code = {k: v for k, v in mapping.items() if k in _CODE_KEYS and isinstance(v, str)}
    flat = {
        k: v for k, v in mapping.items() if k not in code and (not isinstance(v, dict | list) or _is_scalar_list(v))
    }
    lines = _render_records([{"key": k, "value": v} for k, v in flat.items()]) if flat else []
    for key, text in code.items():
        lines += [f"```{_CODE_KEYS[key]}", text, "```", ""]
    for key, value in mapping.items():
        if key not in flat and key not in code:
            lines += _render_section(key, value, level + 1, file_names)
    return lines


def _render_records(records: list[dict[str, Any]]) -> list[str]:
    columns = list(dict.fromkeys(key for record in records for key in record))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(record.get(c, "")) for c in columns) + " |" for record in records]
    return lines + [""]


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(item, dict | list) for item in value)


def _cell(value: Any) -> str:
    text = ", ".join(_format(v) for v in value) if isinstance(value, list) else _format(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
