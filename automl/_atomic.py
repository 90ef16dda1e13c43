"""Files and folders written whole or not at all: a temporary sibling, then a rename."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(target: Path, write: Callable[[Path], object]) -> Path:
    """Create ``target`` (a file or a directory) by ``write(temporary path)`` and a rename.

    The temporary path is a sibling of ``target`` with the same suffix (Keras requires
    ``.keras``), so the rename stays on one filesystem; a crash leaves either the old
    ``target`` or the new one, never a half-written one. Returns ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    try:
        write(temporary)
        _replace(temporary, target)
    finally:
        remove_path(temporary)
    return target


def _replace(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target``; an existing directory is moved aside first, then removed."""
    if target.is_dir() and not target.is_symlink():
        aside = target.with_name(f".old-{uuid.uuid4().hex}-{target.name}")
        target.rename(aside)
        source.rename(target)
        remove_path(aside)
    else:
        os.replace(source, target)


def remove_path(path: Path) -> None:
    """Remove a file, a link or a whole folder, if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
