"""Writing a file so that an interrupted write leaves the old one (the one helper every report, log and list the
project rewrites goes through), and the check that a folder can be written at all."""

import os
import tempfile
import uuid
from typing import Callable

from unitystyle_jax.core.errors import WorkdirError


def write_atomically(path: str, write: Callable, binary: bool = False) -> None:
    """write(file) into a fresh hidden file next to `path` (usual permissions), then rename it over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb" if binary else "x") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_text(path: str, text: str) -> None:
    write_atomically(path, lambda file: file.write(text))


def check_writable(folder: str, what: str = "workdir") -> None:
    """Creates `folder` if needed and writes (then removes) a probe file in it."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise WorkdirError(
            f"{what} {os.path.abspath(folder)} is not writable ({error.strerror or error})"
        ) from None
