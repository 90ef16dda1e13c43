"""Pack what the device run of issue 17 needs and the device machine lacks (run it here, where PyPI is reachable).

The device machine (``/work/.library/device``) runs Python 3.12 with JAX (CUDA), PyTorch,
NumPy, pandas, SciPy, scikit-learn and OpenCV, but no TensorFlow, Keras, Optuna, MLflow or
albumentations, and it reaches no package registry; ``../shared`` does not travel with the
working tree. This script fills the two ignored folders that the device tool carries:

- ``.whl/``: wheels for the device's Python on x86-64 Linux of Keras, Optuna, MLflow
  (``mlflow-skinny``: the tracking store, logged models and artifacts, without the server's
  web pages, which would not fit) and albumentations, at the versions installed here, with
  what they need that the device image lacks (``DEVICE_HAS``, its package list as read on
  2026-11-17);
- ``.devdata/``: Fashion-MNIST from ``../shared/datasets``.

It checks that they fit the carried tree's limit with the repository (``CARRY_LIMIT``) and
prints the call to make. ``bench/device_check.sh`` is what runs there.

Run: ``python bench/device_kit.py`` (a minute, mostly downloads). ``--python-version 3.11
--out DIR`` packs wheels for this machine instead, to try the kit here in a virtual
environment that holds only what the device has.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _common
from bench_quality import shared_files
from packaging.utils import parse_wheel_filename

DATASETS = ("fashion_mnist",)
PACKAGES = {"keras": "keras", "optuna": "optuna", "mlflow-skinny": "mlflow", "albumentations": "albumentations"}
"""Wheel to fetch -> the installed distribution whose version it takes."""

PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64") + tuple(
    f"manylinux_2_{n}_x86_64" for n in (24, 27, 28, 31, 34, 35)
)
CARRY_LIMIT = 64 * 2**20  # what one call of the device tool takes along: the tree and carried paths

DEVICE_HAS = frozenset(
    """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
    build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
    cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
    execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py
    hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax
    jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
    lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib
    mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
    narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
    nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
    nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax
    opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip
    pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo
    pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock
    pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu
    safetensors scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
    sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy
    tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
    tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm
    transformers treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
    werkzeug wheel wrapt xarray xxhash yarl zipp
    """.split()
)
"""The nvidia-h200 image's Python packages (``/work/.library/device/KINDS.md``)."""


def pins() -> list[str]:
    """``NAME==VERSION`` of each of ``PACKAGES``, at the versions installed here."""
    return [f"{wheel}=={importlib.metadata.version(installed)}" for wheel, installed in PACKAGES.items()]


def download(python_version: str, folder: Path) -> list[Path]:
    """The pinned packages' wheels and everything they need, for ``python_version`` on x86-64 Linux."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_version, *platforms, "--dest", str(folder), *pins(),
    ]  # fmt: skip
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    return sorted(folder.glob("*.whl"))


def pack(wheels: list[Path], out: Path) -> list[Path]:
    """Copy into ``out`` (emptied first) the wheels whose distribution the device lacks."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    kept = [wheel for wheel in wheels if parse_wheel_filename(wheel.name)[0] not in DEVICE_HAS]
    for wheel in kept:
        shutil.copy2(wheel, out / wheel.name)
    return [out / wheel.name for wheel in kept]


def copy_datasets(out: Path) -> list[Path]:
    """Copy into ``out`` the shared files that ``DATASETS`` are made from."""
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in (path for name in DATASETS for path in shared_files(name)):
        if not source.is_file():
            raise SystemExit(f"device_kit: no {source}; the kit needs ../shared/datasets")
        copied.append(Path(shutil.copy2(source, out / source.name)))
    return copied


def tracked_bytes() -> int:
    """The size of the files git tracks: the working tree that travels besides carried paths."""
    listed = subprocess.run(["git", "-C", str(_common.ROOT), "ls-files", "-z"], capture_output=True, check=True)
    files = (_common.ROOT / name for name in listed.stdout.decode().split("\0") if name)
    return sum(path.stat().st_size for path in files if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-version", default="3.12", help="the device's Python (default 3.12)")
    parser.add_argument("--out", type=Path, default=_common.ROOT, help="where .whl/ and .devdata/ go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="device-kit-") as folder:
        wheels = pack(download(args.python_version, Path(folder)), args.out / ".whl")
    data = copy_datasets(args.out / ".devdata")
    sizes = {"repository (tracked files)": tracked_bytes()}
    sizes.update({f".whl/{path.name}": path.stat().st_size for path in wheels})
    sizes.update({f".devdata/{path.name}": path.stat().st_size for path in data})
    for name, size in sizes.items():
        print(f"{size / 2**20:8.2f} MiB  {name}")
    total = sum(sizes.values())
    print(f"{total / 2**20:8.2f} MiB  in all, of {CARRY_LIMIT / 2**20:.0f} MiB that one call can take")
    if total > CARRY_LIMIT:
        raise SystemExit("device_kit: over the limit; carry fewer wheels or less data")
    print('\nthen: run(command="bash bench/device_check.sh", carry=[".whl", ".devdata"], timeout_s=600)')


if __name__ == "__main__":
    main()
