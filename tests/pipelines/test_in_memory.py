"""Arrays given in memory: checked, saved once under their digest, read back as an ``.npz``."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import DataError, is_saved_arrays, load_dataset, save_arrays
from pipelines._sources.in_memory import named_arrays

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, size=(60, 8, 8, 1), dtype=np.uint8)
Y = np.arange(60) % 3
X_TEST, Y_TEST = X[:12], Y[:12]


@pytest.mark.parametrize(
    "data",
    [
        (X, Y, X_TEST, Y_TEST),
        ((X, Y), (X_TEST, Y_TEST)),  # what keras.datasets.*.load_data() returns
        [X, Y, X_TEST, Y_TEST],
        {"x_train": X, "y_train": Y, "x_test": X_TEST, "y_test": Y_TEST},
    ],
    ids=["flat", "keras-pairs", "list", "dict"],
)
def test_each_accepted_shape_reads_back_as_the_arrays(tmp_path, data) -> None:
    ds = load_dataset(str(save_arrays(data, tmp_path)))
    assert np.array_equal(ds.x, X) and np.array_equal(ds.y, Y)
    assert ds.x_test is not None and ds.y_test is not None
    assert np.array_equal(ds.x_test, X_TEST) and np.array_equal(ds.y_test, Y_TEST)


@pytest.mark.parametrize("shape", [(4, 4), (4, 4, 3)], ids=["grey", "colour"])
def test_two_images_in_a_list_with_their_labels_are_not_taken_for_two_splits(shape) -> None:
    # ([image, image], [label, label]) was read as keras' ((x, y), (x_test, y_test)): the
    # second image became the training labels, and the error sent the user after them.
    images = [np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)]
    arrays = named_arrays((images, ["cat", "dog"]))
    assert sorted(arrays) == ["x_train", "y_train"] and arrays["x_train"].shape == (2, *shape)
    assert arrays["y_train"].tolist() == ["cat", "dog"]


def test_images_of_several_shapes_or_vectors_in_keras_pairs_are_refused_saying_why(tmp_path) -> None:
    images = [np.zeros((4, 4, 3), np.uint8), np.zeros((5, 5, 3), np.uint8)]
    with pytest.raises(DataError, match="the array 'x_train' cannot be made of its items"):
        named_arrays(((images, [0, 1]), (images[:1], [0])))
    vectors, labels = np.zeros((20, 64), np.uint8), np.arange(20) % 2  # flattened images
    with pytest.raises(DataError, match=r"training images must have shape \(N, H, W\) .*, got \(20, 64\)$"):
        save_arrays(((vectors, labels), (vectors[:4], labels[:4])), tmp_path)


def test_training_arrays_alone_and_a_given_validation_split(tmp_path) -> None:
    alone = load_dataset(str(save_arrays((X, Y), tmp_path)))
    assert alone.x_test is None and alone.x_val is None and len(alone.x) == 60
    given = load_dataset(str(save_arrays({"x": X, "y": Y, "x_val": X[:6], "y_val": Y[:6]}, tmp_path)))
    assert given.x_val is not None and len(given.x_val) == 6 and given.x_test is None


def test_string_labels_in_a_list_become_the_classes(tmp_path) -> None:
    names = [("cat", "dog", "emu")[i] for i in Y]  # a list of str, np.asarray of it is fine
    ds = load_dataset(str(save_arrays((X, np.array(names, dtype=object)), tmp_path)))
    assert ds.class_names == ("cat", "dog", "emu") and np.array_equal(ds.y, Y)


def test_byte_string_labels_are_decoded_into_the_class_names(tmp_path) -> None:
    # As h5py and older pipelines store text: the classes were named "b'cat'".
    for labels in (np.array([b"cat", b"dog", b"emu"])[Y], np.array([b"cat", b"dog", b"emu"], dtype=object)[Y]):
        ds = load_dataset(str(save_arrays((X, labels), tmp_path)))
        assert ds.class_names == ("cat", "dog", "emu") and np.array_equal(ds.y, Y)


def test_the_same_contents_name_the_same_file_and_are_written_once(tmp_path) -> None:
    first = save_arrays((X, Y), tmp_path / "data")
    written = first.stat().st_mtime_ns
    assert save_arrays((X.copy(), Y.copy()), tmp_path / "data") == first
    assert first.stat().st_mtime_ns == written and first.is_absolute()
    assert first.name.startswith("arrays-") and first.suffix == ".npz"
    other = save_arrays((X, (Y + 1) % 3), tmp_path / "data")
    assert other != first
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted([first.name, other.name])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((X, Y[:5]), "data (in memory): 60 training images but 5 training labels"),
        ((X,), "must be (x, y), (x, y, x_test, y_test), ((x, y), (x_test, y_test)) or a dict"),
        (7, "data must be a path, a data set name, or (x, y)"),
        ({"pixels": X, "y": Y}, "data (in memory) has no training images and labels (it has: pixels, y)"),
        ({"x": X, "y": Y, "x_test": X_TEST}, "x_test but not its partner"),
        ((X, np.array([object(), 1] * 30, dtype=object)), "'y_train' holds Python objects of mixed types"),
        (([np.zeros((8, 8))] * 2 + [np.zeros((9, 8))], Y[:3]), "the array 'x_train' cannot be made of its items"),
    ],
    ids=["lengths", "one-array", "not-arrays", "unknown-names", "half-a-split", "objects", "ragged"],
)
def test_bad_arrays_are_refused_before_anything_is_written(tmp_path, data, message) -> None:
    with pytest.raises(DataError) as error:
        save_arrays(data, tmp_path / "data")
    assert message in str(error.value)
    assert not (tmp_path / "data").exists()


def test_the_same_bytes_in_another_shape_are_another_file(tmp_path) -> None:
    # Named by their bytes alone, images of another shape read back as the first ones saved.
    first = save_arrays((X, Y), tmp_path)
    other = save_arrays((X.reshape(60, 4, 16, 1), Y), tmp_path)
    assert other != first and load_dataset(str(other)).x.shape == (60, 4, 16, 1)


def test_only_a_file_of_its_name_in_the_arrays_folder_is_a_saved_one(tmp_path) -> None:
    saved = save_arrays((X, Y), tmp_path / "arrays")
    assert is_saved_arrays(saved, tmp_path / "arrays")
    # A user's file of the same name elsewhere is not one (a study's saved file is deleted with it).
    assert not is_saved_arrays(tmp_path / "mine" / saved.name, tmp_path / "arrays")
    assert not is_saved_arrays(tmp_path / "arrays" / "mine.npz", tmp_path / "arrays")


def test_utf_8_byte_string_labels_are_decoded_with_their_accents(tmp_path) -> None:
    labels = np.array([name.encode() for name in ("crème", "thé", "café")])[Y]
    ds = load_dataset(str(save_arrays((X, labels), tmp_path)))
    assert ds.class_names == ("café", "crème", "thé")
