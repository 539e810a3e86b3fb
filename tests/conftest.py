"""Shared test fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from inpaint_models.plugins import make_registry


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def registry():
    """A registry of every installed model plugin (built on first use)."""
    return make_registry()
