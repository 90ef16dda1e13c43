"""``automl export``: write the winner's model, SavedModel and model card, and register it."""

from __future__ import annotations

import argparse
import sys

from automl.cli._common import add_parser, add_store_options, add_study_option, shown_path

EXAMPLES = """
  automl export --study default                       # to exports/default, as the search does
  automl export --study default --trial 4 --out exports/trial4
  automl export --study default --out exports/default --onnx   # needs pip install '.[onnx]'
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "export", "Export a study's winner (or a chosen trial).", EXAMPLES)
    add_study_option(parser)
    parser.add_argument(
        "--out",
        default=None,
        help="bundle directory; nothing is written outside it (default: where the search exports, exports/STUDY)",
    )
    parser.add_argument("--trial", type=int, default=None, help="export this trial instead of the winner")
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx")
    parser.add_argument("--no-register", action="store_true", help="skip the MLflow model registry")
    add_store_options(parser)
    parser.set_defaults(handler=run, uses_keras=True)


def run(args: argparse.Namespace) -> int:
    from automl._catalog import still_running_note
    from automl._errors import UserError
    from automl._studies import load_existing, study_tracker
    from automl._winner import export_winner
    from automl._workflow import close_finished

    study, config = load_existing(args.study, storage=args.storage, tracking_uri=args.tracking_uri)
    note = still_running_note(study, "exports the winner of")
    if note:
        print(note, file=sys.stderr)
    tracker = None if args.no_register else study_tracker(study, config)
    out = args.out or config.export_path
    try:
        exported = export_winner(study, config, out, trial=args.trial, tracker=tracker, onnx=args.onnx)
    except ValueError as exc:  # a bundle export_bundle refuses to write (a card that does not fit the model)
        raise UserError(str(exc)) from exc
    if tracker is not None:
        close_finished(study, config, tracker)
    result = exported.result
    print(f"exported trial {exported.trial} to {shown_path(result.out_dir)}/")
    for path in (result.keras_path, result.saved_model_dir, result.onnx_path, result.card_json, result.card_md):
        if path is not None:
            print(f"  {shown_path(path)}")
    for note in result.notes:
        print(f"  note: {note}")
    if result.pixels:
        print(f"  input: {result.pixels}")
    if exported.registered:
        print(f"  registered: {exported.registered}")
    return 0
