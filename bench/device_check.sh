#!/usr/bin/env bash
# Issue 17's device figures in one call of the device tool, after `python bench/device_kit.py` here:
#
#   run(command="bash bench/device_check.sh", carry=[".whl", ".devdata"], timeout_s=600)
#
# 1. installs the kit's wheels (Keras, Optuna, MLflow, albumentations) beside the device's JAX;
# 2. bench/bench_gpu.py --sections device-augmentation: images/s of a fit with the default policy
#    on the device against a fit from arrays, the compile time per candidate, and the share of a
#    trial that is not training steps, at 28x28x1 and 32x32x3;
# 3. a whole `automl search` (real Optuna SQLite store and MLflow) on the full Fashion-MNIST,
#    scored on the official test split: bench/bench_quality.py --ours-only.
#
# STUDY_BUDGET (default 5m) is the search's budget; the whole script takes it plus about
# 4 minutes. Everything it prints is also under $OUT (gpu.txt, bench_gpu.txt, bench_quality.txt,
# quality/ours_*.log, the search's own output). Without $OUT (a try on this machine) it writes
# to /tmp/device-check. KIT (default .whl) and DATA (default .devdata) are the kit's folders.
set -uo pipefail
budget=${STUDY_BUDGET:-5m}
out=${OUT:-/tmp/device-check}
kit=${KIT:-.whl}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$kit"/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 BENCH_DATASETS="$PWD/${DATA:-.devdata}"
export NO_ALBUMENTATIONS_UPDATE=1 TF_CPP_MIN_LOG_LEVEL=3

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; nproc; } | tee "$out/gpu.txt"
python3 -c "import jax, keras, optuna, mlflow, albumentations; print('devices', jax.devices(), 'keras', keras.__version__)" \
    2>&1 | tee -a "$out/gpu.txt" || exit 1

timeout 200 python3 bench/bench_gpu.py --sections device-augmentation ${BENCH_GPU_ARGS:-} 2>&1 | tee "$out/bench_gpu.txt"
echo "bench_gpu exit ${PIPESTATUS[0]}" | tee -a "$out/bench_gpu.txt"

python3 bench/bench_quality.py --datasets fashion_mnist --sizes full --budgets "$budget" --seeds 0 --ours-only \
    --log-dir "$out/quality" 2>&1 | tee "$out/bench_quality.txt"
echo "bench_quality exit ${PIPESTATUS[0]}" | tee -a "$out/bench_quality.txt"
