"""``automl space``: show the search space, sample architectures from it, describe a classic."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.cli._common import add_parser, parse_seed, parse_shape

if TYPE_CHECKING:
    from searchspace import SearchSpace

EXAMPLES = """
  automl space show                                   # the default search space, as JSON
  automl space show --config study.toml --format yaml # a study file's space
  automl space sample --n 5 --input-shape 8,8,1 --seed 0
  automl space sample --n 100 --input-shape 32,32,3 --seed 1 --max-params 200000 | grep -v '"width_scale": 1.0'
  automl space describe resnet --input-shape 28,28,1  # layers, shapes, params and FLOPs
  automl space describe spec.json --input-shape 32,32,3 --num-classes 100
"""

SHOW_EXAMPLES = """
  automl space show
  automl space show --config study.toml          # the [space] table of a study file, or the whole file
  automl space show --format yaml > space.yaml   # a starting point for your own space
"""

SAMPLE_EXAMPLES = """
  automl space sample --n 5 --input-shape 8,8,1 --seed 0
  automl space sample --n 200 --input-shape 28,28,1 --seed 3 --num-classes 10 --config study.yaml
  automl space sample --n 50 --input-shape 32,32,3 --seed 0 --max-flops 5000000
Each line is one JSON object: {"spec", "digest", "feasible", "reason", "params", "flops", "output_shapes",
"width_scale"}. A sample over --max-params or --max-flops is narrowed to it, as a study's trial is:
"spec" and its figures are the narrowed architecture's, "width_scale" the factor of its widths (1.0:
as sampled). An infeasible sample (over the budget even at 1/64 of its widths, or one that does not
tile) has its reason, and params/flops/output_shapes of null where it does not tile.
The same seed always prints the same lines.
"""

DESCRIBE_EXAMPLES = """
  automl space describe lenet --input-shape 28,28,1
  automl space describe inception --input-shape 32,32,3 --num-classes 100
  automl space describe my_spec.json --input-shape 8,8,1   # a spec written by ArchitectureSpec.to_json()
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(subparsers, "space", "Show, sample or describe CNN architectures.", EXAMPLES)
    commands = parser.add_subparsers(dest="space_command", metavar="SUBCOMMAND", required=True)

    show = add_parser(commands, "show", "Print the search space (default, or a study file's).", SHOW_EXAMPLES)
    _add_config(show)
    show.add_argument("--format", choices=("json", "yaml"), default="json", help="output format (default json)")
    show.set_defaults(handler=run_show)

    sample = add_parser(commands, "sample", "Print N seeded samples of the space, one JSON a line.", SAMPLE_EXAMPLES)
    sample.add_argument("--n", type=_positive, required=True, help="how many architectures to sample")
    sample.add_argument("--input-shape", type=parse_shape, required=True, help="image shape H,W,C")
    sample.add_argument("--seed", type=parse_seed, required=True, help="seed of Optuna's RandomSampler")
    sample.add_argument("--num-classes", type=_classes, default=10, help="number of classes (default 10)")
    sample.add_argument(
        "--max-params",
        type=_positive,
        default=None,
        help="narrow samples with more parameters (default: the study file's)",
    )
    sample.add_argument(
        "--max-flops",
        type=_positive,
        default=None,
        help="narrow samples with more multiply-adds (default: the study file's)",
    )
    _add_config(sample)
    sample.set_defaults(handler=run_sample)

    describe = add_parser(
        commands, "describe", "Print an architecture's layers, shapes, params and FLOPs.", DESCRIBE_EXAMPLES
    )
    describe.add_argument(
        "name", metavar="NAME", help="a classic (lenet, alexnet, vgg, inception, resnet) or a spec .json"
    )
    describe.add_argument("--input-shape", type=parse_shape, required=True, help="image shape H,W,C")
    describe.add_argument("--num-classes", type=_classes, default=10, help="number of classes (default 10)")
    describe.set_defaults(handler=run_describe)


def _classes(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a classifier needs at least 2 classes, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        help="a study file (.toml/.yaml/.yml/.json) with a [space] table, or a file of the space alone",
    )


def _space_and_budgets(args: argparse.Namespace) -> tuple[SearchSpace, int | None, int | None]:
    """The space ``--config`` names (the default without it) and its study's ``max_params``
    and ``max_flops``. A study file is read as ``automl search --config`` reads it, so a
    misspelt setting or table is refused, not passed over; a file whose every key is a
    space setting (``automl space show``'s output) is the space alone, with no budgets."""
    import dataclasses

    from automl._config import load_study_file, read_study_file
    from automl._errors import UserError
    from searchspace import SearchSpace, SearchSpaceError

    if not args.config:
        return SearchSpace.default(), None, None
    values = load_study_file(args.config)
    if values and set(values) <= {field.name for field in dataclasses.fields(SearchSpace)}:
        try:
            return SearchSpace.from_dict(values), None, None
        except SearchSpaceError as exc:
            raise UserError(f"space file {args.config!r}: {exc}") from None
    study = read_study_file(args.config)
    return study.space, study.max_params, study.max_flops


def run_show(args: argparse.Namespace) -> int:
    data = _space_and_budgets(args)[0].to_dict()
    if args.format == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    else:
        print(json.dumps(data, indent=2))
    return 0


def sample_lines(
    *,
    n: int,
    input_shape: tuple[int, int, int],
    seed: int,
    num_classes: int = 10,
    space: SearchSpace | None = None,
    max_params: int | None = None,
    max_flops: int | None = None,
) -> list[dict[str, Any]]:
    """The records ``automl space sample`` prints: ``n`` samples of an in-memory random-sampler study."""
    import optuna

    from searchspace import InfeasibleArchitecture, OverBudget, SearchSpace, analyze, fit_budget, sample_architecture

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = space or SearchSpace.default()
    records = []
    for _ in range(n):
        spec = sample_architecture(study.ask(), space, input_shape=input_shape, num_classes=num_classes)
        record: dict[str, Any] = {"feasible": True, "reason": None, "width_scale": 1.0}
        record.update(params=None, flops=None, output_shapes=None)
        try:
            fitted = fit_budget(
                spec, input_shape=input_shape, num_classes=num_classes, max_params=max_params, max_flops=max_flops
            )
            spec, analysis, record["width_scale"] = fitted.spec, fitted.analysis, fitted.scale
        except OverBudget as exc:  # its figures as sampled
            analysis = analyze(spec, input_shape, num_classes)
            record.update(feasible=False, reason=str(exc))
        except InfeasibleArchitecture as exc:
            analysis = None
            record.update(feasible=False, reason=str(exc))
        record.update(spec=spec.to_dict(), digest=spec.digest())
        if analysis is not None:
            shapes = [list(shape) for shape in analysis.output_shapes]
            record.update(params=analysis.params, flops=analysis.flops, output_shapes=shapes)
        records.append(record)
    return records


def run_sample(args: argparse.Namespace) -> int:
    space, max_params, max_flops = _space_and_budgets(args)
    records = sample_lines(
        n=args.n,
        input_shape=args.input_shape,
        seed=args.seed,
        num_classes=args.num_classes,
        space=space,
        max_params=args.max_params or max_params,
        max_flops=args.max_flops or max_flops,
    )
    for record in records:
        print(json.dumps(record, sort_keys=True))
    return 0


def run_describe(args: argparse.Namespace) -> int:
    from automl._errors import UserError
    from searchspace import CLASSICS, ArchitectureSpec, analyze, classic

    if args.name in CLASSICS:
        spec = classic(args.name, args.input_shape, args.num_classes)
    elif Path(args.name).is_file():
        try:
            data = json.loads(Path(args.name).read_text(encoding="utf-8"))
            # a spec (ArchitectureSpec.to_json) or a line of `automl space sample`, which holds one
            spec = ArchitectureSpec.from_dict(data["spec"] if isinstance(data, dict) and "spec" in data else data)
        except (ValueError, UnicodeDecodeError) as exc:  # not JSON, or not a spec
            reason = str(exc) if len(str(exc)) <= 300 else f"{str(exc)[:300]}..."
            raise UserError(
                f"{args.name!r} is not an architecture spec (ArchitectureSpec.to_json, or a line of "
                f"automl space sample): {reason}"
            ) from None
    else:
        raise FileNotFoundError(f"{args.name!r} is neither a classic ({', '.join(CLASSICS)}) nor a spec file")
    print(analyze(spec, args.input_shape, args.num_classes).table())
    return 0
