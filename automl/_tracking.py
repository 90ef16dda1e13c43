"""MLflow tracking, written by us: one parent run per study, one nested run per trial.

We use ``MlflowClient`` with explicit run ids rather than the fluent ``mlflow.start_run``
stack, so that several workers (threads or processes) can log trials under the same
parent run, and a resumed study reopens its parent run instead of starting another.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl._errors import UserError
from automl._stores import (
    STORE_NAMES,
    artifact_root,
    default_tracking_uri,
    ensure_sqlite_folder,
    normalize_url,
    redact,
    refuse_missing,
    scrub,
    sqlite_file,
    store_lock,
)

__all__ = ["Tracker", "TrialRun", "flatten_params", "TRIAL_TAG", "MODELS_SCHEME"]

TRIAL_TAG = "optuna.trial_number"
STUDY_TAG = "optuna.study_name"
PARENT_TAG = "mlflow.parentRunId"
MAX_PARAM_LENGTH = 6000
MODELS_SCHEME = "models:/"


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to ``a.b.c`` keys with readable string values."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


@dataclass
class TrialRun:
    """A nested MLflow run for one trial; metrics are buffered and logged in batches.

    ``params`` are the parameters logged so far (a logged model of the run carries them
    too); once ``link_model`` gives the run's logged model, the metrics flushed are linked
    to it, starting with the latest value of each one flushed before.
    """

    tracker: Tracker
    run_id: str
    params: dict[str, str] = field(default_factory=dict)
    model_id: str | None = None
    _metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    # The latest value of each metric flushed before the model was linked, by key.
    _latest: dict[str, tuple[str, float, int, int]] = field(default_factory=dict)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten_params(params)
        self.params.update(flat)
        items = [Param(k, v) for k, v in sorted(flat.items())]
        for start in range(0, len(items), 100):
            self.tracker._client.log_batch(self.run_id, params=items[start : start + 100])

    def add_metric(self, key: str, value: float, step: int = 0) -> None:
        """Buffer a metric; ``flush`` sends the buffer in one request."""
        if value is None or not math.isfinite(float(value)):
            value = float("nan")
        self._metrics.append((key, float(value), int(time.time() * 1000), step))

    def flush(self) -> None:
        """Send the buffered metrics (a trial flushes after each epoch, so the MLflow UI
        follows it as it trains, and a killed process loses no epoch it finished)."""
        from mlflow.entities import Metric

        metrics = [Metric(*metric, model_id=self.model_id) for metric in self._metrics]
        for start in range(0, len(metrics), 500):
            self.tracker._client.log_batch(self.run_id, metrics=metrics[start : start + 500])
        if self.model_id is None:
            self._latest.update((metric[0], metric) for metric in self._metrics)
        self._metrics.clear()

    def link_model(self, model_id: str) -> None:
        """Link the metrics flushed from now on to the run's logged model ``model_id``, and
        each metric's latest value so far (its last epoch's) again, so the model has them."""
        self.model_id = model_id
        self._metrics[:0] = self._latest.values()
        self._latest.clear()

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.tracker._client.log_batch(self.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_text(self, text: str, name: str) -> None:
        self.tracker._client.log_text(self.run_id, text, name)

    def end(self, status: str) -> None:
        """Flush buffered metrics and close the run as FINISHED, FAILED or KILLED."""
        self.flush()
        self.tracker._client.set_terminated(self.run_id, status=status)


def _one_line(error: object, *urls: str | None) -> str:
    """``error``'s text (an MLflow or connection error) on one line, at most 300 characters,
    with any URL's password masked (``scrub``)."""
    return scrub(" ".join(str(error).split())[:300], *urls)


def _refuse_read_only(uri: str) -> None:
    """A SQLite store we cannot write fails on the first write, deep in MLflow: say so up front.

    A file without write permission bits counts as read-only even for root, who could
    write it: the user marked it so.
    """
    if (path := sqlite_file(uri)) is None:
        return
    for target in (path, path.parent):
        if target.exists() and not _writable(target):
            raise UserError(f"the MLflow tracking store {str(target)!r} is read-only; a search needs to write to it")


def _writable(path: Path) -> bool:
    import os
    import stat

    return os.access(path, os.W_OK) and bool(path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# How long a tracking server may take to answer at all before a command gives up on it (a
# worker may start beside a server that is still starting). MLflow's own retries of an
# unreachable server took over 200 s before its first error.
SERVER_WAIT_S = 10.0


def _set_tracking_uri(mlflow: Any, uri: str) -> None:
    """``mlflow.set_tracking_uri``, without the copy of ``uri`` it leaves in
    ``MLFLOW_TRACKING_URI`` "so that subprocess can inherit it": the URI may hold a password
    (``automl._handoff``), and this project's processes get their stores otherwise."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


def _reach_server(uri: str) -> None:
    """Check that the tracking server at the http(s) ``uri`` answers, within ``SERVER_WAIT_S``.

    Any answer counts (MLflow's ``/health``, or a proxy's error page): only a server that
    cannot be reached is refused here; the store's own errors come from MLflow.

    Raises:
        UserError: no answer, quoting the URL with its password masked and the last reason.
    """
    import requests

    if not uri.startswith(("http://", "https://")):
        return
    deadline = time.monotonic() + SERVER_WAIT_S
    while True:
        left = deadline - time.monotonic()
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=max(min(left, 5.0), 0.5))
            return
        except requests.RequestException as exc:
            if time.monotonic() + 1.0 >= deadline:
                reason = _one_line(exc, uri)
                raise UserError(
                    f"cannot reach the MLflow tracking server {redact(uri)!r} (no answer in {SERVER_WAIT_S:g} s: "
                    f"{reason}); start it (automl ui --serve) or give another --tracking-uri"
                ) from None
            time.sleep(1.0)


class Tracker:
    """The study's MLflow experiment and parent run."""

    def __init__(self, tracking_uri: str | None, experiment_name: str | None, *, create: bool = True) -> None:
        """Open the tracking store and the experiment ``experiment_name`` (created if absent,
        unless not ``create``: a study that has its runs somewhere); ``None`` opens no
        experiment, for a tracker that only reads models.

        Raises:
            UserError: the store cannot be opened or written (e.g. a read-only ``mlflow.db``),
                or, without ``create``, it or the experiment does not exist (a mistyped
                ``--tracking-uri`` was given an empty experiment, or a database file, before
                the refusal).
        """
        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        # MLflow's client prints "View run ... at: <server URL>" as each run ends on a tracking
        # server, the URL's password included; the search prints its own line for the UI.
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
        url = normalize_url(tracking_uri or default_tracking_uri())
        if not create:
            refuse_missing(url, STORE_NAMES["mlflow"])
        self.tracking_uri = ensure_sqlite_folder(url)
        _refuse_read_only(self.tracking_uri)
        _reach_server(self.tracking_uri)
        _set_tracking_uri(mlflow, self.tracking_uri)
        try:
            # Processes started together must not both create the store's tables (the client
            # creates them) or the experiment.
            with store_lock(self.tracking_uri, purpose="mlflow"):
                self._client = MlflowClient(tracking_uri=self.tracking_uri)
                self._experiment_id = self._experiment(experiment_name, create) if experiment_name else None
        except MlflowException as exc:
            reason = _one_line(exc.message, tracking_uri, self.tracking_uri)
            raise UserError(f"cannot open the MLflow tracking store {redact(self.tracking_uri)!r}: {reason}") from None
        except ImportError as exc:  # a database URL whose driver is not installed (mysql://)
            reason = scrub(str(exc), tracking_uri, self.tracking_uri)
            raise UserError(
                f"no database driver for the MLflow tracking store {redact(self.tracking_uri)!r}: {reason}"
            ) from None
        self.parent_run_id: str | None = None

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            raise RuntimeError("this tracker was opened without an experiment: it only reads models")
        return self._experiment_id

    def _experiment(self, name: str, create: bool) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self._client.get_experiment_by_name(name)
        if experiment is None and not create:
            raise UserError(
                f"the MLflow store {redact(self.tracking_uri)!r} does not hold the runs of study {name!r} (no "
                "experiment of that name): give the study's tracking store (--tracking-uri or AUTOML_TRACKING_URI)"
            )
        if experiment is not None and experiment.lifecycle_stage == "deleted":
            number = experiment.experiment_id
            raise UserError(
                f"the study's MLflow experiment {name!r} (id {number}) is deleted (e.g. in the MLflow UI): "
                f"restore it to go on with the study (MLFLOW_TRACKING_URI={redact(self.tracking_uri)} "
                f"mlflow experiments restore --experiment-id {number}), or delete the study to start afresh "
                f"(automl studies --delete {name} --yes)"
            )
        if experiment is not None:
            return str(experiment.experiment_id)
        location = artifact_root() if self._is_local() else None
        try:
            return str(self._client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:  # created meanwhile by a process on another host
            experiment = self._client.get_experiment_by_name(name)
            if experiment is None:
                raise exc from None
            return str(experiment.experiment_id)

    def retire_experiment(self, name: str) -> tuple[str, str] | None:
        """Move the experiment ``name`` to MLflow's trash under a dated name, so that a new
        study can take the name; returns its id and new name (None if there is none).

        An experiment already in the trash (deleted in the MLflow UI) is renamed there too.
        """
        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            return None
        number = str(experiment.experiment_id)
        if experiment.lifecycle_stage == "deleted":  # MLflow renames active experiments only
            self._client.restore_experiment(number)
        retired = f"{name}.deleted-{time.strftime('%Y%m%dT%H%M%S')}-{number}"  # unique: the id is
        self._client.rename_experiment(number, retired)
        self._client.delete_experiment(number)
        return number, retired

    def _is_local(self) -> bool:
        return self.tracking_uri.startswith(("sqlite:", "file:", "/")) or "://" not in self.tracking_uri

    def open_parent(self, study_name: str, run_id: str | None) -> str:
        """Reopen the study's parent run ``run_id``, or create one; returns its id.

        Raises:
            UserError: the parent run was deleted (in the MLflow UI), with how to restore it,
                or this store does not hold it.
        """
        if run_id is not None:
            self._check_holds(study_name, run_id)
            self._client.update_run(run_id, status="RUNNING")
            self.parent_run_id = run_id
        else:
            run = self._client.create_run(self.experiment_id, run_name=study_name, tags={STUDY_TAG: study_name})
            self.parent_run_id = run.info.run_id
        return self.parent_run_id

    def attach_parent(self, study_name: str, run_id: str) -> None:
        """Log trials under an existing parent run without changing its state (workers,
        ``automl compare`` and ``automl export``).

        Raises:
            UserError: this store does not hold the run (a worker given another store), or
                the run is deleted (in the MLflow UI), with how to restore it.
        """
        self._check_holds(study_name, run_id)
        self.parent_run_id = run_id

    def _check_holds(self, study_name: str, run_id: str) -> None:
        """Refuse a store without study ``study_name``'s parent run ``run_id``: its trials would
        be logged apart from the study's, and their models found by no other process; and the
        run deleted, where nothing can be logged."""
        run = self._find_run(run_id)
        if run is None:
            raise UserError(
                f"the MLflow store {redact(self.tracking_uri)!r} does not hold the runs of study {study_name!r} (its "
                f"parent run {run_id}): give the study's tracking store (--tracking-uri or AUTOML_TRACKING_URI)"
            )
        if run.info.lifecycle_stage == "deleted":
            raise UserError(
                f"the MLflow parent run of study {study_name!r} ({run_id}) is deleted (e.g. in the MLflow UI): "
                f"restore it to go on with the study (MLFLOW_TRACKING_URI={redact(self.tracking_uri)} "
                f"mlflow runs restore --run-id {run_id}), or delete the study to start afresh "
                f"(automl studies --delete {study_name} --yes)"
            )

    def start_trial(self, study_name: str, number: int) -> TrialRun:
        tags = {PARENT_TAG: self.parent_run_id, TRIAL_TAG: str(number), STUDY_TAG: study_name}
        run = self._client.create_run(self.experiment_id, run_name=f"trial-{number}", tags=tags)
        return TrialRun(self, run.info.run_id)

    def parent(self) -> TrialRun:
        """The parent run, with the same logging methods as a trial run."""
        if self.parent_run_id is None:
            raise RuntimeError("open_parent() must be called before parent()")
        return TrialRun(self, self.parent_run_id)

    def close_parent(self, status: str) -> None:
        """Close the study's parent run as FINISHED, FAILED or KILLED (a no-op before ``open_parent``)."""
        if self.parent_run_id is not None:
            self._client.set_terminated(self.parent_run_id, status=status)

    def close_parent_on_error(self, status: str) -> None:
        """``close_parent`` on the way out of an error, which may be that the store went away:
        failing too, it is one line on stderr, and the error being raised stays the one shown."""
        try:
            self.close_parent(status)
        except Exception as exc:
            reason = _one_line(exc, self.tracking_uri)
            print(
                f"automl: could not close the study's MLflow run as {status} ({redact(self.tracking_uri)}): {reason}",
                file=sys.stderr,
            )

    def has_run(self, run_id: str) -> bool:
        """Whether this store holds the run ``run_id`` (deleted or not)."""
        return self._find_run(run_id) is not None

    def _find_run(self, run_id: str) -> Any:
        """The run ``run_id`` of this store (an ``mlflow.entities.Run``, deleted or not), or None."""
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_run(run_id)
        except MlflowException:
            return None

    def run_status(self, run_id: str) -> str:
        return str(self._client.get_run(run_id).info.status)

    def close_run(self, run_id: str, status: str, *, tags: Mapping[str, str] | None = None) -> None:
        """Close any run of the experiment (e.g. one whose worker died), tagging it first."""
        for key, value in (tags or {}).items():
            self._client.set_tag(run_id, key, value)
        self._client.set_terminated(run_id, status=status)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        self._client.log_text(run_id, text, name)

    def set_model_alias(self, name: str, alias: str, version: str) -> None:
        self._client.set_registered_model_alias(name, alias, version)

    # --- logged models (MLflow 3): the files are written by ``automl._models`` ---

    def create_logged_model(
        self, run_id: str, name: str, *, params: Mapping[str, str], tags: Mapping[str, str]
    ) -> tuple[str, str]:
        """A PENDING logged model of this experiment, produced by run ``run_id``; returns its id
        and artifact location."""
        model = self._client.create_logged_model(
            self.experiment_id, name=name, source_run_id=run_id, params=dict(params), tags=dict(tags)
        )
        return model.model_id, model.artifact_location

    def upload_model(self, model_id: str, folder: Path) -> None:
        self._client.log_model_artifacts(model_id, str(folder))

    def finish_logged_model(self, model_id: str, run_id: str, *, step: int, ready: bool) -> None:
        """Mark the model READY and list it among the run's outputs at ``step``, or mark it FAILED."""
        from mlflow.entities import LoggedModelOutput

        self._client.finalize_logged_model(model_id, "READY" if ready else "FAILED")
        if ready:
            self._client.log_outputs(run_id, [LoggedModelOutput(model_id, step=step)])

    def download_model(self, model_id: str, folder: Path) -> None:
        """Download the files of logged model ``model_id`` into the existing folder ``folder``."""
        from mlflow.artifacts import download_artifacts

        uri = f"{MODELS_SCHEME}{model_id}"
        download_artifacts(artifact_uri=uri, dst_path=str(folder), tracking_uri=self.tracking_uri)

    def model_id_of(self, uri: str) -> str:
        """The logged model a ``models:/`` URI names: ``models:/ID``, ``models:/NAME/VERSION`` or
        ``models:/NAME@ALIAS`` (a registered version made from a logged model).

        Raises:
            ValueError: not such a URI, or a registered version with no logged model.
        """
        path = uri.removeprefix(MODELS_SCHEME)
        if path == uri or not path:
            raise ValueError(f"not a models:/ URI: {uri!r}")
        name, at, alias = path.partition("@")
        if at:
            version = self._client.get_model_version_by_alias(name, alias)
        elif "/" in path:
            name, _, number = path.rpartition("/")
            version = self._client.get_model_version(name, number)
        else:
            return path
        # The SQL registry keeps the logged model only as the version's source, models:/ID.
        source = str(version.source or "").removeprefix(MODELS_SCHEME)
        model_id = version.model_id or (source if source != version.source and "/" not in source else None)
        if not model_id:
            raise ValueError(f"{uri!r} (version {version.version}) was not registered from a logged model")
        return str(model_id)

    def register_model(self, name: str, model_id: str, *, tags: Mapping[str, str]) -> str:
        """Register logged model ``model_id`` as a version of ``name`` (created if needed); returns
        the version. A model registered before keeps its version: an export run again (or of the
        same trial again) adds no copy of it. ``name`` is a study's (``check_name``): no quotes."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        source = f"{MODELS_SCHEME}{model_id}"
        known = [int(v.version) for v in self._client.search_model_versions(f"name = '{name}'") if v.source == source]
        if known:
            return str(max(known))
        version = self._client.create_model_version(name, source=source, model_id=model_id, tags=dict(tags))
        return str(version.version)

    def log_model_metrics(self, run_id: str, model_id: str, metrics: Mapping[str, float]) -> None:
        """Log ``metrics`` on run ``run_id``, linked to its logged model ``model_id``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(key, float(value), now, 0, model_id=model_id) for key, value in metrics.items()]
        self._client.log_batch(run_id, metrics=items)

    def log_artifact_files(self, run_id: str, paths: Iterable[Path], artifact_path: str | None = None) -> None:
        for path in paths:
            self._client.log_artifact(run_id, str(path), artifact_path)

    def log_json(self, run_id: str, data: Any, name: str) -> None:
        self._client.log_text(run_id, json.dumps(data, indent=2, sort_keys=True, default=str), name)

    def log_figure(self, run_id: str, figure: Any, name: str) -> None:
        self._client.log_figure(run_id, figure, name)

    def log_dataframe(self, run_id: str, frame: Any, name: str) -> None:
        """Log a pandas frame as CSV (readable anywhere) under ``name``."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            frame.to_csv(path, index=False)
            self._client.log_artifact(run_id, str(path))
