"""The workdir remembers its run: train.py saves the resolved config, and evaluate.py given only --workdir
evaluates the run as it was trained (the baseline method included), with overrides on top, each evaluation
setting that changes a number in a folder of its own."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import runs
from unitystyle_jax.core import saved_config

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`


def evaluate(workdir, *flags) -> subprocess.CompletedProcess:
    """evaluate.py with no --config: as `evaluate.py --workdir=RUN` is typed."""
    return runs.run("evaluate.py", workdir, *flags, config=None, check=False)


def test_workdir_alone_evaluates_a_run_trained_with_overrides(tmp_path, tiny_baseline):
    _, shared = tiny_baseline
    workdir = shutil.copytree(shared, tmp_path / "run")
    saved = json.loads((workdir / saved_config.FILE).read_text())
    assert saved["config"]["reid"]["method"] == "baseline"  # runs.BASELINE's override, remembered
    assert "--config.reid.method=baseline" in saved["command"]
    # The installed script, from another folder, in a fresh interpreter, given --workdir alone.
    script = os.path.join(os.path.dirname(sys.executable), "unitystyle-evaluate")
    plain = subprocess.run(
        [script, f"--workdir={workdir}"], cwd=tmp_path, env=runs.env(), capture_output=True, text=True
    )
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert plain.stderr.startswith(f"config: {workdir / saved_config.FILE}\n")
    metrics = json.loads((workdir / "eval" / "synthetic" / "metrics.json").read_text())
    assert metrics["method"] == "baseline"
    # Another AP reading: its own folder, named by the setting; the first evaluation's results are kept.
    trapezoid = evaluate(workdir, "--config.eval.ap=trapezoid")
    assert trapezoid.returncode == 0, trapezoid.stderr[-3000:]
    named = f"config: {workdir / saved_config.FILE} with {runs.CACHE} --config.eval.ap=trapezoid\n"
    assert trapezoid.stderr.startswith(named)  # the command says which overrides it applied
    other = json.loads((workdir / "eval" / "synthetic-ap_trapezoid" / "metrics.json").read_text())
    assert json.loads((workdir / "eval" / "synthetic" / "metrics.json").read_text()) == metrics
    assert (other["ap"], metrics["ap"]) == ("trapezoid", "average")


def test_the_finished_run_trained_again_from_its_workdir_alone_does_nothing(tmp_path, tiny_baseline):
    _, shared = tiny_baseline
    workdir = shutil.copytree(shared, tmp_path / "run")
    before = runs.snapshot(workdir)
    again = runs.run("train.py", workdir, config=None)
    assert (
        again.stdout.splitlines()[0] == f"already complete, nothing to do: reid of {workdir} finished earlier"
    )
    assert runs.snapshot(workdir) == before  # no new TensorBoard event file, no log line, no checkpoint


def test_without_a_config_or_a_saved_one_is_one_error_line(tmp_path):
    result = evaluate(tmp_path / "never_trained")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: --config: give the config file the run was trained with (no config.json in --workdir)"
    ]
