"""The settings of one study: a frozen dataclass, read from a study file and CLI flags.

A study file is TOML (or YAML) whose top-level keys are the fields of ``StudyConfig``;
an optional ``[space]`` table overrides the default search space and is validated into a
``searchspace.SearchSpace`` on load (see ``automl space show``).
CLI flags override the file. Unknown keys are errors that quote the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pipelines
import searchspace
from automl._choices import BACKENDS, COST_METRICS, OBJECTIVES, PREFERENCES, PRUNERS, SAMPLERS
from automl._errors import UserError

__all__ = [
    "StudyConfig",
    "load_study_file",
    "read_study_file",
    "as_image_size",
    "check_name",
    "check_seed",
    "offset_seed",
    "parse_duration",
    "MIN_TIME_BUDGET",
    "EXPORT_RESERVE",
    "check_export_dir",
    "NAME_PATTERN",
    "SAMPLERS",
    "PRUNERS",
    "OBJECTIVES",
    "BACKENDS",
]

#: Study names and export folder names: a letter or digit, then up to 99 letters, digits,
#: dots, dashes or underscores. A name becomes a folder (``mlruns/models/NAME``,
#: ``exports/NAME``) and an MLflow experiment, so ``.``, ``..``, separators and spaces are out.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"


EXPORT_RESERVE = 10.0
"""Seconds a time budget keeps, at least, to compare and export the finalists (``automl._budget``)."""

MIN_TIME_BUDGET = 20.0
"""The shortest time budget, in seconds: below it the start-up (about 4 s on a 2-core CPU,
TensorFlow's import included), a first trial and ``EXPORT_RESERVE`` cannot end within it
(a budget of 3 s ended after 10.3 s, and 10 s after 11.8 s; 20 s after 13.1 s)."""


@dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """Everything that defines a study; stored on the Optuna study so a resume uses the same."""

    study_name: str = "default"
    data: str | None = None
    image_size: tuple[int, int] | None = None
    #: A CSV's columns of image paths and labels (``data`` a ``.csv``); when the CSV has no such
    #: columns, they are found by their content.
    path_column: str = "path"
    label_column: str = "label"
    trials: int = 6
    timeout: float | None = None
    time_budget: float | None = None
    epochs: int = 9
    sampler: str = "tpe"
    pruner: str = "asha"
    objective: str = "accuracy"
    cost_metric: str = "params"
    max_params: int | None = None
    max_flops: int | None = None
    seed: int = 0
    seed_architectures: tuple[str, ...] = ()
    storage: str | None = None
    tracking_uri: str | None = None
    backend: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    max_val_images: int | None = pipelines.MAX_HELD_OUT
    max_test_images: int | None = pipelines.MAX_HELD_OUT
    top_k: int = 3
    prefer: str = "cost"
    margin: float = 0.01
    final_training: bool = True
    members: int = 2
    views: int = 10  # automl._views.MAX_VIEWS: the image, its mirror image, their four shifts
    max_consecutive_failures: int = 5
    isolate: bool = False
    workers: int = 1
    export_dir: str | None = None
    space: searchspace.SearchSpace = field(default_factory=searchspace.SearchSpace.default)
    #: The settings the user gave (study file or options), as opposed to defaults: a resume
    #: notes each of them that the stored study overrides. Not stored with the study.
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_types(self)
        check_name("study_name", self.study_name)
        if self.export_dir is not None:
            check_export_dir(self.export_dir)
        unknown = [name for name in self.seed_architectures if name not in searchspace.CLASSICS]
        if unknown:
            raise UserError(f"unknown seed architecture(s) {unknown}; choose from {sorted(searchspace.CLASSICS)}")
        _check_choice("sampler", self.sampler, SAMPLERS)
        _check_choice("pruner", self.pruner, PRUNERS)
        _check_choice("objective", self.objective, OBJECTIVES)
        _check_choice("cost_metric", self.cost_metric, COST_METRICS)
        _check_choice("prefer", self.prefer, PREFERENCES)
        if self.backend is not None:
            _check_choice("backend", self.backend, BACKENDS)
        for name in ("trials", "epochs", "top_k", "max_consecutive_failures", "workers", "members", "views"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.margin < 1:
            raise UserError(f"margin must be in [0, 1) (a fraction of accuracy: 0.01 is 1 point), got {self.margin!r}")
        check_seed(self.seed)
        for name in ("max_params", "max_flops", "max_val_images", "max_test_images", "timeout", "time_budget"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise UserError(f"{name} must be positive and finite, got {value!r}")
        if self.time_budget is not None and self.time_budget < MIN_TIME_BUDGET:
            raise UserError(
                f"time_budget must be at least {MIN_TIME_BUDGET:g}s (the start-up, a first short trial and "
                f"the {EXPORT_RESERVE:g} s kept to compare and export the finalists), got {self.time_budget:g}s; "
                "a number without a unit is seconds: 10m is ten minutes"
            )
        if not (
            0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1
        ):
            raise UserError(
                "val_fraction and test_fraction must be in (0, 1) with a sum below 1, "
                f"got val_fraction={self.val_fraction!r}, test_fraction={self.test_fraction!r}"
            )

    def replace(self, **changes: Any) -> StudyConfig:
        """A copy with ``changes`` applied, ignoring those whose value is ``None``."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self, *, redacted: bool = False) -> dict[str, Any]:
        """The settings as plain values; ``redacted`` masks passwords in the store URLs (to show or log)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "given"}
        if redacted:
            from automl._stores import redact

            data.update({k: redact(data[k]) for k in ("storage", "tracking_uri") if data[k]})
        data["space"] = self.space.to_dict()
        data["image_size"] = list(self.image_size) if self.image_size else None
        data["seed_architectures"] = list(self.seed_architectures)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def data_name(self) -> str:
        """The data as a user names it: ``data``, else the built-in default (digits)."""
        return self.data or pipelines.DEFAULT_SOURCE

    @property
    def export_path(self) -> Path:
        """Where the study's winner is exported: ``export_dir``, else ``exports/STUDY``."""
        return Path(self.export_dir) if self.export_dir else Path("exports") / self.study_name

    @classmethod
    def from_json(cls, text: str) -> StudyConfig:
        """The settings stored with a study. A setting added since it was stored takes the
        value that keeps the study as it was (``_BEFORE_ADDED``), not today's default."""
        data = _BEFORE_ADDED | json.loads(text)
        if isinstance(data.get("space"), Mapping):
            data["space"] = _SPACE_BEFORE_ADDED | data["space"]
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StudyConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"given"}
        unknown = sorted(set(data) - known, key=str)
        if unknown:
            space_fields = {f.name for f in dataclasses.fields(searchspace.SearchSpace)}
            hint = (
                "; they are search-space settings: put them under a [space] table (a space: key in YAML)"
                if set(unknown) <= space_fields
                else ""
            )
            raise UserError(f"unknown study setting(s) {unknown}{hint}; known settings are {sorted(known)}")
        values = dict(data)
        values["image_size"] = as_image_size(values.get("image_size"))
        if isinstance(values.get("seed_architectures"), str):
            names = (name.strip() for name in values["seed_architectures"].split(","))
            values["seed_architectures"] = tuple(name for name in names if name)
        elif isinstance(values.get("seed_architectures"), list | tuple):
            values["seed_architectures"] = tuple(values["seed_architectures"])
        for name in ("time_budget", "timeout"):  # "10m", as the options take them
            if isinstance(values.get(name), str):
                values[name] = parse_duration(values[name])
        space = values.get("space")
        if space is not None and not isinstance(space, Mapping | searchspace.SearchSpace):
            raise UserError(f"space must be a table of search-space settings, got {space!r}")
        if space is None or isinstance(space, Mapping):
            # The stored space is complete; a study file's [space] table overrides the default.
            values["space"] = searchspace.SearchSpace.from_dict(dict(space or {}))
        return cls(**values)


def as_image_size(value: Any) -> Any:
    """``image_size`` as a tuple: ``(32, 32)``, ``[32, 32]`` or ``"32,32"`` as ``--image-size``
    takes it; any other value as it is, for the study's check to quote."""
    if isinstance(value, str):
        parts = value.split(",")
        return tuple(int(part) for part in parts) if all(part.strip().isdecimal() for part in parts) else value
    return tuple(value) if isinstance(value, list | tuple) else value


def read_study_file(path: str | Path) -> StudyConfig:
    """The settings study file ``path`` holds (``given``: the ones it names). A relative
    ``data`` path that is not found from the working folder but is beside the file is read
    from beside the file.

    Raises:
        UserError: the file cannot be read, or it holds an unknown or bad setting; naming the file.
    """
    values = load_study_file(path)
    data = values.get("data")
    if isinstance(data, str) and data and not Path(data).is_absolute() and not Path(data).exists():
        beside = Path(path).parent / data
        values["data"] = str(beside) if beside.exists() else data
    try:
        config = StudyConfig.from_dict(values)
    except (UserError, searchspace.SearchSpaceError) as exc:
        raise UserError(f"study file {str(path)!r}: {exc}") from None
    return config.replace(given=frozenset(values))


def load_study_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON study file into a plain dict (validated later by ``StudyConfig``)."""
    path = Path(path)
    if path.suffix.lower() not in searchspace.SETTINGS_FORMATS:
        raise UserError(f"a study file ends in {', '.join(searchspace.SETTINGS_FORMATS)}, got {str(path)!r}")
    name, parse = searchspace.SETTINGS_FORMATS[path.suffix.lower()]
    if path.is_dir():
        raise UserError(f"study file {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise UserError(f"study file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the study file {str(path)!r}: {exc}") from None
    try:
        data = parse(text)
    except ValueError as exc:
        raise UserError(f"cannot parse study file {str(path)!r}: invalid {name}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"study file {str(path)!r} must hold a table of settings, got {type(data).__name__}")
    return {key.replace("-", "_"): value for key, value in data.items()}


def check_name(what: str, name: object) -> str:
    """``name`` if it matches ``NAME_PATTERN``, else a ``UserError`` quoting it."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise UserError(
            f"{what} must be a letter or digit followed by up to 99 letters, digits, '.', '-' or '_' "
            f"(no '/', spaces, '.' or '..'), got {name!r}"
        )
    return name


def check_export_dir(path: str | Path) -> Path:
    """``path`` if its last part is a safe name (``NAME_PATTERN``), else a ``UserError`` quoting it."""
    name = Path(path).name
    if not name or not re.fullmatch(NAME_PATTERN, name) or str(path).endswith(("/.", "/..")):
        raise UserError(
            f"an export folder's name must be a letter or digit followed by letters, digits, '.', '-' or '_' "
            f"(not '.' or '..'), got {str(path)!r}"
        )
    return Path(path)


# Settings added after studies were first stored, with the value that means what a study
# stored without them did: its held-out splits were not capped, and its final models had no
# test-time views.
_BEFORE_ADDED: dict[str, Any] = {"max_val_images": None, "max_test_images": None, "views": 1}
# The same for the search space: its stage widths could fall.
_SPACE_BEFORE_ADDED: dict[str, Any] = {"rising_widths": False}

# The type each setting must have: bool is no int here, and float only where a fraction or
# a duration belongs (a study file's ``trials = true`` or ``epochs = 1.5`` is an error).
_INTS = (
    "trials", "epochs", "max_params", "max_flops", "max_val_images", "max_test_images", "seed", "top_k",
    "max_consecutive_failures", "workers", "members", "views",
)  # fmt: skip
# Those that may not be None.
_REQUIRED = ("trials", "epochs", "seed", "top_k", "max_consecutive_failures", "workers", "members", "views")
_NUMBERS = ("timeout", "time_budget", "val_fraction", "test_fraction", "margin")
_BOOLS = ("isolate", "final_training")
_STRINGS = (
    "study_name", "data", "path_column", "label_column", "sampler",
    "pruner", "objective", "cost_metric", "storage", "tracking_uri", "backend",
    "prefer", "export_dir",
)  # fmt: skip


def _check_types(config: StudyConfig) -> None:
    for name in _INTS + _NUMBERS + _STRINGS + _BOOLS:
        value = getattr(config, name)
        if value is None and name not in _REQUIRED:
            continue
        if name in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
            raise UserError(f"{name} must be a whole number, got {value!r}")
        if name in _NUMBERS and (isinstance(value, bool) or not isinstance(value, int | float) or value != value):
            raise UserError(f"{name} must be a number, got {value!r}")
        if name in _STRINGS and not isinstance(value, str):
            raise UserError(f"{name} must be a string, got {value!r}")
        if name in _BOOLS and not isinstance(value, bool):
            raise UserError(f"{name} must be true or false, got {value!r}")
    size = config.image_size
    if size is not None and not (
        isinstance(size, tuple) and len(size) == 2 and all(type(v) is int and v > 0 for v in size)
    ):
        raise UserError(f"image_size must be two positive whole numbers (height, width), got {size!r}")
    seeds = config.seed_architectures
    if not isinstance(seeds, tuple) or not all(isinstance(v, str) for v in seeds):
        raise UserError(f"seed_architectures must be a list of names, got {seeds!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{name} must be one of {list(choices)}, got {value!r}")


#: Seeds NumPy, and so ``keras.utils.set_random_seed``, accepts: 0 .. 2**32 - 1.
SEED_RANGE = 2**32


def check_seed(seed: int) -> int:
    """``seed``, or a ``UserError`` quoting it unless NumPy can seed with it."""
    if not 0 <= seed < SEED_RANGE:
        raise UserError(f"seed must be in 0..{SEED_RANGE - 1}, got {seed!r}")
    return seed


def offset_seed(seed: int, offset: int) -> int:
    """The seed ``offset`` after ``seed`` (a trial's, a retraining's), kept within NumPy's range."""
    return (seed + offset) % SEED_RANGE


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``"90s"``, ``"10m"``, ``"1.5h"`` or plain seconds (``"300"``) -> seconds.

    Raises:
        UserError: not a positive number with an optional unit s, m or h.
    """
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:], None)
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise UserError(f"a duration is a number with an optional unit s, m or h (e.g. 10m), got {text!r}") from None
    if not 0 < seconds < math.inf:
        raise UserError(f"a duration must be positive and finite, got {text!r}")
    return seconds
