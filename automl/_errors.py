"""The error taxonomy of the study driver.

- ``UserError``: a fatal problem with what the user asked for (a bad option, an unknown
  study); the CLI prints it on one line and exits with status 2.
- ``TrialFailed``: this trial cannot go on (NaN loss, out of memory, an exception); the
  trial is recorded as failed with the reason and the study goes on.
- ``searchspace.InfeasibleArchitecture`` and ``pipelines.DataError`` come from their
  packages and are treated the same way at the CLI boundary.
"""

from __future__ import annotations


class UserError(Exception):
    """A fatal, user-fixable problem: printed as one line by the CLI."""


class TrialFailed(Exception):
    """A trial failed for a known reason; the study records it and goes on."""


class OutOfMemory(TrialFailed):
    """A trial ran out of (accelerator or host) memory; its configuration is not retried."""


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [UserError, FileNotFoundError]
    try:
        from pipelines import DataError

        errors.append(DataError)
    except ImportError:  # pragma: no cover - during bootstrap only
        pass
    try:
        from searchspace import InfeasibleArchitecture, SearchSpaceError

        errors.extend([InfeasibleArchitecture, SearchSpaceError])
    except ImportError:  # pragma: no cover - during bootstrap only
        pass
    return tuple(errors)


USER_ERRORS = _user_errors()
