"""``automl predict``: classify image files with a bundle written by ``automl export``, or a model in MLflow."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from automl.cli._common import add_parser

EXAMPLES = """
  automl predict --model exports/mnist digit1.png digit2.png
  automl predict --model exports/mnist --json photos/*.jpg
  automl predict --model exports/mnist photos/ more_photos/   # every image below each folder
  automl predict --model models:/mnist-model@champion --tracking-uri http://mlflow-host:5000 digit1.png
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(
        subparsers,
        "predict",
        "Classify image files or folders with an exported model: prints class and probability per file.",
        EXAMPLES,
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="DIR|URI",
        help="bundle directory written by 'automl export', or an MLflow models:/ URI (e.g. models:/NAME@champion)",
    )
    from automl._handoff import TRACKING_URI_ENV, from_env

    parser.add_argument(
        "--tracking-uri",
        default=from_env(TRACKING_URI_ENV),
        help=f"MLflow store of a models:/ URI (default: ${TRACKING_URI_ENV}, else sqlite:///mlruns/mlflow.db)",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="image files (PNG, JPEG, ...), or folders: the image files at any depth below them, sorted",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(handler=run, uses_keras=True)


def run(args: argparse.Namespace) -> int:
    from automl._bundle import predict_files
    from automl._errors import UserError
    from automl._models import predict_mlflow_files

    try:
        if args.model.startswith("models:/"):
            rows = predict_mlflow_files(args.model, args.files, tracking_uri=args.tracking_uri)
        else:
            rows = predict_files(args.model, args.files)
    except ValueError as exc:  # a refused (unsafe) or inconsistent bundle
        raise UserError(str(exc)) from exc
    print(json.dumps(rows, indent=2) if args.json else format_predictions(rows))
    skipped = [row for row in rows if "error" in row]
    if skipped:  # as a search skips them: files found in a folder that cannot be read
        shown = "; ".join(row["error"] for row in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        print(f"note: skipped {len(skipped)} unreadable file(s) in the folders given: {shown}", file=sys.stderr)
    if skipped and len(skipped) == len(rows):  # a script must not take it for a success
        raise UserError(f"none of the {len(rows)} file(s) found could be read: nothing was classified")
    return 0


def format_predictions(rows: Sequence[dict[str, Any]]) -> str:
    """One line per file: file, predicted class and its probability, in aligned columns."""
    from automl._tables import render_table

    cells = [
        (row["file"], "-", "skipped")
        if "error" in row
        else (row["file"], str(row["class"]), f"{row['probability']:.4f}")
        for row in rows
    ]
    return render_table(("file", "class", "probability"), cells, left=(0, 1), rule=False)
