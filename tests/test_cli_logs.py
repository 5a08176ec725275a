"""The commands' log filter at the default verbosity: this project's lines, clu's progress report and everyone's
warnings pass, other packages' INFO records (orbax's per-checkpoint bookkeeping) and orbax's notes on its
bookkeeping do not."""

import logging
import os

from unitystyle_jax.commands import cli


def record(pathname: str, level: int, msg: str = "something happened") -> logging.LogRecord:
    return logging.LogRecord("absl", level, pathname, 1, msg, None, None)


def test_project_lines_and_warnings_pass_library_info_does_not():
    ours = os.path.join(cli.PACKAGE_DIR, "training_loop.py")
    theirs = "/site-packages/orbax/checkpoint/checkpoint_manager.py"
    assert cli._project_or_warning(record(ours, logging.INFO))
    assert cli._project_or_warning(record(ours, logging.DEBUG))
    assert not cli._project_or_warning(record(theirs, logging.INFO))
    assert cli._project_or_warning(record(theirs, logging.WARNING))
    assert cli._project_or_warning(record(theirs, logging.ERROR))
    assert not cli._project_or_warning(record(theirs, logging.WARNING, "Given directory is read only=%s"))
    waited = "Waiting for previous save to complete took %f seconds. If this number is high, consider ..."
    assert not cli._project_or_warning(record(theirs, logging.WARNING, waited))
    assert cli._project_or_warning(record(theirs, logging.WARNING, "Waiting for Godot"))  # only orbax's notes
    clu = "/site-packages/clu/platform/local.py"
    assert cli._project_or_warning(record(clu, logging.INFO, "Setting work unit notes: %s"))
    assert not cli._project_or_warning(record(clu, logging.INFO, "Created artifact %s of type %s"))
    # A sibling folder whose name starts like the package's is not the package.
    assert not cli._project_or_warning(record(cli.PACKAGE_DIR + "_extras/x.py", logging.INFO))


def test_tensorflow_starts_without_its_cpp_lines_unless_the_user_asks():
    """A fresh interpreter importing the package, then TensorFlow: no absl / oneDNN / CPU-instruction lines on
    stderr. The control: the user's own TF_ENABLE_ONEDNN_OPTS=1 is kept, and oneDNN's line comes back."""
    import subprocess
    import sys

    import runs

    code = "import unitystyle_jax, tensorflow as tf; tf.constant(1.0) + 1.0"
    unset = {
        k: v for k, v in runs.env().items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")
    }
    quiet = subprocess.run(
        [sys.executable, "-c", code], cwd=runs.REPO, env=unset, capture_output=True, text=True
    )
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    asked = runs.env(TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0")
    loud = subprocess.run(
        [sys.executable, "-c", code], cwd=runs.REPO, env=asked, capture_output=True, text=True
    )
    assert "oneDNN custom operations are on" in loud.stderr
