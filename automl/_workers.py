"""Worker processes: the ``automl worker`` command that joins a study, and local pools of them.

``automl search --workers N`` (which runs N - 1 of them beside itself) and ``--isolate``
start the same command a worker on another machine runs, so one code path serves one host
and many.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping

from automl._budget import Plan
from automl._config import StudyConfig
from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV, from_env, popen
from automl._recycle import HELPER_ENV, OUTGROWN_EXIT
from automl._settings import runtime_settings
from automl._stores import redact

__all__ = ["worker_command", "start_worker", "join_command", "local_workers", "wait_passing_on_interrupts"]


def worker_command(config: StudyConfig, *, timeout: float | None = None) -> list[str]:
    """The ``automl worker`` command line that joins ``config``'s study, with its limits:
    ``timeout`` (default ``config.timeout``) and its failures in a row.

    The stores travel on a pipe (``start_worker``), not on the command line, which any
    local user can read.
    """
    command = [sys.executable, "-m", "automl", "worker", "--study", config.study_name]
    command += ["--max-consecutive-failures", str(config.max_consecutive_failures)]
    timeout = config.timeout if timeout is None else timeout
    command += ["--timeout", f"{timeout:.1f}"] if timeout else []
    return command + (["--backend", config.backend] if config.backend else [])


def start_worker(config: StudyConfig, command: list[str], env: Mapping[str, str]) -> subprocess.Popen:
    """Start ``command`` (a ``worker_command``) in this environment with the runtime settings
    and ``env``; its stores travel on a pipe (``automl._handoff``), never in sight of others."""
    stores = {STORAGE_ENV: config.storage, TRACKING_URI_ENV: config.tracking_uri}
    return popen(command, stores=stores, env={**os.environ, **runtime_settings().to_env(), **env})


def join_command(config: StudyConfig) -> str:
    """The ``automl worker`` command a user runs elsewhere to join, with passwords masked.

    A store this process took from its environment variable is left to the same variable
    there (said in a comment); one with a password is set in the variable on the command's
    left, as the README advises (a command line is visible to every user of the machine).
    """
    assigned, command, inherited = [], ["automl", "worker", "--study", config.study_name], []
    for flag, env, url in (
        ("--storage", STORAGE_ENV, config.storage),
        ("--tracking-uri", TRACKING_URI_ENV, config.tracking_uri),
    ):
        if not url:
            continue
        masked = redact(url)
        if from_env(env) == url:
            inherited.append(env)
        elif masked != url:
            assigned.append(f"{env}={shlex.quote(masked)}")
        else:
            command += [flag, shlex.quote(url)]
    if config.backend:
        command += ["--backend", config.backend]
    comment = f"  # with {' and '.join(inherited)} set as here" if inherited else ""
    return " ".join(assigned + command) + comment


@contextlib.contextmanager
def local_workers(config: StudyConfig, count: int, plan: Plan) -> Iterator[list[int]]:
    """Run ``count`` quiet workers of ``config``'s study beside this process, which runs
    trials of its own inside the block; the list it yields holds their exit codes after it.

    The workers run to the end of the queue or of the ``plan``'s search time; one that grows
    past its memory limit is replaced (``_Helpers``). The block's end waits for them; an
    exception in it (Ctrl-C, a SIGTERM, failures in a row) is passed on to each as a SIGTERM,
    which it takes as Ctrl-C even where SIGINT is ignored (a background job): it fails its
    running trial and exits.
    """
    codes: list[int] = []
    if count < 1:
        yield codes
        return
    helpers = _Helpers(config, plan, count)
    try:
        yield codes
    except BaseException:
        helpers.stop()
        raise
    codes.extend(helpers.wait())


class _Helpers:
    """A search's ``--workers`` helpers. One that stopped past its memory limit (TensorFlow keeps
    part of every model it trained: ``automl._recycle``), exiting with ``OUTGROWN_EXIT``, is
    replaced by a fresh one, by a thread that watches them while this process runs trials."""

    def __init__(self, config: StudyConfig, plan: Plan, count: int) -> None:
        self._start = functools.partial(
            start_worker, config, worker_command(config) + ["--quiet"], {**plan.to_env(), HELPER_ENV: "1"}
        )
        self._lock = threading.Lock()
        self._stopping = False
        self.children = [self._start() for _ in range(count)]
        self._unreplaced: set[int] = set()  # places of outgrown helpers no process could replace
        self._watcher = threading.Thread(target=self._replace_outgrown, name="automl-helpers", daemon=True)
        self._watcher.start()

    def _replace_outgrown(self) -> None:
        """Replace each helper that outgrew its memory, until all have ended or ``stop``."""
        while True:
            with self._lock:
                if self._stopping:
                    return
                for i, child in enumerate(self.children):
                    if child.poll() == OUTGROWN_EXIT and i not in self._unreplaced:
                        self._replace(i, child)
                if all(self._ended(i) for i in range(len(self.children))):
                    return  # one outgrown since it was looked at is replaced first
            time.sleep(_WATCH_S)

    def _replace(self, i: int, child: subprocess.Popen) -> None:
        """Start a fresh helper in the place of ``child``, which outgrew its memory; if none
        starts (no memory or processes left), the others run its trials."""
        try:
            self.children[i] = self._start()
        except OSError as exc:
            self._unreplaced.add(i)
            print(
                f"note: worker process {child.pid} grew past its memory limit, and no process could "
                f"be started in its place ({exc}); the other processes run its trials",
                file=sys.stderr,
            )
            return
        print(
            f"note: worker process {child.pid} grew past its memory limit; "
            f"process {self.children[i].pid} runs trials in its place",
            file=sys.stderr,
        )

    def _ended(self, i: int) -> bool:
        """Whether the ``i``-th helper is done: it ended, and is not to be replaced."""
        code = self.children[i].poll()
        return code is not None and (code != OUTGROWN_EXIT or i in self._unreplaced)

    def stop(self) -> None:
        """Pass an interrupt on to the helpers (``_stop``); none is started after it."""
        with self._lock:
            self._stopping = True
        _stop(self.children)

    def wait(self) -> list[int]:
        """The helpers' exit codes, once all have ended (an outgrown one's successor's; 0 for
        one no process could replace); an interrupt meanwhile is passed on to them, and raised
        again."""
        try:
            self._watcher.join()
        except KeyboardInterrupt:
            self.stop()
            raise
        return [0 if i in self._unreplaced else child.wait() for i, child in enumerate(self.children)]


# How often the helpers are looked at: a second's wait before a replacement, after the
# seconds of its own start.
_WATCH_S = 1.0


# How long a child process has, after its SIGTERM, to fail its trial and exit before it is
# killed (a second or two on a busy 2-core CPU; Docker gives 10 s, systemd 90 s). Its trial,
# left RUNNING, is failed and queued again by the search that started it.
STOP_GRACE_S = 30.0


def _stop(children: list[subprocess.Popen], *, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each live child, then wait for them, killing any still there after ``grace_s``:
    a child that hangs must not keep an interrupted search from ending."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(
                f"note: process {child.pid} had not stopped {grace_s:.0f} s after its SIGTERM: killed "
                "(its trial is failed and queued again)",
                file=sys.stderr,
            )
            child.kill()
            child.wait()


def wait_passing_on_interrupts(children: list[subprocess.Popen]) -> list[int]:
    """The exit codes of ``children``. An interrupt here is passed on to each as a SIGTERM
    (which the CLI takes as Ctrl-C, even where SIGINT is ignored; a SIGTERM to this process
    does not reach its children as a terminal's Ctrl-C does), waited for, and raised again."""
    try:
        return [child.wait() for child in children]
    except KeyboardInterrupt:
        _stop(children)
        raise
