"""Data for the search: sources, stratified splits, augmentation and feeding to ``fit``.

Typical use::

    ds = load_dataset("path/to/folder")               # or None (digits), "mnist", "x.npz", "x.csv"
    splits = split_dataset(ds, seed=0)
    norm = Normalization.fit(splits.train[0])          # training split only
    train = Feeder(*splits.train, batch_size=64, normalization=norm,
                   policy=AugmentPolicy(), seed=0)
    val = Feeder(*splits.val, batch_size=256, normalization=norm,
                 policy=AugmentPolicy.none(), seed=0, shuffle=False)
    model.fit(train, validation_data=val, epochs=10, shuffle=False)

Beside an accelerator, the policy runs on the device instead, inside the training step::

    augmentation = device_augmentation(policy, input_shape, seed=0)
    fit_model = training_model(model, augmentation)    # compile and fit this one
    fit_model.fit(x_train, y_train, ...)               # uint8; or a Feeder of augmentation.host_policy
    model.save("model.keras")                          # no augmentation layer in the export

``Feeder`` and the device augmentation import Keras, so they are loaded on first use and
``import pipelines`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines._augment import AugmentPolicy, max_pad_px, sample_augmentation
from pipelines._dataset import Dataset, value_map_formula
from pipelines._errors import DataError
from pipelines._image import load_image, maps_values, probe_image
from pipelines._normalization import Normalization
from pipelines._preview import augmentation_preview
from pipelines._sources import (
    DEFAULT_SOURCE,
    NAMED_SOURCES,
    ArrayData,
    check_source,
    image_paths,
    is_saved_arrays,
    load_dataset,
    save_arrays,
)
from pipelines._splits import ALLOCATIONS, DEFAULT_ALLOCATION, MAX_HELD_OUT, Splits, split_dataset
from pipelines._symmetry import MIRROR_ASYMMETRY_LIMIT, may_flip, mirror_asymmetry

if TYPE_CHECKING:
    from pipelines._device_augment import DeviceAugmentation, device_augmentation, training_model
    from pipelines._feeder import Feeder

__all__ = [
    "DataError",
    "Dataset",
    "value_map_formula",
    "maps_values",
    "max_pad_px",
    "load_dataset",
    "check_source",
    "save_arrays",
    "is_saved_arrays",
    "ArrayData",
    "NAMED_SOURCES",
    "DEFAULT_SOURCE",
    "Splits",
    "split_dataset",
    "ALLOCATIONS",
    "DEFAULT_ALLOCATION",
    "MAX_HELD_OUT",
    "Normalization",
    "AugmentPolicy",
    "sample_augmentation",
    "mirror_asymmetry",
    "may_flip",
    "MIRROR_ASYMMETRY_LIMIT",
    "augmentation_preview",
    "load_image",
    "probe_image",
    "image_paths",
    "Feeder",
    "DeviceAugmentation",
    "device_augmentation",
    "training_model",
]

# Public names whose modules import Keras -> those modules, imported on first use.
_LAZY = {
    "Feeder": "pipelines._feeder",
    "DeviceAugmentation": "pipelines._device_augment",
    "device_augmentation": "pipelines._device_augment",
    "training_model": "pipelines._device_augment",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
