"""``automl status``: trial counts by state and the best trial of a study."""

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

    study, _ = load_existing(args.study, storage=args.storage, tracking_uri=args.tracking_uri, read_only=True)
    status = study_status(study)
    if args.json:
        print(json.dumps(status, sort_keys=True))
        return 0
    print(f"study {status['study']!r}: {status['total']} trial{'s' * (status['total'] != 1)}")
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
    return 0
