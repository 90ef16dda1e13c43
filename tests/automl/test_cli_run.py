"""The console script's exit (``automl.cli.run``): exit handlers and output kept, teardown skipped."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.automl.helpers import cli_env

# A stand-in ``main`` whose output is still buffered when it returns (stdout is a pipe), an
# exit handler, and an object whose finaliser runs only when the interpreter is torn down.
_SCRIPT = textwrap.dedent(
    """
    import atexit
    import automl.cli as cli

    class Teardown:
        def __del__(self):
            print("torn down", flush=True)

    kept = Teardown()
    atexit.register(lambda: print("exit handler", flush=True))

    def main():
        print("output of main;", end=" ")
        return 3

    cli.main = main
    cli.run()
    print("after run")
    """
)


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script], env=cli_env(), capture_output=True, text=True, timeout=120, check=False
    )


def test_run_exits_with_mains_code_after_the_exit_handlers_and_the_buffered_output():
    done = _run(_SCRIPT)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "output of main; exit handler\n"  # flushed, and nothing after run()


def test_the_same_script_exiting_normally_tears_the_interpreter_down():
    # The contrast that makes the test above mean something: a normal exit runs the finaliser.
    done = _run(_SCRIPT.replace("cli.run()", "import sys; sys.exit(cli.main())"))
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith("output of main; exit handler\n") and "torn down" in done.stdout


def test_an_exception_escaping_main_exits_as_usual():
    done = _run(_SCRIPT.replace('print("output of main;", end=" ")', 'raise RuntimeError("boom")'))
    assert done.returncode == 1
    assert "RuntimeError: boom" in done.stderr and "exit handler" in done.stdout
