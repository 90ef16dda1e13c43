"""The error taxonomy of the study driver.

- ``UserError``: a fatal problem with what the user asked for (a bad option, an unknown
  study); the CLI prints it on one line and exits with status 2.
- ``TrialFailed`` and its kinds (``Infeasible``, ``OutOfMemory``, ``NonFiniteLoss``, ...):
  this trial cannot go on; it is recorded as failed with its kind and reason, and the
  study goes on.
- ``searchspace.InfeasibleArchitecture`` and ``pipelines.DataError`` come from their
  packages and are treated the same way at the CLI boundary.
"""

from __future__ import annotations

from pipelines import DataError
from searchspace import InfeasibleArchitecture, SearchSpaceError


class UserError(Exception):
    """A fatal, user-fixable problem: printed as one line by the CLI."""


class StudyStopped(Exception):
    """Too many trials failed in a row; carries the last failure's reason."""


class Outgrown(Exception):
    """A ``--workers`` helper grew past its memory limit (``automl._recycle``) before a trial:
    it stops, and the search that started it starts a fresh one in its place."""


class TrialFailed(Exception):
    """A trial failed for a known reason; the study records it and goes on.

    Each subclass is a kind of failure the driver treats in its own way; ``kind`` is the
    name stored with the trial (see ``automl._records``).
    """

    kind = "error"
    #: Whether the failure cost no training, so it does not count towards
    #: ``max_consecutive_failures``.
    cheap = False


class Infeasible(TrialFailed):
    """The sampled architecture cannot exist or is over budget: never built, costs nothing."""

    kind = "infeasible"
    cheap = True


class OutOfMemory(TrialFailed):
    """A trial ran out of (accelerator or host) memory; its configuration is not retried."""

    kind = "out_of_memory"


class NonFiniteLoss(TrialFailed):
    """The training loss became NaN or infinite."""

    kind = "non_finite_loss"


class KnownOutOfMemory(TrialFailed):
    """The same configuration already ran out of memory: skipped without building it."""

    kind = "known_out_of_memory"
    cheap = True


class Interrupted(TrialFailed):
    """The user stopped the trial (Ctrl-C)."""

    kind = "interrupted"


class Stale(TrialFailed):
    """Another process failed the trial as stale (no heartbeat) while it ran."""

    kind = "stale"


class ProcessDied(TrialFailed):
    """The process of an isolated trial (``--isolate``) ended mid-trial: killed (the system's
    out-of-memory killer sends SIGKILL) or crashed."""

    kind = "process_died"


class SearchFailed(TrialFailed):
    """The search ended on an error of its own while the trial ran (its MLflow server gone,
    a bug), not one of the candidate's: the trial runs again when the study resumes."""

    kind = "search_failed"


#: Failure kind name -> its type, to read a stored kind back.
FAILURES: dict[str, type[TrialFailed]] = {
    cls.kind: cls
    for cls in (
        TrialFailed,
        Infeasible,
        OutOfMemory,
        NonFiniteLoss,
        KnownOutOfMemory,
        Interrupted,
        Stale,
        ProcessDied,
        SearchFailed,
    )
}


#: The errors the CLI prints as one line (exit status 2): a problem with what was asked.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    FileNotFoundError,
    DataError,
    InfeasibleArchitecture,
    SearchSpaceError,
)
