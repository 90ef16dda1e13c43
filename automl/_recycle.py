"""A search process that has grown too large hands its trials on to fresh processes.

TensorFlow keeps part of every model it has trained in memory that nothing gives back
(``keras.backend.clear_session`` and a full garbage collection do not; bench/RESULTS.md,
"Memory over a long search"): a search of the 8x8 digits grew by 125 MB a trial, 6.5 GB
after 40 trials, and would have filled the 24 GB of its machine in 150. JAX and PyTorch
grow by a few MB a trial. So the process that runs a search measures its growth after each
trial (``MemoryGuard``); once it is past ``RuntimeSettings.recycle_after_mb``, the trials
left run in fresh ``automl worker`` processes, each of which stops at the same limit and is
followed by another (``automl._driver``). The ``--workers`` helpers a search starts
(``HELPER_ENV``) keep to the same limit: one past it exits with ``OUTGROWN_EXIT`` before
its next trial, and the search starts another in its place (``automl._workers``); the
default limit is shared among the search's processes (``shared_limit``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field

from automl._settings import runtime_settings, use_settings

__all__ = ["MemoryGuard", "default_limit_mb", "rss_mb", "shared_limit", "HELPER_ENV", "OUTGROWN_EXIT"]

# Set ("1") for the ``--workers`` helpers of a search, which replaces one that outgrew its limit.
HELPER_ENV = "AUTOML_HELPER"
# The exit code of a helper that stopped past its memory limit (sysexits' EX_TEMPFAIL).
OUTGROWN_EXIT = 75

# The growth that moves the trials to a fresh process: a quarter of the machine's memory, at
# most 4 GiB (a fresh process starts TensorFlow and reads the data again: ~5-10 s).
_MOST_MB = 4096


def rss_mb(pid: int | None = None) -> float | None:
    """The resident memory in MB of this process (or of process ``pid``), or None where
    ``/proc`` does not say (not Linux, or the process is gone)."""
    try:
        with open(f"/proc/{'self' if pid is None else pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def default_limit_mb() -> int:
    """A quarter of the machine's memory, at most ``_MOST_MB``."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError):
        return _MOST_MB
    return max(1, min(_MOST_MB, total // 4))


def shared_limit(processes: int) -> contextlib.AbstractContextManager:
    """Inside the block, the default limit is shared among a search's ``processes`` (itself and
    its ``--workers`` helpers, which get the settings in force): together they grow as much as
    one process alone would. A limit set (``AUTOML_RECYCLE_AFTER_MB``) is each process's."""
    settings = runtime_settings()
    if processes <= 1 or settings.recycle_after_mb is not None:
        return contextlib.nullcontext()
    share = max(1, default_limit_mb() // processes)
    return use_settings(dataclasses.replace(settings, recycle_after_mb=share))


@dataclass
class MemoryGuard:
    """How much this process has grown since the guard was made; ``tripped`` once ``check``
    finds it past ``limit_mb`` (0: never)."""

    limit_mb: int
    start_mb: float | None = field(default_factory=rss_mb)
    grown_mb: float = 0.0
    tripped: bool = False

    def check(self) -> bool:
        """Whether this process has grown past the limit (then ``tripped`` stays True)."""
        now = rss_mb()
        if self.limit_mb and self.start_mb is not None and now is not None:
            self.grown_mb = now - self.start_mb
            self.tripped = self.tripped or self.grown_mb > self.limit_mb
        return self.tripped
