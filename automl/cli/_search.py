"""``automl search``: run (or resume) a study, compare the finalists, export the winner."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from automl._choices import BACKENDS, COST_METRICS, OBJECTIVES, PRUNERS, SAMPLERS
from automl.cli._common import add_parser, add_store_options, parse_seed, parse_size, shown_path

if TYPE_CHECKING:
    from automl._config import StudyConfig
    from automl._workflow import SearchResult

EXAMPLES = """
  automl search                                   # short study on the built-in digits
  automl search --data train.npz --time-budget 10m   # the best model in 10 minutes
  automl search --study-name digits-long --trials 30 --epochs 10
  automl search --data ./my_images --trials 20 --max-params 200000
  automl search --data mnist --objective pareto --seed-architectures lenet,resnet
  automl search --config study.toml --timeout 3600   # flags override the file
  automl search --workers 4                       # four local worker processes
  automl search --study-name big --trials 200 --storage postgresql://... --create-only   # then 'automl worker'
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "search", "Run or resume an architecture search study.", EXAMPLES)
    add_search_options(parser)
    parser.add_argument("--top", type=int, default=None, help="finalists compared with McNemar's test (default 3)")
    parser.add_argument("--export-dir", default=None, help="where the winner is exported (default exports/STUDY)")
    parser.add_argument("--no-export", action="store_true", help="compare the finalists but export nothing")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's and MLflow's own log lines")
    parser.add_argument(
        "--create-only", action="store_true", help="create the study and its trial queue, then exit (for automl worker)"
    )
    parser.set_defaults(handler=run)


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The study settings shared by ``search`` and ``worker``."""
    parser.add_argument("--config", default=None, help="study file (.toml, .yaml/.yml or .json); flags override it")
    parser.add_argument(
        "--data", default=None, help="digits (default), mnist, fashion_mnist, cifar10, cifar100, a folder, .npz or .csv"
    )
    parser.add_argument("--image-size", type=parse_size, default=None, help="resize images to H,W")
    parser.add_argument("--path-column", default=None, help="a CSV's column of image paths (default: path)")
    parser.add_argument("--label-column", default=None, help="a CSV's column of labels (default: label)")
    parser.add_argument("--study-name", default=None, help="study name (default 'default'); re-running resumes it")
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="the study's total number of trials (default 6; with --time-budget, until the budget ends)",
    )
    parser.add_argument(
        "--time-budget",
        default=None,
        help="the whole command's wall time, e.g. 90s, 10m, 1h (20s at least; a bare number is seconds): "
        "search, final training, comparison and export",
    )
    parser.add_argument("--timeout", type=float, default=None, help="wall-clock limit in seconds for the trials")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs a trial plans; successive halving gives them to the promising ones (default 9)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="a cheaper finalist wins only if non-inferior within this accuracy margin (default 0.01 = 1 point)",
    )
    parser.add_argument(
        "--no-final-training",
        dest="final_training",
        action="store_false",
        default=None,
        help="export the trial's model as trained in the search, without retraining it on train+validation",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help="with a time budget, retrain the likeliest winner as up to this many averaged models when the final "
        "window holds them (default 2; 1 exports a single model)",
    )
    parser.add_argument(
        "--views",
        type=int,
        default=None,
        help="the final model averages its predictions over up to this many test-time views: the image, its "
        "mirror image if it trained with flips, their one-pixel shifts if it trained with shifts (default 10; 1: "
        "the image only)",
    )
    parser.add_argument("--sampler", choices=SAMPLERS, default=None, help="default tpe")
    parser.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=None,
        help="asha (default): successive halving, promising trials train longer",
    )
    parser.add_argument("--objective", choices=OBJECTIVES, default=None, help="pareto: accuracy vs cost")
    parser.add_argument("--cost-metric", choices=COST_METRICS, default=None, help="cost for pareto (default params)")
    parser.add_argument(
        "--max-params",
        type=int,
        default=None,
        help="narrow the widths of architectures with more parameters until they fit",
    )
    parser.add_argument(
        "--max-flops", type=int, default=None, help="narrow the widths of architectures with more multiply-adds"
    )
    parser.add_argument(
        "--seed", type=parse_seed, default=None, help="random seed of the split and the sampler (default 0)"
    )
    parser.add_argument("--seed-architectures", default=None, help="classics run first, e.g. lenet,resnet")
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend")
    parser.add_argument("--max-consecutive-failures", type=int, default=None, help="stop after this many (default 5)")
    parser.add_argument("--isolate", action="store_true", default=None, help="run each trial in a fresh process")
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes sharing the study (default 1)"
    )
    add_store_options(parser, study_file=True)


_STUDY_OPTIONS = (
    "config", "data", "image_size", "path_column", "label_column", "study_name", "trials", "timeout", "time_budget",
    "epochs", "margin", "final_training", "members", "views", "sampler", "pruner", "objective",
    "cost_metric", "max_params", "max_flops", "seed", "seed_architectures", "backend", "max_consecutive_failures",
    "isolate", "workers", "storage", "tracking_uri",
)  # fmt: skip


def search_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``automl.search`` that the parsed flags give."""
    options = {name: getattr(args, name, None) for name in _STUDY_OPTIONS}
    for name in ("top", "export_dir"):
        options[name] = getattr(args, name, None)
    for name in ("no_export", "create_only", "quiet", "verbose"):
        options[name] = bool(getattr(args, name, False))
    return options


def config_from_args(args: argparse.Namespace) -> StudyConfig:
    """Study file values, overridden by the flags that were given."""
    from automl._search import study_config

    options = {name: getattr(args, name, None) for name in _STUDY_OPTIONS}
    seeds = options.pop("seed_architectures")
    if seeds:
        options["seed_architectures"] = tuple(s.strip() for s in seeds.split(",") if s.strip())
    return study_config(**options, top_k=getattr(args, "top", None), export_dir=getattr(args, "export_dir", None))


def run(args: argparse.Namespace) -> int:
    from automl._errors import StudyStopped
    from automl._search import search
    from automl.cli import STARTED

    try:
        result = search(**search_options(args), started=STARTED)
    except StudyStopped as exc:
        print(f"study stopped: {exc}", file=sys.stderr)
        return 1
    if not args.create_only:
        print_result(result)
        failure = no_success(result)
        if failure:
            print(f"automl search: error: {failure}", file=sys.stderr)
            return 1
    return 0


def no_success(result: SearchResult) -> str | None:
    """Why no trial of the study completed, or None if one did."""
    states = result.trials["state"] if "state" in result.trials else []
    if any(state == "complete" for state in states):
        return None
    reasons = [r for r in (result.trials["reason"] if "reason" in result.trials else []) if r]
    common = max(set(reasons), key=reasons.count) if reasons else "no trial finished"
    return f"no trial of study {result.study_name!r} succeeded ({len(states)} ran); the most common reason: {common}"


def print_result(result: SearchResult) -> None:
    """The results table, the comparison, the exported files and where to look."""
    from automl._report import format_table

    print("\nResults")
    print(format_table(result.trials))
    if result.stopped_early:
        print(f"\nstopped early: {result.stopped_early}")
    if result.comparison is None:
        print(f"\nno comparison: {result.no_comparison}")
        return
    if result.earlier:
        print(f"\nthe comparison and export of an earlier run: {result.earlier}")
    print("\nComparison of the best trials (McNemar's test on the held-out test split)")
    print(result.comparison.table())
    if result.export is not None:
        out = f"{shown_path(result.export.out_dir)}/"
        if result.earlier:  # exported by another run, not this one
            print(f"\nthe winner (trial {result.winner}) is in {out}, as that run exported it")
        else:
            print(f"\nexported the winner (trial {result.winner}) to {out}")
        print(f"  model: {shown_path(result.export.keras_path)}")
        for note in result.export.notes:
            print(f"  note: {note}")
        if result.export.pixels:
            print(f"  input: {result.export.pixels}")
    print(f"\n{browse_line(result.config.tracking_uri)}")


def browse_line(tracking_uri: str | None) -> str:
    """How to browse the runs: open a tracking server in a browser, or the ``automl ui``
    command that serves a store (quoted for the shell); the password masked."""
    import shlex

    from automl._stores import redact

    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return f"To browse the runs, open the MLflow tracking server in a browser:\n  {redact(tracking_uri)}"
    command = "automl ui" + (f" --tracking-uri {shlex.quote(redact(tracking_uri))}" if tracking_uri else "")
    return f"To browse the runs in the MLflow UI:\n  {command}"
