"""Shared fixtures: tiny dataset folders (writers live in tests/fakedata.py)."""

import json
import os
import shutil
import subprocess

import fakedata
import filelock
import pytest

import runs
from unitystyle_jax.core import cpu_flags

# Before JAX starts its backend (on first use, after these imports); runs.XLA_FLAGS says why.
os.environ["XLA_FLAGS"] = runs.XLA_FLAGS
cpu_flags.apply_defaults()
runs.share_compilation_cache()


# The modules whose fixtures run longest (`make test`'s --durations), started first: with whole modules handed to
# two xdist workers (--dist loadfile, in collection order under --no-loadscope-reorder), longest-first keeps one
# worker from starting a ten-minute module when the other is nearly done. The rest follow in file order.
LONGEST_FIRST = (
    "test_compare.py",
    "test_device_check.py",
    "test_stacked_gan.py",
    "test_stage_resume.py",
    "test_reliability.py",
    "test_end_to_end.py",
    "test_unity_objective.py",
    "test_workdir_safety.py",
    "test_cli_errors.py",
    "test_transfer.py",
    "test_gan_step.py",
    "test_programs.py",  # compiles the tiny UnityGAN's programs early: test_preflight, test_generators and test_model_run load them
    "test_compile_cache.py",
    "test_sharding.py",
    "test_camera_bn.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order otherwise


@pytest.fixture(scope="session")
def tiny_baseline(tmp_path_factory, worker_id):
    """A finished tiny real-only run (`train.py` with runs.BASELINE), trained once per test session however many
    xdist workers ask for it: its result (`.workdir` with the synthetic dataset in `.workdir/dataset`,
    `.stdout`, `.stderr`). Read it in place; copy it before running anything on it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base  # the session's folder, common to its workers
    folder, record = shared / "tiny_baseline", shared / "tiny_baseline.json"
    with filelock.FileLock(str(shared / "tiny_baseline.lock")):
        if not record.exists():
            shutil.rmtree(folder, ignore_errors=True)
            # train.py's one successful run in a new interpreter, as a user starts it (tests/forked.py).
            done = runs.run("train.py", folder, *runs.BASELINE, fresh=True)
            record.write_text(json.dumps({"args": done.args, "stdout": done.stdout, "stderr": done.stderr}))
    printed = json.loads(record.read_text())
    return subprocess.CompletedProcess(printed["args"], 0, printed["stdout"], printed["stderr"]), folder


@pytest.fixture
def market_root(tmp_path):
    """A tiny Market-1501 folder: train ids 2, 5, 7; query 3, 4; gallery 3, 4, a distractor, a junk image."""
    return fakedata.write_market(tmp_path / "market")


@pytest.fixture
def custom_root(tmp_path):
    """A tiny custom CSV folder (see fakedata.CUSTOM)."""
    return fakedata.write_custom(tmp_path / "custom")


@pytest.fixture(scope="module")
def tiny_config_and_mesh():
    """The tiny synthetic config and this process's mesh: what the in-process restore tests build programs from."""
    from configs import synthetic
    from unitystyle_jax.core import parallel

    return synthetic.get_config("tiny"), parallel.make_mesh()
