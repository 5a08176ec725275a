"""Shared fixtures: tiny dataset folders (writers live in tests/fakedata.py)."""

import fakedata
import pytest


@pytest.fixture
def market_root(tmp_path):
    """A tiny Market-1501 folder: train ids 2, 5, 7; query 3, 4; gallery 3, 4, a distractor, a junk image."""
    return fakedata.write_market(tmp_path / "market")


@pytest.fixture
def custom_root(tmp_path):
    """A tiny custom CSV folder (see fakedata.CUSTOM)."""
    return fakedata.write_custom(tmp_path / "custom")
