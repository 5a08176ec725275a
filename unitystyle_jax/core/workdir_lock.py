"""One writer per workdir: two train.py runs on one folder would interleave checkpoints and metrics.

The lock is the kernel's (`flock`), so a process that dies, even by kill -9, releases it with its file
descriptors: a crash never leaves a stale marker that blocks the next run. The processes of one multi-host run
share the workdir and are told apart by their process index: each holds its own lock file,
`.lock-process<index>`, so two runs collide where any of their process indices do.
"""

import contextlib
import fcntl
import os
import socket

from unitystyle_jax.core.errors import WorkdirError


@contextlib.contextmanager
def hold(workdir: str, process_index: int = 0):
    """Holds WORKDIR/.lock-process<index> while the block runs; WorkdirError naming the holder if taken."""
    path = os.path.join(os.path.abspath(workdir), f".lock-process{process_index}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise WorkdirError(
                f"workdir {os.path.abspath(workdir)} is in use by process {holder} (lock {path}): "
                "wait for that run to end, or use another workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock; the file stays, holding nothing
