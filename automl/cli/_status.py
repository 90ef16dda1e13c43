"""``automl status``: trial counts by state, the best trial of a study, and where the
comparison of its finished trials and the export of its winner stand."""

from __future__ import annotations

import argparse
import json

from automl.cli._common import add_parser, add_store_options, add_study_option

EXAMPLES = """
  automl status --study default
  automl status --study digits-long --json
  automl status --study shared --storage postgresql://automl@db-host/automl
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "status", "Show a study's trial counts and its best trial.", EXAMPLES)
    add_study_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from automl._catalog import STATES, study_status
    from automl._studies import load_existing
    from automl._tables import counted

    study, _ = load_existing(args.study, storage=args.storage, tracking_uri=args.tracking_uri, read_only=True)
    status = study_status(study)
    if args.json:
        print(json.dumps(status, sort_keys=True))
        return 0
    print(f"study {status['study']!r}: {counted(status['total'], 'trial')}")
    print("  " + "  ".join(f"{state} {status[state]}" for state in STATES))
    if status["orphaned"]:
        print(
            f"  {status['orphaned']} of the running trials lost their process (killed): the study's next "
            "search or worker fails them and runs them again"
        )
    if status["retried"]:
        print(f"  retried {status['retried']} (interrupted, or their worker died: failed and run again)")
    best = status["best"]
    if best:
        print(f"  best: trial {best['trial']}  val_accuracy {best['val_accuracy']:.4f}  params {best['params']:,}")
    else:
        print("  best: none yet")
    print("  " + _finish_line(status["study"], status["finish"]))
    return 0


def _finish_line(study: str, finish: dict) -> str:
    """Where the comparison and export stand (``automl._catalog.finish_status``), in a line."""
    from automl._catalog import FinishState

    state = FinishState(finish["state"])
    last = ""
    if finish["winner"] is not None:
        accuracy = finish["test_accuracy"]
        last = f"; the last comparison's winner: trial {finish['winner']}" + (
            "" if accuracy is None else f" (test accuracy {accuracy:.4f})"
        )
    if state == FinishState.DONE:
        exported = (
            "and exported"
            if finish["exported"]
            else f"not exported (that run had --no-export; `automl export --study {study}` exports the winner)"
        )
        return f"compared: its {finish['compared']} finished trials, {exported}{last}"
    if state == FinishState.COMPARING:
        return f"comparing: process {finish['by']} compares its {finish['finished']} finished trials and exports"
    if state == FinishState.SEARCHING:
        return "compared when its running trials end (the last process to finish one compares and exports)" + last
    if state == FinishState.NOTHING:
        return "nothing to compare: no trial completed"
    kept = finish["kept"]
    waiting = f", {kept} finalist(s) retrained before an interrupt wait to be taken up" if kept else ""
    if finish["interrupted"]:
        since = "the last comparison or export was interrupted"
    elif finish["compared"] is None:
        since = "never compared"
    else:
        since = f"{finish['finished']} finished trial(s) now, {finish['compared']} when last compared"
    return (
        f"comparison pending: {since}{waiting}; the study's next `automl search --study-name {study}` compares "
        f"them and exports the winner{last}"
    )
