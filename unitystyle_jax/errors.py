"""Exceptions that mean "the run cannot go on" rather than "there is a bug": light to import, shared by all."""


class CheckpointError(RuntimeError):
    """A checkpoint folder that cannot give what was asked of it; the message names the folder."""


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the message says where the last good checkpoint is."""


class Interrupted(Exception):
    """SIGTERM/SIGINT arrived; a checkpoint of the step reached was saved."""

    def __init__(self, step: int):
        super().__init__(
            f"stopped by signal at step {step}; checkpoint saved, run the same command to resume"
        )
        self.step = step


class WorkdirError(RuntimeError):
    """A workdir that cannot be used: not writable, full, or in use by another run; the message names it."""


class EvaluationError(ValueError):
    """A bad input to evaluation; the one-line message names the culprit."""


class ConfigError(ValueError):
    """A config value that cannot work; the message names the field."""


class ConversionError(ValueError):
    """Weights or a converted folder that cannot become backbone variables; the message names the culprit."""


class WeightsNotFoundError(FileNotFoundError):
    """A .pth file or converted folder that is not there."""


class ModelError(ValueError):
    """A model was configured with values it cannot be built from; the one-line message names the culprit."""


class DatasetError(ValueError):
    """One-line message naming the offending file/folder."""


class LossError(ValueError):
    """A loss was called with inputs or settings it cannot use; the one-line message names the culprit."""
