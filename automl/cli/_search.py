"""``automl search``: run (or resume) a study, compare the finalists, export the winner."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from automl.cli._common import add_parser, add_store_options, parse_size, shown_path

EXAMPLES = """
  automl search                                   # short study on the built-in digits
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
    parser.add_argument(
        "--create-only", action="store_true", help="create the study and its trial queue, then exit (for automl worker)"
    )
    parser.set_defaults(handler=run)


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The study settings shared by ``search`` and ``worker``."""
    parser.add_argument("--config", default=None, help="study file (TOML or YAML); flags override it")
    parser.add_argument(
        "--data", default=None, help="digits (default), mnist, fashion_mnist, cifar10, cifar100, a folder, .npz or .csv"
    )
    parser.add_argument("--image-size", type=parse_size, default=None, help="resize images to H,W")
    parser.add_argument("--study-name", default=None, help="study name (default 'default'); re-running resumes it")
    parser.add_argument("--trials", type=int, default=None, help="the study's total number of trials (default 6)")
    parser.add_argument("--timeout", type=float, default=None, help="wall-clock limit in seconds for this run")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs per trial (default 5)")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), default=None, help="default tpe")
    parser.add_argument("--pruner", choices=("median", "hyperband", "none"), default=None, help="default median")
    parser.add_argument("--objective", choices=("accuracy", "pareto"), default=None, help="pareto: accuracy vs cost")
    parser.add_argument(
        "--cost-metric", choices=("params", "flops"), default=None, help="cost for pareto (default params)"
    )
    parser.add_argument("--max-params", type=int, default=None, help="reject architectures with more parameters")
    parser.add_argument("--max-flops", type=int, default=None, help="reject architectures with more multiply-adds")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the split and the sampler (default 0)")
    parser.add_argument("--seed-architectures", default=None, help="classics run first, e.g. lenet,resnet")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None, help="Keras backend")
    parser.add_argument("--max-consecutive-failures", type=int, default=None, help="stop after this many (default 5)")
    parser.add_argument("--isolate", action="store_true", default=None, help="run each trial in a fresh process")
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes sharing the study (default 1)"
    )
    add_store_options(parser)


def config_from_args(args: argparse.Namespace):  # -> StudyConfig
    """Study file values, overridden by the flags that were given."""
    from automl._config import StudyConfig, load_study_file

    values = load_study_file(args.config) if args.config else {}
    config = StudyConfig.from_dict(values)
    flags = {
        name: getattr(args, name, None)
        for name in (
            "data", "image_size", "study_name", "trials", "timeout", "epochs", "sampler", "pruner", "objective",
            "cost_metric", "max_params", "max_flops", "seed", "backend", "max_consecutive_failures", "isolate",
            "workers", "storage", "tracking_uri", "export_dir",
        )
    }  # fmt: skip
    flags["top_k"] = getattr(args, "top", None)
    if getattr(args, "seed_architectures", None):
        flags["seed_architectures"] = tuple(s.strip() for s in args.seed_architectures.split(",") if s.strip())
    return config.replace(**flags)


def select_backend(backend: str | None) -> None:
    """Set the Keras backend before Keras is imported (it reads KERAS_BACKEND once)."""
    if backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
            raise SystemExit(f"automl: Keras is already imported with another backend; set KERAS_BACKEND={backend}")
        os.environ["KERAS_BACKEND"] = backend


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    select_backend(config.backend)
    from automl._study import StudyStopped

    if args.create_only:
        from automl._workers import prepare_study

        prepare_study(config)
        return 0
    if config.workers > 1:
        from automl._workers import run_local_workers

        study_run = run_local_workers(config)
    else:
        from automl._progress import Progress
        from automl._study import run_study

        try:
            study_run = run_study(config, progress=Progress(total=config.trials, quiet=args.quiet))
        except StudyStopped as exc:
            print(f"study stopped: {exc}", file=sys.stderr)
            return 1
    return finish(study_run, top=config.top_k, export=not args.no_export)


def finish(study_run, *, top: int, export: bool) -> int:  # study_run: StudyRun
    """Print the results table, compare the finalists, export the winner, say where to look."""
    from automl._compare import compare_study
    from automl._report import format_table, log_study_report, trials_frame
    from automl._study import study_tracker

    study, config = study_run.study, study_run.config
    tracker = study_tracker(study, config)
    print("\nResults")
    print(format_table(trials_frame(study)))
    log_study_report(study, tracker, study_run.parent_run_id, pareto=config.objective == "pareto")
    if study_run.stopped_early:
        print(f"\nstopped early: {study_run.stopped_early}")
    try:
        result = compare_study(study, config, top_k=top, prefer=config.prefer, tracker=tracker, data=study_run.data)
    except Exception as exc:  # noqa: BLE001 - the search itself succeeded; say why there is no comparison
        from automl._errors import USER_ERRORS

        if not isinstance(exc, USER_ERRORS):
            raise
        print(f"\nno comparison: {exc}")
        tracker.client.set_terminated(study_run.parent_run_id, status="FINISHED")
        return 0
    print("\nComparison of the best trials (McNemar's test on the held-out test split)")
    print(result.comparison.table())
    if export:
        from automl._winner import export_winner

        out = Path(config.export_dir or Path("exports") / config.study_name)
        exported = export_winner(study, config, out, tracker=tracker, data=study_run.data)
        print(f"\nexported the winner (trial {exported.trial}) to {shown_path(exported.result.out_dir)}/")
        print(f"  model: {shown_path(exported.result.keras_path)}")
    tracker.client.set_terminated(study_run.parent_run_id, status="FINISHED")
    print("\nTo browse the runs in the MLflow UI:")
    print(f"  {ui_command(config.tracking_uri)}")
    return 0


def ui_command(tracking_uri: str | None) -> str:
    return "automl ui" + (f" --tracking-uri {tracking_uri}" if tracking_uri else "")
