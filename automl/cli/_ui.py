"""``automl ui``: the MLflow UI on the project's store, bound to 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from automl.cli._common import add_parser

EXAMPLES = """
  automl ui                        # http://127.0.0.1:5000 on mlruns/mlflow.db
  automl ui --port 5050
  automl ui --serve --host 0.0.0.0 --port 5000   # a tracking server for many workers
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_parser(
        subparsers, "ui", "Open the MLflow UI (or serve a tracking server) on the study store.", EXAMPLES
    )
    parser.add_argument("--tracking-uri", default=None, help="backend store (default sqlite:///mlruns/mlflow.db)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1 only)")
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    parser.add_argument(
        "--serve", action="store_true", help="run as a tracking server that workers log to (serves artifacts too)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.set_defaults(handler=run)


def server_command(args: argparse.Namespace) -> list[str]:
    from automl._stores import artifact_root, default_tracking_uri, mlruns_dir

    store = args.tracking_uri or default_tracking_uri()
    command = [sys.executable, "-m", "mlflow", "server" if args.serve else "ui"]
    command += ["--backend-store-uri", store, "--host", args.host, "--port", str(args.port)]
    if args.serve:
        command += ["--artifacts-destination", str((mlruns_dir() / "artifacts").resolve()), "--serve-artifacts"]
    else:
        command += ["--default-artifact-root", artifact_root()]
    return command


def run(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: binding to {args.host} exposes the MLflow server (no authentication) to the network",
            file=sys.stderr,
        )
    command = server_command(args)
    if args.dry_run:
        print(" ".join(command))
        return 0
    print(
        f"MLflow {'tracking server' if args.serve else 'UI'} at http://{args.host}:{args.port}  (Ctrl-C to stop)",
        flush=True,
    )
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": os.environ.get("MLFLOW_ALLOW_FILE_STORE", "false")}
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0
