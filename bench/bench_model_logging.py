"""What a logged model costs: logging a trial's model to MLflow, and loading it on another machine.

For two models of the sizes a digits search trains (the LeNet classic and the VGG classic
on 8x8x1 images, wrapped with the study's normalisation as a trial wraps them), it times
``automl._models.log_model`` (inference copy, MLflow Model folder with signature, input
example and requirements, upload, READY, link to the run) and ``load_model`` twice: from a
cold cache (download, then load) and from the warm cache (load only). For scale: saving the
same model as a plain ``.keras`` file (all a trial did before its model went to MLflow). Two stores: the local
SQLite one (``mlruns/``, artifacts on this disk) and an ``mlflow server --serve-artifacts``
on 127.0.0.1 (artifacts go through HTTP, as on many machines). Each figure is the median of
``--repeats`` runs after one warm-up; "log first" is that warm-up (the first logging of a
process also imports MLflow's model code).

Run: ``python bench/bench_model_logging.py`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import _common

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # as the automl command sets it


@contextmanager
def _proxy_server(folder: Path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'server.db'}"]
    command += ["--serve-artifacts", "--artifacts-destination", str(folder / "server-artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the MLflow server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _seconds(action: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> list[float]:
    """Seconds of ``repeats + 1`` calls of ``action``: the first (a warm-up) and the others."""
    times = []
    for _ in range(repeats + 1):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def _median_seconds(action: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> float:
    return statistics.median(_seconds(action, repeats, before)[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    _common.print_provenance(0)

    import numpy as np

    import searchspace
    from automl._bundle import save_inference_model
    from automl._models import load_model, log_model
    from automl._tracking import Tracker
    from automl._training import wrap_with_normalization

    shape, example = (8, 8, 1), np.zeros((2, 8, 8, 1), "float32")
    models = {}
    for name in ("lenet", "vgg"):
        core = searchspace.build_model(searchspace.classic(name, shape, 10), input_shape=shape, num_classes=10)
        models[name] = wrap_with_normalization(core, shape, [0.0], [1.0])
    rows = []
    with _common.study_home("logging") as home, tempfile.TemporaryDirectory() as server_folder:
        with _proxy_server(Path(server_folder)) as url:
            for store, uri in (("local sqlite", None), ("proxied server", url)):
                tracker = Tracker(uri, "bench-logging")
                run_id = tracker.open_parent("bench-logging", None)
                for name, model in models.items():
                    size = model.count_params()
                    copies = []

                    def log(model=model, tracker=tracker, run_id=run_id, copies=copies) -> None:
                        copies.append(
                            log_model(
                                tracker,
                                model,
                                run_id=run_id,
                                name="bench",
                                example=example,
                                class_names=[str(i) for i in range(10)],
                                params={},
                                tags={},
                            )
                        )

                    first_s, *others = _seconds(log, args.repeats)
                    plain = home / "plain.keras"
                    save_s = _median_seconds(lambda m=model, p=plain: save_inference_model(m, p), args.repeats)
                    uri_of = copies[-1].uri

                    def load(tracker=tracker, uri_of=uri_of) -> None:
                        load_model(tracker, uri_of)

                    forget = lambda: shutil.rmtree(home / "models", ignore_errors=True)  # noqa: E731
                    cold_s = _median_seconds(load, args.repeats, before=forget)
                    warm_s = _median_seconds(load, args.repeats)
                    row = (store, name, f"{size:,}", save_s, first_s, statistics.median(others), cold_s, warm_s)
                    rows.append(row)
                tracker.close_parent("FINISHED")
    header = ("store", "model", "params", "save .keras s", "log first s", "log_model s", "load cold s", "load cached s")
    print(_common.format_table(header, rows))


if __name__ == "__main__":
    main()
