"""``automl studies``: the studies of a store, one line each; ``--delete`` removes one."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from automl.cli._common import add_parser, add_store_options, shown_path

EXAMPLES = """
  automl studies
  automl studies --json
  automl studies --storage postgresql://automl@db-host/automl
  automl studies --delete digits-old --yes
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "studies", "List the studies of a store, or delete one.", EXAMPLES)
    parser.add_argument("--json", action="store_true", help="print one JSON object per study, a line each")
    parser.add_argument(
        "--delete",
        metavar="STUDY",
        help="delete this study: its trials, its MLflow experiment (to MLflow's trash) and the arrays "
        "saved for it alone; its registered model and exports stay",
    )
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    parser.add_argument(
        "--force",
        action="store_true",
        help="delete even when a process seems to run one of its trials or export it (a process gone "
        "without a trace, e.g. on another host with a journal store), or when the tracking store does not "
        "hold its runs (a store that is gone)",
    )
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return _delete(args) if args.delete else _list(args)


def _list(args: argparse.Namespace) -> int:
    from automl._catalog import list_studies
    from automl._stores import default_storage, redact, sqlite_file
    from automl._tables import render_table

    default = sqlite_file(default_storage()) if args.storage is None else None
    if default is not None and not default.is_file():  # a folder no search ran in (a given store must exist)
        if not args.json:
            print(f"0 studies in {redact(default_storage())} (no search has made it yet)")
        return 0
    studies = list_studies(args.storage)
    if args.json:
        for study in studies:
            print(json.dumps(study.to_dict(), sort_keys=True))
        return 0
    store = redact(args.storage or default_storage())
    print(f"{len(studies)} {'study' if len(studies) == 1 else 'studies'} in {store}")
    if not studies:
        return 0
    header = "study data started trials complete pruned failed".split() + ["best val acc", "winner", "test acc"]
    rows = [
        (
            s.name,
            _shown_data(s.data),
            s.started.strftime("%Y-%m-%d %H:%M") if s.started else "-",
            s.status["total"],
            s.status["complete"],
            s.status["pruned"],
            s.status["fail"],
            f"{s.status['best']['val_accuracy']:.4f}" if s.status["best"] else "-",
            "-" if s.winner is None else s.winner,
            "-" if s.test_accuracy is None else f"{s.test_accuracy:.4f}",
        )
        for s in studies
    ]
    print(render_table(header, rows, left={0, 1, 2}))
    return 0


def _shown_data(data: str | None) -> str:
    if data is None:
        return "(not an automl study)"
    if "/" in data or "\\" in data:
        return str(shown_path(Path(data)))
    return data


def _delete(args: argparse.Namespace) -> int:
    from automl._catalog import delete_study, refuse_in_use
    from automl._errors import UserError
    from automl._registry import registered_name
    from automl._studies import load_existing
    from automl._tables import counted

    name = args.delete
    if not args.yes:
        study, _ = load_existing(name, storage=args.storage, tracking_uri=args.tracking_uri)
        if not args.force:
            refuse_in_use(study)  # before asking, not after
        count = len(study.get_trials(deepcopy=False))
        what = f"study {name!r} ({counted(count, 'trial')})"
        if not sys.stdin.isatty():
            raise UserError(f"add --yes to delete {what}: its trials go, and its MLflow experiment to the trash")
        answer = input(f"delete {what} and move its MLflow experiment to the trash? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing deleted")
            return 1
    deleted = delete_study(name, storage=args.storage, tracking_uri=args.tracking_uri, force=args.force)
    print(f"deleted study {deleted.name!r} ({counted(deleted.trials, 'trial')}) from {deleted.storage}")
    if deleted.experiment is not None:
        number, retired = deleted.experiment
        store = shlex.quote(deleted.tracking)  # MLflow's commands need the store: they looked in ./mlflow.db
        print(f"  its MLflow experiment (id {number}) is in MLflow's trash as {retired!r}; to bring it back:")
        print(f"    MLFLOW_TRACKING_URI={store} mlflow experiments restore --experiment-id {number}")
        print(f"  or to purge it: mlflow gc --backend-store-uri {store} --experiment-ids {number}")
    if deleted.arrays is not None:
        print(f"  deleted the arrays saved for it: {shown_path(deleted.arrays)}")
    if deleted.retrained:
        print(f"  deleted {len(deleted.retrained)} model(s) retrained before an interrupt and kept for it")
    print(f"  kept: its registered model {registered_name(name)!r} (if it exported one) and its exported folders")
    return 0
