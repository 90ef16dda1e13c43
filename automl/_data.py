"""A study's data: loaded once, split with the study's seed, normalised from the train split."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

import pipelines
from automl._config import StudyConfig

__all__ = [
    "StudyData",
    "load_study_data",
    "skipped_note",
    "absent_classes_note",
    "imbalance_note",
    "describe_data",
    "value_map_note",
    "conversions_note",
    "flips_line",
]


@dataclass(frozen=True, kw_only=True)
class StudyData:
    """The data set of a study with its splits and the train split's normalisation.

    The test split is rebuilt from the study's stored settings (same source, fractions and
    seed), so it is exactly the split no trial, pruning or sampling decision saw (the
    finalists are compared on it).
    """

    dataset: pipelines.Dataset
    splits: pipelines.Splits
    normalization: pipelines.Normalization

    @property
    def input_shape(self) -> tuple[int, int, int]:
        height, width, channels = self.splits.train[0].shape[1:]
        return int(height), int(width), int(channels)

    @property
    def num_classes(self) -> int:
        return len(self.splits.class_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.splits.class_names)

    @cached_property
    def mirror_asymmetry(self) -> float | None:
        """How far the training images' classes are from looking the same in a mirror
        (``pipelines.mirror_asymmetry``; ``None``: it cannot be told)."""
        return pipelines.mirror_asymmetry(*self.splits.train)

    @property
    def flips(self) -> bool:
        """Whether the search may flip the images (and the warm starts do): only where their
        classes look the same in a mirror, as photographs of objects do and digits do not."""
        return pipelines.may_flip(self.mirror_asymmetry)


def load_study_data(config: StudyConfig, *, allocation: str = pipelines.DEFAULT_ALLOCATION) -> StudyData:
    """Load and split the study's data (raises ``pipelines.DataError`` on bad input);
    ``allocation``: how the carved splits are shared among the classes (``pipelines.ALLOCATIONS``)."""
    dataset = pipelines.load_dataset(
        config.data, image_size=config.image_size, path_column=config.path_column, label_column=config.label_column
    )
    splits = pipelines.split_dataset(
        dataset,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        max_val_images=config.max_val_images,
        max_test_images=config.max_test_images,
        seed=config.seed,
        allocation=allocation,
    )
    return StudyData(dataset=dataset, splits=splits, normalization=pipelines.Normalization.fit(splits.train[0]))


def describe_data(data: StudyData, seconds: float) -> str:
    """One line for the console: the images, the classes and the splits, read in ``seconds``."""
    h, w, c = data.input_shape
    splits = data.splits
    parts = (("train", "train", splits.train), ("val", "validation", splits.val), ("test", "test", splits.test))
    sizes = [len(y) for _, _, (_, y) in parts]
    split = ", ".join(
        f"{label} {size:,}" + (" (given)" if name in splits.given else "")
        for (name, label, _), size in zip(parts, sizes, strict=True)
    )
    return f"data: {sum(sizes):,} images of {h}x{w}x{c} in {data.num_classes} classes, read in {seconds:.1f}s; {split}"


def flips_line(asymmetry: float | None) -> str:
    """One line for the console: whether images of this ``mirror_asymmetry`` are flipped, and why."""
    limit = pipelines.MIRROR_ASYMMETRY_LIMIT
    if asymmetry is None:
        return (
            "flips: off; whether the classes look the same in a mirror cannot be told from these images (too few "
            "of two classes or more, or the classes' mean edge maps do not differ beyond noise, as with objects at "
            "any place)"
        )
    if pipelines.may_flip(asymmetry):
        return (
            f"flips: on; the classes look the same in a mirror (mirror asymmetry {asymmetry:.3g}, below {limit:g}), "
            "so the search may flip the images"
        )
    return (
        f"flips: off; the classes do not look the same in a mirror (mirror asymmetry {asymmetry:.3g}, {limit:g} or "
        "more), as digits and text do not: no image is flipped"
    )


def absent_classes_note(splits: pipelines.Splits, shown: int = 3) -> str | None:
    """One line naming the classes that have no validation or no test image (None if every
    class has both): their accuracy is neither searched for nor measured."""
    parts = []
    for name, label in (("val", "validation"), ("test", "test")):
        present = set(np.unique(getattr(splits, name)[1]).tolist())
        absent = [c for k, c in enumerate(splits.class_names) if k not in present]
        if absent:
            more = f" and {len(absent) - shown} more" if len(absent) > shown else ""
            parts.append(f"{len(absent)} class(es) have no {label} image ({', '.join(absent[:shown])}{more})")
    if not parts:
        return None
    return f"note: {'; '.join(parts)}: too few images of them to hold any out; add images of those classes"


# A largest training class this many times the smallest gets a note (``imbalance_note``).
IMBALANCE_RATIO = 10


def imbalance_note(splits: pipelines.Splits) -> str | None:
    """One line when the training classes are imbalanced (the largest ``IMBALANCE_RATIO`` times
    the smallest or more): accuracy then favours the large classes, and the most frequent
    class alone scores what the line says on the test split (None when balanced enough)."""
    counts = np.bincount(splits.train[1], minlength=len(splits.class_names))
    present = np.flatnonzero(counts)
    large, small = present[np.argmax(counts[present])], present[np.argmin(counts[present])]
    if counts[large] < IMBALANCE_RATIO * counts[small]:
        return None
    y_test = splits.test[1]
    baseline = float(np.mean(y_test == large)) if len(y_test) else float("nan")
    return (
        f"note: the classes are imbalanced ({splits.class_names[large]!r} {counts[large]:,} training images, "
        f"{splits.class_names[small]!r} {counts[small]:,}): accuracy favours the large classes; predicting "
        f"{splits.class_names[large]!r} for every image scores {baseline:.4f} on the test split"
    )


def skipped_note(dataset: pipelines.Dataset, shown: int = 3) -> str | None:
    """One line naming the files the data set left out, and why (None if none were)."""
    if not dataset.skipped:
        return None
    names = ", ".join(f"{path} ({reason})" for path, reason in dataset.skipped[:shown])
    more = (
        f" and {len(dataset.skipped) - shown} more (see 'automl data inspect')" if len(dataset.skipped) > shown else ""
    )
    return f"note: skipped {len(dataset.skipped)} file(s): {names}{more}"


def value_map_note(dataset: pipelines.Dataset) -> str | None:
    """One line saying how values that were not pixels became pixels, and what the exported model
    takes (``automl._bundle.in_data_units``; None if they were pixels)."""
    if dataset.value_map is None or not pipelines.maps_values(dataset.value_map):
        return None
    low, factor = dataset.value_map
    return (
        f"note: the images' values ({low:.4g}..{low + 255 / factor:.4g}) are not pixels; they were mapped onto "
        f"0..255 as {pipelines.value_map_formula(low, factor)} to train, and the exported model takes values "
        "like these and maps them itself (the MLflow logged models take the pixels)"
    )


def conversions_note(dataset: pipelines.Dataset) -> str | None:
    """One line saying how arrays in another layout were read (None if none had to be)."""
    if not dataset.conversions:
        return None
    return (
        f"note: read {'; '.join(dataset.conversions)}. The exported model takes images of shape "
        f"(batch, {', '.join(map(str, dataset.input_shape))}) and gives one probability per class"
    )
