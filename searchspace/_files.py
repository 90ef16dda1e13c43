"""Settings files read by their suffix: TOML, YAML or JSON, into plain data.

A search space file and a study file (``automl``) are read alike, so both accept the same
suffixes and name a parse error by its format.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from typing import Any


def _yaml(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:  # not a ValueError, as the others' parse errors are
        raise ValueError(str(exc)) from None


# A settings file's suffix -> the name of its format and its parser (a ValueError on bad text).
SETTINGS_FORMATS: dict[str, tuple[str, Callable[[str], Any]]] = {
    ".toml": ("TOML", tomllib.loads),
    ".yaml": ("YAML", _yaml),
    ".yml": ("YAML", _yaml),
    ".json": ("JSON", json.loads),
}
