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
its next trial, and the search starts another in its place (``automl._workers``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["MemoryGuard", "default_limit_mb", "rss_mb", "HELPER_ENV", "OUTGROWN_EXIT"]

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
