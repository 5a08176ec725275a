"""benchmarks/device_check.py, the one run an accelerator machine gets, works end to end before it gets there: at
its smoke size on this CPU it runs the step tests, measures the matrix rate, times every JAX step and its PyTorch
twin and writes both tables; an existing output folder is refused and left as it was. (Its pieces in-process:
test_device_parts.py.)"""

import json
import os
import re
import subprocess
import sys

import pytest

import runs

pytestmark = pytest.mark.command


def device_check(out, *flags, timeout=900) -> subprocess.CompletedProcess:
    """The run as the accelerator machine starts it (benchmarks/device_check.sh), with this venv's python3."""
    return subprocess.run(
        ["bash", "benchmarks/device_check.sh", "run", str(out), *flags],
        cwd=runs.REPO,
        env=runs.env(PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_smoke_run_times_every_step_against_its_twin_and_writes_both_tables(tmp_path):
    out = tmp_path / "check"
    done = device_check(out, "--smoke", "--budget", "1200")  # shares that this busy CPU cannot outrun
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "device_check.json").read_text())
    assert re.fullmatch(r"\d+ passed(, \d+ deselected)? in [\d.]+s", summary["tests"]["summary"]), summary[
        "tests"
    ]
    assert summary["tests"]["failed"] == []
    assert set(summary["matmul_flops_per_s"]) == {"float32", "bfloat16"}
    assert all(rate > 0 for rate in summary["matmul_flops_per_s"].values())
    assert {k: v["ended"] for k, v in summary["parts"].items()} == {
        "tests": "finished",
        "jax": "finished",
        "torch": "finished",
        "torch.compile": "skipped: --smoke (torch.compile compiles for minutes on CPU)",
    }
    steps = summary["steps"]
    expected = {
        (m, d, f) for m in ("ide", "unitygan") for d in ("float32", "bfloat16") for f in ("jax", "torch")
    }
    assert {(r["model"], r["dtype"], r["framework"]) for r in steps} == expected | {
        ("unitygan", "float32", "jax, stacked")
    }
    assert all("error" not in r and r["images_per_s"] > 0 for r in steps)
    for r in steps:
        if r["framework"] == "jax":
            assert r["flops"] > 0 and r["peak_gib"] > 0 and 0 < r["mfu"], r
        else:  # the twins and the stacked program are compared with the one-model JAX step
            assert r["jax_vs_this"] > 0 and r["mfu"] > 0, r
    table = (out / "device_check.md").read_text()
    assert len([line for line in table.splitlines() if line.startswith(("| ide |", "| unitygan |"))]) == len(
        steps
    )


def test_an_existing_output_folder_is_one_error_and_is_kept(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "device_check.md").write_text("an earlier run's table")
    done = device_check(out, "--smoke", timeout=120)
    assert done.returncode == 1
    assert (
        runs.one_error_line(done)
        == f"error: --out={out} already exists: name a new folder (nothing is overwritten)"
    )
    assert (out / "device_check.md").read_text() == "an earlier run's table"
