"""A study's data, checked to be the data it was searched on.

A study stores how to read its data (``StudyConfig.data``, as it was given), not the data.
Every later command (a resume, a worker, ``automl compare``, ``automl export``) reads it
again, and a folder may have changed in between: a class folder renamed shifts the class
names against the model's outputs, images added, removed or renamed move images between
the splits, so that a model is tested on images it trained on. The first read records what the
data is (``signature``) and the folder it was read from; a later read that differs is
refused, and a relative path is also looked for from that folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna

import pipelines
from automl._config import StudyConfig
from automl._data import StudyData, load_study_data
from automl._errors import UserError
from automl._records import StudyRecord, record_data

__all__ = ["study_data", "signature"]


def study_data(study: optuna.Study, config: StudyConfig) -> StudyData:
    """Load and split ``study``'s data; refuse it where it is not what the study recorded.

    Raises:
        UserError: the data differs from the data the study was searched on.
        pipelines.DataError: the data cannot be read.
    """
    recorded = StudyRecord.of(study).data
    # A study that recorded its data before the proportional allocation keeps its splits.
    allocation = pipelines.DEFAULT_ALLOCATION if recorded is None else recorded.get("allocation", "per_class")
    data = load_study_data(_from_search_folder(config, recorded), allocation=allocation)
    now = signature(data)
    if recorded is None:  # its first read (or a study from before this was recorded)
        record_data(study, {**now, "folder": str(Path.cwd()), "allocation": allocation})
        return data
    keys = [key for key, value in now.items() if recorded.get(key, value) != value]
    if keys:
        shown = [key for key in keys if key != "images"] or keys  # other images follow from other labels
        changed = [_change(key, recorded[key], now[key]) for key in shown]
        raise UserError(
            f"the data of study {study.study_name!r} ({config.data_name}) is not the data it was searched on: "
            f"{'; '.join(changed)}. Restore it, or search the new data as a new study"
        )
    return data


def signature(data: StudyData) -> dict[str, Any]:
    """What identifies a study's data: its classes, image shape, split sizes, every label in
    order and the pixels of each split (a file renamed within its class keeps the labels but
    moves images between the splits: about 30 ms for 60,000 MNIST images)."""
    splits = data.splits
    labels = np.concatenate([splits.train[1], splits.val[1], splits.test[1]]).astype(np.int64)
    pixels = hashlib.sha256()
    for images, _ in (splits.train, splits.val, splits.test):
        pixels.update(np.ascontiguousarray(images).data)
    return {
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
        "split_sizes": [len(splits.train[1]), len(splits.val[1]), len(splits.test[1])],
        "labels": hashlib.sha256(labels.tobytes()).hexdigest()[:16],
        "images": pixels.hexdigest()[:16],
    }


# What a changed part of the signature says, where its values say nothing to people.
_CHANGES = {
    "labels": "its labels differ (images added, removed or relabelled)",
    "images": (
        "its images differ (a file renamed, replaced or edited, which moves images between the training "
        "and test splits, or files decoded by another Pillow version)"
    ),
}


def _change(key: str, then: Any, now: Any) -> str:
    if key in _CHANGES:
        return _CHANGES[key]
    what, were, are = {
        "class_names": ("classes", "were", "are"),
        "input_shape": ("image shape", "was", "is"),
        "split_sizes": ("train/validation/test sizes", "were", "are"),
    }[key]
    return f"its {what} {were} {then} and {are} {now}"


def _from_search_folder(config: StudyConfig, recorded: Any) -> StudyConfig:
    """``config`` with a relative data path that is not found here taken from the folder
    the study's data was first read from, where it is found there (a data set name, as
    ``mnist``, is a name wherever the study runs, even beside a folder of that name)."""
    folder = (recorded or {}).get("folder")
    data = config.data
    if data is None or data in pipelines.NAMED_SOURCES or folder is None:
        return config
    if Path(data).is_absolute() or Path(data).exists():
        return config
    there = Path(folder) / data
    return dataclasses.replace(config, data=str(there)) if there.exists() else config
