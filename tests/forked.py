"""Commands run as forked copies of a process that has imported the project's dependencies already.

A command spends about 5.5 CPU-seconds importing TensorFlow, JAX, Flax and orbax before it reads its first flag,
and the suite starts some sixty commands. A multiprocessing forkserver imports them once per test worker and
forks a child per command: each child is a process of its own (its own pid, signals, exit status, file locks)
that runs the command's real entry point (`train.py`'s `__main__`, or a module's) with the command's arguments,
environment and working directory, its stdout and stderr going to files. The server imports without starting
JAX's backend, so each child starts its own with its own device count and XLA flags. What a fresh interpreter
does beyond that (importing, in a user's order) stays covered by the commands tests start with fresh=True.
"""

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys

# What the commands import (train.py, evaluate.py, demo, compare, extract, export), imported by the server; not
# the command modules themselves, whose flags each child defines when it runs one.
PRELOAD = [
    "unitystyle_jax.commands.train",
    "unitystyle_jax.reid.evaluation",
    "unitystyle_jax.serving.extraction",
    "unitystyle_jax.serving.export",
]
_context = None


def _server():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


class Command:
    """A command forked from the server, with what the tests use of `subprocess.Popen`."""

    def __init__(self, argv: list[str], cwd: str, env: dict, stdout: str, stderr: str):
        self.args = argv
        # Daemonic: a command a failed test left running is stopped (SIGTERM) when its worker exits, not waited for.
        self._process = _server().Process(target=_run, args=(argv, cwd, env, stdout, stderr), daemon=True)
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self):
        return self._process.exitcode

    def poll(self):
        return self._process.exitcode

    def wait(self, timeout=None):
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self._process.kill()


def _run(argv: list[str], cwd: str, env: dict, stdout: str, stderr: str) -> None:
    """In the child: the command's `python ARGV...` as the interpreter would run it after its imports."""
    import jax

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout), (2, stderr)):
        opened = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(opened, fd)
        os.close(opened)
    # What JAX and this project read from the environment when imported, read again from the command's.
    from jax._src import xla_bridge

    assert not xla_bridge.backends_are_initialized(), (
        "the server started JAX's backend: children would share it"
    )
    jax.config.update("jax_platforms", env.get("JAX_PLATFORMS"))
    jax.config.update("jax_num_cpu_devices", int(env.get("JAX_NUM_CPU_DEVICES", "1")))
    from unitystyle_jax.core import cpu_flags

    cpu_flags.apply_defaults()
    program, args = argv[1], argv[2:]
    try:
        if program == "-m":
            sys.argv = [args[0], *args[1:]]
            runpy.run_module(args[0], run_name="__main__", alter_sys=True)
        else:
            sys.argv = [program, *args]
            sys.path.insert(0, os.path.dirname(os.path.abspath(program)))  # as `python SCRIPT` starts
            runpy.run_path(program, run_name="__main__")
    finally:
        atexit._run_exitfuncs()  # as the interpreter does at exit (multiprocessing's children skip them)
        sys.stdout.flush()
        sys.stderr.flush()
