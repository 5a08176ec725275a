"""Shared fixtures: tiny dataset folders (writers live in tests/fakedata.py)."""

import os

import fakedata
import jax
import pytest

import runs
from unitystyle_jax import cpu_flags

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


# The modules with the most work, costliest first (seconds on one worker, cold compile cache, 2026-12-03). With
# `--dist loadfile` each module runs whole on one worker, so the suite ends when the last module does: started
# first, the long ones overlap the many short ones instead of running alone at the end (the Makefile passes
# --no-loadscope-reorder, else xdist starts the modules with the most tests first).
COSTLIEST_FIRST = (
    "test_compare.py",  # 228
    "test_end_to_end.py",  # 196
    "test_stage_resume.py",  # 153
    "test_stacked_gan.py",  # 141
    "test_reliability.py",  # 99
    "test_reid_step.py",  # 89
    "test_workdir_safety.py",  # 88
    "test_gan_step.py",  # 85
    "test_preflight.py",  # 73
    "test_mixed_precision.py",  # 57
    "test_cli_errors.py",  # 57
    "test_sharding.py",  # 50
    "test_unitystyle_effect.py",  # 49
)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
