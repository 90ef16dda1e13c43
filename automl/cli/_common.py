"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse

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


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--storage`` (Optuna) and ``--tracking-uri`` (MLflow), defaulting to the project's ``mlruns/``."""
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (default: sqlite:///mlruns/optuna.db).",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: sqlite:///mlruns/mlflow.db, artifacts under mlruns/).",
    )


def parse_shape(text: str) -> tuple[int, int, int]:
    """Parse ``H,W,C`` into a tuple of three positive ints (argparse ``type=``)."""
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must be H,W,C integers, got {text!r}") from None
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"input shape must be three positive integers H,W,C, got {text!r}")
    return parts  # type: ignore[return-value]


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``H,W`` into a tuple of two positive ints (argparse ``type=``)."""
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must be H,W integers, got {text!r}") from None
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"image size must be two positive integers H,W, got {text!r}")
    return parts  # type: ignore[return-value]
