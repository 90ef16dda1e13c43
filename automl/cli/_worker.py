"""``automl worker``: join an existing study and run its queued trials."""

from __future__ import annotations

import argparse
import sys

from automl.cli._common import add_parser, add_store_options

EXAMPLES = """
  automl worker --study shared --storage postgresql://automl@db-host/automl \\
      --tracking-uri http://mlflow-host:5000
  automl worker --study default --trials 1      # run one queued trial, then exit
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "worker", "Join a study and run trials until its total is reached.", EXAMPLES)
    parser.add_argument("--study", required=True, help="name of a study created by 'automl search'")
    parser.add_argument("--trials", type=int, default=None, help="run at most this many trials, then exit")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None, help="Keras backend")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    add_store_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from automl.cli._search import select_backend

    select_backend(args.backend)
    from automl._config import StudyConfig
    from automl._progress import Progress
    from automl._study import StudyStopped, run_study

    config = StudyConfig(study_name=args.study, storage=args.storage, tracking_uri=args.tracking_uri, backend=args.backend)
    try:
        study_run = run_study(config, worker=True, max_trials=args.trials, progress=Progress(total=0, quiet=args.quiet))
    except StudyStopped as exc:
        print(f"worker stopped: {exc}", file=sys.stderr)
        return 1
    print(f"worker done: ran {study_run.ran} trial(s) of study {args.study!r}", flush=True)
    return 0
