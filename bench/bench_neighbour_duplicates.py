"""How many neighbour trials train what a trial of their study trained already, with and
without the check of ``automl._studies.top_up`` (``config_key``).

Simulates the queue of a time-budgeted TPE search whose incumbent holds: in each of
``--studies`` in-memory studies (one seed each), the convnet warm start for 28x28x1 images
completes first, then ``--neighbours`` neighbours of it are queued by ``top_up`` one after
another, each recorded as trained (below the incumbent) before the next, with a failed
sampled trial between them as in a real search. No model is trained: what each trial would
train is its ``config_key`` (architecture, training, augmentation), so two trials with the
same key are the same run up to their seeds.

Run: ``python bench/bench_neighbour_duplicates.py`` (about 10 s on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import functools
from types import SimpleNamespace

import _common

SHAPE = (28, 28, 1)
NUM_TRAIN = 3_250


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--neighbours", type=int, default=12, help="neighbours queued in each study")
    args = parser.parse_args()
    _common.print_provenance(0)

    rows = []
    for checked in (False, True):
        repeats, studies_with = 0, 0
        for seed in range(args.studies):
            found = _repeats(seed, args.neighbours, checked)
            repeats += found
            studies_with += found > 0
        total = args.studies * args.neighbours
        rows.append(
            (
                "on" if checked else "off",
                total,
                repeats,
                f"{repeats / total:.1%}",
                f"{studies_with} of {args.studies}",
            )
        )
    header = ("check", "neighbours", "repeats", "share", "studies with a repeat")
    print(_common.format_table(header, rows))


def _repeats(seed: int, neighbours: int, checked: bool) -> int:
    """Neighbours that repeated an earlier trial's configuration, in one simulated study."""
    import optuna
    from optuna.trial import TrialState

    import pipelines
    import searchspace
    from automl._config import StudyConfig
    from automl._hparams import sample_training
    from automl._records import record_sample, recorded_config_key
    from automl._studies import top_up
    from automl._trial import config_key_of
    from automl._warmstart import warm_start_configs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = StudyConfig(time_budget=600, trials=1_000, epochs=3, seed=seed)
    ctx = SimpleNamespace(
        config=config,
        input_shape=SHAPE,
        num_classes=10,
        splits=SimpleNamespace(train=(None, range(NUM_TRAIN))),
        data=SimpleNamespace(flips=True),
    )
    key = functools.partial(config_key_of, ctx=ctx) if checked else None
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def run(value: float) -> None:
        trial = study.ask()
        spec = searchspace.sample_architecture(trial, config.space, input_shape=SHAPE, num_classes=10)
        training = sample_training(trial, max_epochs=config.epochs, num_train=NUM_TRAIN)
        policy = pipelines.sample_augmentation(trial, input_shape=SHAPE, flips=True)
        record_sample(trial, spec, training, policy.to_dict())
        study.tell(trial, value)

    study.enqueue_trial(warm_start_configs(SHAPE, 10, NUM_TRAIN, max_epochs=config.epochs, flips=True)[0].params)
    run(0.9)
    seen = {recorded_config_key(study.trials[0])}
    repeats = 0
    for _ in range(neighbours):
        study.tell(study.ask(), state=TrialState.FAIL)  # the sampled trial between two neighbours
        top_up(study, config, config_key=key)
        run(0.5)
        trained = recorded_config_key(study.trials[-1])
        repeats += trained in seen
        seen.add(trained)
    return repeats


if __name__ == "__main__":
    main()
