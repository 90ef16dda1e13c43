"""Signals that stop a command as Ctrl-C does, and the interrupts Python lost on the way.

An ``automl`` command takes a SIGTERM (as ``timeout``, ``kill``, Docker, Slurm and systemd
send it) as Ctrl-C: the running trial is failed and queued again, and the same command
resumes. Python raises the ``KeyboardInterrupt`` wherever the main thread is when the signal
arrives; inside a weakref callback or a ``__del__`` (a garbage collection, frequent while
TensorFlow and MLflow start) it is printed as "Exception ignored ... KeyboardInterrupt" and
lost: the search went on to the end, compared, exported and exited 0. Each signal is
recorded, and the driver raises a lost one again at its next safe point
(``raise_if_interrupted``: before each trial, at each epoch's start and batch's end, before
the comparison, and after any command), and Python's report of it ("Exception ignored in: ...", a traceback ending
in ``KeyboardInterrupt``) is kept off the console.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

__all__ = ["SignalInterrupt", "interrupts_as_ctrl_c", "raise_if_interrupted", "stopped_by", "interrupt_reason"]

# The signals received since ``interrupts_as_ctrl_c`` began, first first.
_received: list[int] = []


class SignalInterrupt(KeyboardInterrupt):
    """The ``KeyboardInterrupt`` of a command stopped by signal ``signum`` (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupt_reason(stop: KeyboardInterrupt) -> str:
    """An interrupted trial's reason: a Ctrl-C's, or the signal's that stopped it."""
    signum = getattr(stop, "signum", signal.SIGINT)
    if signum == signal.SIGINT:
        return "interrupted by the user (Ctrl-C)"
    return f"interrupted by a {signal.Signals(signum).name} (as `timeout`, `kill`, Docker or Slurm send it)"


@contextlib.contextmanager
def interrupts_as_ctrl_c() -> Iterator[None]:
    """Inside the block, a SIGTERM stops the command as Ctrl-C does, and both are recorded
    (``stopped_by``, ``raise_if_interrupted``); outside the main thread it changes nothing.
    A SIGINT that is ignored (a shell script's background job) stays ignored, but a SIGTERM
    is never ignored with it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    _received.clear()
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    if previous[signal.SIGINT] is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    report = sys.unraisablehook
    sys.unraisablehook = functools.partial(_unless_recorded, report)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = report
        _received.clear()


def _unless_recorded(report: Callable[[Any], None], unraisable: Any) -> None:
    """Pass on to ``report`` what Python could not raise, except an interrupt of a recorded
    signal: ``raise_if_interrupted`` raises it again."""
    if _received and isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    report(unraisable)


def stopped_by() -> int | None:
    """The first signal that stopped the command, if one did."""
    return _received[0] if _received else None


def raise_if_interrupted() -> None:
    """Raise the interrupt of a signal received earlier: its ``KeyboardInterrupt`` was lost
    where it was raised (or it would not be running on). Only in the main thread, where the
    interrupt belongs (Keras may run batch callbacks on threads of its own)."""
    if _received and threading.current_thread() is threading.main_thread():
        raise SignalInterrupt(_received[0])


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """Handle a signal as Ctrl-C: through SIGINT's handler (a running trial's watch sees it),
    or by raising ``KeyboardInterrupt`` where SIGINT is ignored."""
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)
