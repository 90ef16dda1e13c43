"""Runtime settings of a process: where the local stores live, how augmentation is fed,
how often workers prove they are alive, and the faults tests inject.

They are one frozen object, ``RuntimeSettings``. The environment is read in one place,
``RuntimeSettings.from_env``; everything else asks ``runtime_settings()``, which returns
the settings a caller put in force with ``use_settings`` (the Python API and the tests do)
or, failing that, those of the environment:

====================================  ==============================  ===================
variable                              field                           default
====================================  ==============================  ===================
``AUTOML_HOME``                       ``home``                        ``mlruns``
``AUTOML_AUGMENT_PROCESSES``          ``augment_processes``           automatic
``AUTOML_HEARTBEAT_INTERVAL``         ``heartbeat_interval_s``        10
``AUTOML_GRACE_PERIOD``               ``grace_period_s``              30
``AUTOML_INJECT_FAULT``               ``faults``                      none
``AUTOML_DEVICE_AUGMENTATION``        ``device_augmentation``         automatic
``AUTOML_RECYCLE_AFTER_MB``           ``recycle_after_mb``            automatic
====================================  ==============================  ===================

Child processes (``--isolate``, ``--workers``) inherit the settings through
``to_env``, so a worker started by this process behaves like it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from automl._errors import UserError

__all__ = ["RuntimeSettings", "runtime_settings", "use_settings", "FAULT_KINDS"]

HOME_ENV = "AUTOML_HOME"
AUGMENT_PROCESSES_ENV = "AUTOML_AUGMENT_PROCESSES"
HEARTBEAT_ENV = "AUTOML_HEARTBEAT_INTERVAL"
GRACE_PERIOD_ENV = "AUTOML_GRACE_PERIOD"
FAULT_ENV = "AUTOML_INJECT_FAULT"
DEVICE_AUGMENTATION_ENV = "AUTOML_DEVICE_AUGMENTATION"
RECYCLE_ENV = "AUTOML_RECYCLE_AFTER_MB"
# Faults a test can inject into a trial's training (see ``automl._training.FAULTS``).
FAULT_KINDS = ("error", "nan", "oom", "slow", "kill")


@dataclass(frozen=True, kw_only=True)
class RuntimeSettings:
    """How this process runs studies (not what a study searches: that is ``StudyConfig``).

    Attributes:
        home: folder of the local stores (Optuna and MLflow SQLite files, artifacts,
            trial models).
        augment_processes: processes that augment training batches; ``None`` picks 0
            (threads) on a CPU and ``min(8, cores - 1)`` beside an accelerator.
        heartbeat_interval_s: how often a running trial proves its worker alive.
        grace_period_s: how long a silent trial is tolerated before another worker fails
            it and queues its retry.
        faults: trial number -> fault injected into its training (tests of the failure
            paths): one of ``FAULT_KINDS``.
        device_augmentation: augment inside the compiled training step (Keras layers)
            instead of in the host's feeder; ``None`` does so beside an accelerator only.
        recycle_after_mb: the growth (MB) after which a search's trials go on in fresh
            processes (``automl._recycle``); ``None`` picks a quarter of the machine's
            memory, at most 4 GiB; 0 never moves them.
    """

    home: Path = Path("mlruns")
    augment_processes: int | None = None
    heartbeat_interval_s: int = 10
    grace_period_s: int = 30
    faults: Mapping[int, str] = field(default_factory=dict)
    device_augmentation: bool | None = None
    recycle_after_mb: int | None = None

    def __post_init__(self) -> None:
        for name in ("augment_processes", "recycle_after_mb"):
            if (value := getattr(self, name)) is not None and value < 0:
                raise UserError(f"{name} must be >= 0, got {value!r}")
        if self.heartbeat_interval_s < 1 or self.grace_period_s <= self.heartbeat_interval_s:
            raise UserError(
                "the heartbeat needs 1 <= interval < grace period (seconds), got "
                f"interval={self.heartbeat_interval_s!r}, grace period={self.grace_period_s!r}"
            )
        for number, kind in self.faults.items():
            if kind not in FAULT_KINDS:
                raise UserError(f"unknown fault {kind!r} for trial {number}; use one of {list(FAULT_KINDS)}")

    @property
    def arrays_folder(self) -> Path:
        """Where ``automl.search(data=arrays)`` saves arrays given in memory."""
        return self.home / "data"

    def replace(self, **changes: object) -> RuntimeSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        """The settings the environment asks for (the only place it is read)."""
        env = os.environ if environ is None else environ
        processes = env.get(AUGMENT_PROCESSES_ENV, "").strip()
        device = env.get(DEVICE_AUGMENTATION_ENV, "").strip()
        recycle = env.get(RECYCLE_ENV, "").strip()
        return cls(
            home=Path(env.get(HOME_ENV, "").strip() or "mlruns"),
            augment_processes=_whole_number(AUGMENT_PROCESSES_ENV, processes) if processes else None,
            heartbeat_interval_s=_seconds(env, HEARTBEAT_ENV, 10),
            grace_period_s=_seconds(env, GRACE_PERIOD_ENV, 30),
            faults=_parse_faults(env.get(FAULT_ENV, "")),
            device_augmentation=_switch(DEVICE_AUGMENTATION_ENV, device) if device else None,
            recycle_after_mb=_whole_number(RECYCLE_ENV, recycle) if recycle else None,
        )

    def to_env(self) -> dict[str, str]:
        """Environment variables that give a child process the same settings."""
        env = {
            HOME_ENV: str(self.home),
            HEARTBEAT_ENV: str(self.heartbeat_interval_s),
            GRACE_PERIOD_ENV: str(self.grace_period_s),
            FAULT_ENV: ",".join(f"{kind}@{number}" for number, kind in sorted(self.faults.items())),
        }
        if self.augment_processes is not None:
            env[AUGMENT_PROCESSES_ENV] = str(self.augment_processes)
        if self.device_augmentation is not None:
            env[DEVICE_AUGMENTATION_ENV] = "1" if self.device_augmentation else "0"
        if self.recycle_after_mb is not None:
            env[RECYCLE_ENV] = str(self.recycle_after_mb)
        return env


_in_force: list[RuntimeSettings] = []


def runtime_settings() -> RuntimeSettings:
    """The settings in force: the innermost ``use_settings``, else the environment's."""
    return _in_force[-1] if _in_force else RuntimeSettings.from_env()


@contextmanager
def use_settings(settings: RuntimeSettings | None) -> Iterator[RuntimeSettings]:
    """Put ``settings`` in force for the block (``None``: keep those in force)."""
    if settings is None:
        yield runtime_settings()
        return
    if not isinstance(settings, RuntimeSettings):
        raise UserError(f"settings must be an automl.RuntimeSettings, got {settings!r}")
    _in_force.append(settings)
    try:
        yield settings
    finally:
        _in_force.pop()


def _whole_number(name: str, text: str) -> int:
    if not text.isdecimal():
        raise UserError(f"{name} must be a whole number >= 0, got {text!r}")
    return int(text)


def _switch(name: str, text: str) -> bool:
    if text not in ("0", "1"):
        raise UserError(f"{name} must be 0 or 1, got {text!r}")
    return text == "1"


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{name} must be a whole number of seconds, got {text!r}") from None


def _parse_faults(text: str) -> dict[int, str]:
    """``"nan@1,oom@2"`` -> ``{1: "nan", 2: "oom"}``."""
    faults: dict[int, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, number = item.partition("@")
        if not number.strip().isdecimal():
            raise UserError(f"{FAULT_ENV} items look like kind@trial_number, got {item!r}")
        faults[int(number)] = kind.strip()
    return faults
