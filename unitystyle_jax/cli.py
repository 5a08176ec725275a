"""What every command does with a bad input: one `error:` line naming the culprit, and a non-zero exit.

Set UNITYSTYLE_DEBUG=1 to get the full traceback instead.
"""

import logging
import os
import sys

from unitystyle_jax.errors import CheckpointError, Interrupted, TrainingError

# Errors that describe the user's input or environment (files, configs, checkpoints), not a bug.
USER_ERRORS = (ValueError, OSError, CheckpointError, TrainingError)
EXIT_ERROR = 1
EXIT_INTERRUPTED = 128 + 15  # as a process killed by SIGTERM, but after a clean save


def run_main(fn, *args, **kwargs):
    """Calls fn; turns user errors and interruptions into one line on stderr and an exit code."""
    try:
        return fn(*args, **kwargs)
    except Interrupted as stop:
        logging.warning("%s", stop)
        print(f"stopped: {stop}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except USER_ERRORS as error:
        if os.environ.get("UNITYSTYLE_DEBUG"):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
