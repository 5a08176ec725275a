"""Runs the real entry points as processes of their own, and reads what they leave: the helpers every CLI test
module shares. A command forks from the suite's loaded interpreter (tests/forked.py) unless fresh=True starts
it in a new one, as a user does."""

import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import forked

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "configs/synthetic.py:tiny"
# One compilation cache for every test's commands: the tiny programs compile once per machine, not once per test.
CACHE_DIR = os.path.join(REPO, ".jax_cache", "tests")
CACHE = f"--config.compilation_cache_dir={CACHE_DIR}"
METRIC_KEYS = ("rank1", "rank5", "rank10", "mAP", "mINP")
BASELINE = ("--config.stages=reid", "--config.reid.method=baseline")


def command(script: str, workdir, *flags, config: str | None = TINY) -> list[str]:
    """A script (train.py, evaluate.py) or a module (unitystyle_jax.commands.demo) with a config (None: none, so
    the workdir's saved one is read), a workdir and the shared compilation cache."""
    program = [script] if script.endswith(".py") else ["-m", script]
    chosen = [f"--config={config}"] if config else []
    return [sys.executable, *program, *chosen, f"--workdir={workdir}", CACHE, *flags]


# The suite's programs compile without XLA's backend (LLVM) optimisations and with XLA's older CPU fusion code
# (not its MLIR fusion emitters): at these optimisation levels the tiny programs compile two to three times
# faster and run their few steps as fast (docs/testing.md). Every test, in-process (conftest.py) or a command,
# compiles this way, so exactness checks compare like with like; the project's own CPU default
# (unitystyle_jax/core/cpu_flags.py) is added to it as it is for users.
XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def share_compilation_cache() -> None:
    """This process's programs load from (and add to) the commands' compilation cache: a test's in-process or
    `python -c` programs the same as a command's, or as an earlier program's in another process, compile once."""
    import jax

    jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def env(devices: int = 1, **extra) -> dict:
    return {
        **os.environ,
        "JAX_NUM_CPU_DEVICES": str(devices),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": XLA_FLAGS,
        **extra,
    }


def start(
    script: str, workdir, *flags, config: str = TINY, devices: int = 1, fresh: bool = False
) -> subprocess.Popen | forked.Command:
    """A command started, not waited for: forked from the suite's forkserver (`forked`), or with fresh=True in a
    new interpreter, as a user starts it. Output goes to files: a pipe nobody reads while the process runs would
    fill up and stall it."""
    logs = tempfile.NamedTemporaryFile("w+"), tempfile.NamedTemporaryFile("w+")
    argv = command(script, workdir, *flags, config=config)
    if fresh:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env(devices), stdout=logs[0], stderr=logs[1], text=True
        )
    else:
        process = forked.Command(argv, REPO, env(devices), logs[0].name, logs[1].name)
    process.logs = logs
    return process


def output(process: subprocess.Popen) -> tuple[str, str]:
    """(stdout, stderr) a started process has written so far."""
    for log in process.logs:
        log.seek(0)
    return tuple(log.read() for log in process.logs)


def finish(
    *processes: subprocess.Popen, check: bool = True, timeout: int = 900
) -> list[subprocess.CompletedProcess]:
    """Waits for processes started together (most of a tiny run is single-threaded Python, so two share the
    CPU well); with check, each must have succeeded."""
    results = [subprocess.CompletedProcess(p.args, p.wait(timeout=timeout), *output(p)) for p in processes]
    for result in results if check else ():
        assert result.returncode == 0, f"{result.args} failed ({result.returncode}):\n{result.stderr[-4000:]}"
    return results


def run(
    script: str,
    workdir,
    *flags,
    config: str = TINY,
    devices: int = 1,
    check: bool = True,
    timeout: int = 900,
    fresh: bool = False,
):
    """A command run to its end."""
    process = start(script, workdir, *flags, config=config, devices=devices, fresh=fresh)
    return finish(process, check=check, timeout=timeout)[0]


def benchmark(name: str):
    """benchmarks/NAME.py imported as a module, its siblings importable by name as `python benchmarks/NAME.py`
    makes them (pyproject's pytest `pythonpath`: the benchmarks folder is not a package)."""
    return importlib.import_module(name)


def python(code: str, *args: str, devices: int = 1, timeout: int = 900) -> subprocess.CompletedProcess:
    """Python source run to its end in a new interpreter in the repository, with the suite's environment and
    its helpers (runs, fakedata, the test modules) importable, as pytest makes them; its exit status checked."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env(devices, PYTHONPATH=os.path.dirname(os.path.abspath(__file__))),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def one_error_line(result) -> str:
    """The single `error:` line of a failed command (asserting there is exactly one, and no traceback)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    assert len(errors) == 1, result.stderr[-4000:]
    return errors[0]


def interrupt_when(*plans, timeout: float = 600.0) -> None:
    """plans: (process, condition, signal); each process gets its signal as soon as its condition holds. A
    process that ends first fails the run: it would have left nothing to test."""
    waiting, deadline = list(plans), time.monotonic() + timeout
    while waiting:
        for plan in list(waiting):
            process, condition, signum = plan
            if condition():
                process.send_signal(signum)
                waiting.remove(plan)
            elif process.poll() is not None:
                stderr = output(process)[1][-4000:]
                raise AssertionError(f"{process.args} ended ({process.returncode}) first:\n{stderr}")
        assert time.monotonic() < deadline, "timed out waiting to interrupt"
        time.sleep(0.02)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def metrics(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def logged_steps(workdir) -> int:
    """Complete lines in WORKDIR/metrics.jsonl (a line being written is not counted)."""
    path = os.path.join(workdir, "metrics.jsonl")
    return open(path).read().count("\n") if os.path.exists(path) else 0


def checkpoint_steps(workdir) -> list[int]:
    folder = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if os.path.isdir(folder) else []


def snapshot(workdir) -> dict:
    """{relative path: (size, mtime)} of every file under workdir: any rewrite or removal shows. The workdir's
    lock files are left out: every run rewrites them (with its pid), and they hold no results."""
    files = {}
    for folder, _, names in os.walk(workdir):
        for name in names:
            if name.startswith(".lock-process"):
                continue
            stat = os.stat(os.path.join(folder, name))
            files[os.path.relpath(os.path.join(folder, name), workdir)] = (stat.st_size, stat.st_mtime_ns)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
