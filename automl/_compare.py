"""Finalists: the K best trials of a study, evaluated on the held-out test split and
compared pairwise with McNemar's test (statistics in ``automl._mcnemar``).

The test split is rebuilt from the study's stored settings (same source, fractions and
seed), so it is exactly the split no trial, pruning or sampling decision saw. The choice
among the finalists is made on it: the winner's test accuracy is the best of several
measured on one split, slightly optimistic where there are several (the model card says so).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
import optuna

import pipelines
import searchspace
from automl._budget import FINAL_STRETCH
from automl._bundle import inference_model, load_keras_file
from automl._config import StudyConfig, offset_seed
from automl._data import StudyData
from automl._ensemble import average_models, count_members
from automl._errors import UserError
from automl._hparams import TrainingSpec, steps_per_epoch
from automl._inference import predict_batches
from automl._mcnemar import DEFAULT_MARGIN, Comparison, Finalist, compare_finalists
from automl._models import is_logged, load_model, log_model
from automl._plots import plot_confusion_matrix, plot_pvalue_heatmap
from automl._records import (
    StudyRecord,
    TrialRecord,
    forget_retrained,
    record_comparison,
    record_final_model,
    record_retrained,
)
from automl._stores import mlruns_dir
from automl._studies import best_trials, study_tracker
from automl._study_data import study_data
from automl._tables import counted
from automl._tracking import STUDY_TAG, TRIAL_TAG, Tracker, flatten_params
from automl._training import (
    EpochCount,
    FitToDeadline,
    StopAt,
    augmentation_target,
    batches_for_backend,
    compile_model,
    continue_replanned,
    fit_looking_halfway,
    train_model,
    wrap_with_normalization,
)
from automl._views import View, count_views, seen, views_for, with_views

__all__ = [
    "compare_study",
    "FinalistsResult",
    "FinalTraining",
    "load_trial_model",
    "load_final_model",
    "exported_search_model",
    "retrain_seconds",
]


@dataclass(frozen=True, kw_only=True)
class FinalistsResult:
    comparison: Comparison
    predictions: dict[int, np.ndarray]
    y_test: np.ndarray
    class_names: tuple[str, ...]
    final_models: dict[int, keras.Model] = field(default_factory=dict)
    # The search models compared with their test-time views (finalists not retrained, under a
    # final training): the model to export for such a winner.
    search_models: dict[int, keras.Model] = field(default_factory=dict)


def load_trial_model(record: TrialRecord, tracker: Tracker) -> keras.Model:
    """The trained model of a trial, from MLflow through the local cache (``automl._models``).

    Raises:
        UserError: the trial has no model, or it cannot be loaded.
    """
    if record.model_ref is None:
        raise UserError(f"trial {record.number} has no saved model")
    return load_model(tracker, record.model_ref)


def final_model_uri(study: optuna.Study, number: int) -> str | None:
    """The logged model of trial ``number`` retrained on train+validation, if the study has one.

    Older studies recorded a local path instead: it counts only where the file still is.
    """
    ref = StudyRecord.of(study).final_models.get(number)
    return ref if ref is not None and (is_logged(ref) or Path(ref).is_file()) else None


def load_final_model(study: optuna.Study, record: TrialRecord, tracker: Tracker) -> keras.Model | None:
    """The trial's model retrained on train+validation, if the study has one."""
    ref = final_model_uri(study, record.number)
    return load_model(tracker, ref) if ref is not None else None


def _candidate(record: TrialRecord, data: StudyData) -> keras.Model:
    """A fresh model of the trial's architecture, normalizing its input as the trials did."""
    assert record.architecture is not None
    core = searchspace.build_model(record.architecture, input_shape=data.input_shape, num_classes=data.num_classes)
    return wrap_with_normalization(core, data.input_shape, data.normalization.mean, data.normalization.std)


class _Retrained(NamedTuple):
    """A finalist's model retrained on train+validation, and the epochs it trained (the last
    one perhaps cut by the deadline)."""

    model: keras.Model
    epochs: int


def _retrain(
    record: TrialRecord,
    data: StudyData,
    *,
    epochs: int,
    seed: int,
    until: float | None,
    fill: float | None = None,
    start: keras.Model | None = None,
    most: int | None = None,
    progress: Callable[[str], None] = lambda text: None,
    name: str | None = None,
) -> _Retrained:
    """Train the trial's architecture on train+validation, with its own recipe: from the
    weights of ``start`` (the trial's own model) when given, from scratch otherwise.
    ``name`` (by default "trial N") starts each ``progress`` line.

    Its training settings and augmentation policy are the trial's; ``until`` (a
    ``time.monotonic()`` value) stops the training early if the plan runs out. With ``fill``
    (a ``time.monotonic()`` value), the first epoch's time re-plans the epochs to end then
    (``FitToDeadline``, up to ``most`` epochs, by default ``MAX_STRETCH`` times the trial's): the planned epochs
    come from the trial's time, which counts its validation and tracing too. With ``fill``,
    the epochs are looked at again half-way (``fit_looking_halfway``), re-planned or not.
    """
    if record.architecture is None or record.training is None:
        raise UserError(f"trial {record.number} has no stored architecture or training settings to retrain")
    name = name or f"trial {record.number}"
    splits = data.splits
    x = np.concatenate([splits.train[0], splits.val[0]])
    y = np.concatenate([splits.train[1], splits.val[1]])
    keras.utils.set_random_seed(seed)
    model = _candidate(record, data)
    if start is not None:
        try:
            model.set_weights(start.get_weights())
        except ValueError as exc:  # the stored model is not this architecture: start afresh
            progress(f"{name}: retraining from scratch, its search model does not fit ({exc})")
            model = _candidate(record, data)
    # The same recipe over the longer data: its schedule spans the new number of steps.
    steps = steps_per_epoch(len(y), record.training.batch_size) if record.training.steps_per_epoch else None
    training = dataclasses.replace(record.training, epochs=epochs, steps_per_epoch=steps)
    augmentation = record.augmentation
    policy = pipelines.AugmentPolicy.from_dict(dict(augmentation)) if augmentation else pipelines.AugmentPolicy.none()
    fit_model, host_policy = augmentation_target(model, policy, seed=seed)
    compile_model(fit_model, training, data.num_classes)
    train = batches_for_backend((x, y), training.batch_size, seed=seed)
    fit = functools.partial(train_model, fit_model, train, seed=seed, policy=host_policy)
    stop, count = StopAt(until), EpochCount()
    most = most or _most_epochs(record)
    replan = None if fill is None else FitToDeadline(deadline=fill, planned=epochs, most=most)

    def replanned_halfway(recipe: TrainingSpec) -> None:
        progress(f"{name}: re-planned half-way to {recipe.epochs} epochs to end with the final window")

    callbacks: list[keras.callbacks.Callback] = [stop, count] + ([replan] if replan else [])
    fit_looking_halfway(
        fit_model, training, fit, callbacks, schedule=training, deadline=fill, most=most, on_replan=replanned_halfway
    )
    if replan is not None and replan.fits is not None:
        progress(
            f"{name}: re-planned to {replan.fits} epochs to end with the final window "
            f"(an epoch takes {replan.epoch_s:.1f}s)"
        )
        continue_replanned(
            fit_model,
            training,
            replan.fits,
            data.num_classes,
            fit,
            [stop, count],
            deadline=fill,
            most=most,
            on_replan=replanned_halfway,
        )
    return _Retrained(inference_model(model), count.epochs)


def _retrain_sizes(data: StudyData) -> tuple[int, int]:
    """The images a trial fitted on (train) and those a finalist retrains on (train+validation)."""
    train = len(data.splits.train[1])
    return train, train + len(data.splits.val[1])


def retrain_cost(data: StudyData) -> float:
    """An epoch of retraining on train+validation, in epochs of a trial (on train)."""
    train, total = _retrain_sizes(data)
    return total / max(train, 1)


def retrain_seconds(record: TrialRecord, data: StudyData, epochs: int) -> float:
    """The retraining's expected time: the trial's fit time, scaled to train+validation and ``epochs``."""
    return record.timings.get("fit", 0.0) * retrain_cost(data) * epochs / record.epochs


# With time to spare, finalists retrain for up to this many times their planned epochs (and
# the study's first model trains through the final window for up to as many). At three, on
# 1,000 images at one minute, the warm start's retraining reached it well before the
# window's end and a fifth of the budget went unused; six used it and scored 0.76 points
# more (bench/RESULTS.md, "The cap on the final training's stretch").
MAX_STRETCH = 6
# A finalist is retrained only if it could still win: its validation accuracy is within the
# non-inferiority margin plus this many standard errors of the difference of the best one's.
CONTENDER_Z = 2.0


def _stretch(records: list[TrialRecord], data: StudyData, final: FinalTraining) -> float:
    """How many times its planned epochs each finalist retrains for: as many as the plan's
    final window holds for all of ``records`` (up to ``MAX_STRETCH``; 1 without a window)."""
    if final.until is None or final.epochs is not None:
        return 1.0
    planned = sum(retrain_seconds(r, data, r.epochs) for r in records) * final.seeds
    left = final.until - time.monotonic()
    return max(1.0, min(float(MAX_STRETCH), left / planned)) if planned > 0 else 1.0


def _most_epochs(record: TrialRecord) -> int:
    """The most epochs a finalist retrains for: ``MAX_STRETCH`` times its own."""
    return int(MAX_STRETCH * record.epochs)


def _stretches(records: list[TrialRecord], data: StudyData, final: FinalTraining) -> list[float]:
    """Each finalist's stretch (``records`` best first): the same for all when the window holds
    ``FINAL_STRETCH`` times the epochs of all of them; otherwise the best finalist's stretch is
    what the window holds for it alone, and the others retrain for their own epochs if time
    is left after it (most of what a longer training buys goes to the likeliest winner)."""
    together = _stretch(records, data, final)
    if together >= FINAL_STRETCH or len(records) < 2:
        return [together] * len(records)
    return [_stretch(records[:1], data, final)] + [1.0] * (len(records) - 1)


def _fill_deadlines(
    records: list[TrialRecord], stretches: list[float], data: StudyData, final: FinalTraining
) -> list[float | None]:
    """When each finalist's retraining (``records`` in retraining order, stretched by
    ``stretches``) is re-planned to end, after its first epoch: the final window's end, less
    the planned retraining of those after it. When the best finalist is stretched alone
    (``_stretches``), it keeps the whole window: the others retrain only if time is left.
    None where the epochs are fixed (``automl compare --final-epochs``) or there is no window.
    """
    if final.until is None or final.epochs is not None or final.seeds != 1:
        return [None] * len(records)
    planned = [retrain_seconds(r, data, int(s * r.epochs)) for r, s in zip(records, stretches, strict=True)]
    shared = stretches[-1] >= FINAL_STRETCH if stretches else False
    return [final.until - (sum(planned[i + 1 :]) if shared or i else 0.0) for i in range(len(records))]


# A final window that holds it retrains the likeliest winner as two members whose
# probabilities are averaged: the first continues from its search model, the second trains
# from scratch with another seed. On full Fashion-MNIST a second model trained from scratch
# added 0.34 points to the first (0.9411 against 0.9377), while another continued from the
# same search model added none (0.9373), and twice the epochs added 0.07 (bench/RESULTS.md,
# "Two averaged members"). The continued member trains at least MEMBER_STRETCH times its trial's
# epochs; the scratch member as many more as the trial's epochs.
MEMBER_STRETCH = 4 / 3


def member_seconds(
    record: TrialRecord, data: StudyData, members: int, *, max_params: int | None, max_flops: int | None
) -> float | None:
    """The least time, in a final window, for ``record`` retrained as two members
    (``MEMBER_STRETCH``); None when ``members`` is below 2 or two would exceed ``max_params``
    or ``max_flops`` (the study's cost budget)."""
    if members < 2 or _members_within(record, 2, max_params=max_params, max_flops=max_flops) < 2:
        return None
    return retrain_seconds(record, data, record.epochs) * (2 * MEMBER_STRETCH + 1)


def _members_within(record: TrialRecord, members: int, *, max_params: int | None, max_flops: int | None) -> int:
    """How many of ``members`` averaged models of ``record`` keep within ``max_params`` and
    ``max_flops`` (the study's cost budget) together; one at least."""
    for limit, cost in ((max_params, record.params), (max_flops, record.flops)):
        if limit and cost:
            members = min(members, limit // cost)
    return max(members, 1)


@dataclass(frozen=True, kw_only=True)
class _MemberPlan:
    """The likeliest winner retrained as two members: ``epochs`` for the one continued from the
    search model, ending by ``first_until``; ``scratch_epochs`` for the one from scratch."""

    epochs: int
    first_until: float
    scratch_epochs: int


def _member_plan(contenders: list[TrialRecord], data: StudyData, final: FinalTraining) -> _MemberPlan | None:
    """Two members for the only contender when ``final`` allows them (within its cost budget)
    and its window holds ``member_seconds``; None otherwise. The window is split so that the
    scratch member trains the trial's epochs more than the continued one."""
    if final.until is None or final.epochs is not None or final.seeds != 1 or len(contenders) != 1:
        return None
    (best,) = contenders
    needed = member_seconds(best, data, final.members, max_params=final.max_params, max_flops=final.max_flops)
    per_epoch = retrain_seconds(best, data, 1)
    left = final.until - time.monotonic()
    if needed is None or per_epoch <= 0 or left < needed:
        return None
    epochs = min(int((left / per_epoch - best.epochs) // 2), _most_epochs(best))
    scratch = epochs + best.epochs
    return _MemberPlan(epochs=epochs, first_until=final.until - scratch * per_epoch, scratch_epochs=scratch)


def _could_win(record: TrialRecord, best: TrialRecord, n_val: int, margin: float) -> bool:
    """Whether ``record``'s validation accuracy is close enough to ``best``'s for its retrained
    model to win the comparison (more accurate, or cheaper and non-inferior within ``margin``)."""
    lead, error = val_lead(best, record, n_val)
    return lead <= margin + CONTENDER_Z * error


def _contenders(records: list[TrialRecord], data: StudyData, margin: float) -> list[TrialRecord]:
    """The finalists that could win once retrained (``_could_win`` against the best), the
    likeliest winner first (``likeliest_first``)."""
    n_val = len(data.splits.val[1])
    return likeliest_first([r for r in records if _could_win(r, records[0], n_val, margin)], n_val)


# The best sampled trial's validation accuracy flatters it: it is the best of many noisy
# draws (the winner's curse), while a warm start is one configuration chosen before the data
# was seen. A warm start within this many standard errors of the difference of the best
# trial on validation is the likelier winner.
WARM_START_Z = 1.0


def val_lead(best: TrialRecord, other: TrialRecord, n_val: int) -> tuple[float, float]:
    """``best``'s lead over ``other`` in validation accuracy on ``n_val`` images, and the
    standard error of that difference."""
    p, q = best.val_accuracy or 0.0, other.val_accuracy or 0.0
    return p - q, math.sqrt((p * (1 - p) + q * (1 - q)) / max(n_val, 1))


def _within_noise(best: TrialRecord, warm: TrialRecord, n_val: int) -> bool:
    """Whether ``best`` leads the warm start ``warm`` by at most ``WARM_START_Z`` standard errors."""
    lead, error = val_lead(best, warm, n_val)
    return lead <= WARM_START_Z * error


def finalist_records(study: optuna.Study, top_k: int, n_val: int) -> list[TrialRecord]:
    """The ``top_k`` best trials on validation (with a saved model), best first. When no warm
    start is among them, the best warm start takes the last place if the best trial leads it
    by at most ``WARM_START_Z`` standard errors on ``n_val`` validation images: it may be the
    likeliest winner (``likeliest_first``), the one finalist where ``top_k`` is 1 (the best
    on validation over many trials is likely the luckiest)."""
    ranked = best_trials(study, len(study.get_trials(deepcopy=False)))
    records = ranked[:top_k]
    if not records or any(r.warm_start is not None for r in records):
        return records
    warm = next((r for r in ranked if r.warm_start is not None), None)
    return [*records[: top_k - 1], warm] if warm is not None and _within_noise(records[0], warm, n_val) else records


def likeliest_first(records: list[TrialRecord], n_val: int) -> list[TrialRecord]:
    """``records`` (best on validation first) with the likeliest winner first: the best warm
    start among them when the best trial leads it by at most ``WARM_START_Z`` standard errors
    on ``n_val`` validation images; it retrains first, and for the longest."""
    warm = next((r for r in records if r.warm_start is not None), None)
    if warm is None or warm is records[0] or not _within_noise(records[0], warm, n_val):
        return records
    return [warm, *(r for r in records if r is not warm)]


def _least_epochs(record: TrialRecord, data: StudyData) -> int:
    """The fewest epochs over train+validation that take as many steps as the trial took over
    train: a shorter retraining would not be better than the trial's own model."""
    train, total = _retrain_sizes(data)
    return max(1, math.ceil(record.epochs * train / max(total, 1)))


def _fitting_epochs(record: TrialRecord, data: StudyData, epochs: int, left: float) -> int:
    """The most epochs, up to ``epochs``, whose retraining fits in ``left`` seconds (its
    schedule then spans them); 0 when fewer than ``_least_epochs`` fit."""
    per_epoch = retrain_seconds(record, data, 1)
    fit = epochs if per_epoch <= 0 else min(epochs, int(left // per_epoch))
    return fit if fit >= _least_epochs(record, data) else 0


def _search_model(record: TrialRecord, tracker: Tracker, progress: Callable[[str], None]) -> keras.Model | None:
    """The trial's own model, which its retraining continues from; None (retrain from
    scratch) when it has none or it cannot be loaded."""
    if record.model_ref is None:
        return None
    try:
        return load_trial_model(record, tracker)
    except UserError as exc:
        progress(f"trial {record.number}: retraining from scratch, its search model did not load ({exc})")
        return None


@dataclass(frozen=True, kw_only=True)
class FinalTraining:
    """Retrain the finalists on train+validation before they are compared and exported.

    ``epochs`` (default: each trial's own) and ``seeds`` (their models are averaged)
    are for ``automl compare --final-epochs``; ``until`` is the plan's deadline: a finalist
    whose expected retraining does not fit keeps its search model. Under a deadline, with
    ``members`` of 2 or more, the only contender is retrained as two averaged members when
    the window holds them and both together keep within ``max_params`` and ``max_flops``
    (``_member_plan``). Each finalist's model (retrained, or else its search model) averages its
    predictions over up to ``views`` of its test-time views (``automl._views``), as many as
    keep within ``max_flops`` and, with ``views_until``, as its test predictions take until
    then (``_predict_views``; the retrained ones first).
    """

    epochs: int | None = None
    seeds: int = 1
    until: float | None = None
    members: int = 1
    max_params: int | None = None
    max_flops: int | None = None
    views: int = 1
    views_until: float | None = None

    @classmethod
    def for_study(cls, config: StudyConfig, **rest: Any) -> FinalTraining:
        """The final training of a study of ``config``: its test-time views and its caps on
        parameters and FLOPs, with ``rest`` (the epochs or the deadline) as given."""
        return cls(views=config.views, max_params=config.max_params, max_flops=config.max_flops, **rest)


def _final_models(
    study: optuna.Study,
    records: list[TrialRecord],
    data: StudyData,
    final: FinalTraining,
    seed: int,
    progress: Any,
    tracker: Tracker,
    margin: float,
) -> tuple[dict[int, list[keras.Model]], set[int], dict[int, list[int]]]:
    """The retrained models of the finalists (several seeds each), best finalist first, the
    finalists whose model was retrained by an earlier comparison (loaded, not trained now),
    and the epochs each model retrained now trained.

    Under a deadline, a finalist that could not win (``_could_win``) keeps its search model:
    the final window goes to those that could, for more epochs.
    """
    contenders = _contenders(records, data, margin) if final.until is not None else records
    _say_who_retrains(records, contenders, len(data.splits.val[1]), progress)
    models: dict[int, list[keras.Model]] = {}
    trained: dict[int, list[_Retrained]] = {}
    earlier: set[int] = set()
    stretches = _stretches(contenders, data, final)
    fills = _fill_deadlines(contenders, stretches, data, final)
    for record, stretch, fill in zip(contenders, stretches, fills, strict=True):
        seeds = _seeds_within(record, final, progress)
        epochs = final.epochs or int(stretch * record.epochs)
        end = fill or final.until
        left = None if end is None else end - time.monotonic()
        if left is not None and final.epochs is None:
            epochs = _fitting_epochs(record, data, epochs, left / seeds)
        stored = final_model_uri(study, record.number)
        if final.epochs is None and stored is not None and _keeps(study, record, epochs if left is not None else None):
            models[record.number] = [load_model(tracker, stored)]
            earlier.add(record.number)
            continue
        resumed = _resumed_retraining(
            study, record.number, dataclasses.replace(final, seeds=seeds), epochs if left is not None else None
        )
        if resumed is not None:
            done = "/".join(str(member.epochs) for member in resumed)
            progress(f"trial {record.number}: its retraining on train+validation ({done} epochs), finished by an "
                     "interrupted run, is taken up")  # fmt: skip
            trained[record.number] = resumed
            continue
        plan = _member_plan(contenders, data, final)
        if plan is not None:
            trained[record.number] = _two_members(record, data, final, plan, seed, progress, tracker)
            _keep_retrained(study, record.number, trained[record.number])
            continue
        expected = retrain_seconds(record, data, epochs) * seeds
        if left is not None and (epochs == 0 or expected > left):
            needed = retrain_seconds(record, data, _least_epochs(record, data)) * seeds
            why = (
                "its search model, trained through a final window, is its final model"
                if record.through_window
                else f"no time left to retrain it ({needed:.0f}s needed, {max(left, 0.0):.0f}s left)"
            )
            progress(f"trial {record.number}: {why}")
            continue
        start = _search_model(record, tracker, progress)
        origin = "from its search model" if start is not None else "from scratch"
        progress(
            f"trial {record.number}: retraining on train+validation for {counted(epochs, 'epoch')}, {origin} "
            f"(~{expected:.0f}s)"
        )
        trained[record.number] = [
            _retrain(
                record,
                data,
                epochs=epochs,
                seed=offset_seed(seed, s),
                until=final.until,
                fill=fill,
                start=start,
                progress=progress,
            )
            for s in range(seeds)
        ]
        _keep_retrained(study, record.number, trained[record.number])
    for number, members in trained.items():
        models[number] = [member.model for member in members]
    return models, earlier, {number: [member.epochs for member in members] for number, members in trained.items()}


def _say_who_retrains(records: list[TrialRecord], contenders: list[TrialRecord], val_size: int, progress: Any) -> None:
    """Say which finalist retrains first where it is not the best on validation (a warm start
    within its standard error), and which finalists are not retrained (``_contenders``)."""
    if contenders and contenders[0] is not records[0]:
        lead, error = val_lead(records[0], contenders[0], val_size)
        progress(
            f"trial {contenders[0].number} (warm start) retrains first: trial {records[0].number}'s lead on "
            f"validation, {lead * 100:.1f} points, is within {WARM_START_Z:g} standard error ({error * 100:.1f})"
        )
    retrained = {c.number for c in contenders}
    for record in records:
        if record.number not in retrained:
            gap = ((records[0].val_accuracy or 0.0) - (record.val_accuracy or 0.0)) * 100
            progress(f"trial {record.number}: not retrained, {gap:.1f} points below the best on validation")


def _seeds_within(record: TrialRecord, final: FinalTraining, progress: Any) -> int:
    """The seeds of ``record`` to retrain and average (``automl compare --seeds``): as many
    as keep within the study's cost budget together, with a note where that is fewer."""
    seeds = _members_within(record, final.seeds, max_params=final.max_params, max_flops=final.max_flops)
    if seeds < final.seeds:
        progress(
            f"trial {record.number}: {seeds} seed(s) averaged, not {final.seeds}: {final.seeds} models of "
            f"{record.params or 0:,} parameters and {record.flops or 0:,} FLOPs together exceed the study's "
            f"--max-params or --max-flops"
        )
    return seeds


def _retrained_file(study: optuna.Study, number: int, member: int) -> Path:
    """Where a finalist's retrained member waits, on this machine, for the comparison to log it."""
    return mlruns_dir() / "retrained" / study.study_name / f"trial-{number}-member-{member}.keras"


def _keep_retrained(study: optuna.Study, number: int, members: list[_Retrained]) -> None:
    """Save trial ``number``'s retrained ``members`` and record them: an interrupt before the
    comparison logs them (the other finalists' retraining, the test predictions) lost them,
    and the next run retrained them all again."""
    paths = []
    for index, member in enumerate(members):
        path = _retrained_file(study, number, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        member.model.save(path)
        paths.append(str(path))
    record_retrained(study, number, paths, [member.epochs for member in members])


def _resumed_retraining(
    study: optuna.Study, number: int, final: FinalTraining, epochs: int | None
) -> list[_Retrained] | None:
    """The members of trial ``number`` an interrupted run retrained (``_keep_retrained``), where
    they are on this machine and are what this run would retrain: ``final.seeds`` members of
    ``final.epochs`` each when those are given, else of no fewer epochs than the ``epochs`` a
    final window allows (None: any)."""
    kept = StudyRecord.of(study).retrained.get(number)
    if not kept or not all(Path(path).is_file() for path in kept["paths"]):
        return None
    done = [int(e) for e in kept["epochs"]]
    if final.epochs is not None and (len(done) != final.seeds or set(done) != {final.epochs}):
        return None
    if final.epochs is None and epochs is not None and max(done) < epochs:
        return None
    return [_Retrained(load_keras_file(path), e) for path, e in zip(kept["paths"], done, strict=True)]


def _forget_retrained(study: optuna.Study, number: int) -> None:
    """Drop trial ``number``'s kept members, logged now as its final model."""
    for path in StudyRecord.of(study).retrained.get(number, {}).get("paths", []):
        Path(path).unlink(missing_ok=True)
    forget_retrained(study, number)


def _keeps(study: optuna.Study, record: TrialRecord, epochs: int | None) -> bool:
    """Whether ``record``'s final model, retrained by an earlier comparison, is kept: always
    without a final window, and where the window (``epochs`` of retraining fit in it) would not
    retrain it longer (a finished study searched again under a budget)."""
    done = StudyRecord.of(study).final_epochs.get(record.number)
    return epochs is None or not done or max(done) >= epochs


def _two_members(
    record: TrialRecord,
    data: StudyData,
    final: FinalTraining,
    plan: _MemberPlan,
    seed: int,
    progress: Callable[[str], None],
    tracker: Tracker,
) -> list[_Retrained]:
    """``record`` retrained as two members (``_member_plan``): from its search model, then from scratch."""
    start = _search_model(record, tracker, progress)
    first = plan.epochs if start is not None else plan.scratch_epochs
    origin = "from its search model" if start is not None else "from scratch"
    progress(
        f"trial {record.number}: retraining as two averaged members on train+validation: {first} epochs "
        f"{origin} (~{retrain_seconds(record, data, first):.0f}s), then {plan.scratch_epochs} epochs from scratch "
        f"(~{retrain_seconds(record, data, plan.scratch_epochs):.0f}s)"
    )
    until, fill = final.until, plan.first_until
    members = [
        _retrain(
            record,
            data,
            epochs=first,
            seed=seed,
            until=until,
            fill=fill,
            start=start,
            progress=progress,
            name=f"trial {record.number}, member 1 of 2",
        )
    ]
    if time.monotonic() + retrain_seconds(record, data, _least_epochs(record, data)) > (until or math.inf):
        progress(f"trial {record.number}: no time left for its second member; it keeps one")
        return members
    scratch = _retrain(
        record,
        data,
        epochs=plan.scratch_epochs,
        seed=offset_seed(seed, 1),
        until=until,
        fill=until,
        most=_most_epochs(record) + record.epochs,
        progress=progress,
        name=f"trial {record.number}, member 2 of 2",
    )
    return [*members, scratch]


def _allowed_views(model: keras.Model, record: TrialRecord, final: FinalTraining) -> tuple[View, ...]:
    """The first of the test-time views (``views_for``) of ``record``'s ``model`` that ``final``
    allows: at most ``final.views``, with all of them within ``final.max_flops``."""
    views = views_for(record.augmentation, model.input_shape[1:])[: final.views]
    cost = count_members(model) * (record.flops or 0)
    if final.max_flops and cost:
        views = views[: max(final.max_flops // cost, 1)]
    return views


def _predict_views(
    model: keras.Model, x: np.ndarray, views: tuple[View, ...], until: float | None = None
) -> tuple[tuple[View, ...], np.ndarray]:
    """``model``'s probabilities for ``x`` averaged over the first of ``views`` (``x`` itself
    without views) that it predicts by ``until``, and those views: what ``with_views(model,
    views)`` predicts, without tracing that larger model.

    The views are predicted in their order, each while the last one's time (the first one's
    counts the tracing: a margin) still ends by ``until``; the first is always predicted.
    """
    done: list[View] = []
    total: np.ndarray | None = None
    last_s = 0.0
    for view in views or (View(),):
        if done and until is not None and time.monotonic() + last_s > until:
            break
        start = time.monotonic()
        probabilities = predict_batches(model, seen(x, view))
        last_s = time.monotonic() - start
        total = probabilities if total is None else total + probabilities
        done.append(view)
    assert total is not None  # at least one view is predicted
    return (tuple(done) if views else ()), total / len(done)


@dataclass(frozen=True, kw_only=True)
class _Compared:
    """A finalist's model as the comparison sees it: its test-time views and its predicted classes."""

    model: keras.Model
    views: tuple[View, ...]
    predicted: np.ndarray


def _finalist(
    record: TrialRecord, compared: _Compared, viewed: keras.Model, y_test: np.ndarray, *, kept_search_model: bool
) -> Finalist:
    """The comparison's entry of a finalist: its test accuracy and the cost of the model it
    compared (``viewed``, with its test-time views), its members and views counted in."""
    members, views = count_members(compared.model), count_views(viewed)
    return Finalist(
        trial=record.number,
        accuracy=float(np.mean(compared.predicted == y_test)),
        val_accuracy=float(record.val_accuracy or 0.0),
        params=members * int(record.params or 0),
        flops=members * views * int(record.flops or 0),
        kept_search_model=kept_search_model,
        members=members,
        views=views,
    )


def _compared(
    model: keras.Model,
    record: TrialRecord,
    x: np.ndarray,
    final: FinalTraining | None,
    progress: Callable[[str], None],
) -> _Compared:
    """``record``'s ``model`` with the test-time views that ``final`` allows (``_allowed_views``;
    none without ``final``) and that it predicts for ``x`` by ``final.views_until``
    (``_predict_views``), and its classes predicted over them: the next model's views take
    the time left after these."""
    allowed = _allowed_views(model, record, final) if final is not None else ()
    views, probabilities = _predict_views(model, x, allowed, final.views_until if final is not None else None)
    if len(views) > 1:
        kinds = ["the image"] + ["its mirror image"] * any(v.flip for v in views)
        kinds += ["one-pixel shifts"] * any(v.dx or v.dy for v in views)
        progress(f"trial {record.number}: its predictions average {len(views)} test-time views ({', '.join(kinds)})")
    return _Compared(model=model, views=views, predicted=probabilities.argmax(axis=1))


def compare_study(
    study: optuna.Study,
    config: StudyConfig,
    *,
    top_k: int = 3,
    prefer: str = "cost",
    alpha: float = 0.05,
    margin: float = DEFAULT_MARGIN,
    final: FinalTraining | None = None,
    tracker: Tracker | None = None,
    data: StudyData | None = None,
    progress: Any = None,
) -> FinalistsResult:
    """Evaluate the ``top_k`` best trials on the test split and compare them; log to MLflow.

    The finalists are ``finalist_records``: a warm start close to the best trial on
    validation takes the last place when it is not among them.

    With ``final``, the finalists are first retrained on train+validation (as time allows)
    and those models are compared, logged to MLflow (linked to their trial's run) and exported;
    every compared model then has its test-time views (``FinalTraining``), and the search
    models that have some are ``FinalistsResult.search_models``. Without it, each finalist is
    compared as ``automl export`` would export it: retrained by an earlier comparison, else
    its search model (with the test-time views an earlier export gave it).
    Models are loaded from MLflow through the local cache; ``tracker`` (default: the study's,
    opened from its settings) is that MLflow store, and only a given one gets the comparison's
    report. ``data`` is the study's data when the caller already has it; ``progress`` is called
    with a line of text before each retraining.

    Raises:
        UserError: the study has no completed trial with a saved model.
    """
    if not best_trials(study, 1):
        raise UserError(f"study {study.study_name!r} has no completed trial with a saved model to compare")
    data = data or study_data(study, config)
    records = finalist_records(study, top_k, len(data.splits.val[1]))
    say = progress or (lambda text: None)
    models_store = tracker or study_tracker(study, config)
    retrained, earlier, final_epochs = (
        _final_models(study, records, data, final, config.seed, say, models_store, margin)
        if final
        else _stored_final_models(study, records, models_store)
    )
    x_test, y_test = data.splits.test
    runs = {record.number: record for record in records}
    # The retrained models first: they take their views' time first. A model an earlier
    # comparison retrained has no more views than it has.
    compared = {
        number: _compared(average_models(models), runs[number], x_test, None if number in earlier else final, say)
        for number, models in retrained.items()
    }
    search_uris: dict[int, str | None] = {}  # the logged model each search model compared is
    for record in records:
        if record.number not in compared:
            model, uri = (
                (load_trial_model(record, models_store), record.model_uri)
                if final
                else exported_search_model(study, record, models_store)
            )
            compared[record.number] = _compared(model, record, x_test, final, say)
            # With views added here, the model compared is in no store: nothing to link to.
            search_uris[record.number] = uri if len(compared[record.number].views) <= 1 else None
    viewed = {number: with_views(c.model, c.views) for number, c in compared.items()}
    final_models = {number: viewed[number] for number in retrained}
    predictions = {record.number: compared[record.number].predicted for record in records}
    finalists = [
        _finalist(
            record,
            compared[record.number],
            viewed[record.number],
            y_test,
            # A model trained through the final window is its trial's final model, not one kept behind.
            kept_search_model=bool(retrained) and record.number not in retrained and not record.through_window,
        )
        for record in records
    ]
    comparison = compare_finalists(
        y_test, predictions, finalists, alpha=alpha, prefer=prefer, margin=margin, cost_metric=config.cost_metric
    )
    # The final models first: a comparison recorded without them was exported with search models.
    new = {number: model for number, model in final_models.items() if number not in earlier}
    _log_final_models(study, new, records, data, config, models_store, final_epochs)
    record_comparison(study, comparison.to_dict())
    result = FinalistsResult(
        comparison=comparison,
        predictions=predictions,
        y_test=y_test,
        class_names=data.class_names,
        final_models=final_models,
        search_models={n: viewed[n] for n, c in compared.items() if n not in retrained and len(c.views) > 1},
    )
    if tracker is not None and tracker.parent_run_id is not None:
        _log_comparison(tracker, result)
        _link_test_accuracy(study, tracker, records, comparison, search_uris)
    return result


def _stored_final_models(
    study: optuna.Study, records: list[TrialRecord], tracker: Tracker
) -> tuple[dict[int, list[keras.Model]], set[int], dict[int, list[int]]]:
    """``_final_models``' result where nothing is retrained: the finalists' models that an
    earlier comparison retrained on train+validation (with their views), loaded."""
    stored = {record.number: final_model_uri(study, record.number) for record in records}
    models = {number: [load_model(tracker, uri)] for number, uri in stored.items() if uri is not None}
    return models, set(models), {}


def exported_search_model(study: optuna.Study, record: TrialRecord, tracker: Tracker) -> tuple[keras.Model, str | None]:
    """``record``'s search model as an export takes it, and its logged model's URI: with the
    test-time views an earlier export logged it with (``record_viewed_model``), else as its
    trial saved it."""
    viewed = StudyRecord.of(study).viewed_models.get(record.number)
    if viewed is not None and is_logged(viewed):
        return load_model(tracker, viewed), viewed
    return load_trial_model(record, tracker), record.model_uri


def _log_final_models(
    study: optuna.Study,
    models: dict[int, keras.Model],
    records: list[TrialRecord],
    data: StudyData,
    config: StudyConfig,
    tracker: Tracker,
    epochs: dict[int, list[int]],
) -> None:
    """Log each newly retrained finalist as a logged model of its trial's run (with the trial's
    parameters), and record it with the ``epochs`` its members trained."""
    for record in records:
        if record.number not in models:
            continue
        run_id = record.mlflow_run_id or tracker.parent_run_id
        if run_id is None:
            raise UserError(f"trial {record.number} has no MLflow run to log its retrained model to")
        digest = record.architecture.digest() if record.architecture else ""
        logged = log_model(
            tracker,
            models[record.number],
            run_id=run_id,
            name=f"trial-{record.number}-final",
            example=data.splits.val[0][:2],
            class_names=data.class_names,
            value_map=data.dataset.value_map,
            params=flatten_params({**record.params_sampled, **record.origin, "architecture.digest": digest}),
            tags={STUDY_TAG: config.study_name, TRIAL_TAG: str(record.number), "trained_on": "train+validation"},
        )
        record_final_model(study, record.number, logged.uri, epochs=epochs.get(record.number))
        _forget_retrained(study, record.number)


def _link_test_accuracy(
    study: optuna.Study,
    tracker: Tracker,
    records: list[TrialRecord],
    comparison: Comparison,
    search_uris: dict[int, str | None],
) -> None:
    """Log each finalist's test accuracy on its trial's run, linked to the logged model compared
    (so the MLflow UI compares the finalists' models side by side; averaged models are logged as one).
    ``search_uris``: the logged models of the finalists compared with a search model (None where
    the model compared is not logged: test-time views added to it); the others were retrained."""
    runs = {record.number: record for record in records}
    for finalist in comparison.finalists:
        record = runs[finalist.trial]
        uri = search_uris[finalist.trial] if finalist.trial in search_uris else final_model_uri(study, finalist.trial)
        if uri is None or not is_logged(uri) or record.mlflow_run_id is None:
            continue
        tracker.log_model_metrics(record.mlflow_run_id, tracker.model_id_of(uri), {"test_accuracy": finalist.accuracy})


def _log_comparison(tracker: Tracker, result: FinalistsResult) -> None:
    comparison = result.comparison
    parent = tracker.parent()
    tracker.log_json(parent.run_id, comparison.to_dict(), "comparison/mcnemar.json")
    tracker.log_text(parent.run_id, comparison.table(), "comparison/mcnemar.txt")
    with tempfile.TemporaryDirectory() as tmp:
        heatmap = plot_pvalue_heatmap(comparison, Path(tmp) / "pvalues_heatmap.png")
        confusion = plot_confusion_matrix(
            result.y_test,
            result.predictions[comparison.winner],
            result.class_names,
            Path(tmp) / "winner_confusion_matrix.png",
        )
        tracker.log_artifact_files(parent.run_id, [heatmap, confusion], "comparison")
    parent.set_tags({"winner_trial": comparison.winner, "winner_reason": comparison.reason})
    winner = next(f for f in comparison.finalists if f.trial == comparison.winner)
    parent.add_metric("winner_test_accuracy", winner.accuracy)
    parent.flush()
