"""What the benchmarks share: provenance, data, an isolated study home and plain tables.

Every benchmark imports this module first: it puts the repository root on ``sys.path`` (so
``python bench/<script>.py`` works from a checkout that is not installed, as on a GPU
machine where the dependencies travel as wheels) and quiets TensorFlow's,
albumentations' and MLflow's start-up chatter before they are imported.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("BENCH_DATASETS") or ROOT.parent / "shared" / "datasets")
IMAGE_DATASETS = ("mnist", "fashion_mnist", "usps")

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # each fresh study store announces its tables
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

_VERSIONED = (
    "keras",
    "tensorflow",
    "jax",
    "keras-tuner",
    "optuna",
    "mlflow",
    "mlflow-skinny",
    "albumentations",
    "numpy",
)

__all__ = [
    "ROOT",
    "SHARED_DATASETS",
    "IMAGE_DATASETS",
    "provenance",
    "print_provenance",
    "study_home",
    "subsampled_npz",
    "format_table",
]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def _git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    return "unknown"


def provenance(seed: int) -> dict[str, str]:
    """Command, date, machine, versions, Keras backend, seed and commit of this run."""
    return {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at the start",
        "versions": ", ".join(f"{name} {version}" for name, version in _versions().items()),
        "keras backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "seed": str(seed),
        "commit": _git_commit(),
    }


def print_provenance(seed: int) -> None:
    """Print ``provenance(seed)``, one ``key: value`` line each, so a result carries its origin."""
    for key, value in provenance(seed).items():
        print(f"{key}: {value}")
    print()


@contextlib.contextmanager
def study_home(prefix: str) -> Iterator[Path]:
    """Fresh temporary stores (Optuna, MLflow, saved models) in force for the block, removed afterwards."""
    from automl._settings import runtime_settings, use_settings

    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as folder:
        with use_settings(runtime_settings().replace(home=Path(folder))):
            yield Path(folder)


def subsampled_npz(name: str, folder: Path, *, train: int, test: int, seed: int) -> Path | None:
    """Write a class-balanced random subset of ``shared/datasets/<name>.npz`` into ``folder``.

    Returns the new file's path (a data source for ``pipelines.load_dataset``), or ``None``
    when the shared dataset is absent. The subset is drawn with ``seed``, so a rerun
    benchmarks the same images.
    """
    source = SHARED_DATASETS / f"{name}.npz"
    if not source.is_file():
        return None
    rng = np.random.default_rng(seed)
    with np.load(source) as data:
        x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    keep_train = _balanced_subset(y_train, train, rng)
    keep_test = _balanced_subset(y_test, test, rng)
    path = folder / f"{name}_{len(keep_train)}.npz"
    np.savez(
        path,
        x_train=x_train[keep_train],
        y_train=y_train[keep_train].astype(np.int64),
        x_test=x_test[keep_test],
        y_test=y_test[keep_test].astype(np.int64),
    )
    return path


def _balanced_subset(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``size`` examples (or all), about as many of each class."""
    if size >= len(y):
        return np.arange(len(y))
    classes = np.unique(y)
    per_class = -(-size // len(classes))
    picked = [rng.permutation(np.flatnonzero(y == label))[:per_class] for label in classes]
    return np.sort(rng.permutation(np.concatenate(picked))[:size])


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [list(header), *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)
