"""200 seeded samples per input shape: each builds and matches its analysis; some train one step.

A sample trains one step when it is one in ``TRAIN_EVERY``, or when it holds a block type
that no sample trained before it: every block type a check meets is trained. In the
default space that trains 51 of the 200 samples per shape; on a 2-core CPU each shape took
about 130 s instead of 217 s when every sample trained.

Under the backend Keras was imported with (TensorFlow by default). ``test_under_another_backend``
reruns the every-block-type sample with ``KERAS_BACKEND=jax`` and ``torch`` where each is installed; JAX on
its first ``JAX_SAMPLES`` models, which hold every block type (asserted). JAX compiles each
new shape of each operation, so a model took about 40 s to build and train a step under it
on a 2-core CPU, against under 1 s under TensorFlow: the 20 samples took 790 s. PyTorch
runs eagerly, and its 20 samples take about as long as TensorFlow's.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import keras
import numpy as np
import pytest

import searchspace as ss
from tests.backends import run_under_backend
from tests.searchspace.helpers import SHAPES, build_and_compare, random_trials, train_one_step

SAMPLES = 200
JAX_SAMPLES = 4
TRAIN_EVERY = 4


def _check_samples(input_shape, space, n) -> set[str]:
    """Build and compare ``n`` seeded samples, training some; returns the block types trained
    (every type the samples held)."""
    infeasible = []
    trained: set[str] = set()
    for index, trial in enumerate(itertools.islice(random_trials(0), n)):
        spec = ss.sample_architecture(trial, space, input_shape=input_shape, num_classes=10)
        try:
            ss.analyze(spec, input_shape, 10)
        except ss.InfeasibleArchitecture as exc:
            assert str(exc), "an infeasible sample must say why"
            infeasible.append(str(exc))
            continue
        model, _ = build_and_compare(spec, input_shape)
        types = {block.type_name for _, _, block in spec.blocks()}
        if index % TRAIN_EVERY == 0 or not types <= trained:
            assert np.isfinite(train_one_step(model, input_shape)), spec.to_json()
            trained |= types
    assert len(infeasible) <= n // 20, infeasible  # sampling adapts to the input: infeasible is rare
    return trained


@pytest.mark.slow
@pytest.mark.parametrize("input_shape", SHAPES)
def test_seeded_samples_build_match_and_train(input_shape):
    _check_samples(input_shape, ss.SearchSpace.default(), SAMPLES)


def test_every_block_type_in_sampled_models():
    space = ss.SearchSpace(block_types=ss.Choice(choices=tuple(sorted(ss.BLOCKS))))
    n = JAX_SAMPLES if keras.backend.backend() == "jax" else 20
    assert _check_samples((8, 8, 1), space, n) == set(ss.BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_under_another_backend(backend):
    if keras.backend.backend() == backend:
        pytest.skip(f"already running under {backend}")
    test = f"{Path(__file__).resolve()}::test_every_block_type_in_sampled_models"
    result = run_under_backend(backend, ["-m", "pytest", test, "-q", "-p", "no:cacheprovider"], timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
