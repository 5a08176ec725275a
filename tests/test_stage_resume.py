"""Every stage survives kill -9, on a Market-layout folder of 4 cameras with a gap in their numbers (c1, c2, c3,
c5), as a user's own data would be.

One run is killed during camera 1's UnityGAN training, its rerun is killed during the transfer stage, and a
third run of the same command finishes. Each camera's final GAN losses and the final IDE metrics must equal
an uninterrupted run's. (Two uninterrupted runs of one seed writing byte-identical eval/metrics.json is
checked on cheaper, real-only runs in test_reliability.py.)
"""

import os
import re
import signal
from types import SimpleNamespace

import fakedata
import numpy as np
import pytest

import runs
from runs import METRIC_KEYS, checkpoint_steps, finish, interrupt_when, read_json, start

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`

CAMERAS = (1, 2, 3, 5)  # as in the file names; 0-based camera ids 0, 1, 2, 4
GAN_STEPS, EVERY = 20, 5  # each camera's GAN logs and saves 4 times
FLAGS = (
    "--config.data.name=market1501",
    f"--config.gan.num_steps={GAN_STEPS}",
    f"--config.gan.checkpoint_every={EVERY}",
    f"--config.gan.log_every={EVERY}",
)
SAVED = list(range(EVERY, GAN_STEPS + 1, EVERY))


def gan_checkpoints(workdir, camera: int) -> list[int]:
    return checkpoint_steps(os.path.join(workdir, "gan", f"cam{camera}"))


def transfer_under_way(workdir) -> bool:
    folder = os.path.join(workdir, "unitystyle.partial", "train")
    return os.path.isdir(folder) and any(n.endswith(".jpg") for n in os.listdir(folder))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    data = fakedata.write_market_cameras(tmp_path_factory.mktemp("market4"), CAMERAS)
    w = {name: tmp_path_factory.mktemp(name) for name in ("reference", "killed")}

    def train(name):
        return start("train.py", w[name], f"--config.data.root={data}", *FLAGS)

    def evaluate(name):
        return start("evaluate.py", w[name], f"--config.data.root={data}", *FLAGS)

    first = [train("reference"), train("killed")]
    try:
        # Mid-camera: camera 1 has saved a checkpoint but not its last one.
        mid_gan = lambda: gan_checkpoints(w["killed"], 1) and GAN_STEPS not in gan_checkpoints(w["killed"], 1)
        interrupt_when((first[1], mid_gan, signal.SIGKILL))
    except BaseException:
        for process in first:
            process.kill()
        raise
    reference, killed = finish(*first, check=False)
    after_gan_kill = {c: gan_checkpoints(w["killed"], c) for c in (0, 1, 2, 4)}
    second = train("killed")
    interrupt_when((second, lambda: transfer_under_way(w["killed"]), signal.SIGKILL))
    (second,) = finish(second, check=False)
    after_transfer_kill = sorted(os.listdir(w["killed"]))
    times_after_transfer_kill = read_json(w["killed"] / "stage_times.json")
    third, reference_eval = finish(train("killed"), evaluate("reference"))
    (killed_eval,) = finish(evaluate("killed"))
    return SimpleNamespace(
        workdirs=w,
        runs=(reference, killed, second, third),
        evaluations=(reference_eval, killed_eval),
        after_gan_kill=after_gan_kill,
        after_transfer_kill=after_transfer_kill,
        times_after_transfer_kill=times_after_transfer_kill,
    )


def test_the_cameras_are_the_ones_the_folder_has_gaps_kept(resumed):
    reference = resumed.runs[0]
    assert reference.returncode == 0, reference.stderr[-4000:]
    assert (
        "UnityGAN: 4 generator models for cameras c1, c2, c3, c5 (ids 0, 1, 2, 4: gan/cam<id>; CamStyle would "
        "train C(C-1)/2 = 6" in reference.stderr
    )
    workdir = resumed.workdirs["reference"]
    assert sorted(os.listdir(workdir / "gan")) == [
        "cam0",
        "cam1",
        "cam2",
        "cam4",
        "tensorboard",
        "unitystyle_grid.png",
    ]
    summary = read_json(workdir / "unitystyle" / "transfer.json")
    assert (summary["num_generators"], summary["camstyle_generators"]) == (4, 6)
    # The run ends with what it wrote where and the command to run next, on stdout.
    printed = reference.stdout.splitlines()
    assert printed[0].startswith("finished in ") and printed[-1] == (
        f"next: python evaluate.py --workdir={workdir}"
    )
    assert f"gan       4 UnityGANs in {workdir / 'gan'}/cam<c>/" in reference.stdout
    assert f"in {workdir / 'unitystyle'}" in reference.stdout and "x real" in reference.stdout
    # Only this project's lines and warnings on stderr: no orbax bookkeeping at the default verbosity.
    assert (
        "checkpoint_manager.py" not in reference.stderr
        and f"gan[cam0] step {GAN_STEPS}/{GAN_STEPS}" in reference.stderr
    )
    assert summary["source"]["gan_steps"] == {str(c): GAN_STEPS for c in (0, 1, 2, 4)}
    metrics = read_json(workdir / "eval" / "market1501" / "metrics.json")
    assert metrics["dataset"] == "market1501" and metrics["num_valid_queries"] > 0


def test_kill_9_during_a_camera_gan_resumes_it_and_skips_finished_cameras(resumed):
    _, killed, second, _ = resumed.runs
    assert killed.returncode == -signal.SIGKILL
    kept = resumed.after_gan_kill
    assert kept[0] == SAVED[-2:] and kept[1] and GAN_STEPS not in kept[1] and not kept[2] and not kept[4]
    assert f"GAN cam0: finished (step {GAN_STEPS} in " in second.stderr
    resumed_at = re.findall(r"gan\[cam1\]: resuming from step (\d+)", second.stderr)
    assert resumed_at == [str(kept[1][-1])], second.stderr[-4000:]


def test_kill_9_during_transfer_leaves_no_dataset_and_the_rerun_writes_it_anew(resumed):
    second, third = resumed.runs[2:]
    assert second.returncode == -signal.SIGKILL
    assert (
        "unitystyle.partial" in resumed.after_transfer_kill
        and "unitystyle" not in resumed.after_transfer_kill
    )
    assert third.returncode == 0, third.stderr[-4000:]
    assert all(f"GAN cam{c}: finished" in third.stderr for c in (0, 1, 2, 4))
    workdir = resumed.workdirs["killed"]
    assert not os.path.exists(workdir / "unitystyle.partial")
    ref_summary = read_json(resumed.workdirs["reference"] / "unitystyle" / "transfer.json")
    assert read_json(workdir / "unitystyle" / "transfer.json") == ref_summary
    # The stage times count work done: the finished GANs' skip adds nothing, the transfer only its one write.
    before, after = resumed.times_after_transfer_kill, read_json(workdir / "stage_times.json")
    assert "transfer" not in before and after["gan"] == before["gan"] and after["transfer"] > 0


def test_resumed_stages_end_where_an_uninterrupted_run_does(resumed):
    reference, killed = resumed.workdirs["reference"], resumed.workdirs["killed"]
    for camera in (0, 1, 2, 4):
        got, want = (runs.metrics(w / "gan" / f"cam{camera}") for w in (killed, reference))
        assert [m["step"] for m in got] == [m["step"] for m in want] == SAVED
        keys = [k for k in want[-1] if k.startswith("loss") or k.startswith("attention")]
        np.testing.assert_allclose([got[-1][k] for k in keys], [want[-1][k] for k in keys], rtol=1e-5)
    got, want = (read_json(w / "eval" / "market1501" / "metrics.json") for w in (killed, reference))
    np.testing.assert_allclose([got[k] for k in METRIC_KEYS], [want[k] for k in METRIC_KEYS], rtol=1e-5)
    for evaluation in resumed.evaluations:
        assert evaluation.returncode == 0, evaluation.stderr[-4000:]
