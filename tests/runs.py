"""Runs the real entry points in subprocesses (as a user would) for end-to-end tests."""

import json
import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "configs/synthetic.py:tiny"
# One compilation cache for every test's commands: the tiny programs compile once per machine, not once per test.
CACHE_DIR = os.path.join(REPO, ".jax_cache", "tests")
CACHE = f"--config.compilation_cache_dir={CACHE_DIR}"


def command(script: str, workdir, *flags, config: str = TINY) -> list[str]:
    """A script (train.py, evaluate.py) or a module (unitystyle_jax.demo) with a config, a workdir and the
    shared compilation cache."""
    program = [script] if script.endswith(".py") else ["-m", script]
    return [sys.executable, *program, f"--config={config}", f"--workdir={workdir}", CACHE, *flags]


def env(devices: int = 1, **extra) -> dict:
    e = {**os.environ, "JAX_NUM_CPU_DEVICES": str(devices), "JAX_PLATFORMS": "cpu", **extra}
    e.pop("XLA_FLAGS", None)
    return e


def run(script: str, workdir, *flags, devices: int = 1, check: bool = True, timeout: int = 600, **kwargs):
    result = subprocess.run(
        command(script, workdir, *flags),
        cwd=REPO,
        env=env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def metrics(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
