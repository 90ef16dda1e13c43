"""What a trial records in the Optuna storage, read and written in this module only.

A trial's results travel between processes (workers, ``--isolate``, later ``compare`` and
``export`` runs) through its Optuna user attributes. ``TrialRecord`` is their typed view:
``TrialRecord.of(trial)`` reads one, and the ``record_*`` functions write them. No other
module names an attribute key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import searchspace
from automl._errors import FAILURES, TrialFailed
from automl._hparams import TrainingSpec

__all__ = [
    "TrialRecord",
    "record_claim",
    "enqueued_attrs",
    "record_run",
    "record_sample",
    "config_key",
    "INFEASIBLE_KEY",
    "recorded_config_key",
    "record_analysis",
    "record_result",
    "record_model",
    "record_outcome",
    "record_failure",
    "seed_architecture_of",
    "with_seed_architecture",
    "with_warm_start",
    "with_neighbour_of",
    "origin_of",
    "StudyRecord",
    "record_study_config",
    "record_parent_run",
    "record_comparison",
    "record_data",
    "record_oom",
    "record_final_model",
    "record_viewed_model",
    "record_retrained",
    "forget_retrained",
    "record_sampler_seed",
    "record_finish",
]

# The attribute keys (stable: studies written by earlier versions use the same names).
_RUN_ID = "mlflow_run_id"
_WORKER = "worker"
_SEED_ARCHITECTURE = "seed_architecture"
_WARM_START = "warm_start"
_NEIGHBOUR_OF = "neighbour_of"
_ARCHITECTURE = "architecture"
_TRAINING = "training"
_AUGMENTATION = "augmentation"
_PARAMS = "params"
_FLOPS = "flops"
_CONFIG_DIGEST = "config_digest"
_VAL_ACCURACY = "val_accuracy"
_MODEL = "model_path"
_MODEL_URI = "model_uri"
_TIMINGS = "timings"
_FAIL_REASON = "fail_reason"
_FAIL_KIND = "failure_kind"
_NOTE = "note"
_THROUGH_WINDOW = "through_window"
# Study attributes.
_STUDY_CONFIG = "config"
_PARENT_RUN = "mlflow_parent_run_id"
_COMPARISON = "comparison"
_OOM_DIGESTS = "oom_digests"
_FINAL_MODELS = "final_models"
_FINAL_EPOCHS = "final_epochs"
_VIEWED_MODELS = "viewed_models"
_RETRAINED = "retrained"
_SAMPLER_SEEDS = "sampler_seeds"
_FINISH = "finish"
_DATA = "data"


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """Everything a finished (or running) trial stored: the typed view of its attributes."""

    number: int
    state: TrialState
    params_sampled: Mapping[str, Any] = field(default_factory=dict)
    seed_architecture: str | None = None
    warm_start: str | None = None
    neighbour_of: int | None = None
    architecture: searchspace.ArchitectureSpec | None = None
    training: TrainingSpec | None = None
    augmentation: Mapping[str, Any] | None = None
    params: int | None = None
    flops: int | None = None
    config_digest: str | None = None
    val_accuracy: float | None = None
    model_path: str | None = None
    model_uri: str | None = None
    mlflow_run_id: str | None = None
    worker: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    failure: type[TrialFailed] | None = None
    reason: str | None = None
    through_window: bool = False  # trained through the final window: its model is the final one

    @classmethod
    def of(cls, trial: FrozenTrial | optuna.Trial) -> TrialRecord:
        attrs = trial.user_attrs
        frozen = trial if isinstance(trial, FrozenTrial) else None
        architecture = attrs.get(_ARCHITECTURE)
        training = attrs.get(_TRAINING)
        return cls(
            number=trial.number,
            state=frozen.state if frozen is not None else TrialState.RUNNING,
            params_sampled=dict(trial.params),
            seed_architecture=attrs.get(_SEED_ARCHITECTURE),
            warm_start=attrs.get(_WARM_START),
            neighbour_of=attrs.get(_NEIGHBOUR_OF),
            architecture=searchspace.ArchitectureSpec.from_json(architecture) if architecture else None,
            training=TrainingSpec.from_dict(training) if training else None,
            augmentation=attrs.get(_AUGMENTATION),
            params=attrs.get(_PARAMS),
            flops=attrs.get(_FLOPS),
            config_digest=attrs.get(_CONFIG_DIGEST),
            val_accuracy=attrs.get(_VAL_ACCURACY),
            model_path=attrs.get(_MODEL),
            model_uri=attrs.get(_MODEL_URI),
            mlflow_run_id=attrs.get(_RUN_ID),
            worker=attrs.get(_WORKER),
            timings=dict(attrs.get(_TIMINGS, {})),
            failure=FAILURES.get(attrs[_FAIL_KIND], TrialFailed) if _FAIL_KIND in attrs else None,
            reason=attrs.get(_FAIL_REASON) or attrs.get(_NOTE),
            through_window=bool(attrs.get(_THROUGH_WINDOW, False)),
        )

    @property
    def model_ref(self) -> str | None:
        """Where the trial's model is: its MLflow ``models:/`` URI, else (older studies) a local path."""
        return self.model_uri or self.model_path

    @property
    def has_model(self) -> bool:
        return self.model_ref is not None

    @property
    def epochs(self) -> int:
        """The epochs of the trial's recipe (re-planned ones included; 1 when it has none)."""
        return self.training.epochs if self.training else 1

    @property
    def seconds(self) -> float:
        return round(sum(self.timings.values()), 2)

    @property
    def origin(self) -> dict[str, Any]:
        """Where the trial came from, as MLflow params (``origin_of``)."""
        return _origin_params(
            {_SEED_ARCHITECTURE: self.seed_architecture, _WARM_START: self.warm_start, _NEIGHBOUR_OF: self.neighbour_of}
        )

    def row(self) -> dict[str, Any]:
        """The readable record used by tables and comparisons."""
        return {
            "trial": self.number,
            "state": self.state.name.lower(),
            "val_accuracy": self.val_accuracy,
            "params": self.params,
            "flops": self.flops,
            "seconds": self.seconds,
            "reason": self.reason or "",
            "architecture": json.loads(self.architecture.to_json()) if self.architecture else None,
        }


def seed_architecture_of(trial: FrozenTrial | optuna.trial.BaseTrial) -> str | None:
    """The classic architecture the trial was enqueued to run, if any."""
    return trial.user_attrs.get(_SEED_ARCHITECTURE)


def with_seed_architecture(name: str) -> dict[str, str]:
    """User attributes that enqueue a trial running the classic architecture ``name``."""
    return {_SEED_ARCHITECTURE: name}


def with_warm_start(name: str) -> dict[str, str]:
    """User attributes that mark an enqueued trial as the warm start ``name`` (its parameters are fixed)."""
    return {_WARM_START: name}


def with_neighbour_of(number: int) -> dict[str, int]:
    """User attributes that mark an enqueued trial as a neighbour of trial ``number`` (``automl._neighbours``)."""
    return {_NEIGHBOUR_OF: number}


def origin_of(trial: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """Where an enqueued trial came from, as MLflow params: ``origin.seed_architecture``,
    ``origin.warm_start`` or ``origin.neighbour_of`` (none for a sampled trial)."""
    return _origin_params(enqueued_attrs(trial))


def _origin_params(attrs: dict[str, Any]) -> dict[str, Any]:
    return {f"origin.{key}": value for key, value in attrs.items() if value is not None}


def enqueued_attrs(trial: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """The user attributes the trial was enqueued with (where it came from, ``origin_of``):
    what a copy that runs it again needs, and none of how it ran."""
    keys = (_SEED_ARCHITECTURE, _WARM_START, _NEIGHBOUR_OF)
    return {key: trial.user_attrs[key] for key in keys if key in trial.user_attrs}


def record_claim(trial: optuna.Trial, worker: str) -> None:
    trial.set_user_attr(_WORKER, worker)


def record_run(trial: optuna.Trial, run_id: str) -> None:
    trial.set_user_attr(_RUN_ID, run_id)


def record_sample(
    trial: optuna.Trial, spec: searchspace.ArchitectureSpec, training: TrainingSpec, augmentation: Mapping[str, Any]
) -> None:
    trial.set_user_attr(_ARCHITECTURE, spec.to_json())
    trial.set_user_attr(_TRAINING, training.to_dict())
    trial.set_user_attr(_AUGMENTATION, dict(augmentation))


# Training settings a trial records as it ran them, not as it planned them: every trial plans
# the study's epochs, and a re-planned, cut or budget-stopped one records its own.
_RUN_NOT_PLANNED = ("epochs", "steps_per_epoch")


INFEASIBLE_KEY = "infeasible"
"""The key of fixed parameters that make an architecture that cannot be (``_trial.config_key_of``)."""


def config_key(architecture_json: str, training: Mapping[str, Any], augmentation: Mapping[str, Any]) -> str:
    """One string for what a trial trains: two trials with the same key train the same model
    (up to their seeds and how long they ran), however their parameters differ (a narrower
    stage widened again)."""
    planned = {name: value for name, value in training.items() if name not in _RUN_NOT_PLANNED}
    return json.dumps([architecture_json, planned, dict(augmentation)], sort_keys=True)


def recorded_config_key(trial: FrozenTrial) -> str | None:
    """``config_key`` of what ``trial`` trained or trains (None before it sampled it)."""
    attrs = trial.user_attrs
    if _ARCHITECTURE not in attrs:
        return None
    return config_key(attrs[_ARCHITECTURE], attrs.get(_TRAINING, {}), attrs.get(_AUGMENTATION, {}))


def record_analysis(trial: optuna.Trial, *, params: int, flops: int, config_digest: str) -> None:
    trial.set_user_attr(_PARAMS, params)
    trial.set_user_attr(_FLOPS, flops)
    trial.set_user_attr(_CONFIG_DIGEST, config_digest)


def record_result(trial: optuna.Trial, val_accuracy: float, *, through_window: bool = False) -> None:
    """The trial's validation accuracy, and whether it trained through the final window."""
    trial.set_user_attr(_VAL_ACCURACY, val_accuracy)
    if through_window:
        trial.set_user_attr(_THROUGH_WINDOW, True)


def record_model(trial: optuna.Trial, *, uri: str, path: str) -> None:
    """The trial's logged model (``models:/ID``) and its copy on the machine that trained it."""
    trial.set_user_attr(_MODEL_URI, uri)
    trial.set_user_attr(_MODEL, path)


def record_outcome(
    trial: optuna.Trial, *, timings: Mapping[str, float], failure: TrialFailed | None, note: str | None
) -> None:
    """How the trial ended: its phase timings, and its failure (kind and reason) or note."""
    trial.set_user_attr(_TIMINGS, {k: round(v, 4) for k, v in timings.items()})
    if failure is not None:
        record_failure(trial, failure)
    elif note:
        trial.set_user_attr(_NOTE, note)


def record_failure(trial: optuna.Trial, failure: TrialFailed) -> None:
    """Why the trial failed: its kind and reason."""
    trial.set_user_attr(_FAIL_KIND, failure.kind)
    trial.set_user_attr(_FAIL_REASON, str(failure))


@dataclass(frozen=True, kw_only=True)
class StudyRecord:
    """What a study stores beside its trials: its settings (JSON), its MLflow parent run,
    the last comparison of its finalists, the configurations that ran out of memory, the
    finalists' models retrained on train+validation (trial number -> ``models:/`` URI, or a
    local path in older studies), the search models exported with their test-time views
    (trial number -> ``models:/`` URI), finalists retrained but not yet logged (``retrained``:
    trial number -> their members' local ``paths`` and ``epochs``), the sampler seed of each
    process that ran it (``host:pid`` -> seed, as trials record their ``worker``) and which
    process compares and exports
    (``finish``), and what its data is and where it was read from (``data``, ``automl._study_data``)."""

    config_json: str | None = None
    parent_run_id: str | None = None
    comparison: Mapping[str, Any] | None = None
    oom_digests: Mapping[str, int] = field(default_factory=dict)
    final_models: Mapping[int, str] = field(default_factory=dict)
    final_epochs: Mapping[int, list[int]] = field(default_factory=dict)
    viewed_models: Mapping[int, str] = field(default_factory=dict)
    retrained: Mapping[int, Mapping[str, list[Any]]] = field(default_factory=dict)
    sampler_seeds: Mapping[str, int] = field(default_factory=dict)
    finish: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, study: optuna.Study) -> StudyRecord:
        attrs = study.user_attrs
        return cls(
            config_json=attrs.get(_STUDY_CONFIG),
            parent_run_id=attrs.get(_PARENT_RUN),
            comparison=attrs.get(_COMPARISON),
            oom_digests=dict(attrs.get(_OOM_DIGESTS, {})),
            final_models={int(k): v for k, v in attrs.get(_FINAL_MODELS, {}).items()},
            final_epochs={int(k): list(v) for k, v in attrs.get(_FINAL_EPOCHS, {}).items()},
            viewed_models={int(k): v for k, v in attrs.get(_VIEWED_MODELS, {}).items()},
            retrained={int(k): dict(v) for k, v in attrs.get(_RETRAINED, {}).items()},
            sampler_seeds=dict(attrs.get(_SAMPLER_SEEDS, {})),
            finish=attrs.get(_FINISH),
            data=attrs.get(_DATA),
        )


def record_study_config(study: optuna.Study, config_json: str) -> None:
    study.set_user_attr(_STUDY_CONFIG, config_json)


def record_parent_run(study: optuna.Study, run_id: str) -> None:
    study.set_user_attr(_PARENT_RUN, run_id)


def record_data(study: optuna.Study, data: Mapping[str, Any]) -> None:
    study.set_user_attr(_DATA, dict(data))


def record_comparison(study: optuna.Study, comparison: Mapping[str, Any]) -> None:
    study.set_user_attr(_COMPARISON, dict(comparison))


def record_oom(study: optuna.Study, digest: str, number: int) -> None:
    """Remember that configuration ``digest`` ran out of memory in trial ``number``."""
    study.set_user_attr(_OOM_DIGESTS, {**StudyRecord.of(study).oom_digests, digest: number})


def record_final_model(study: optuna.Study, number: int, uri: str, *, epochs: list[int] | None = None) -> None:
    """Remember the logged model of trial ``number`` retrained on train+validation, and the
    epochs its members trained (their model card says so; the trial's recipe has its own)."""
    _record_model(study, _FINAL_MODELS, number, uri)
    if epochs:
        study.set_user_attr(_FINAL_EPOCHS, {**study.user_attrs.get(_FINAL_EPOCHS, {}), str(number): list(epochs)})


def record_retrained(study: optuna.Study, number: int, paths: list[str], epochs: list[int]) -> None:
    """Remember the members of trial ``number`` retrained on train+validation and saved on this
    machine (``paths``, ``.keras`` files) before the comparison logs them: a run interrupted
    before then takes them up instead of retraining them (``forget_retrained`` once logged)."""
    retrained = {**study.user_attrs.get(_RETRAINED, {}), str(number): {"paths": paths, "epochs": epochs}}
    study.set_user_attr(_RETRAINED, retrained)


def forget_retrained(study: optuna.Study, number: int) -> None:
    """Drop ``record_retrained``'s entry of trial ``number`` (its final model is logged)."""
    retrained = dict(study.user_attrs.get(_RETRAINED, {}))
    if retrained.pop(str(number), None) is not None:
        study.set_user_attr(_RETRAINED, retrained)


def record_viewed_model(study: optuna.Study, number: int, uri: str) -> None:
    """Remember the logged model of trial ``number``'s search model with its test-time views
    (``automl._views``): the winner exported where it was not retrained."""
    _record_model(study, _VIEWED_MODELS, number, uri)


def _record_model(study: optuna.Study, attr: str, number: int, uri: str) -> None:
    study.set_user_attr(attr, {**study.user_attrs.get(attr, {}), str(number): uri})


def record_sampler_seed(study: optuna.Study, process: str, seed: int) -> None:
    """Remember that ``process`` (``host:pid``) sampled with ``seed`` (call under the store's lock)."""
    study.set_user_attr(_SAMPLER_SEEDS, {**StudyRecord.of(study).sampler_seeds, process: seed})


def record_finish(study: optuna.Study, finish: Mapping[str, Any]) -> None:
    study.set_user_attr(_FINISH, dict(finish))
