"""The ``automl`` command line: one module per subcommand, registered by name.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` (a function taking the parsed ``argparse.Namespace`` and returning an
exit code). Heavy imports (Keras, MLflow) happen inside handlers so that ``--help``
stays instant.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Sequence

from automl._handoff import STORAGE_ENV, TRACKING_URI_ENV, from_env, urls_in_memory
from automl._interrupts import interrupts_as_ctrl_c, raise_if_interrupted, stopped_by

# When the command started: a time budget (``search --time-budget``) counts from here.
STARTED = time.monotonic()

__all__ = ["main", "run", "build_parser", "COMMANDS"]

# Subcommand name -> module (relative to this package) that registers it.
COMMANDS: dict[str, str] = {
    "search": "._search",
    "status": "._status",
    "studies": "._studies",
    "compare": "._compare",
    "export": "._export",
    "predict": "._predict",
    "ui": "._ui",
    "space": "._space",
    "data": "._data",
    "worker": "._worker",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl",
        description="Search CNN architectures and hyperparameters for image classification.",
        epilog="Run 'automl COMMAND --help' for the options and examples of each command.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name, __name__).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``automl`` console script; returns the process exit code."""
    from automl._console import quiet_console

    with urls_in_memory():  # no store URL (nor its password) in the environment of what it starts
        parser = build_parser()
        args = parser.parse_args(_negative_values_joined(sys.argv[1:] if argv is None else list(argv)))
        if args.command is None:
            parser.print_help()
            return 2
        quiet_console(verbose=getattr(args, "verbose", False))
        with interrupts_as_ctrl_c():  # SIGTERM as Ctrl-C; an interrupt Python lost is raised again
            return _handled(args)


def _handled(args: argparse.Namespace) -> int:
    """Run ``args``' command: its exit code, with its errors said as the command line says them."""
    from automl._console import import_keras_quietly
    from automl._errors import USER_ERRORS

    try:
        if getattr(args, "uses_keras", False):  # search and worker import it once the backend is chosen
            import_keras_quietly(verbose=False)
        code = int(args.handler(args) or 0)
        raise_if_interrupted()  # one lost in a finalizer after the command's last look for it
        return code
    except USER_ERRORS as exc:
        print(f"automl {args.command}: error: {_scrubbed(str(exc), args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"automl {args.command}: interrupted", file=sys.stderr)
        return 128 + (stopped_by() or signal.SIGINT)  # 130 after a Ctrl-C, 143 after a SIGTERM, as a shell says
    except BrokenPipeError:  # e.g. `automl space sample --n 100 | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a library's failure (a store gone mid-search) or a bug: its traceback,
        # as Python prints it, but with passwords masked: MLflow's errors quote the server's URL
        print(_scrubbed("".join(traceback.format_exception(exc)), args), file=sys.stderr, end="")
        return 1


# Options whose value may be written as a negative duration (``-5s``), which argparse takes
# for an option of its own: "expected one argument", where the value's own check says why.
_DURATION_OPTIONS = frozenset({"--time-budget"})


def _negative_values_joined(argv: list[str]) -> list[str]:
    """``argv`` with ``--time-budget -5s`` written ``--time-budget=-5s``, so that the value is
    read, and refused with its reason."""
    joined: list[str] = []
    for token in argv:
        if joined and joined[-1] in _DURATION_OPTIONS and re.match(r"-\d", token):
            joined[-1] = f"{joined[-1]}={token}"
        else:
            joined.append(token)
    return joined


def _scrubbed(message: str, args: argparse.Namespace) -> str:
    """``message`` with the passwords of the store URLs this command was given (options or
    environment) masked: a last guard for a library's error that quotes a URL."""
    from automl._stores import scrub

    urls = [getattr(args, "storage", None), getattr(args, "tracking_uri", None)]
    return scrub(message, *urls, from_env(STORAGE_ENV), from_env(TRACKING_URI_ENV))


def run() -> None:
    """The ``automl`` console script and ``python -m automl``: ``main``, then a quick exit.

    The exit handlers run (MLflow's, the worker pools'), the output is flushed, and the
    process ends without tearing the interpreter down object by object: after a study, freeing
    its trials' models and compiled graphs took 3-5 s (16 trials on a 2-core CPU; longer with
    more trials), past a ``--time-budget`` that had ended the work in time (bench/RESULTS.md,
    "The interpreter's exit"). An exception that escapes ``main`` exits as usual.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader left (a closed pipe) or the stream is closed
            pass
    os._exit(code)
