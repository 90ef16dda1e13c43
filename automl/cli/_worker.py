"""``automl worker``: join an existing study and run its queued trials."""

from __future__ import annotations

import argparse
import os
import sys

from automl._budget import LEAD_ENV
from automl._choices import BACKENDS
from automl._recycle import HELPER_ENV, OUTGROWN_EXIT
from automl._tables import counted
from automl.cli._common import add_parser, add_store_options

EXAMPLES = """
  automl search --study-name shared --trials 100 --storage postgresql://automl@db-host/automl \\
      --tracking-uri http://mlflow-host:5000 --create-only    # once, anywhere
  automl worker --study shared --storage postgresql://automl@db-host/automl \\
      --tracking-uri http://mlflow-host:5000                   # on every machine
  automl worker --study default --trials 1      # run one queued trial, then exit

A worker runs queued trials until none is left or running elsewhere; a trial whose worker
died (no heartbeat for AUTOML_GRACE_PERIOD seconds, default 30; beats every
AUTOML_HEARTBEAT_INTERVAL, default 10) is failed and queued once more.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "worker", "Join a study and run trials until its total is reached.", EXAMPLES)
    parser.add_argument("--study", required=True, help="name of a study created by 'automl search'")
    parser.add_argument("--trials", type=int, default=None, help="run at most this many trials, then exit")
    parser.add_argument(
        "--timeout", type=float, default=None, help="wall-clock limit in seconds for the trials (as automl search's)"
    )
    parser.add_argument(
        "--max-consecutive-failures", type=int, default=None, help="stop after this many failed trials in a row (5)"
    )
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's and MLflow's own log lines")
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from automl._errors import Outgrown, StudyStopped, UserError
    from automl._search import work

    if args.trials is not None and args.trials < 1:
        raise UserError(f"--trials must be at least 1, got {args.trials!r}")
    try:
        ran = work(
            args.study,
            storage=args.storage,
            tracking_uri=args.tracking_uri,
            backend=args.backend,
            trials=args.trials,
            timeout=args.timeout,
            max_consecutive_failures=args.max_consecutive_failures,
            quiet=args.quiet,
            verbose=args.verbose,
        )
    except StudyStopped as exc:
        print(f"worker stopped: {exc}", file=sys.stderr)
        return 1
    except Outgrown as exc:  # its search starts another in its place, and says so
        if not args.quiet:
            print(f"worker stopped: {exc}, past its memory limit", file=sys.stderr)
        return OUTGROWN_EXIT
    if os.environ.get(LEAD_ENV) != "1" and os.environ.get(HELPER_ENV) != "1":  # a search's process: it sums them up
        print(f"worker done: ran {counted(ran, 'trial')} of study {args.study!r}", flush=True)
    return 0
