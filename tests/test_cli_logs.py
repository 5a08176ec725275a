"""The commands' log filter at the default verbosity: this project's lines and everyone's warnings pass, other
packages' INFO records (orbax's per-checkpoint bookkeeping) and orbax's notes on its bookkeeping do not."""

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
    # A sibling folder whose name starts like the package's is not the package.
    assert not cli._project_or_warning(record(cli.PACKAGE_DIR + "_extras/x.py", logging.INFO))
