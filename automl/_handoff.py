"""Store URLs, which may hold a database password, kept out of other processes' sight.

A command line is visible to every user of the machine (``ps``); an environment is
readable by the owner's other processes (``/proc/PID/environ``) and passed on to every
process started from it. So a command of the ``automl`` CLI:

- takes ``AUTOML_STORAGE`` and ``AUTOML_TRACKING_URI`` out of its environment while it
  runs (``urls_in_memory``) and reads them from memory (``from_env``): the processes it
  starts (augmentation workers, MLflow's) inherit no password;
- starts its own workers and isolated trials with ``popen``: their store URLs travel on a
  pipe the child inherits, named by ``AUTOML_STORES_FD``, which the child's
  ``urls_in_memory`` reads. Nothing in the child's command line or environment holds them.

MLflow's ``set_tracking_uri`` copies the URI into ``MLFLOW_TRACKING_URI`` "so that
subprocess can inherit it"; ``automl._tracking`` takes that copy out again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

__all__ = [
    "STORAGE_ENV",
    "TRACKING_URI_ENV",
    "FD_ENV",
    "from_env",
    "urls_in_memory",
    "popen",
    "passwords",
    "without_passwords",
]

STORAGE_ENV = "AUTOML_STORAGE"
TRACKING_URI_ENV = "AUTOML_TRACKING_URI"
# The descriptor of the pipe a child reads its store URLs from (``popen``).
FD_ENV = "AUTOML_STORES_FD"
_NAMES = (STORAGE_ENV, TRACKING_URI_ENV)

# The store URLs taken out of the environment for the command that runs (``urls_in_memory``).
_IN_MEMORY: dict[str, str] = {}


def from_env(name: str) -> str | None:
    """Store variable ``name`` (``STORAGE_ENV`` or ``TRACKING_URI_ENV``): the value this
    command took into memory, else the environment's; None where neither has one."""
    return _IN_MEMORY.get(name) or os.environ.get(name) or None


@contextlib.contextmanager
def urls_in_memory() -> Iterator[None]:
    """Inside the block, the store URLs live in memory only: those a parent handed down on its
    pipe, else the environment's, which is given them back at the end (in-process callers)."""
    taken = {name: os.environ.pop(name) for name in _NAMES if name in os.environ}
    handed = _read_pipe(os.environ.pop(FD_ENV, None))
    _IN_MEMORY.update({**taken, **handed})
    try:
        yield
    finally:
        _IN_MEMORY.clear()
        os.environ.update(taken)


def popen(
    command: Sequence[str], *, stores: Mapping[str, str | None], env: Mapping[str, str], **kwargs: Any
) -> subprocess.Popen:
    """Start ``command`` (an ``automl`` CLI command) with ``stores`` (``STORAGE_ENV`` and
    ``TRACKING_URI_ENV`` to their URLs) on a pipe it inherits, and none of them in ``env``.

    A variable of ``env`` that quotes one of their passwords is left out as well
    (``without_passwords``).
    """
    urls = {name: url for name, url in stores.items() if url}
    read_end, write_end = os.pipe()
    try:
        child_env = {**without_passwords(env, *urls.values()), FD_ENV: str(read_end)}
        child = subprocess.Popen(command, env=child_env, pass_fds=(read_end,), **kwargs)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "w") as pipe:
        json.dump(urls, pipe)  # a few hundred bytes, within the pipe's buffer: never blocks
    return child


def without_passwords(env: Mapping[str, str], *urls: str) -> dict[str, str]:
    """``env`` for a child process: without the store variables, nor any variable that quotes
    a password of ``urls`` (MLflow's copy of a tracking URI, a user's ``PGPASSWORD``)."""
    secrets = {secret for url in urls for secret in passwords(url)}
    return {
        name: value
        for name, value in env.items()
        if name not in (*_NAMES, FD_ENV) and not any(_quotes(value, secret) for secret in secrets)
    }


def passwords(url: str | None) -> set[str]:
    """The password of ``url`` (user part or a ``password``/``passwd`` query key), as written
    and percent-decoded; none for a URL without one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url:
        return set()
    found = set(re.findall(r"://[^/:@]*:([^/]+)@", url))
    found |= set(re.findall(r"[?&](?:password|passwd)=([^&#]+)", url, flags=re.IGNORECASE))
    try:  # as SQLAlchemy reads it: up to the last @, a / included ("u:abc/def@host")
        found.add(str(make_url(url).password or ""))
    except (ArgumentError, ValueError):
        pass
    return {form for password in found for form in (password, unquote(password)) if form and form != "***"}


def _quotes(value: str, secret: str) -> bool:
    """Whether ``value`` is ``secret``, or a URL or query that holds it as its password."""
    return value == secret or f":{secret}@" in value or f"={secret}" in value


def _read_pipe(fd: str | None) -> dict[str, str]:
    """The store URLs on the pipe ``fd`` names; none, with a note, where it names no pipe this
    process inherited (a stray variable must neither stop a command nor block it on stdin)."""
    if fd is None:
        return {}
    try:
        number = int(fd)
        if number <= 2 or not stat.S_ISFIFO(os.fstat(number).st_mode):
            raise ValueError("not a pipe")
        with os.fdopen(number) as pipe:
            urls = json.load(pipe)
        return {name: url for name, url in urls.items() if name in _NAMES and isinstance(url, str)}
    except (OSError, ValueError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        print(f"note: {FD_ENV}={fd!r} ignored: it names no store pipe of this process ({exc})", file=sys.stderr)
        return {}
