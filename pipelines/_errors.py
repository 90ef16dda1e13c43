"""The one error type of the data pipeline."""

from __future__ import annotations

__all__ = ["DataError", "one_line"]


class DataError(ValueError):
    """Bad input data: a one-line message naming the file or value and what to do about it.

    The CLI prints it as is, without a traceback, so every message must say which file
    or value is wrong and how the user can fix it.
    """


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` squeezed onto one line (library messages may span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
