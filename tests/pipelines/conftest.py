"""Fixtures of the pipeline tests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture
def albumentations_warnings_are_errors() -> Iterator[None]:
    """Old albumentations argument names only warn (and are ignored): make that fail the test.

    albumentations attributes these warnings to the calling module, so a filter on the
    ``albumentations`` module would not catch them; every UserWarning is an error here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        yield
