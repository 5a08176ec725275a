"""Shared fixtures: tiny dataset folders (writers live in tests/fakedata.py)."""

import os

import fakedata
import jax
import pytest

import runs
from unitystyle_jax.core import cpu_flags

# Before JAX starts its backend (on first use, after these imports); runs.XLA_FLAGS says why.
os.environ["XLA_FLAGS"] = runs.XLA_FLAGS
cpu_flags.apply_defaults()
# In-process tests share the commands' compilation cache (tests/runs.py): programs the same as a command's, or
# as an earlier run's, load instead of compiling again.
jax.config.update("jax_compilation_cache_dir", runs.CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def market_root(tmp_path):
    """A tiny Market-1501 folder: train ids 2, 5, 7; query 3, 4; gallery 3, 4, a distractor, a junk image."""
    return fakedata.write_market(tmp_path / "market")


@pytest.fixture
def custom_root(tmp_path):
    """A tiny custom CSV folder (see fakedata.CUSTOM)."""
    return fakedata.write_custom(tmp_path / "custom")
