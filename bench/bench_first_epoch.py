"""How many sampled trials are still near chance after their first epoch (issue 14, item 4).

Runs a study in-process with our driver (``automl._driver.run_study``) on a class-balanced
5,000-image MNIST subset from ``../shared/datasets`` (the driver's usual 65/15/20 split:
3,250 training and 750 validation images), with Optuna's random sampler (what TPE does in
its start-up trials). Each trial plans ``--planned-epochs`` (9, a search's default: its
warm-up and learning-rate schedule are those of a search's first epoch) and stops after the
first, as successive halving's first rung stops most (a pruner that prunes every trial
there). Planning one epoch, as this bench did, warmed up for a tenth of an epoch and decayed
the learning rate to zero within it: 0 of 21 sampled trials ended below 0.5 on MNIST, where a
search's own first epochs left 26 of 32 below it on digits and 2,000 USPS images. It then prints every trial's
validation accuracy and main settings, and the share of *sampled* trials whose validation
accuracy is within 5 points of chance (below ``1 / classes + 0.05``: 0.15 for 10 classes).

Warm-start trials (``automl._warmstart``: known-good configurations enqueued first) are
not sampled: they are listed, but left out of the share, and the study gets that many
trials more so ``--trials`` sampled trials always run. Failed trials (infeasible or over
budget) are listed and left out too.

Run: ``python bench/bench_first_epoch.py`` (25 trials: about 3-6 minutes on 2 CPU cores);
``--trials 30 --seed 1`` for another draw.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common

CHANCE_MARGIN = 0.05
TARGET = 0.10
WEAK = 0.5  # a second, stricter line: trials that learned little in their first epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist", choices=_common.IMAGE_DATASETS)
    parser.add_argument("--train-images", type=int, default=5000, help="subset size before the split")
    parser.add_argument("--trials", type=int, default=25, help="sampled trials (warm starts come on top)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset, the split and the sampler")
    parser.add_argument("--planned-epochs", type=int, default=9, help="the epochs each trial plans (it trains one)")
    args = parser.parse_args()
    _common.print_provenance(args.seed)

    import optuna

    from automl import _studies
    from automl._config import StudyConfig
    from automl._driver import run_study
    from automl._progress import Progress

    # Every trial stopped after its first epoch: accuracies never reach 2.
    _studies._PRUNERS["none"] = lambda config: optuna.pruners.ThresholdPruner(lower=2.0)

    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir, _common.study_home("first-epoch"):
        path = _common.subsampled_npz(args.data, Path(data_dir), train=args.train_images, test=1000, seed=args.seed)
        if path is None:
            raise SystemExit(f"{_common.SHARED_DATASETS / args.data}.npz is missing")
        config = StudyConfig(
            study_name="first-epoch",
            data=str(path),
            trials=args.trials + _warm_starts(),
            epochs=args.planned_epochs,
            sampler="random",
            pruner="none",
            seed=args.seed,
        )
        start = time.perf_counter()
        study_run = run_study(config, progress=Progress(total=config.trials, quiet=True))
        seconds = time.perf_counter() - start
        rows = [_row(trial) for trial in study_run.study.get_trials(deepcopy=False)]
    _report(rows, chance=1 / 10, seconds=seconds)


def _warm_starts() -> int:
    """How many warm-start trials the driver enqueues before the sampled ones (0 before item 5)."""
    try:
        from automl._warmstart import WARM_STARTS
    except ImportError:
        return 0
    return len(WARM_STARTS)


def _row(trial: Any) -> dict[str, Any]:
    """The trial's outcome and the settings that decide whether it can learn in an epoch."""
    from automl._records import TrialRecord

    record = TrialRecord.of(trial)
    training, augmentation = record.training, record.augmentation or {}
    return {
        "trial": record.number,
        "kind": record.warm_start or "sampled",
        "state": record.state.name.lower(),
        "val_acc": record.val_accuracy,
        "optimizer": training.optimizer if training else "-",
        "lr": training.learning_rate if training else None,
        "batch": training.batch_size if training else None,
        "bn": record.params_sampled.get("arch.batch_norm", "-"),
        "stages": record.params_sampled.get("arch.stages", "-"),
        "head": record.params_sampled.get("arch.head.pooling", "gap"),
        "affine_p": augmentation.get("affine_p"),
        "cutout_p": augmentation.get("dropout_p"),
        "seconds": round(sum(record.timings.values()), 1),
        "reason": record.reason or "",
    }


def _report(rows: list[dict[str, Any]], *, chance: float, seconds: float) -> None:
    header = list(rows[0])
    print(_common.format_table(header, [[_cell(row[k]) for k in header] for row in rows]))
    ran = ("complete", "pruned")  # pruned after the first epoch, as every trial is
    sampled = [r for r in rows if r["kind"] == "sampled" and r["state"] in ran]
    failed = [r for r in rows if r["state"] not in ran]
    near = [r for r in sampled if r["val_acc"] < chance + CHANCE_MARGIN]
    accuracies = [r["val_acc"] for r in sampled]
    print()
    print(f"study wall time: {seconds:.1f} s; failed or infeasible trials (left out): {len(failed)}")
    if not sampled:
        print("no sampled trial ran its first epoch")
        return
    share = len(near) / len(sampled)
    print(
        f"sampled trials near chance after 1 epoch (val_acc < {chance + CHANCE_MARGIN:.2f}): "
        f"{len(near)}/{len(sampled)} = {share:.0%} (target < {TARGET:.0%})"
    )
    weak = sum(a < WEAK for a in accuracies)
    print(f"sampled trials below {WEAK} after 1 epoch: {weak}/{len(sampled)} = {weak / len(sampled):.0%}")
    print(
        f"sampled val_acc: median {statistics.median(accuracies):.4f}, "
        f"min {min(accuracies):.4f}, max {max(accuracies):.4f}"
    )
    for row in rows:
        if row["kind"] != "sampled":
            print(f"warm start {row['kind']!r}: val_acc {_cell(row['val_acc'])} in {row['seconds']} s")


def _cell(value: Any) -> Any:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 0.01:
        return f"{value:.1e}"
    return value


if __name__ == "__main__":
    main()
