"""``automl compare``: McNemar's test between a study's best trials on the test split."""

from __future__ import annotations

import argparse
import json
import sys

from automl._choices import PREFERENCES
from automl.cli._common import add_parser, add_store_options, add_study_option

EXAMPLES = """
  automl compare --study default
  automl compare --study default --top 5 --json
  automl compare --study default --final-epochs 10 --seeds 3   # retrain on train+val first
  automl compare --study default --prefer accuracy               # no cheaper-model rule
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "compare", "Compare a study's best trials with McNemar's test.", EXAMPLES)
    add_study_option(parser)
    parser.add_argument(
        "--top", type=int, default=None, help="how many of the best trials to compare (default: the study's top_k)"
    )
    parser.add_argument("--final-epochs", type=int, default=None, help="retrain each on train+validation first")
    parser.add_argument("--seeds", type=int, default=None, help="with --final-epochs: seeds to average (default 1)")
    parser.add_argument("--prefer", choices=PREFERENCES, default=None, help="winner rule (default: the study's prefer)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument(
        "--margin", type=float, default=None, help="non-inferiority margin of the cost rule (default: the study's)"
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_store_options(parser)
    parser.set_defaults(handler=run, uses_keras=True)


def _check(args: argparse.Namespace) -> None:
    """Refuse, before the study is opened, the options a comparison cannot take, quoting them."""
    from automl._errors import UserError
    from automl._mcnemar import MIN_ALPHA

    counts = {"--top": args.top, "--seeds": args.seeds, "--final-epochs": args.final_epochs}
    for flag, value in counts.items():
        if value is not None and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value!r}")
    if args.seeds is not None and args.final_epochs is None:
        raise UserError(f"--seeds {args.seeds} averages models retrained on train+validation: give --final-epochs too")
    if not MIN_ALPHA <= args.alpha < 1:
        raise UserError(f"--alpha must be in [{MIN_ALPHA:g}, 1), got {args.alpha!r}")
    if args.margin is not None and not 0 <= args.margin < 1:
        raise UserError(f"--margin must be in [0, 1) (a fraction of accuracy: 0.01 is 1 point), got {args.margin!r}")


def run(args: argparse.Namespace) -> int:
    from automl._catalog import still_running_note
    from automl._studies import load_existing
    from automl._workflow import recompare

    _check(args)
    study, config = load_existing(args.study, storage=args.storage, tracking_uri=args.tracking_uri)
    note = still_running_note(study, "compares")
    if note:
        print(note, file=sys.stderr)
    done = recompare(
        study,
        config,
        top_k=args.top,
        final_epochs=args.final_epochs,
        seeds=args.seeds,
        prefer=args.prefer,
        alpha=args.alpha,
        margin=args.margin,
        progress=lambda line: print(line, file=sys.stderr if args.json else sys.stdout, flush=True),
    )
    comparison = done.result.comparison
    print(json.dumps(comparison.to_dict(), sort_keys=True) if args.json else comparison.table())
    if done.note:
        print(f"note: {done.note}", file=sys.stderr)
    return 0
