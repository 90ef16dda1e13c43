"""The feeder: batches, epochs, deterministic shuffling and augmentation, and ``fit``."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pipelines import AugmentPolicy, Feeder, Normalization
from pipelines import _feeder as feeder_module
from tests.backends import run_under_backend

pytestmark = pytest.mark.usefixtures("albumentations_warnings_are_errors")


def _data(n: int = 50, shape: tuple[int, int, int] = (6, 6, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Images whose pixel [0, 0, 0] is their index, labels index % 3."""
    x = np.random.default_rng(0).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n)
    return x, (np.arange(n) % 3).astype(np.int64)


def _feeder(x: np.ndarray, y: np.ndarray, **overrides) -> Feeder:
    kwargs = {"batch_size": 8, "normalization": None, "policy": AugmentPolicy.none(), "seed": 0} | overrides
    return Feeder(x, y, **kwargs)


def _epoch_order(feeder: Feeder) -> np.ndarray:
    return np.concatenate([feeder[i][0][:, 0, 0, 0] for i in range(len(feeder))]).astype(int)


def test_an_epoch_yields_every_example_once_as_uint8_or_normalised_float32_and_int64() -> None:
    x, y = _data()
    feeder = _feeder(x, y)
    assert len(feeder) == 7
    batches = [feeder[i] for i in range(len(feeder))]
    assert [len(b[1]) for b in batches] == [8] * 6 + [2]
    assert all(b[0].dtype == np.uint8 and b[1].dtype == np.int64 for b in batches)
    assert _feeder(x, y, normalization=Normalization.fit(x))[0][0].dtype == np.float32
    order = _epoch_order(feeder)
    assert sorted(order) == list(range(50))
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y[order])
    with pytest.raises(IndexError):
        feeder[7]


def test_shuffling_is_seeded_per_epoch() -> None:
    x, y = _data()
    first, twin, other_seed = _feeder(x, y, seed=1), _feeder(x, y, seed=1), _feeder(x, y, seed=2)
    epoch0 = _epoch_order(first)
    assert np.array_equal(epoch0, _epoch_order(twin)) and not np.array_equal(epoch0, _epoch_order(other_seed))
    first.on_epoch_end()
    assert first.epoch == 1 and not np.array_equal(_epoch_order(first), epoch0)
    twin.set_epoch(1)
    assert np.array_equal(_epoch_order(first), _epoch_order(twin))
    assert np.array_equal(_epoch_order(_feeder(x, y, shuffle=False)), np.arange(50))


def test_an_epochs_order_does_not_share_the_random_stream_of_an_images_augmentation() -> None:
    """Image ``index`` is augmented from the stream ``(seed, epoch, index)``; an order drawn
    from ``(seed, epoch)``, which NumPy pads to image 0's stream, would be tied to it."""
    x, y = _data()
    for seed, epoch in [(0, 0), (1, 0), (1, 3)]:
        feeder = _feeder(x, y, seed=seed)
        feeder.set_epoch(epoch)
        image_streams = [np.random.default_rng([seed, epoch, index]).permutation(50) for index in range(3)]
        assert not any(np.array_equal(_epoch_order(feeder), drawn) for drawn in image_streams)


def test_identity_policy_gives_exactly_the_normalised_images() -> None:
    x, y = _data()
    norm = Normalization.fit(x)
    feeder = _feeder(x, y, normalization=norm, shuffle=False)
    np.testing.assert_array_equal(feeder[1][0], norm.apply(x[8:16]))
    np.testing.assert_array_equal(_feeder(x, y, shuffle=False)[1][0], x[8:16])


def test_augmented_batches_do_not_depend_on_the_thread_or_order() -> None:
    x, y = _data(64, (12, 12, 3))
    x[:, 0, 0, 0] = 0
    policy = AugmentPolicy(hflip_p=0.5, dropout_p=0.5)
    sequential = _feeder(x, y, policy=policy, seed=4)
    threaded = _feeder(x, y, policy=policy, seed=4)
    expected = [sequential[i] for i in range(len(sequential))]
    with ThreadPoolExecutor(4) as pool:
        backwards = list(reversed(range(len(threaded))))
        got = dict(zip(backwards, pool.map(threaded.__getitem__, backwards), strict=True))
    for i, (bx, by) in enumerate(expected):
        np.testing.assert_array_equal(got[i][0], bx)
        np.testing.assert_array_equal(got[i][1], by)
    plain = _feeder(x, y, seed=4)
    assert not np.array_equal(plain[0][0], expected[0][0])  # augmentation did happen
    assert np.array_equal(plain[0][1], expected[0][1])  # and kept the order


def test_batches_augmented_in_processes_equal_those_augmented_in_threads() -> None:
    x, y = _data(40, (10, 10, 3))
    policy = AugmentPolicy(hflip_p=0.5, dropout_p=0.5)
    in_threads = _feeder(x, y, policy=policy, seed=3)
    in_processes = _feeder(x, y, policy=policy, seed=3, processes=2)
    assert in_processes.threads == 2  # a thread per process keeps each one busy
    for feeder in (in_threads, in_processes):
        feeder.set_epoch(2)
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(in_processes.__getitem__, range(len(in_processes))))
    for i, (bx, by) in enumerate(got):
        np.testing.assert_array_equal(bx, in_threads[i][0])
        np.testing.assert_array_equal(by, in_threads[i][1])
    assert not np.array_equal(got[0][0], _feeder(x, y, seed=3, processes=2)[0][0])  # augmentation did happen


def test_augmentation_changes_with_the_epoch() -> None:
    x, y = _data(16, (12, 12, 1))
    feeder = _feeder(x, y, policy=AugmentPolicy(), shuffle=False, batch_size=16)
    first = feeder[0][0]
    feeder.on_epoch_end()
    assert not np.array_equal(first, feeder[0][0])


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [({"batch_size": 0}, "0"), ({"workers": 0}, "0"), ({"processes": -1}, "-1")],
)
def test_bad_arguments_are_quoted(kwargs: dict, quoted: str) -> None:
    with pytest.raises(ValueError, match=quoted):
        _feeder(*_data(), **kwargs)


def test_mismatched_arrays_are_rejected() -> None:
    x, y = _data()
    with pytest.raises(ValueError, match="one label per image"):
        _feeder(x, y[:-1])
    with pytest.raises(ValueError, match="uint8"):
        _feeder(x.astype(np.float32), y)


class _RecordingFeeder(Feeder):
    """Notes the feeder epoch of every batch it builds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.built: list[tuple[int, int]] = []

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        self.built.append((self.epoch, batch))
        return super().__getitem__(batch)


@pytest.mark.parametrize("workers", [1, 2])
def test_fit_trains_on_whole_epochs_of_the_feeder(workers: int) -> None:
    import keras

    from pipelines import load_dataset, split_dataset

    splits = split_dataset(load_dataset(), seed=0)
    norm = Normalization.fit(splits.train[0])
    train = _RecordingFeeder(
        *splits.train, batch_size=64, normalization=norm, policy=AugmentPolicy(), seed=0, workers=workers
    )
    val = Feeder(*splits.val, batch_size=256, normalization=norm, policy=AugmentPolicy.none(), seed=0, shuffle=False)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(train, validation_data=val, epochs=3, shuffle=False, verbose=0)
    # Keras ends an epoch before the first one; every epoch after is served whole, no batch mixing epochs.
    for epoch in (1, 2, 3):
        assert sorted(b for e, b in train.built if e == epoch) == list(range(len(train)))
    assert {e for e, _ in train.built} <= {0, 1, 2, 3}
    assert history.history["val_accuracy"][-1] > 0.8  # a linear model learns digits in three epochs


@pytest.mark.parametrize("how", ["stopped", "failed"])
def test_a_fit_ended_mid_epoch_leaves_no_thread_running(how: str) -> None:
    # A deadline stops a fit after a batch; a NaN loss or an error ends it with an exception.
    import keras

    class EndAtBatch2(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch == 2 and how == "stopped":
                self.model.stop_training = True
            elif batch == 2:
                raise RuntimeError("the trial failed")

    x, y = _data(400, (8, 8, 1))
    before = threading.active_count()
    for _ in range(3):  # trials
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        feeder = _feeder(x, y, policy=AugmentPolicy(), workers=2)
        try:
            model.fit(feeder, epochs=1, shuffle=False, verbose=0, callbacks=[EndAtBatch2()])
        except RuntimeError:
            pass
        finally:
            feeder.close()
        keras.backend.clear_session()  # as a trial ends
    assert threading.active_count() == before  # Keras' threads stopped with the feeder (6 a fit left running)


def test_a_batch_the_feeder_built_ahead_for_an_epoch_that_ended_is_not_handed_out(monkeypatch) -> None:
    monkeypatch.setattr(feeder_module, "_KERAS_BUILDS_AHEAD", frozenset())  # as under JAX and torch
    x, y = _data(64, (12, 12, 3))
    feeder = _feeder(x, y, policy=AugmentPolicy(), workers=2)
    assert feeder.workers == 1  # Keras asks for the batches in its training loop
    feeder[0]  # builds the next batches of epoch 0 ahead
    feeder.on_epoch_end()
    fresh = _feeder(x, y, policy=AugmentPolicy(), workers=1)
    fresh.set_epoch(1)
    for batch in range(len(feeder)):
        np.testing.assert_array_equal(feeder[batch][0], fresh[batch][0])
    feeder.close()
    np.testing.assert_array_equal(feeder[2][0], fresh[2][0])  # closed, it still works, in threads anew


# A weight per example, which plain SGD on the mean output moves by 1/batch each time the
# example is trained on: the fit's epochs, as the model saw them, in counts per example.
_COUNT_EXAMPLES_PER_EPOCH = """
import dataclasses
import json
import keras
import numpy as np
from pipelines import AugmentPolicy, Feeder

n, batch = 400, 8  # more batches than Keras keeps ahead
x = np.zeros((n, 1, 1, n), np.uint8)
x[np.arange(n), 0, 0, np.arange(n)] = 1
feeder = Feeder(x, np.zeros(n, np.int64), batch_size=batch, normalization=None, policy=AugmentPolicy.none(), seed=0)
w = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
model = keras.Sequential([keras.Input((1, 1, n)), keras.layers.Flatten(), w])
model.compile(optimizer=keras.optimizers.SGD(1.0), loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
totals = []
record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: totals.append(-batch * w.kernel.numpy()[:, 0]))
model.fit(feeder, epochs=3, shuffle=False, verbose=0, callbacks=[record])
print(json.dumps(np.diff(np.stack([np.zeros(n), *totals]), axis=0).round(3).tolist()))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_each_epoch_of_fit_trains_on_every_example_once_under_each_backend(backend: str) -> None:
    # With Keras' worker threads, under JAX and torch, each epoch here began with the 12 batches
    # they had built for the epoch before: 61 to 71 of the 400 examples were trained on twice
    # in it, and as many not at all.
    done = run_under_backend(backend, ["-c", _COUNT_EXAMPLES_PER_EPOCH])
    assert done.returncode == 0, done.stderr[-3000:]
    counts = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    np.testing.assert_array_equal(counts, np.ones((3, 400)))


def test_each_batch_and_epoch_draws_its_own_batch_transforms() -> None:
    # The same images in two batches, flipped on the batch (NumPy) path: drawn alike, every
    # batch of an epoch flipped the same images, and so did every epoch.
    x = np.repeat(np.random.default_rng(1).integers(0, 256, size=(1, 6, 6, 1), dtype=np.uint8), 32, axis=0)
    y = np.zeros(32, dtype=np.int64)
    feeder = _feeder(x, y, policy=dataclasses.replace(AugmentPolicy.none(), hflip_p=0.5), shuffle=False)
    flipped = [[bool((img != x[0]).any()) for img in feeder[b][0]] for b in range(4)]
    assert len({tuple(f) for f in flipped}) > 1 and any(any(f) for f in flipped)
    feeder.on_epoch_end()
    assert [[bool((img != x[0]).any()) for img in feeder[b][0]] for b in range(4)] != flipped
