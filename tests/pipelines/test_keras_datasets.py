"""The keras.datasets sources, read from small files placed in a private Keras cache.

Keras checks a SHA-256 of mnist and CIFAR files before using its cache and would download
the real ones on a mismatch, so these tests accept any hash and make any download fail:
what runs is Keras' real loader code on our small files, and never the network.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pipelines import DataError, load_dataset, split_dataset
from pipelines._sources.keras_datasets import KERAS_CLASS_NAMES

RNG = np.random.default_rng(0)


@pytest.fixture
def keras_cache(tmp_path, monkeypatch) -> Path:
    """An empty Keras home whose datasets/ folder the loaders read; downloads raise."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    def no_network(url, *args, **kwargs):
        raise OSError(f"test attempted to download {url}")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # Keras reads KERAS_HOME once, at import
    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    monkeypatch.setattr(file_utils, "validate_file", lambda *args, **kwargs: True)
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _mnist(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.array([0, 1, 2, 0, 1, 2], np.uint8)
    np.savez(cache / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    return x, y


def _fashion_mnist(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([9, 0, 3, 9, 0], np.uint8)
    folder = cache / "fashion-mnist"
    folder.mkdir()
    for prefix, images, labels in (("train", x, y), ("t10k", x[:2], y[:2])):
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(8) + labels.tobytes()))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(16) + images.tobytes()))
    return x, y


def _cifar_archive(path: Path, folder: str, members: dict[str, dict[bytes, object]]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            data = pickle.dumps(content, protocol=4)  # numpy arrays as Keras accepts them (not protocol 5)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _cifar10(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    # Keras fills 5 batches of 10,000 images; a batch of one image is broadcast into its slot.
    x = RNG.integers(0, 256, (5, 3 * 32 * 32), dtype=np.uint8)
    batches = {f"data_batch_{i + 1}": {b"data": x[i : i + 1], b"labels": [2 * i]} for i in range(5)}
    batches["test_batch"] = {b"data": x[:2], b"labels": [0, 2]}
    _cifar_archive(cache / "cifar-10-batches-py-target_archive", "cifar-10-batches-py", batches)
    images = np.repeat(x.reshape(5, 3, 32, 32).transpose(0, 2, 3, 1), 10_000, axis=0)
    return images, np.repeat(np.arange(0, 10, 2), 10_000)


def _cifar100(cache: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = RNG.integers(0, 256, (4, 3 * 32 * 32), dtype=np.uint8), [99, 0, 42, 0]
    members = {
        "train": {b"data": x, b"fine_labels": y, b"coarse_labels": [0] * 4},
        "test": {b"data": x[:1], b"fine_labels": y[:1], b"coarse_labels": [0]},
    }
    _cifar_archive(cache / "cifar-100-python-target_archive", "cifar-100-python", members)
    return x.reshape(4, 3, 32, 32).transpose(0, 2, 3, 1), np.array(y)


WRITERS = {"mnist": _mnist, "fashion_mnist": _fashion_mnist, "cifar10": _cifar10, "cifar100": _cifar100}


def test_every_keras_dataset_has_a_test_writer_and_its_class_names() -> None:
    assert set(WRITERS) == set(KERAS_CLASS_NAMES)
    assert [len(names) for names in KERAS_CLASS_NAMES.values()] == [10, 10, 10, 100]
    assert all(len(set(names)) == len(names) for names in KERAS_CLASS_NAMES.values())


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_keras_dataset_from_the_cache(name: str, keras_cache: Path) -> None:
    x, y = WRITERS[name](keras_cache)
    ds = load_dataset(name)
    channels = 3 if name.startswith("cifar") else 1
    assert ds.x.shape == (len(x), *x.shape[1:3], channels) and ds.x.dtype == np.uint8
    assert np.array_equal(ds.x.reshape(x.shape), x) and np.array_equal(ds.y, y)
    assert ds.y.dtype == np.int64 and ds.y_test is not None and len(ds.x_test) == len(ds.y_test) > 0
    assert ds.class_names == KERAS_CLASS_NAMES[name] and ds.source == f"keras.datasets.{name}"


def test_the_official_test_split_is_the_test_split(keras_cache: Path) -> None:
    x, _ = _mnist(keras_cache)
    ds = load_dataset("mnist")
    splits = split_dataset(ds, val_fraction=0.5, seed=0)  # 6 images: 0.15 of 2 per class rounds to 0
    assert splits.test[0] is ds.x_test and np.array_equal(splits.test[0][..., 0], x[:2])
    assert len(splits.train[1]) + len(splits.val[1]) == len(x)  # nothing else held out of the training images
    assert splits.summary()["origin"] == {"val": "carved", "test": "given"}


def test_failed_download_is_one_line_naming_the_dataset(keras_cache: Path) -> None:
    with pytest.raises(DataError, match=r"keras\.datasets\.mnist.*network") as info:
        load_dataset("mnist")
    assert "\n" not in str(info.value)


def test_a_damaged_cached_file_is_one_line_saying_to_delete_it(keras_cache: Path) -> None:
    _fashion_mnist(keras_cache)
    (keras_cache / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"keras\.datasets\.fashion_mnist: .*if a file there is damaged, delete it"):
        load_dataset("fashion_mnist")


def test_the_class_names_are_in_the_order_of_the_published_labels() -> None:
    # Label i of each data set is named as its publisher names label i (not sorted by name).
    fashion, cifar10, cifar100 = (KERAS_CLASS_NAMES[n] for n in ("fashion_mnist", "cifar10", "cifar100"))
    assert (fashion[0], fashion[5], fashion[9]) == ("T-shirt/top", "Sandal", "Ankle boot")
    assert (cifar10[0], cifar10[1], cifar10[9]) == ("airplane", "automobile", "truck")
    assert (cifar100[0], cifar100[3], cifar100[58], cifar100[99]) == ("apple", "bear", "pickup_truck", "worm")
