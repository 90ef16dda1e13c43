"""The one plain-text table renderer of the command line and the reports."""

from __future__ import annotations

from collections.abc import Collection, Sequence

__all__ = ["counted", "render_table"]


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, plural unless ``count`` is 1: ``"1 trial"``, ``"3 trials"``."""
    return f"{count} {noun}{'s' * (count != 1)}"


def render_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, left: Collection[int] = (), rule: bool = True
) -> str:
    """Columns separated by two spaces, right-aligned except the indices in ``left``.

    With ``rule``, a line of dashes under each named column separates the header from the
    rows (an unnamed column, such as a marker, gets none).
    """
    cells = [[str(c) for c in header], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        padded = (c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        return "  ".join(padded).rstrip()

    lines = [line(row) for row in cells]
    if rule:
        lines.insert(1, line(["-" * w if name else "" for name, w in zip(header, widths, strict=True)]))
    return "\n".join(lines)
