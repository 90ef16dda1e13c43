"""``automl ui``: the MLflow UI on the project's store, bound to 127.0.0.1."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from automl._handoff import TRACKING_URI_ENV, from_env, without_passwords
from automl.cli._common import add_parser

EXAMPLES = """
  automl ui                        # http://127.0.0.1:5000 on mlruns/mlflow.db
  automl ui --port 5050
  MLFLOW_SERVER_ALLOWED_HOSTS="db-host:5000,localhost:*" \\
      automl ui --serve --host 0.0.0.0 --port 5000   # a tracking server for workers on other hosts

MLflow answers only requests addressed to this machine by a name it allows (DNS-rebinding
protection): workers reach a server on db-host once MLFLOW_SERVER_ALLOWED_HOSTS names it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(
        subparsers, "ui", "Open the MLflow UI (or serve a tracking server) on the study store.", EXAMPLES
    )
    parser.add_argument(
        "--tracking-uri",
        default=from_env(TRACKING_URI_ENV),
        help="backend store (default: $AUTOML_TRACKING_URI, else sqlite:///mlruns/mlflow.db)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1 only)")
    parser.add_argument("--port", type=_port, default=5000, help="port (default 5000)")
    parser.add_argument(
        "--serve", action="store_true", help="run as a tracking server that workers log to (serves artifacts too)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    """A TCP port, 1-65535, or argparse's one-line error quoting ``text``."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {text!r}")
    return port


def server_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The MLflow server's command line and the environment variables it needs (nothing is
    created: ``--dry-run`` prints them).

    The backend store goes in ``MLFLOW_BACKEND_STORE_URI``, not on the command line, which
    any local user can read with ``ps`` (the URL may hold a database password).
    """
    from automl._stores import artifact_root, default_tracking_uri, mlruns_dir, normalize_url

    store = normalize_url(args.tracking_uri or default_tracking_uri())
    command = [sys.executable, "-m", "mlflow", "server" if args.serve else "ui"]
    command += ["--host", args.host, "--port", str(args.port)]
    if args.serve:
        command += ["--artifacts-destination", str((mlruns_dir() / "artifacts").resolve()), "--serve-artifacts"]
    else:
        command += ["--default-artifact-root", artifact_root(create=False)]
    return command, {"MLFLOW_BACKEND_STORE_URI": store}


def _prepare_store(args: argparse.Namespace, store: str) -> None:
    """Make what the server writes to: a tracking server (``--serve``) may start on a new
    store; the UI browses runs, and a SQLite file that is not there (a folder without a
    search, a mistyped path) is refused rather than opened new and empty."""
    from automl._stores import STORE_NAMES, artifact_root, ensure_sqlite_folder, refuse_missing

    if args.serve:
        ensure_sqlite_folder(store)
        return
    refuse_missing(store, STORE_NAMES["mlflow"])
    artifact_root()


def run(args: argparse.Namespace) -> int:
    from automl._stores import STORE_NAMES, check_reachable, default_tracking_uri, redact

    _refuse_a_server_as_store(args.tracking_uri)
    _refuse_a_path(args.tracking_uri or default_tracking_uri())
    local = args.host in ("127.0.0.1", "localhost", "::1")
    if not local:
        print(
            f"warning: binding to {args.host} exposes the MLflow server (no authentication) to the network",
            file=sys.stderr,
        )
        if not os.environ.get("MLFLOW_SERVER_ALLOWED_HOSTS"):
            print(
                "note: MLflow answers only requests addressed to this machine as localhost; for workers on other "
                f'hosts, set MLFLOW_SERVER_ALLOWED_HOSTS="{socket.gethostname()}:{args.port},localhost:*"',
                file=sys.stderr,
            )
    command, server_env = server_command(args)
    store = server_env["MLFLOW_BACKEND_STORE_URI"]
    if args.dry_run:
        print(" ".join(shlex.quote(part) for part in [*(f"{k}={redact(v)}" for k, v in server_env.items()), *command]))
        return 0
    _prepare_store(args, store)
    _check_port_free(args.host, args.port)
    check_reachable(args.tracking_uri or default_tracking_uri(), STORE_NAMES["mlflow"])
    where = f"http://{args.host}:{args.port}" if local else f"http://{socket.gethostname()}:{args.port}"
    print(f"MLflow {'tracking server' if args.serve else 'UI'} at {where}  (Ctrl-C to stop)", flush=True)
    env = {"MLFLOW_ALLOW_FILE_STORE": "false", **without_passwords(os.environ, store), **server_env}
    with password_file(store) as (url, password_env):
        return serve(command, {**env, "MLFLOW_BACKEND_STORE_URI": url, **password_env})


@contextlib.contextmanager
def password_file(store: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A PostgreSQL ``store`` without its password, and the environment that hands the
    password to the server's database client (libpq) instead: ``PGPASSFILE``, a file only this
    user can read, deleted when the block ends. Other stores are yielded as they are.

    MLflow's server passes its store URL on to its web workers in their environment, where
    the user's other processes could read the password (``automl._handoff``).
    """
    from sqlalchemy.engine import URL, make_url

    url = make_url(store)
    given = url.query.get("password")
    password = url.password or (given[0] if isinstance(given, tuple) else given)
    if url.get_backend_name() != "postgresql" or not isinstance(password, str) or not password:
        yield store, {}
        return
    without = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    bare = without.difference_update_query(["password"]).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="automl-ui-") as folder:  # mode 0700
        path = Path(folder) / "pgpass"
        escaped = password.replace("\\", "\\\\").replace(":", "\\:")
        path.touch(mode=0o600)  # libpq ignores a password file others can read
        path.write_text(f"*:*:*:*:{escaped}\n")
        yield bare, {"PGPASSFILE": str(path)}


def _refuse_a_path(tracking_uri: str) -> None:
    """A store named by a path, not a URL: MLflow took it for its retired file store and
    failed with a traceback after the banner."""
    from automl._errors import UserError

    if "://" not in tracking_uri:
        raise UserError(
            f"the tracking store must be a URL, got {tracking_uri!r}; a SQLite file is 'sqlite:///{tracking_uri}'"
        )


def _refuse_a_server_as_store(tracking_uri: str | None) -> None:
    """A tracking URI that is a server already (``AUTOML_TRACKING_URI`` of a worker) has its
    own UI: MLflow cannot serve a server, and failed with a 30-line traceback."""
    from automl._errors import UserError
    from automl._stores import redact

    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        raise UserError(
            f"the tracking store {redact(tracking_uri)!r} is a tracking server already: open it in a browser, or "
            "give --tracking-uri the database it serves"
        )


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port that cannot be bound (in use: the UI there may be another project's),
    before the server is announced: MLflow printed the error and exited 0."""
    from automl._errors import UserError

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UserError(f"cannot listen on {host}:{port} ({reason}); pick another --port") from None


def serve(command: list[str], env: dict[str, str]) -> int:
    """Run the server in its own process group until it exits or we get SIGINT or SIGTERM.

    The MLflow server starts web workers and job runners of its own; the signal goes to
    the whole group, so none of them is left listening on the port.
    """
    server = subprocess.Popen(command, env=env, start_new_session=True)
    stop = {"signal": 0}

    def forward(signum: int, frame: object) -> None:
        stop["signal"] = signum
        _signal_group(server.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_group(server)
    return 0 if stop["signal"] else code


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _stop_group(server: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Whatever of the server's group outlives it gets SIGTERM, then SIGKILL after ``grace_s``."""
    import time

    _signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    _signal_group(server.pid, signal.SIGKILL)
