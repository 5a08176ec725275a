"""Sharding is exact: one device, eight simulated devices, and two processes joined by jax.distributed give the
same per-step losses."""

import os
import subprocess

import numpy as np
import pytest

import runs
from unitystyle_jax.data import synthetic

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

FLAGS = (
    "--config.stages=reid",
    "--config.reid.method=baseline",
    "--config.reid.num_steps=3",
    "--config.reid.log_every=1",
    "--config.reid.checkpoint_every=3",
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    synthetic.generate(str(root), synthetic.SyntheticSpec.tiny())
    return f"--config.data.root={root}"


@pytest.fixture(scope="module")
def single_device_losses(tmp_path_factory, dataset):
    workdir = tmp_path_factory.mktemp("one")
    runs.run("train.py", workdir, dataset, *FLAGS)
    return [m["loss"] for m in runs.metrics(workdir)]


def test_eight_devices_match_one(tmp_path, dataset, single_device_losses):
    runs.run("train.py", tmp_path, dataset, *FLAGS, devices=8)
    losses = [m["loss"] for m in runs.metrics(tmp_path)]
    assert len(losses) == len(single_device_losses) == 3
    np.testing.assert_allclose(losses, single_device_losses, rtol=1e-5)


def test_two_processes_match_one(tmp_path, dataset, single_device_losses):
    port = runs.free_port()
    processes = [
        subprocess.Popen(
            runs.command(
                "train.py",
                tmp_path,
                dataset,
                *FLAGS,
                "--config.distributed.enabled=True",
                f"--config.distributed.coordinator_address=localhost:{port}",
                "--config.distributed.num_processes=2",
                f"--config.distributed.process_id={i}",
            ),
            cwd=runs.REPO,
            env=runs.env(1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-4000:]
    losses = [m["loss"] for m in runs.metrics(tmp_path)]
    np.testing.assert_allclose(losses, single_device_losses, rtol=1e-5)
    # One run's processes share the workdir: each held its own lock, so neither refused the other.
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".lock")) == [
        ".lock-process0",
        ".lock-process1",
    ]
