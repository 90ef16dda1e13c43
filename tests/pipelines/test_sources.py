"""Every data source, on files the tests write themselves."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image, features

from pipelines import NAMED_SOURCES, DataError, load_dataset, load_image, maps_values, split_dataset, value_map_formula
from pipelines._image import AS_PIXELS
from tests.pipelines.datafiles import make_folder, write_image, write_pngs


def test_default_source_is_scikit_learn_digits_rescaled_to_bytes() -> None:
    from sklearn.datasets import load_digits

    ds = load_dataset()
    digits = load_digits()
    assert ds.x.shape == (1797, 8, 8, 1) and ds.x.dtype == np.uint8
    assert ds.y.dtype == np.int64 and np.array_equal(ds.y, digits.target)
    # 0..16 maps linearly onto 0..255: going back recovers the original counts to within rounding.
    np.testing.assert_allclose(ds.x[..., 0] / 255 * 16, digits.images, atol=16 / 255)
    assert (ds.x.min(), ds.x.max()) == (0, 255)
    assert ds.class_names == tuple("0123456789") and ds.x_test is None
    assert load_dataset("digits").summary() == ds.summary()


def test_named_sources_are_the_default_and_the_keras_datasets() -> None:
    assert set(NAMED_SOURCES) == {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100"}


def test_image_size_resizes_array_sources() -> None:
    original = load_dataset("digits")
    ds = load_dataset("digits", image_size=(16, 12))
    assert ds.x.shape == (1797, 16, 12, 1) and ds.y.tolist() == original.y.tolist()
    # Bilinear resizing keeps each image's mean brightness (to within edge effects).
    means = ds.x.mean(axis=(1, 2, 3)), original.x.mean(axis=(1, 2, 3))
    assert np.abs(means[0] - means[1]).max() < 12


def test_image_folder_with_mixed_sizes_and_modes(tmp_path) -> None:
    root = tmp_path / "pets"
    cats = [write_image(root / "cat" / f"{i}.png", (12, 10, 3), seed=i) for i in range(3)]
    write_image(root / "cat" / "big.jpg", (24, 20, 3), seed=9, fmt="JPEG")
    for i in range(2):
        write_image(root / "dog" / "sub" / f"{i}.PNG", (12, 10), seed=10 + i)  # grey, nested, upper-case suffix
    (root / "dog" / "notes.txt").write_text("not an image")
    write_image(root / "dog" / ".hidden" / "x.png", (12, 10))
    write_image(root / ".cache" / "x.png", (12, 10))

    ds = load_dataset(str(root))
    assert ds.class_names == ("cat", "dog")
    assert ds.x.shape == (6, 12, 10, 3)  # the most common size; RGB because some images are
    assert ds.summary()["class_counts"] == {"cat": 4, "dog": 2}
    assert np.array_equal(ds.x[:3], np.stack(cats))  # files in sorted order, unchanged at their own size
    grey = ds.x[ds.y == 1]
    assert np.array_equal(grey[..., 0], grey[..., 2])  # grey became RGB by repeating the channel
    assert ds.skipped == () and "pets" in ds.source


def test_images_beside_the_class_folders_are_left_out_and_listed(tmp_path) -> None:
    # An image in no class folder has no label; it was left out without a word.
    root = make_folder(tmp_path / "d", {"a": 2, "b": 3}, shape=(9, 9))
    write_image(root / "stray.png", (9, 9))
    write_image(root / ".thumb.png", (9, 9))  # hidden: ignored, as in the class folders
    (root / "README.txt").write_text("not an image")

    ds = load_dataset(str(root))
    assert len(ds.x) == 5 and ds.skipped == ((str(root / "stray.png"), "in no class folder"),)


def test_image_folder_of_grey_images_stays_grey_and_resizes(tmp_path) -> None:
    root = make_folder(tmp_path / "d", {"a": 2, "b": 3}, shape=(9, 9))
    ds = load_dataset(str(root), image_size=(6, 5))
    assert ds.x.shape == (5, 6, 5, 1)
    assert np.bincount(ds.y).tolist() == [2, 3]


def test_folder_of_bmp_tiff_webp_and_gif_images(tmp_path) -> None:
    written = {
        suffix: write_image(tmp_path / "d" / name / f"{i}{suffix}", (6, 6, 3), seed=i)
        for i, (name, suffix) in enumerate([("a", ".bmp"), ("a", ".tiff"), ("b", ".webp"), ("b", ".ppm")])
    }
    write_image(tmp_path / "d" / "b" / "grey.gif", (6, 6), seed=9)  # palette images become RGB
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.x.shape == (5, 6, 6, 3) and ds.y.tolist() == [0, 0, 1, 1, 1]
    # Lossless formats read back exactly (the WebP is lossy; files are sorted by name).
    assert np.array_equal(ds.x[0], written[".bmp"]) and np.array_equal(ds.x[1], written[".tiff"])
    assert np.array_equal(ds.x[3], written[".ppm"])


def test_folder_of_tga_pnm_and_pbm_images(tmp_path) -> None:
    # Pillow reads them, but they were left out without a word.
    tga = write_image(tmp_path / "d" / "a" / "0.tga", (6, 6, 3), seed=1)
    pnm = write_image(tmp_path / "d" / "b" / "0.pnm", (6, 6, 3), seed=2, fmt="PPM")
    Image.fromarray(np.eye(6, dtype=bool)).save(tmp_path / "d" / "b" / "1.pbm")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.y.tolist() == [0, 1, 1] and np.array_equal(ds.x[0], tga) and np.array_equal(ds.x[1], pnm)
    assert ds.x[2].tolist() == np.where(np.eye(6, dtype=bool), 255, 0)[..., None].repeat(3, -1).tolist()


def test_npz_with_and_without_a_test_split(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(30, 7, 7), dtype=np.uint8)
    y = np.repeat([3, 5, 9], 10)
    np.savez(tmp_path / "train.npz", x_train=x, y_train=y)
    ds = load_dataset(str(tmp_path / "train.npz"))
    assert ds.x.shape == (30, 7, 7, 1) and np.array_equal(ds.x[..., 0], x)
    assert ds.class_names == ("3", "5", "9") and np.array_equal(ds.y, np.repeat([0, 1, 2], 10))

    x_test = rng.random(size=(4, 7, 7, 3))  # floats in 0..1
    np.savez(
        tmp_path / "both.npz",
        x_train=np.repeat(x[..., None], 3, axis=-1),
        y_train=y.astype(str),
        x_test=x_test,
        y_test=np.array(["9", "3", "3", "5"]),
    )
    ds = load_dataset(str(tmp_path / "both.npz"))
    assert ds.class_names == ("3", "5", "9")
    assert ds.y_test.tolist() == [2, 0, 0, 1]
    np.testing.assert_array_equal(ds.x_test, np.rint(x_test * 255).astype(np.uint8))
    splits = split_dataset(ds, seed=1)
    assert splits.test[0] is ds.x_test and splits.summary()["test_given"]


# Naming -> the arrays' names in the file: training images and labels, test images and labels.
NPZ_NAMINGS = {
    "medmnist": ("train_images", "train_labels", "test_images", "test_labels"),
    "scikit-learn": ("X_train", "y_train", "X_test", "y_test"),
    "plain x/y": ("x", "y", "x_test", "y_test"),
    "plain X/y": ("X", "y", "X_test", "y_test"),
    "plain images/labels": ("images", "labels", "test_images", "test_labels"),
}


@pytest.mark.parametrize("naming", sorted(NPZ_NAMINGS))
def test_npz_arrays_named_by_other_conventions(naming: str, tmp_path) -> None:
    x_key, y_key, x_test_key, y_test_key = NPZ_NAMINGS[naming]
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(12, 5, 5, 3), dtype=np.uint8)
    y = np.repeat([[4], [8]], 6, axis=0)  # (N, 1) labels, as MedMNIST stores them
    np.savez(tmp_path / "d.npz", **{x_key: x, y_key: y, x_test_key: x[:3], y_test_key: np.array([8, 4, 8])})
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert np.array_equal(ds.x, x) and ds.class_names == ("4", "8") and ds.y.tolist() == [0] * 6 + [1] * 6
    assert list(ds.given_splits) == ["test"] and ds.y_test.tolist() == [1, 0, 1]


def test_npz_of_standardized_floats_16_bit_integers_and_rgba(tmp_path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 4, 4))  # standardized RGBA: alpha is dropped
    span = np.ptp(x[..., :3])
    beyond = np.full_like(x[:1], x[..., :3].max() + 0.4 * span)  # a little past the training range
    x_test = np.concatenate([x[:1], beyond])  # the training images' map, clipped
    y = np.array([0, 1] * 3)
    np.savez(tmp_path / "z.npz", x_train=x, y_train=y, x_test=x_test, y_test=y[:2])
    ds = load_dataset(str(tmp_path / "z.npz"))
    assert ds.x.shape == (6, 4, 4, 3) and ds.x.min() == 0 and ds.x.max() == 255
    low, high = x[..., :3].min(), x[..., :3].max()
    np.testing.assert_array_equal(ds.x, np.rint((x[..., :3] - low) * 255 / (high - low)).astype(np.uint8))
    assert np.array_equal(ds.x_test[0], ds.x[0]) and (ds.x_test[1] == 255).all()
    assert ds.value_map == (low, 255 / (high - low)) and ds.summary()["value_map"] == {
        "low": low,
        "factor": 255 / (high - low),
    }

    assert value_map_formula(-4.5, 2.0) == "(value + 4.5) * 2" and value_map_formula(3.0, 0.25) == "(value - 3) * 0.25"

    # Far past it, another scale: a test split of pixels beside standardized training images
    # was clipped to white and scored as data.
    np.savez(tmp_path / "far.npz", x_train=x, y_train=y, x_test=x_test * 0 + 200.0, y_test=y[:2])
    with pytest.raises(DataError, match=r"test image values range 200\.\.200, far outside the training images' -"):
        load_dataset(str(tmp_path / "far.npz"))
    np.savez(tmp_path / "far.npz", x_train=x / 255, y_train=y, x_val=x[:2] * 0 + 200.0, y_val=y[:2])
    with pytest.raises(DataError, match="validation image values range 200..200, far outside"):
        load_dataset(str(tmp_path / "far.npz"))

    sixteen = np.array([0, 1000, 65535], np.uint16).repeat(4).reshape(3, 2, 2)
    np.savez(tmp_path / "u.npz", x_train=sixteen, y_train=np.array([0, 1, 1]))
    assert load_dataset(str(tmp_path / "u.npz")).x[:, 0, 0, 0].tolist() == [0, 4, 255]
    assert load_dataset(str(tmp_path / "u.npz")).value_map == (0.0, 255 / 65535)
    assert load_dataset(str(tmp_path / "z.npz")).summary()["value_range"] == [0, 255]


def test_npz_of_one_hot_labels_and_channels_first_images(tmp_path) -> None:
    # As keras.utils.to_categorical and PyTorch leave them: read, and said so.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(12, 3, 5, 7), dtype=np.uint8)
    y = np.array([0, 2, 3] * 4)  # column 1 never occurs: not a class, as with integer labels
    smoothed = np.eye(4)[y[:6]] * 0.9 + 0.025  # label smoothing keeps the largest column
    np.savez(tmp_path / "t.npz", x_train=x, y_train=np.eye(4, dtype=np.float32)[y], x_test=x[:6], y_test=smoothed)
    ds = load_dataset(str(tmp_path / "t.npz"))
    np.testing.assert_array_equal(ds.x, x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(ds.x_test, ds.x[:6])
    assert ds.class_names == ("0", "2", "3") and ds.y.tolist() == [0, 1, 2] * 4 and ds.y_test.tolist() == [0, 1, 2] * 2
    assert ds.conversions == (
        "channels-first images (N, C, H, W) moved to channels-last (N, H, W, C): "
        "training (12, 3, 5, 7), test (6, 3, 5, 7)",
        "one-hot labels as the class of each row's largest column: training (12, 4), test (6, 4)",
    )
    assert ds.summary()["conversions"] == list(ds.conversions)

    # Channels-last images whose width is a channel count too stay as they are; nothing is said.
    np.savez(tmp_path / "l.npz", x_train=x.transpose(0, 2, 3, 1)[..., :1].repeat(3, -1), y_train=y)
    plain = load_dataset(str(tmp_path / "l.npz"))
    assert plain.x.shape == (12, 5, 7, 3) and plain.conversions == () and plain.summary()["conversions"] == []

    multi = np.eye(4)[y] + np.eye(4)[(y + 1) % 4]  # two labels per image
    np.savez(tmp_path / "m.npz", x_train=x, y_train=multi)
    with pytest.raises(DataError, match=r"training labels of shape \(12, 4\) must be one-hot"):
        load_dataset(str(tmp_path / "m.npz"))
    signed = np.eye(4)[y] * 2 - np.eye(4)[(y + 1) % 4]  # rows summing to 1, a negative in each
    np.savez(tmp_path / "s.npz", x_train=x, y_train=signed)
    with pytest.raises(DataError, match=r"training labels of shape \(12, 4\) must be one-hot"):
        load_dataset(str(tmp_path / "s.npz"))


@pytest.mark.parametrize("channels", [1, 3])
def test_tiny_channels_first_images_are_read_square(tmp_path, channels) -> None:
    # (N, 1, 4, 4) was read as 1x4 images of 4 channels, the fourth dropped as alpha.
    x = np.random.default_rng(1).integers(0, 256, (6, channels, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "t.npz", x_train=x, y_train=np.arange(6) % 2)
    ds = load_dataset(str(tmp_path / "t.npz"))
    np.testing.assert_array_equal(ds.x, x.transpose(0, 2, 3, 1))
    assert ds.conversions[0].startswith("channels-first images")


def test_npz_nan_labels_are_refused(tmp_path) -> None:
    # They became a class of their own, "nan".
    y = (np.arange(12) % 3).astype(float)
    y[[7, 9]] = np.nan
    np.savez(tmp_path / "n.npz", x_train=np.zeros((12, 5, 5, 3), np.uint8), y_train=y)
    with pytest.raises(DataError, match=r"2 training label\(s\) are NaN \(first: image 7\)"):
        load_dataset(str(tmp_path / "n.npz"))


@pytest.mark.parametrize(
    ("extra", "listed"),
    [
        ({"x_valid": 3, "y_valid": 3}, "x_valid (3, 3, 3), y_valid (3,)"),  # the validation split of another name
        ({"x_tset": 2, "y_tset": 2}, "x_tset (2, 3, 3), y_tset (2,)"),  # a typo
        ({"test_images": 2, "test_labels": 2}, "test_images (2, 3, 3), test_labels (2,)"),  # two namings mixed
        ({"x": 2, "y": 2}, "x (2, 3, 3), y (2,)"),
    ],
)
def test_npz_arrays_of_images_it_would_not_read_are_refused(tmp_path, extra, listed) -> None:
    # Each such split was dropped without a word (the first naming whose training pair is
    # in the file is read), and validation or test images were carved out of training.
    x = np.zeros((4, 3, 3), np.uint8)
    arrays = {key: (x[:n] if key.startswith(("x", "test_images")) else np.arange(n) % 2) for key, n in extra.items()}
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), **arrays)
    message = (
        f"npz '{tmp_path / 'd.npz'}' has arrays it would not read: {listed}. With training arrays x_train/y_train, "
        "given splits are x_val/y_val (validation) and x_test/y_test (test): rename them, or leave them out of the file"
    )
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        load_dataset(str(tmp_path / "d.npz"))


def test_npz_arrays_that_hold_no_images_are_left_alone(tmp_path) -> None:
    x = np.zeros((4, 3, 3), np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), class_names=np.array(["a", "b"]))
    assert load_dataset(str(tmp_path / "d.npz")).class_names == ("0", "1")


def test_npz_with_given_validation_and_test_splits(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(40, 6, 6), dtype=np.uint8)
    y = np.repeat(["ant", "bee"], 20)
    np.savez(
        tmp_path / "d.npz",
        x_train=x,
        y_train=y,
        x_val=x[:5],
        y_val=y[[0, 1, 20, 21, 22]],
        x_test=x[:3],
        y_test=np.array([["bee"], ["ant"], ["bee"]]),  # (N, 1) labels are flattened
    )
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.class_names == ("ant", "bee") and list(ds.given_splits) == ["val", "test"]
    assert ds.y_val.tolist() == [0, 0, 1, 1, 1] and ds.y_test.tolist() == [1, 0, 1]
    assert ds.x_val.shape == (5, 6, 6, 1) and np.array_equal(ds.x_val[..., 0], x[:5])
    splits = split_dataset(ds, seed=0)
    assert splits.val[0] is ds.x_val and splits.test[0] is ds.x_test and len(splits.train[1]) == 40
    assert splits.summary()["origin"] == {"val": "given", "test": "given"}
    assert ds.summary()["val_class_counts"] == {"ant": 2, "bee": 3}


def test_csv_with_relative_paths_and_custom_columns(tmp_path, monkeypatch) -> None:
    data = tmp_path / "data"
    first = write_image(data / "img" / "a.png", (8, 8, 3), seed=1)
    write_image(data / "img" / "b.png", (8, 8, 3), seed=2)
    absolute = write_image(tmp_path / "elsewhere" / "c.png", (8, 8, 3), seed=3)
    table = pd.DataFrame(
        {
            "file": ["img/a.png", "img/b.png", str(tmp_path / "elsewhere" / "c.png")],
            "kind": ["cat", "dog", "cat"],
            "extra": [1, 2, 3],
        }
    )
    table.to_csv(data / "labels.csv", index=False)
    monkeypatch.chdir(tmp_path / "elsewhere")  # relative paths are read from the CSV's folder, not the cwd

    ds = load_dataset(str(data / "labels.csv"), path_column="file", label_column="kind")
    assert ds.class_names == ("cat", "dog")
    assert ds.y.tolist() == [0, 1, 0]
    assert np.array_equal(ds.x[0], first) and np.array_equal(ds.x[2], absolute)


def test_files_of_other_sizes_are_resized_and_said_so(tmp_path) -> None:
    # A 64x20 image among 32x32 ones was stretched to a square without a word.
    make_folder(tmp_path / "d", {"a": 3, "b": 3}, shape=(32, 32))
    write_image(tmp_path / "d" / "a" / "wide.png", (20, 64))
    write_image(tmp_path / "d" / "b" / "big.png", (64, 64))
    said = load_dataset(str(tmp_path / "d")).conversions
    assert said == (
        "2 of 8 images of other sizes resized to 32x32 (height x width), 1 of them stretched to its shape "
        "(crop or pad them first to keep their proportions)",
    )
    assert load_dataset(str(tmp_path / "d"), image_size=(16, 16)).conversions[0].startswith("8 of 8 images")
    (tmp_path / "d" / "a" / "wide.png").unlink()
    assert load_dataset(str(tmp_path / "d"), image_size=(16, 16)).conversions == ()  # asked for, none stretched


def test_a_csv_saved_by_excel_in_windows_1252_is_read(tmp_path) -> None:
    # Read as UTF-8, its accents were a pandas traceback that advised a header row.
    write_image(tmp_path / "café.png", (5, 5), seed=1)
    write_image(tmp_path / "b.png", (5, 5), seed=2)
    (tmp_path / "x.csv").write_bytes("path,label\ncafé.png,crème\nb.png,thé\n".encode("cp1252"))
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("crème", "thé") and len(ds.x) == 2


@pytest.mark.parametrize(
    "columns",
    [
        {"filename": ["0.png", "1.png", "2.png"], "class": ["b", "a", "b"]},
        {"id": [7, 8, 9], "Target": ["b", "a", "b"], "image": ["0.png", "1.png", "2.jpg"], "fold": [1, 2, 1]},
    ],
    ids=["two columns", "a label column among others"],
)
def test_csv_columns_found_by_their_content(columns, tmp_path) -> None:
    for i, suffix in enumerate((".png", ".png", ".jpg" if "id" in columns else ".png")):
        write_image(tmp_path / f"{i}{suffix}", (5, 5), seed=i)
    pd.DataFrame(columns).to_csv(tmp_path / "x.csv", index=False)
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("a", "b") and ds.y.tolist() == [1, 0, 1] and len(ds.x) == 3


def test_a_csv_split_column_gives_the_splits(tmp_path) -> None:
    # The column was ignored without a word: the test images were trained on, and a test
    # split carved out of the training ones.
    splits = ["train", "Train", "test", "train", "valid", "training", "testing", "val"]
    labels = ["a", "b", "a", "a", "b", "b", "b", "a"]
    written = [write_image(tmp_path / f"{i}.png", (5, 5), seed=i) for i in range(len(splits))]
    table = {"id": range(8), "filename": [f"{i}.png" for i in range(8)], "Split": splits, "class": labels}
    pd.DataFrame(table).to_csv(tmp_path / "x.csv", index=False)
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("a", "b") and ds.y.tolist() == [0, 1, 0, 1]
    assert (
        ds.y_test is not None and ds.y_test.tolist() == [0, 1] and ds.y_val is not None and ds.y_val.tolist() == [1, 0]
    )
    assert np.array_equal(ds.x_test[1, ..., 0], written[6]) and np.array_equal(ds.x_val[0, ..., 0], written[4])


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        (["train", "fold2"], r"its 'split' column holds given splits, but 'fold2' name\(s\) no split"),
        (["test", "val"], r"no row of its 'split' column is in the training split"),
    ],
)
def test_a_csv_split_column_that_names_no_split_is_refused(tmp_path, splits, message) -> None:
    write_pngs(tmp_path, 2)
    pd.DataFrame({"path": ["0.png", "1.png"], "label": ["a", "b"], "split": splits}).to_csv(
        tmp_path / "x.csv", index=False
    )
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path / "x.csv"))


def _three_column_csv(tmp_path, header: bool) -> str:
    write_pngs(tmp_path, 4)
    rows = "".join(f"{i}.png,{'cat' if i < 2 else 'dog'},{'even' if i % 2 == 0 else 'odd'}\n" for i in range(4))
    (tmp_path / "x.csv").write_text(("file,label,parity\n" if header else "") + rows)
    return str(tmp_path / "x.csv")


def test_a_named_label_column_is_the_one_read(tmp_path) -> None:
    # The named column was dropped, and 'label' was found by content, when the path column
    # was not named 'path': every search trained on the wrong target.
    csv = _three_column_csv(tmp_path, header=True)
    ds = load_dataset(csv, label_column="parity")
    assert ds.class_names == ("even", "odd") and ds.y.tolist() == [0, 1, 0, 1]
    assert load_dataset(csv).class_names == ("cat", "dog")  # no name given: found by content


@pytest.mark.parametrize("named", [{"label_column": "Parity"}, {"path_column": "image"}], ids=["label", "path"])
def test_a_named_column_that_is_not_there_is_refused(tmp_path, named) -> None:
    role, name = next(iter(named.items()))
    quoted = rf"has no {role.split('_')[0]} column '{name}' \(it has: 'file', 'label', 'parity'\)"
    with pytest.raises(DataError, match=quoted):
        load_dataset(_three_column_csv(tmp_path, header=True), **named)


def test_a_csv_without_a_header_row_names_its_columns_by_position(tmp_path) -> None:
    csv = _three_column_csv(tmp_path, header=False)
    with pytest.raises(DataError, match=r"could not be told apart.*by position: 0, 1"):
        load_dataset(csv)
    ds = load_dataset(csv, path_column="0", label_column="2")
    assert ds.class_names == ("even", "odd") and ds.y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_csv_separated_by_another_character_says_so(tmp_path, sep) -> None:
    write_image(tmp_path / "0.png", (5, 5))
    (tmp_path / "x.csv").write_text(f"path{sep}label\n0.png{sep}cat\n")
    with pytest.raises(DataError, match="separated by (semicolons|tabs), not commas"):
        load_dataset(str(tmp_path / "x.csv"))


def test_csv_integer_labels_sort_as_numbers(tmp_path) -> None:
    write_pngs(tmp_path, 3)
    pd.DataFrame({"path": ["0.png", "1.png", "2.png"], "label": [10, 2, 10]}).to_csv(tmp_path / "x.csv", index=False)
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("2", "10") and ds.y.tolist() == [1, 0, 1]


def test_csv_labels_are_read_as_written(tmp_path) -> None:
    write_pngs(tmp_path, 6)
    paths = [f"{i}.png" for i in range(6)]
    severity = ["None", "Mild", "NA", "None", "Mild", "NA"]  # pandas would read None and NA as missing
    pd.DataFrame({"path": paths, "label": severity}).to_csv(tmp_path / "s.csv", index=False)
    ds = load_dataset(str(tmp_path / "s.csv"))
    assert ds.class_names == ("Mild", "NA", "None") and ds.y.tolist() == [2, 0, 1, 2, 0, 1]

    codes = ["007", "7", "1.0", "1", "007", "7"]  # pandas would make 007 and 7 one class, 1.0 and 1 another
    (tmp_path / "c.csv").write_text("path, label\n" + "".join(f"{p}, {c}\n" for p, c in zip(paths, codes, strict=True)))
    ds = load_dataset(str(tmp_path / "c.csv"))  # spaces after the commas are not part of a cell
    assert ds.class_names == ("007", "1", "1.0", "7") and ds.y.tolist() == [0, 3, 2, 1, 0, 3]


def test_a_csv_without_a_header_row_keeps_its_first_image(tmp_path) -> None:
    # Its first row was read as the header: the first image was lost without a word.
    write_pngs(tmp_path, 4)
    (tmp_path / "x.csv").write_text("".join(f"{i}.png,{'cat' if i % 2 else 'dog'}\n" for i in range(4)))
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert len(ds.x) == 4 and ds.class_names == ("cat", "dog") and ds.y.tolist() == [1, 0, 1, 0]


def test_csv_cells_are_stripped_of_spaces_around_them(tmp_path) -> None:
    # "cat " was a class of its own beside "cat".
    write_pngs(tmp_path, 4)
    (tmp_path / "x.csv").write_text('path,label\n0.png,"cat "\n1.png,cat\n 2.png ,dog\n3.png,\tdog\n')
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("cat", "dog") and ds.y.tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("again", ["0.png,cat", "./0.png,dog"], ids=["same label", "another label"])
def test_a_csv_listing_an_image_twice_is_refused(tmp_path, again) -> None:
    # A copy could land in both the training and the test split; with another label the
    # image trained as both classes.
    write_pngs(tmp_path, 4)
    (tmp_path / "x.csv").write_text(f"path,label\n0.png,cat\n1.png,cat\n2.png,dog\n3.png,dog\n{again}\n")
    with pytest.raises(DataError, match=r"lists 1 image file\(s\) more than once \(first: '.*0\.png' on data row 1"):
        load_dataset(str(tmp_path / "x.csv"))


def test_values_are_mapped_a_few_images_at_a_time_as_all_at_once(monkeypatch) -> None:
    # Mapped all at once, float images held about five float64 copies: 1.3 GB at the peak
    # for 234 MB of float32 images.
    from pipelines import _arrays

    x = np.random.default_rng(4).normal(size=(7, 5, 5, 3)).astype(np.float32)
    y = np.arange(7) % 2
    low, high = float(x.min()), float(x.max())
    expected = np.rint((x.astype(np.float64) - low) * (255 / (high - low))).astype(np.uint8)
    monkeypatch.setattr(_arrays, "_MAP_VALUES", 2 * 5 * 5 * 3)  # two images at a time: four slices
    np.testing.assert_array_equal(_arrays.dataset_from_arrays(x, y, source="t").x, expected)


def test_float_images_a_little_past_0_to_1_count_as_0_to_1(tmp_path) -> None:
    rng = np.random.default_rng(5)
    x = rng.random((20, 6, 6)).astype(np.float32)
    x_test = rng.random((4, 6, 6)).astype(np.float32)
    x[0, 0, 0], x_test[0, 0, 0], x_test[1, 0, 0] = 1.02, 1.0001, -0.01  # a bicubic resize overshoots so
    y = np.repeat([0, 1], 10)
    np.savez(tmp_path / "f.npz", x_train=x, y_train=y, x_test=x_test, y_test=y[:4])
    ds = load_dataset(str(tmp_path / "f.npz"))
    np.testing.assert_array_equal(ds.x[..., 0], np.clip(np.rint(x * 255), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(ds.x_test[..., 0], np.clip(np.rint(x_test * 255), 0, 255).astype(np.uint8))
    # The exported model takes them times 255, as the search says and the card records: it
    # recorded no map, and a model given the arrays as they were scored at chance.
    assert ds.value_map == (0.0, 255.0)


def test_given_splits_labels_cast_to_floats_find_their_integer_classes(tmp_path) -> None:
    x = np.zeros((6, 4, 4), np.uint8)
    y = np.array([3, 7, 3, 7, 3, 7])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:3], y_test=np.array([7.0, 3.0, 7.0]))
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.class_names == ("3", "7") and ds.y_test.tolist() == [1, 0, 1]
    np.savez(tmp_path / "e.npz", x_train=x, y_train=y, x_test=x[:1], y_test=np.array([3.5]))
    with pytest.raises(DataError, match=r"test labels \['3.5'\] never occur in the training labels"):
        load_dataset(str(tmp_path / "e.npz"))


def test_folders_macos_adds_to_its_zip_archives_are_not_classes(tmp_path) -> None:
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(6, 6))
    write_image(root / "__MACOSX" / "a" / "._0.png", (6, 6))  # resource forks named as the images
    write_image(root / "__MACOSX" / "b" / "stray.png", (6, 6))
    assert load_dataset(str(root)).class_names == ("a", "b")


def test_images_in_a_linked_folder_of_a_class_are_read_once_without_looping(tmp_path) -> None:
    # Path.rglob did not follow a linked folder: its images were left out without a word.
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(6, 6))
    for i in range(3):
        write_image(tmp_path / "more" / f"{i}.png", (6, 6), seed=10 + i)
    write_image(root / "a" / ".hidden" / "x.png", (6, 6))  # hidden: left out
    (root / "a" / "more").symlink_to(tmp_path / "more", target_is_directory=True)
    (root / "b" / "up").symlink_to(root / "b", target_is_directory=True)  # a loop: walked once
    ds = load_dataset(str(root))
    assert ds.summary()["class_counts"] == {"a": 5, "b": 2}


def test_a_link_in_a_class_to_a_folder_above_it_does_not_pull_the_other_classes_in(tmp_path) -> None:
    # "a/loop -> .." walked the whole folder: class b's images were labelled a as well.
    root = make_folder(tmp_path / "d", {"a": 2, "b": 3}, shape=(6, 6))
    (root / "a" / "loop").symlink_to("..", target_is_directory=True)
    (root / "b" / "top").symlink_to(tmp_path, target_is_directory=True)
    assert load_dataset(str(root)).summary()["class_counts"] == {"a": 2, "b": 3}


@pytest.mark.parametrize("where", ["other class", "same class"])
def test_an_image_file_reached_twice_through_links_is_refused(tmp_path, where: str) -> None:
    root = make_folder(tmp_path / "d", {"a": 2, "b": 3}, shape=(6, 6))
    target = root / ("b" if where == "other class" else "a") / "1.png"
    (root / "a" / "copy.png").symlink_to(target)
    first, second = sorted([root / "a" / "copy.png", target])  # class a is listed before b
    with pytest.raises(DataError, match=re.escape(f"'{first}' and '{second}' are one image file (through a link)")):
        load_dataset(str(root))


def test_images_of_formats_not_read_and_broken_links_are_listed_as_skipped(tmp_path) -> None:
    # A HEIC photo or a dangling link in a class folder was left out without a word.
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(6, 6))
    (root / "a" / "phone.HEIC").write_bytes(b"ftypheic")
    (root / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / "b" / "notes.txt").write_text("not an image")  # not an image: left out quietly
    ds = load_dataset(str(root))
    assert len(ds.x) == 4
    assert dict(ds.skipped) == {
        str(root / "a" / "phone.HEIC"): "a .heic image, a format not read here: convert it to PNG or JPEG",
        str(root / "b" / "gone.png"): "a link to a file that does not exist",
    }


@pytest.mark.skipif(
    not features.check("avif") or not features.check("jpg_2000"), reason="Pillow without AVIF or JPEG 2000"
)
def test_folder_of_avif_jpeg_2000_and_ico_images(tmp_path) -> None:
    # Pillow reads them, but they were left out without a word.
    write_image(tmp_path / "d" / "a" / "0.avif", (8, 8, 3), seed=1)
    jp2 = write_image(tmp_path / "d" / "a" / "1.jp2", (8, 8, 3), seed=2)
    ico = write_image(tmp_path / "d" / "b" / "0.ico", (8, 8, 3), seed=3)
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.y.tolist() == [0, 0, 1] and ds.skipped == ()
    assert np.array_equal(ds.x[1], jp2) and np.array_equal(ds.x[2], ico)  # lossless as written


def test_a_folder_of_12_bit_images_keeps_their_grey_levels(tmp_path) -> None:
    # 12-bit camera values stored in 16-bit PNGs were scaled by 1/256: 16 grey levels, and no
    # note. One map for the whole data set spreads 0..4095 over 0..255, and the study records
    # it (value_map) so that its exported model and `automl predict` read such files the same.
    ramp = np.tile(np.arange(64, dtype=np.uint16) * 65, (8, 1))  # values 0..4095
    for c in ("a", "b"):
        for i in range(3):
            (tmp_path / "d" / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(ramp // (i + 1)).save(tmp_path / "d" / c / f"{i}.png")  # darker ones too
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == (0.0, 255 / 4095)
    assert np.unique(ds.x[0]).size == 64 and ds.x.max() == 255
    # The darker images stay darker: one map for all, not each image stretched on its own.
    assert ds.x[1].max() == round(4095 // 2 * 255 / 4095)

    # Files that use the upper bits keep the plain 8-bit scaling, as before.
    deep = np.full((8, 64), 0xABCD, np.uint16)
    for c in ("a", "b"):
        Image.fromarray(deep).save(tmp_path / "d" / c / "bright.png")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map is None and ds.x.max() == 0xAB


def test_a_folder_of_float_images_in_0_to_1_is_scaled_as_one(tmp_path) -> None:
    # Each float file was scaled by its own range: one of 0..1 whose resize overshot to 1.02
    # was read as 0..255 (black), and a dark one (max 0.2) of a 0..255 set was multiplied by 255.
    for c, base in (("dark", 0.2), ("bright", 0.8)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(4):
            values = np.full((6, 6), base, np.float32)
            values[0, 0] = 1.02 if i % 2 else base  # an overshoot, as a bicubic resize leaves
            Image.fromarray(values, mode="F").save(tmp_path / "d" / c / f"{i}.tif")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == (0.0, 255.0)
    assert sorted(np.unique(ds.x[:, 1:, 1:]).tolist()) == [51, 204]  # every image, overshoot or not

    for i in range(4):  # now values in 0..255 beside the 0..1 ones: pixels, as written
        Image.fromarray(np.full((6, 6), 0.2 if i % 2 else 200.0, np.float32), mode="F").save(
            tmp_path / "d" / "dark" / f"{i}.tif"
        )
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == AS_PIXELS and set(np.unique(ds.x[ds.y == ds.class_names.index("dark")]).tolist()) == {0, 200}
    # As the data set read it, so one file is read again (a dark one of 0..1 alone was stretched).
    dark = tmp_path / "d" / "dark" / "1.tif"
    assert load_image(dark, image_size=None, channels=None, value_map=ds.value_map).max() == 0


def test_16_bit_files_that_hold_pixels_are_read_alone_as_the_data_set_read_them(tmp_path) -> None:
    # Values below 256 in 16-bit files are pixels to the data set; no map was recorded, so one
    # such file read again (`automl predict`) lost its low 8 bits: black, one class for all.
    for c, rows in (("top", slice(0, 4)), ("bottom", slice(4, 8))):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(3):
            values = np.full((8, 8), 20 + i, np.uint16)
            values[rows] = 239
            Image.fromarray(values).save(tmp_path / "d" / c / f"{i}.png")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == AS_PIXELS and ds.x.max() == 239 and not maps_values(ds.value_map)
    again = load_image(tmp_path / "d" / "top" / "0.png", image_size=None, channels=None, value_map=ds.value_map)
    np.testing.assert_array_equal(again, ds.x[ds.class_names.index("top") * 3])


def test_csv_integer_labels_with_leading_zeros_stay_their_own_classes(tmp_path) -> None:
    # Read as numbers, "007" and "7" were one class.
    write_pngs(tmp_path, 4)
    (tmp_path / "x.csv").write_text("path,label\n0.png,007\n1.png,7\n2.png,007\n3.png,7\n")
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("007", "7") and ds.y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("name", ["subset", "Partition"])
def test_a_csv_subset_or_partition_column_gives_the_splits(tmp_path, name) -> None:
    write_pngs(tmp_path, 4)
    table = {"path": [f"{i}.png" for i in range(4)], "label": ["a", "b", "a", "b"], name: ["train"] * 2 + ["test"] * 2}
    pd.DataFrame(table).to_csv(tmp_path / "x.csv", index=False)
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert len(ds.x) == 2 and ds.y_test is not None and ds.y_test.tolist() == [0, 1]


def test_among_several_label_named_columns_the_first_of_label_names_is_read(tmp_path) -> None:
    # "class" comes before "target" in LABEL_NAMES, whatever their order in the file.
    write_pngs(tmp_path, 4)
    table = {"target": ["x", "x", "y", "y"], "filename": [f"{i}.png" for i in range(4)], "class": ["a", "b"] * 2}
    pd.DataFrame(table).to_csv(tmp_path / "x.csv", index=False)
    ds = load_dataset(str(tmp_path / "x.csv"))
    assert ds.class_names == ("a", "b") and ds.y.tolist() == [0, 1, 0, 1]


def test_a_change_of_proportions_past_5_percent_is_told_as_a_stretch(tmp_path) -> None:
    make_folder(tmp_path / "d", {"a": 3, "b": 3}, shape=(32, 32))
    write_image(tmp_path / "d" / "a" / "wider.png", (32, 40))  # 25% wider: stretched
    write_image(tmp_path / "d" / "b" / "bigger.png", (33, 34))  # 3% wider: only resized
    assert load_dataset(str(tmp_path / "d")).conversions == (
        "2 of 8 images of other sizes resized to 32x32 (height x width), 1 of them stretched to its shape "
        "(crop or pad them first to keep their proportions)",
    )


def test_npz_arrays_of_two_dimensions_are_not_taken_for_images(tmp_path) -> None:
    # A table of metadata or one-hot labels beside the images is no split left unread.
    x = np.zeros((4, 3, 3), np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]), boxes=np.zeros((4, 4)))
    assert len(load_dataset(str(tmp_path / "d.npz")).x) == 4


def test_image_size_resizes_the_given_test_and_validation_splits_too(tmp_path) -> None:
    x = np.zeros((4, 6, 6), np.uint8)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x[:2], y_val=y[:2], x_test=x[:2], y_test=y[:2])
    ds = load_dataset(str(tmp_path / "d.npz"), image_size=(4, 5))
    assert ds.x.shape[1:3] == ds.x_val.shape[1:3] == ds.x_test.shape[1:3] == (4, 5)


def test_a_path_under_the_home_folder_is_read(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    make_folder(tmp_path / "pets", {"cat": 1, "dog": 1})
    assert load_dataset("~/pets").class_names == ("cat", "dog")


def test_12_bit_images_that_never_reach_4095_are_scaled_as_12_bit(tmp_path) -> None:
    # The brightest value found (3000) is no white: the range is the camera's, up to 4095.
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((4, 4), 3000 - 1000 * i, np.uint16)).save(tmp_path / "d" / c / f"{i}.png")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == (0.0, 255 / 4095) and ds.x.max() == round(3000 * 255 / 4095)


def test_jpeg_files_of_every_jpeg_suffix_are_read(tmp_path) -> None:
    for i, suffix in enumerate((".jpg", ".jpeg", ".jpe", ".jfif", ".JPG")):
        write_image(tmp_path / "d" / ("a" if i % 2 else "b") / f"{i}{suffix}", (6, 6, 3), seed=i, fmt="JPEG")
    ds = load_dataset(str(tmp_path / "d"))
    assert len(ds.x) == 5 and ds.skipped == ()


def test_a_cut_16_bit_file_is_skipped_as_any_unreadable_file(tmp_path) -> None:
    # Its header reads, its pixels do not: the range of 16-bit values found is none.
    make_folder(tmp_path / "d", {"a": 2, "b": 2}, shape=(6, 6))
    cut = np.full(20, 3000, ">u2").tobytes()  # 20 of its 64 values
    (tmp_path / "d" / "a" / "deep.pgm").write_bytes(b"P5\n8 8\n4095\n" + cut)
    ds = load_dataset(str(tmp_path / "d"))
    assert len(ds.x) == 4 and [path for path, _ in ds.skipped] == [str(tmp_path / "d" / "a" / "deep.pgm")]


def test_float_images_of_0_to_255_with_missing_values_are_read_as_pixels(tmp_path) -> None:
    # A NaN (no reading) in each file hid its range: the files were taken for 0..1 and all went white.
    for c, value in (("a", 40.0), ("b", 200.0)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(2):
            values = np.full((4, 4), value, np.float32)
            values[0, 0] = np.nan
            Image.fromarray(values, mode="F").save(tmp_path / "d" / c / f"{i}.tif")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map == AS_PIXELS and sorted(np.unique(ds.x[:, 1:, 1:]).tolist()) == [40, 200]


def test_a_split_a_little_past_the_training_range_is_clipped_and_far_past_it_refused(tmp_path) -> None:
    # Training images of -1..1 map onto 0..255; another split may stray half that span beyond it.
    x = np.linspace(-1, 1, 4 * 9).reshape(4, 3, 3).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "near.npz", x_train=x, y_train=y, x_test=np.full((2, 3, 3), 1.9, np.float32), y_test=y[:2])
    assert (load_dataset(str(tmp_path / "near.npz")).x_test == 255).all()
    np.savez(tmp_path / "far.npz", x_train=x, y_train=y, x_test=np.full((2, 3, 3), 2.1, np.float32), y_test=y[:2])
    with pytest.raises(
        DataError, match=r"test image values range 2\.1\.\.2\.1, far outside the training images' -1\.\.1"
    ):
        load_dataset(str(tmp_path / "far.npz"))


def test_integer_images_of_pixel_values_are_kept_as_written(tmp_path) -> None:
    # Values of 10..255 in an int32 array are pixels: not stretched to 0..255.
    x = np.linspace(10, 255, 4 * 9).round().astype(np.int32).reshape(4, 3, 3)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]))
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.value_map is None and np.array_equal(ds.x[..., 0], x)


def test_float_training_images_a_little_below_0_count_as_0_to_1(tmp_path) -> None:
    x = np.linspace(0, 1, 4 * 9).reshape(4, 3, 3).astype(np.float32)
    x[0, 0, 0] = -0.02  # a resize undershoots at a sharp edge
    np.savez(tmp_path / "f.npz", x_train=x, y_train=np.array([0, 1, 0, 1]))
    ds = load_dataset(str(tmp_path / "f.npz"))
    assert ds.value_map == (0.0, 255.0) and ds.x[0, 0, 0, 0] == 0 and ds.x.max() == 255


def test_the_summary_gives_the_range_of_the_pixel_values(tmp_path) -> None:
    x = np.linspace(10, 200, 4 * 9).round().astype(np.uint8).reshape(4, 3, 3)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.array([0, 1, 0, 1]))
    assert load_dataset(str(tmp_path / "d.npz")).summary()["value_range"] == [10, 200]


def test_a_given_split_of_another_channel_count_is_refused(tmp_path) -> None:
    x = np.zeros((4, 3, 3, 3), np.uint8)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:2, ..., 0], y_test=y[:2])
    with pytest.raises(DataError, match=r"test images have shape \(3, 3, 1\) but training images have \(3, 3, 3\)"):
        load_dataset(str(tmp_path / "d.npz"))


def test_blank_cells_in_columns_a_csv_does_not_use_are_left_alone(tmp_path) -> None:
    write_pngs(tmp_path, 2)
    (tmp_path / "x.csv").write_text("path,label,notes\n0.png,cat,\n1.png,dog,blurry\n")
    assert load_dataset(str(tmp_path / "x.csv")).class_names == ("cat", "dog")


def test_12_bit_and_float_files_together_are_each_read_by_their_own_rule(tmp_path) -> None:
    # One map for both changed the values of one of them: floats of 0..1 times 255/4095, black.
    (tmp_path / "d" / "deep").mkdir(parents=True)
    (tmp_path / "d" / "float").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((4, 4), 4000, np.uint16)).save(tmp_path / "d" / "deep" / f"{i}.png")
        Image.fromarray(np.full((4, 4), 0.8, np.float32), mode="F").save(tmp_path / "d" / "float" / f"{i}.tif")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.value_map is None
    assert ds.x[ds.y == 0].max() == 4000 >> 8 and ds.x[ds.y == 1].min() == round(0.8 * 255)


def test_the_summary_counts_the_given_validation_images(tmp_path) -> None:
    x = np.zeros((4, 3, 3), np.uint8)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x[:3], y_val=y[:3])
    summary = load_dataset(str(tmp_path / "d.npz")).summary()
    assert (summary["num_val_images"], summary["num_test_images"]) == (3, None)


def test_a_folder_of_grey_images_with_alpha_stays_grey(tmp_path) -> None:
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        grey = np.full((4, 4), 100 if c == "a" else 200, np.uint8)
        Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA").save(tmp_path / "d" / c / "0.png")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.input_shape == (4, 4, 1) and ds.x[..., 0].tolist() == np.repeat([100, 200], 16).reshape(2, 4, 4).tolist()


def test_npz_and_csv_files_are_known_by_their_suffix_in_any_case(tmp_path) -> None:
    # Windows and cameras write DATA.NPZ and LABELS.CSV.
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 3, 3), np.uint8), y_train=np.array([0, 1, 0, 1]))
    (tmp_path / "d.npz").rename(tmp_path / "D.NPZ")
    assert len(load_dataset(str(tmp_path / "D.NPZ")).x) == 4
    write_pngs(tmp_path, 2)
    (tmp_path / "LABELS.CSV").write_text("path,label\n0.png,cat\n1.png,dog\n")
    assert load_dataset(str(tmp_path / "LABELS.CSV")).class_names == ("cat", "dog")
