"""Warm start: known-good configurations, run as a study's first trials so a search is never worse than them.

A warm start is a full trial configuration (architecture, training and augmentation)
written as the trial parameters (``arch.*``, ``train.*``, ``aug.*``) that the samplers
read. The driver enqueues them with ``study.enqueue_trial(params)``, so a warm-start trial
runs the ordinary trial code, and TPE learns from it like from any other trial. The
architecture, training and augmentation a configuration stands for are derived from the
parameters by the samplers themselves (on a ``FixedTrial``): the two cannot drift apart.

The configurations are small conv/batch-norm/pool networks that reach a good validation
accuracy within 1-3 epochs on 8x8 to 32x32 images, grey or colour, on a CPU
(``bench/bench_warm_start.py`` measures them per epoch, against the Keras examples'
MNIST convnet). Larger images reach their stages at 56 pixels or fewer: the search space's
stem halves them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

import pipelines
import searchspace
from automl._hparams import batch_sizes, sample_training
from automl._records import with_warm_start

__all__ = [
    "WARM_STARTS",
    "WarmStart",
    "WarmStartInput",
    "LeftOut",
    "resolve_warm_starts",
    "enqueue_warm_starts",
]


@dataclass(frozen=True, kw_only=True)
class WarmStartInput:
    """What a warm start is tailored to: the images, the classes, the training split, the epochs,
    and whether the images may be flipped (``StudyData.flips``)."""

    input_shape: tuple[int, int, int]
    num_classes: int
    num_train: int
    max_epochs: int
    flips: bool = False

    @property
    def batch_size(self) -> int:
        """The middle batch size offered for this training split (32 below 5,000 images)."""
        sizes = batch_sizes(self.num_train)
        return sizes[len(sizes) // 2]


@dataclass(frozen=True, kw_only=True)
class WarmStart:
    """One known-good trial configuration.

    Attributes:
        name: the registry name, also stored on its trial (``TrialRecord.warm_start``).
        params: the trial parameters, exactly those the samplers ask for.
        architecture: ``ArchitectureSpec.to_dict()`` of the architecture they give.
        training: ``TrainingSpec.to_dict()``.
        augmentation: ``AugmentPolicy.to_dict()``.
    """

    name: str
    params: dict[str, Any]
    architecture: dict[str, Any]
    training: dict[str, Any]
    augmentation: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class LeftOut:
    """A warm start the study cannot run, and why (its space or its cost budget)."""

    name: str
    reason: str


class _Unfit(Exception):
    """Why a warm start is left out (``LeftOut.reason``)."""


ParamsBuilder = Callable[[WarmStartInput], dict[str, Any]]

WARM_STARTS: dict[str, ParamsBuilder] = {}
"""Warm-start name -> builder(WarmStartInput) -> trial parameters, in the order they run."""


def _register(name: str) -> Callable[[ParamsBuilder], ParamsBuilder]:
    def decorate(builder: ParamsBuilder) -> ParamsBuilder:
        WARM_STARTS[name] = builder
        return builder

    return decorate


def _conv_stage(i: int, filters: int, *, blocks: int = 1, kind: str = "conv", dropout: float = 0.0) -> dict[str, Any]:
    """Parameters of stage ``i``: ``blocks`` 3x3 blocks of ``kind``, after a 2x2 max pool from stage 2 on.

    Parameters a stage does not ask for (a padding where the kernel does not fit, the pool
    of a map that is one pixel already) are left out when the configuration is built.
    """
    params: dict[str, Any] = {f"arch.s{i}.filters": filters, f"arch.s{i}.blocks": blocks, f"arch.s{i}.dropout": dropout}
    if i > 1:
        params |= {f"arch.s{i}.downsample": "max", f"arch.s{i}.pool_size": 2}
    for j in range(1, blocks + 1):
        params |= {f"arch.s{i}b{j}.type": kind, f"arch.s{i}b{j}.kernel_size": 3, f"arch.s{i}b{j}.padding": "same"}
    return params


def _four_stages(*stages: dict[str, Any], stem: int) -> dict[str, Any]:
    """A ``stem``-filter 3x3 stem, the ``stages``, batch norm throughout, a pooled head."""
    return {
        "arch.activation": "relu",
        "arch.batch_norm": True,
        "arch.stem.filters": stem,
        "arch.stem.kernel_size": 3,
        "arch.stages": len(stages),
        **{key: value for stage in stages for key, value in stage.items()},
        "arch.head.pooling": "gap",
        "arch.head.dense_layers": 0,
        "arch.head.dropout": 0.2,
    }


def _shifts(inputs: WarmStartInput) -> dict[str, Any]:
    """Pad-and-crop shifts of about 7% of the image side (2 pixels on 28x28, 1 on 8x8 to
    16x16, 34 on 480x640; within ``pipelines.max_pad_px``) on half of the images, and
    horizontal flips where the images' classes look the same in a mirror, as photos of
    objects do: digits and text must not be flipped. No other augmentation."""
    pad = max(1, round(min(inputs.input_shape[:2]) / 14))
    return {
        "aug.pad_crop_p": 0.5,
        "aug.pad_px": min(pad, pipelines.max_pad_px(inputs.input_shape)),
        "aug.hflip_p": 0.5 if inputs.flips else 0.0,
        "aug.affine_p": 0.0,
        "aug.color_p": 0.0,
        "aug.dropout_p": 0.0,
    }


@_register("convnet")
def convnet(inputs: WarmStartInput) -> dict[str, Any]:
    """A VGG-like net of four stages (16, 48, 64 twice, 64 filters), batch norm, Adam with
    warm-up and cosine decay, small shifts.

    Narrow where the map is large, deeper where it is small: 16 filters at full resolution,
    two 64-filter blocks at a quarter of it (6.8 MFLOPs on 28x28). Against the 24, 48, 64,
    64 net it replaced (8.0 MFLOPs), it was 0.3-2.1 points more accurate after 9 epochs on
    5,000 images of four data sets, 1.2 points after 3 epochs on 50,000 colour images, and
    0.92 points on average in ten two-minute searches (see ``bench/RESULTS.md``).
    """
    return {
        **_four_stages(
            _conv_stage(1, 16), _conv_stage(2, 48), _conv_stage(3, 64, blocks=2), _conv_stage(4, 64), stem=16
        ),
        "train.optimizer": "adam",
        "train.learning_rate": 3e-3,
        "train.batch_size": inputs.batch_size,
        "train.label_smoothing": 0.1,
        **_shifts(inputs),
    }


@_register("resnet")
def resnet(inputs: WarmStartInput) -> dict[str, Any]:
    """A small residual net of four stages (24, 48, 64, 64 filters, residual blocks), AdamW,
    small shifts (and flips where the images may be flipped).

    About twice the convnet's cost per epoch, for more capacity on harder data (photos,
    clothes).
    """
    return {
        **_four_stages(
            _conv_stage(1, 24, kind="residual"),
            _conv_stage(2, 48, kind="residual"),
            _conv_stage(3, 64, kind="residual"),
            _conv_stage(4, 64, kind="residual", dropout=0.1),
            stem=24,
        ),
        "train.optimizer": "adamw",
        "train.learning_rate": 3e-3,
        "train.weight_decay": 0.01,
        "train.batch_size": inputs.batch_size,
        "train.label_smoothing": 0.1,
        **_shifts(inputs),
    }


def resolve_warm_starts(
    input_shape: tuple[int, int, int],
    num_classes: int,
    num_train: int,
    *,
    max_epochs: int,
    flips: bool = False,
    space: searchspace.SearchSpace | None = None,
    max_params: int | None = None,
    max_flops: int | None = None,
) -> tuple[list[WarmStart], list[LeftOut]]:
    """The warm starts for ``input_shape`` images, in the order they run, and those left out.

    A study cannot run a configuration its search space cannot express (a study file may
    narrow the space), or one over its cost budget: each such is a ``LeftOut`` with why.

    Args:
        input_shape: ``(H, W, C)`` of the images.
        num_classes: the number of classes.
        num_train: images in the training split (the batch size depends on it).
        max_epochs: the study's epochs per trial; warm starts train for all of them.
        flips: whether the images may be flipped (``StudyData.flips``): the warm starts flip
            half of them if so.
        space: the study's search space (default: ``SearchSpace.default()``).
        max_params, max_flops: the study's cost budget (``None``: no limit).

    Raises:
        ValueError: an invalid shape, class count, split size or epoch count, quoted.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or min(shape) < 1 or num_classes < 2 or num_train < 1 or max_epochs < 1:
        raise ValueError(
            "warm starts need an (H, W, C) input_shape, num_classes >= 2, num_train >= 1 and max_epochs >= 1; "
            f"got input_shape={input_shape!r}, num_classes={num_classes!r}, num_train={num_train!r}, "
            f"max_epochs={max_epochs!r}"
        )
    inputs = WarmStartInput(
        input_shape=shape,
        num_classes=num_classes,
        num_train=num_train,
        max_epochs=max_epochs,
        flips=flips,
    )
    space = space or searchspace.SearchSpace.default()
    configs, left_out = [], []
    for name, builder in WARM_STARTS.items():
        try:
            config = _resolve(name, builder(inputs), inputs, space)
            _check_budget(config, inputs, max_params, max_flops)
        except _Unfit as exc:
            left_out.append(LeftOut(name=name, reason=str(exc)))
        else:
            configs.append(config)
    return configs, left_out


def _resolve(name: str, params: dict[str, Any], inputs: WarmStartInput, space: Any) -> WarmStart:
    """Run the samplers on ``params``: the configuration; ``_Unfit`` if ``space`` cannot express it."""
    trial = _FixedParams(params)
    with warnings.catch_warnings():  # out-of-range values are detected below, not warned about
        warnings.simplefilter("ignore")
        try:
            spec = searchspace.sample_architecture(
                trial, space, input_shape=inputs.input_shape, num_classes=inputs.num_classes
            )
            training = sample_training(trial, max_epochs=inputs.max_epochs, num_train=inputs.num_train)
            policy = pipelines.sample_augmentation(trial, input_shape=inputs.input_shape, flips=inputs.flips)
        except ValueError as exc:  # a missing parameter
            raise _Unfit(f"the search space does not offer one of its values ({str(exc).rstrip('.')})") from exc
    outside = [f"{n}={v!r}" for n, v in trial.params.items() if not _contains(trial.distributions[n], v)]
    if outside:
        raise _Unfit(f"the search space does not offer {', '.join(outside)}")
    return WarmStart(
        name=name,
        params=dict(trial.params),  # only what the samplers asked for
        architecture=spec.to_dict(),
        training=training.to_dict(),
        augmentation=policy.to_dict(),
    )


class _FixedParams(optuna.trial.FixedTrial):
    """A ``FixedTrial`` that names the parameter whose value a choice does not offer: Optuna's
    error said only "'2' not in (3,)", not whether the stem's or a block's."""

    def _suggest(self, name: str, distribution: optuna.distributions.BaseDistribution) -> Any:
        if name in self._params:
            try:
                distribution.to_internal_repr(self._params[name])
            except ValueError:
                raise _Unfit(f"the search space does not offer {name}={self._params[name]!r}") from None
        return super()._suggest(name, distribution)


def _contains(distribution: optuna.distributions.BaseDistribution, value: Any) -> bool:
    try:
        return distribution._contains(distribution.to_internal_repr(value))
    except ValueError:
        return False


def _check_budget(config: WarmStart, inputs: WarmStartInput, max_params: int | None, max_flops: int | None) -> None:
    """``_Unfit`` if ``config`` is over the study's cost budget even narrowed (a trial narrows
    one over it, ``searchspace.fit_budget``), or, never expected, does not tile."""
    spec = searchspace.ArchitectureSpec.from_dict(config.architecture)
    try:
        searchspace.fit_budget(
            spec,
            input_shape=inputs.input_shape,
            num_classes=inputs.num_classes,
            max_params=max_params,
            max_flops=max_flops,
        )
    except searchspace.InfeasibleArchitecture as exc:
        raise _Unfit(str(exc)) from exc


def enqueue_warm_starts(study: optuna.Study, configs: list[WarmStart], *, limit: int) -> int:
    """Enqueue the first ``limit`` of ``configs`` as WAITING trials with their parameters fixed.

    Each trial records its warm start's name (``TrialRecord.warm_start``).
    Returns how many were enqueued.
    """
    chosen = configs[: max(limit, 0)]
    for config in chosen:
        study.enqueue_trial(config.params, user_attrs=with_warm_start(config.name), skip_if_exists=False)
    return len(chosen)
