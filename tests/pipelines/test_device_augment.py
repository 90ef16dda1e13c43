"""The executors of a policy: the on-device layers and NumPy batches against albumentations.

Albumentations and each other executor (on the device with TensorFlow, JAX or PyTorch, or NumPy on
whole batches, ``pipelines._batch_augment``) transform the same synthetic image ``N``
times; the images are made so the transformation can be read back from the result (a
bright pixel for shifts, a blob off-centre for rotations, two blobs for the scale, constant
images for brightness, contrast and cut-outs). The device side runs with TensorFlow in this
process and with JAX and PyTorch in subprocesses (``KERAS_BACKEND`` is read once, at import). NumPy
runs the transforms it has builders for; the others' tests skip it. The device's own
contract (identity at inference, nothing exported) follows.

Tolerances, for ``N = 1000`` images per executor:

- rates (flip, transform applied, no shift): the two executors' rates differ by at most 4
  standard errors of a difference of two binomial proportions, ``4 * sqrt(2 p (1 - p) / N)``
  (0.089 at p = 1/2), and the other executor's rate is within 4 standard errors of its expected value;
- range ends: the extreme values of both executors lie within a slack of the policy's bound
  (0 for whole-pixel shifts, 1.5 degrees, 0.02 in scale, 1.5 grey levels, 0.015 in gain): the
  host rounds its results to uint8 and both read angles and scales from resampled blobs;
- spreads: standard deviations agree within 10% (for uniform draws the relative standard
  error of a standard deviation is about 3% with 500 to 1,000 values, so this is over 3 of
  them for the difference).
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipelines import AugmentPolicy
from pipelines._augment import _TRANSFORMS, augment_example
from tests.backends import run_under_backend

N = 1000  # images per executor and case
SEED = 1234
BACKENDS = ("tensorflow", "jax", "torch")
EXECUTORS = (*BACKENDS, "numpy")


@dataclass(frozen=True, kw_only=True)
class Case:
    """One transform switched on, and an image from which its effect can be measured."""

    policy: AugmentPolicy
    image: np.ndarray  # uint8 (H, W, C)


def _only(p_field: str, p: float, **magnitudes: float) -> AugmentPolicy:
    return dataclasses.replace(AugmentPolicy.none(), **{p_field: p}, **magnitudes)


def _image(shape: tuple[int, int, int], value: int = 0, **blobs: tuple[slice, slice]) -> np.ndarray:
    image = np.full(shape, value, dtype=np.uint8)
    for rows, cols in blobs.values():
        image[rows, cols] = 255
    return image


SIDE = 28  # 28x28 images: the centre is at (13.5, 13.5)
CASES: dict[str, Case] = {
    "flip": Case(policy=_only("hflip_p", 0.25), image=_image((SIDE, SIDE, 1), a=(slice(5, 6), slice(3, 4)))),
    "pad_crop": Case(
        policy=_only("pad_crop_p", 0.5, pad_px=3), image=_image((SIDE, SIDE, 1), a=(slice(14, 15), slice(14, 15)))
    ),
    "translate": Case(
        policy=_only("affine_p", 1.0, shift=0.125, scale=0.0, rotate=0.0),
        image=_image((SIDE, SIDE, 1), a=(slice(12, 16), slice(12, 16))),
    ),
    "rotate": Case(
        policy=_only("affine_p", 0.5, shift=0.0, scale=0.0, rotate=20.0),
        image=_image((SIDE, SIDE, 1), a=(slice(12, 16), slice(20, 24))),  # centroid 8 px right of the centre
    ),
    "scale": Case(
        policy=_only("affine_p", 1.0, shift=0.0, scale=0.2, rotate=0.0),
        image=_image((SIDE, SIDE, 1), a=(slice(12, 16), slice(4, 8)), b=(slice(12, 16), slice(20, 24))),
    ),
    "brightness": Case(policy=_only("color_p", 0.5, brightness=0.2, contrast=0.0), image=_image((32, 32, 3), 128)),
    "contrast": Case(policy=_only("color_p", 1.0, brightness=0.0, contrast=0.3), image=_image((SIDE, SIDE, 1), 100)),
    "dropout": Case(
        policy=_only("dropout_p", 0.5, dropout_holes=3, dropout_size=0.25), image=_image((SIDE, SIDE, 1), 200)
    ),
}


# ---------------------------------------------------------------- the executors
def host_outputs(case: Case) -> np.ndarray:
    """``N`` albumentations results, image ``i`` from the stream of example ``i``."""
    pipeline = case.policy.build()
    return np.stack([augment_example(pipeline, case.image, seed=SEED, epoch=0, index=i) for i in range(N)])


def device_outputs_here() -> dict[str, np.ndarray]:
    """Every case's ``N`` on-device results with this process's backend, and whether XLA stays on."""
    import keras

    from pipelines import device_augmentation, training_model

    outputs = {}
    for name, case in CASES.items():
        augmentation = device_augmentation(case.policy, case.image.shape, seed=SEED)
        batch = np.repeat(case.image[None].astype("float32"), N, axis=0)
        outputs[name] = keras.ops.convert_to_numpy(augmentation.layer(batch, training=True))
    model = training_model(_tiny_model((SIDE, SIDE, 1)), device_augmentation(AugmentPolicy(), (SIDE, SIDE, 1)))
    with warnings.catch_warnings():  # TensorFlow says that it turns XLA off
        warnings.simplefilter("ignore", UserWarning)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    outputs["xla"] = np.array(bool(model.jit_compile))
    outputs["backend"] = np.array(keras.backend.backend())
    return outputs


def _tiny_model(shape: tuple[int, int, int]):  # noqa: ANN202  (keras is imported lazily)
    import keras

    inputs = keras.Input(shape=shape)
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="tiny")


def batch_outputs() -> dict[str, np.ndarray]:
    """The NumPy executor's ``N`` results of every case it runs whole, from one batch."""
    from pipelines._batch_augment import batch_augmentation

    outputs = {}
    for name, case in CASES.items():
        split = batch_augmentation(case.policy)
        if split.rest.is_identity:
            batch = np.repeat(case.image[None], N, axis=0)
            outputs[name] = split.apply(batch, np.random.default_rng(SEED))
    return outputs


@pytest.fixture(scope="module")
def host() -> dict[str, np.ndarray]:
    return {name: host_outputs(case).astype(np.float64) for name, case in CASES.items()}


@pytest.fixture(scope="module", params=EXECUTORS)
def executor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    backend = request.param
    if backend == "numpy":
        return {name: out.astype(np.float64) for name, out in batch_outputs().items()}
    import keras

    if keras.backend.backend() == backend:
        return device_outputs_here()
    path = tmp_path_factory.mktemp(f"device-{backend}") / "outputs.npz"
    done = run_under_backend(backend, [__file__, str(path)], timeout=600)
    assert done.returncode == 0, f"the {backend} executor failed:\n{done.stderr[-3000:]}"
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


# ---------------------------------------------------------------- measurements
def _centroids(images: np.ndarray, first_col: int = 0, end_col: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted (row, column) centroid of each image's columns ``first_col:end_col``."""
    part = images[:, :, first_col:end_col, 0].astype(np.float64)
    rows, cols = np.indices(part.shape[1:])
    mass = part.sum(axis=(1, 2))
    return (part * rows).sum(axis=(1, 2)) / mass, (part * (cols + first_col)).sum(axis=(1, 2)) / mass


def _numpy(tensor: object) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(tensor)


def assert_same_rate(host: np.ndarray, other: np.ndarray, expected: float) -> None:
    """Two boolean samples' rates agree with each other and with ``expected`` (4 standard errors)."""
    spread = math.sqrt(expected * (1 - expected) / N)
    assert abs(other.mean() - host.mean()) <= 4 * math.sqrt(2) * spread, (host.mean(), other.mean())
    assert abs(other.mean() - expected) <= 4 * spread, (other.mean(), expected)


def assert_same_range(host: np.ndarray, other: np.ndarray, low: float, high: float, slack: float) -> None:
    """Both samples reach ``low`` and ``high`` within ``slack``, never beyond, with stds within 10%."""
    for values in (host, other):
        assert low - slack <= values.min() <= low + slack and high - slack <= values.max() <= high + slack, (
            values.min(),
            values.max(),
            (low, high),
        )
    assert abs(other.std() / host.std() - 1) <= 0.10, (host.std(), other.std())


def _compare(name: str, host: dict, executor: dict, measure: Callable[[np.ndarray], np.ndarray]) -> tuple:
    if name not in executor:
        pytest.skip(f"this executor leaves {name!r} to albumentations")
    return measure(host[name]), measure(executor[name])


# ---------------------------------------------------------------- the distributions
def test_flip_rate(host: dict, executor: dict) -> None:
    image = CASES["flip"].image
    flipped = image[:, ::-1].astype(np.float64)
    h, d = _compare("flip", host, executor, lambda out: np.all(out == flipped, axis=(1, 2, 3)))
    assert_same_rate(h, d, 0.25)
    # Every other image is untouched.
    for out, was_flipped in ((host["flip"], h), (executor["flip"], d)):
        assert np.all(out[~was_flipped] == image)


def test_pad_crop_is_a_whole_pixel_shift_of_the_same_range(host: dict, executor: dict) -> None:
    def shifts(out: np.ndarray) -> np.ndarray:
        flat = out[..., 0].reshape(len(out), -1)
        assert np.all(flat.max(axis=1) == 255)  # moved whole, never resampled between pixels
        rows, cols = np.unravel_index(flat.argmax(axis=1), out.shape[1:3])
        return np.stack([rows - 14, cols - 14], axis=1)

    h, d = _compare("pad_crop", host, executor, shifts)
    for axis in range(2):
        assert_same_range(h[:, axis], d[:, axis], -3, 3, slack=0)
    # Applied to half the images, each of the 7 x 7 shifts equally likely (one of them is none).
    assert_same_rate(np.any(h != 0, axis=1), np.any(d != 0, axis=1), 0.5 * (1 - 1 / 49))


def test_translation_range(host: dict, executor: dict) -> None:
    # shift 0.125 of 28 pixels: int(U(-3.5, 3.5)) whole pixels per axis, 0 with probability 1 / 3.5.
    def shifts(out: np.ndarray) -> np.ndarray:
        rows, cols = _centroids(out)
        return np.stack([rows - 13.5, cols - 13.5], axis=1)

    h, d = _compare("translate", host, executor, shifts)
    for axis in range(2):
        assert_same_range(h[:, axis], d[:, axis], -3, 3, slack=0.01)
        assert_same_rate(np.abs(h[:, axis]) < 0.01, np.abs(d[:, axis]) < 0.01, 1 / 3.5)


def test_rotation_range(host: dict, executor: dict) -> None:
    def angles(out: np.ndarray) -> np.ndarray:
        rows, cols = _centroids(out)
        return np.degrees(np.arctan2(rows - 13.5, cols - 13.5))

    h, d = _compare("rotate", host, executor, angles)
    applied_h, applied_d = np.abs(h) > 0.25, np.abs(d) > 0.25
    assert_same_rate(applied_h, applied_d, 0.5 * (1 - 0.25 / 20))
    assert_same_range(h[applied_h], d[applied_d], -20, 20, slack=1.5)


def test_scale_range(host: dict, executor: dict) -> None:
    def scales(out: np.ndarray) -> np.ndarray:
        _, left = _centroids(out, 0, 14)
        _, right = _centroids(out, 14)
        return (right - left) / 16.0  # the blobs' centroids are 16 pixels apart

    h, d = _compare("scale", host, executor, scales)
    assert_same_range(h, d, 0.8, 1.2, slack=0.02)


def test_brightness_range(host: dict, executor: dict) -> None:
    def shifts(out: np.ndarray) -> np.ndarray:
        per_channel = out.mean(axis=(1, 2)) - 128
        assert np.allclose(per_channel, per_channel[:, :1], atol=1e-3)  # one shift for all channels
        return per_channel[:, 0]

    h, d = _compare("brightness", host, executor, shifts)
    assert_same_rate(np.abs(h) > 0.5, np.abs(d) > 0.5, 0.5 * (1 - 0.5 / 51))
    assert_same_range(h[np.abs(h) > 0.5], d[np.abs(d) > 0.5], -0.2 * 255, 0.2 * 255, slack=1.5)


def test_contrast_is_a_gain_of_the_same_range(host: dict, executor: dict) -> None:
    # A constant image keeps its value under a contrast stretch around the mean (Keras'
    # RandomContrast) but not under albumentations' gain, which the device must follow.
    h, d = _compare("contrast", host, executor, lambda out: out.mean(axis=(1, 2, 3)) / 100)
    assert_same_range(h, d, 0.7, 1.3, slack=0.015)


def test_dropout_holes(host: dict, executor: dict) -> None:
    # 1..3 holes of int(28 * 0.25) = 7 pixels square, possibly overlapping.
    h, d = _compare("dropout", host, executor, lambda out: (out[..., 0] == 0).sum(axis=(1, 2)))
    assert_same_rate(h > 0, d > 0, 0.5)
    assert_same_range(h[h > 0], d[d > 0], 49, 3 * 49, slack=0)
    assert abs(d[d > 0].mean() / h[h > 0].mean() - 1) <= 0.10, (h[h > 0].mean(), d[d > 0].mean())


def test_jit_compile_kept_except_with_tensorflow(executor: dict) -> None:
    # TensorFlow's resampling op has no XLA kernel, so there the training model runs without
    # XLA. JAX keeps XLA, and PyTorch keeps jit_compile (torch.compile) when asked for it.
    if "xla" not in executor:
        pytest.skip("NumPy compiles nothing")
    assert executor["xla"].item() == (executor["backend"].item() != "tensorflow")


# ---------------------------------------------------------------- the executor's contract
@pytest.mark.parametrize("name", sorted(_TRANSFORMS))
def test_every_transform_has_a_device_builder(name: str) -> None:
    from pipelines import device_augmentation

    p_field, magnitudes, _ = _TRANSFORMS[name]
    policy = _only(p_field, 0.5, **{m: AugmentPolicy().to_dict()[m] or 0.2 for m in magnitudes})
    augmentation = device_augmentation(policy, (SIDE, SIDE, 1), seed=0)
    assert augmentation.on_device == (name,) and augmentation.host_policy.is_identity
    batch = np.repeat(_image((SIDE, SIDE, 1), 100, a=(slice(3, 9), slice(2, 6)))[None], 32, 0).astype("float32")
    out = _numpy(augmentation.layer(batch, training=True))
    assert out.shape == batch.shape and out.dtype == np.float32 and not np.array_equal(out, batch)


def test_a_channels_first_keras_config_transforms_the_same_images() -> None:
    # keras.ops.image follows keras.json's image_data_format by default: with
    # "channels_first" the affine transform read the rows as channels.
    import keras

    from pipelines import device_augmentation

    policy = _only("affine_p", 1.0, shift=0.2, scale=0.1, rotate=10.0)
    batch = np.random.default_rng(0).integers(0, 256, (4, 12, 10, 3)).astype("float32")
    expected = _numpy(device_augmentation(policy, (12, 10, 3), seed=0).layer(batch, training=True))
    keras.config.set_image_data_format("channels_first")
    try:
        got = _numpy(device_augmentation(policy, (12, 10, 3), seed=0).layer(batch, training=True))
    finally:
        keras.config.set_image_data_format("channels_last")
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_transforms_without_a_device_builder_stay_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import _device_augment, device_augmentation

    monkeypatch.delitem(_device_augment._DEVICE_BUILDERS, "color")
    augmentation = device_augmentation(AugmentPolicy(), (SIDE, SIDE, 1))
    assert augmentation.on_device == ("pad_crop", "affine")
    assert augmentation.host_policy.transforms == ("color",)
    assert augmentation.host_policy.to_dict() == {**AugmentPolicy().to_dict(), "pad_crop_p": 0.0, "affine_p": 0.0}


def test_identity_policy_needs_no_layer() -> None:
    from pipelines import device_augmentation, training_model

    augmentation = device_augmentation(AugmentPolicy.none(), (SIDE, SIDE, 1))
    model = _tiny_model((SIDE, SIDE, 1))
    assert augmentation.layer is None and training_model(model, augmentation) is model


@pytest.mark.parametrize("shape", [(28, 28), (28, 0, 1), (28.0, 28, 1)])
def test_bad_input_shape_is_quoted(shape: tuple) -> None:
    from pipelines import device_augmentation

    with pytest.raises(ValueError, match=re.escape(repr(shape))):
        device_augmentation(AugmentPolicy(), shape)


def test_augmentation_computes_in_float32_under_mixed_precision() -> None:
    import keras

    from pipelines import device_augmentation

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = device_augmentation(AugmentPolicy(hflip_p=0.5, dropout_p=0.5), (SIDE, SIDE, 1)).layer
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {sub.compute_dtype for sub in layer._flatten_layers()} == {"float32"}


def test_inference_is_the_identity_and_the_export_has_no_augmentation(tmp_path: Path) -> None:
    import keras

    from pipelines import device_augmentation, training_model
    from pipelines._device_layers import RandomApply

    keras.utils.set_random_seed(0)
    shape = (SIDE, SIDE, 1)
    model = _tiny_model(shape)
    augmentation = device_augmentation(AugmentPolicy(hflip_p=0.5, dropout_p=0.5), shape, seed=0)
    fit_model = training_model(model, augmentation)
    x = np.random.default_rng(0).integers(0, 256, (64, *shape)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)

    assert np.array_equal(_numpy(augmentation.layer(x, training=False)), x)
    assert np.array_equal(_numpy(augmentation.layer(x)), x)  # a plain call is inference too
    assert not np.array_equal(_numpy(augmentation.layer(x, training=True)), x)

    before = [w.copy() for w in model.get_weights()]
    fit_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fit_model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))  # trained
    np.testing.assert_allclose(fit_model.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)

    path = tmp_path / "model.keras"
    model.save(path)
    exported = keras.saving.load_model(path, compile=False, safe_mode=True)
    augmenting = (RandomApply, keras.layers.RandomTranslation, keras.layers.RandomFlip)
    assert not [layer.name for layer in exported._flatten_layers() if isinstance(layer, augmenting)]
    np.testing.assert_allclose(exported.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_training_model_refuses_another_shape() -> None:
    from pipelines import device_augmentation, training_model

    augmentation = device_augmentation(AugmentPolicy(), (32, 32, 3))
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(28, 28, 1\)"):
        training_model(_tiny_model((SIDE, SIDE, 1)), augmentation)


if __name__ == "__main__":  # the device executor under another backend, for the ``executor`` fixture
    np.savez(sys.argv[1], **device_outputs_here())
