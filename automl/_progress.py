"""Progress output: a live line per trial on a terminal, one line per trial otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["Progress"]


@dataclass
class Progress:
    """Prints trial progress with the best value so far."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    quiet: bool = False
    best: float | None = None
    #: The trials whose line was shown, where those that other processes ran are shown too
    #: (``automl._driver.show_others``: a search's ``--workers`` helpers are quiet); else None.
    shown: set[int] | None = None
    _start: float = 0.0
    _status: int = 0  # the length of the status line shown

    @property
    def live(self) -> bool:
        return self.stream.isatty() and not self.quiet

    def status(self, text: str) -> None:
        """Show ``text`` on a terminal only, until ``clear_status`` (e.g. while data is read)."""
        if self.live:
            self.stream.write("\r" + text)
            self.stream.flush()
            self._status = len(text)

    def clear_status(self) -> None:
        """Erase the status line, if one is shown, so the next line or error starts clean."""
        if self._status:
            self.stream.write("\r" + " " * self._status + "\r")
            self.stream.flush()
            self._status = 0

    def trial_started(self, number: int) -> None:
        self._start = time.perf_counter()
        if self.live:
            self.stream.write(f"\rtrial {number:>3}  starting ...")
            self.stream.flush()

    def epoch(self, number: int, epoch: Any, epochs: int) -> None:
        if self.live:
            self.stream.write(
                f"\rtrial {number:>3}  epoch {epoch.epoch + 1}/{epochs}  "
                f"val_acc {epoch.val_accuracy:.4f}  best so far {self._best_text()}   "
            )
            self.stream.flush()

    def trial_finished(
        self,
        number: int,
        state: str,
        value: float | None,
        reason: str | None,
        best: float | None,
        *,
        seconds: float | None = None,
    ) -> None:
        """The line of trial ``number``, which took ``seconds`` (default: since it started here)."""
        self.best = best
        if self.shown is not None:
            self.shown.add(number)
        if self.quiet:
            return
        seconds = time.perf_counter() - self._start if seconds is None else seconds
        value_text = f"val_acc {value:.4f}" if value is not None else "val_acc   -   "
        line = f"trial {number:>3}  {state:<8}  {value_text}  {seconds:6.1f}s  best so far {self._best_text()}"
        if reason:
            line += f"  ({reason})"
        self.stream.write(("\r" if self.live else "") + line + " " * 4 + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _best_text(self) -> str:
        return f"{self.best:.4f}" if self.best is not None else "-"
