"""The errors of the search space: what cannot be built, what costs too much, what is ill-defined.

The study driver treats them differently from a failed trial: an infeasible or over-budget
architecture is recorded with its reason and never built (no training time is spent on it),
while a ``SearchSpaceError`` is the user's to fix before any trial runs.
"""

from __future__ import annotations

__all__ = ["InfeasibleArchitecture", "OverBudget", "SearchSpaceError"]


class InfeasibleArchitecture(ValueError):
    """The layers of an architecture do not tile its input; the message names stage, block and sizes."""


class OverBudget(InfeasibleArchitecture):
    """An architecture exceeds ``--max-params`` or ``--max-flops``; the message quotes both numbers."""


class SearchSpaceError(ValueError):
    """A search space definition is invalid; the message quotes the bad field and value."""
