"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES_FORMATTER = argparse.RawDescriptionHelpFormatter


def add_parser(subparsers: argparse._SubParsersAction, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """Add a subcommand parser whose ``--help`` ends with an ``Examples:`` block."""
    return subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog="Examples:\n" + examples.strip("\n"),
        formatter_class=EXAMPLES_FORMATTER,
    )


def add_study_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", default="default", help="study name (default 'default')")


def add_store_options(parser: argparse.ArgumentParser, *, study_file: bool = False) -> None:
    """``--storage`` (Optuna) and ``--tracking-uri`` (MLflow), defaulting to the project's ``mlruns/``.

    Where neither is given (nor, for a command with ``--config``: ``study_file``, the study
    file's), ``AUTOML_STORAGE`` and ``AUTOML_TRACKING_URI`` are used
    (``automl._stores.default_storage``), so a URL with a password need not appear on a
    command line (local workers and isolated trials get theirs on a pipe: ``automl._handoff``).
    """
    from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV

    first = "a study file's, else " if study_file else ""
    parser.add_argument(
        "--storage",
        default=None,
        help=f"Optuna storage URL (default: {first}${STORAGE_ENV}, else sqlite:///mlruns/optuna.db).",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help=f"MLflow tracking URI (default: {first}${TRACKING_URI_ENV}, else sqlite:///mlruns/mlflow.db).",
    )


def _positive_ints(text: str, names: str) -> tuple[int, ...]:
    """Parse comma-separated positive ints, one per letter of ``names`` (argparse ``type=`` helper)."""
    label = ",".join(names)
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {label} integers, got {text!r}") from None
    if len(parts) != len(names) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected {len(names)} positive integers {label}, got {text!r}")
    return parts


def parse_shape(text: str) -> tuple[int, int, int]:
    """Parse ``H,W,C`` into a tuple of three positive ints (argparse ``type=``)."""
    return _positive_ints(text, "HWC")  # type: ignore[return-value]


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``H,W`` into a tuple of two positive ints (argparse ``type=``)."""
    return _positive_ints(text, "HW")  # type: ignore[return-value]


def parse_seed(text: str) -> int:
    """Parse a seed NumPy accepts, 0..2**32 - 1 (argparse ``type=``)."""
    from automl._config import check_seed
    from automl._errors import UserError

    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shown_path(path: Path) -> Path:
    """``path`` relative to the current directory when it lies inside it (shorter to read)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return Path(path)
