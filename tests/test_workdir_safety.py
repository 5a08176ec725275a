"""One writer per workdir, and a workdir that cannot be written: a second train.py on a busy workdir refuses,
naming the holder's pid; a crashed holder leaves no stale lock; a read-only or full workdir gives one error line
naming the path, and the last good checkpoint stays.

Read-only and full filesystems are real ones: small tmpfs mounts (root only; skipped elsewhere).
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from runs import (
    BASELINE,
    checkpoint_steps,
    finish,
    logged_steps,
    one_error_line,
    output,
    snapshot,
    start,
)

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`


@contextlib.contextmanager
def tmpfs(folder, size: str):
    os.makedirs(folder, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def wait_for(condition, process, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, (
            f"{process.args} ended ({process.returncode}):\n{output(process)[1][-4000:]}"
        )
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def fill(folder) -> None:
    """Writes into `folder` until its filesystem is full."""
    with open(os.path.join(folder, "filler"), "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()


@pytest.fixture(scope="module")
def dataset(tiny_baseline):
    """The tiny synthetic data the suite's shared baseline run wrote (read only)."""
    _, workdir = tiny_baseline
    return f"--config.data.root={workdir / 'dataset'}"


def test_a_second_run_on_a_busy_workdir_refuses_and_a_killed_holder_leaves_no_stale_lock(tmp_path, dataset):
    long_run = (*BASELINE, dataset, "--config.reid.num_steps=100000", "--config.reid.checkpoint_every=50")
    holder = start("train.py", tmp_path, *long_run)
    try:
        wait_for(lambda: checkpoint_steps(tmp_path), holder)
        (second,) = finish(start("train.py", tmp_path, *BASELINE, dataset), check=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    error = one_error_line(second)
    assert re.search(
        rf"workdir {re.escape(str(tmp_path))} is in use by process {holder.pid} on \S+ \(lock ", error
    )
    # The kernel dropped the dead holder's lock: the same command runs and reads the killed run's checkpoint
    # (past this command's one step: nothing left to train).
    (third,) = finish(start("train.py", tmp_path, *BASELINE, dataset, "--config.reid.num_steps=1"))
    assert re.search(r"trained to step (\d+) already \(num_steps 1\)", third.stderr), third.stderr[-2000:]


def test_a_read_only_workdir_is_one_error_line_and_nothing_is_lost(tmp_path, tiny_baseline, dataset):
    with tmpfs(tmp_path / "ro", "64m") as mount:
        workdir = shutil.copytree(tiny_baseline[1], mount / "run")  # a finished run of these flags
        before = snapshot(workdir)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        train, evaluate = finish(
            start("train.py", workdir, *BASELINE, dataset),
            start("evaluate.py", workdir, *BASELINE, dataset),
            check=False,
        )
        assert f"workdir {workdir} is not writable (Read-only file system)" in one_error_line(train)
        assert f"{workdir / 'eval'}" in one_error_line(evaluate)
        assert snapshot(workdir) == before


def test_a_full_workdir_stops_before_a_checkpoint_it_has_no_room_for_and_keeps_the_last_good_one(
    tmp_path, dataset
):
    flags = (*BASELINE, dataset, "--config.reid.checkpoint_every=200", "--config.reid.log_every=100000")
    with tmpfs(tmp_path / "full", "64m") as mount:
        workdir = mount / "run"
        process = start("train.py", workdir, *flags, "--config.reid.num_steps=1000")
        wait_for(lambda: checkpoint_steps(workdir) == [200], process)
        process.send_signal(signal.SIGSTOP)  # the disk fills up while the next 200 steps run
        fill(mount)
        process.send_signal(signal.SIGCONT)
        (full,) = finish(process, check=False)
        error = one_error_line(full)
        assert re.search(
            rf"no room for checkpoint {re.escape(str(workdir))}/checkpoints/400: [\d.]+ MiB needed, [\d.]+ MiB free "
            r"\(checkpoints kept: \[200\]\)",
            error,
        )
        assert sorted(os.listdir(workdir / "checkpoints")) == ["200"]  # no half-written step either
        copy = shutil.copytree(workdir, tmp_path / "copy")
    (resumed,) = finish(start("train.py", copy, *flags, "--config.reid.num_steps=201"))
    assert "resuming from step 200" in resumed.stderr
    assert checkpoint_steps(copy) == [200, 201] and logged_steps(copy) == 1
