"""Exceptions that mean "the run cannot go on" rather than "there is a bug": light to import, shared by all.

Every error a user's input or environment causes derives from `UserError`: a command prints its message as one
`error:` line and exits 1. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A bad input (config value, file, folder, checkpoint) or an unusable environment; the message names it."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint folder that cannot give what was asked of it; the message names the folder."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where the last good checkpoint is."""


class Interrupted(Exception):
    """SIGTERM/SIGINT arrived; a checkpoint of the step reached was saved."""

    def __init__(self, step: int):
        super().__init__(
            f"stopped by signal at step {step}; checkpoint saved, run the same command to resume"
        )
        self.step = step


class WorkdirError(UserError, RuntimeError):
    """A workdir that cannot be used: not writable, full, or in use by another run; the message names it."""


class EvaluationError(UserError, ValueError):
    """A bad input to evaluation; the one-line message names the culprit."""


class OutputExistsError(UserError, FileExistsError):
    """A command's --output is already there: nothing written is ever replaced; the message names it."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the field."""


class ConversionError(UserError, ValueError):
    """Weights or a converted folder that cannot become backbone variables; the message names the culprit."""


class WeightsNotFoundError(UserError, FileNotFoundError):
    """A .pth file or converted folder that is not there."""


class ModelError(UserError, ValueError):
    """A model was configured with values it cannot be built from; the one-line message names the culprit."""


class DatasetError(UserError, ValueError):
    """One-line message naming the offending file/folder."""


class LossError(UserError, ValueError):
    """A loss was called with inputs or settings it cannot use; the one-line message names the culprit."""
