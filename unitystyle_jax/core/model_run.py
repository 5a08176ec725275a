"""What a model's training and its restores share, whichever the model (a UnityGAN, an IDE): its programs, its
rng, its checkpoint folder, and the meta a checkpoint must match to be resumed."""

from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.training_loop import TrainPrograms


class ModelRun:
    """One run of a model. `match`: the meta entries a checkpoint must carry to be restored (a checkpoint of
    another model is an error, not a silent fresh start); `meta`: everything saved beside each checkpoint. A
    context manager: leaving it closes the checkpoint folder's manager."""

    def __init__(self, train: TrainPrograms, rng, checkpoints: Checkpoints, meta: dict, match: dict):
        self.train, self.rng, self.checkpoints, self.meta, self.match = train, rng, checkpoints, meta, match

    def restore(self, step: int | None = None):
        """(state, step) of the newest checkpoint (or `step`), or None."""
        restored = self.checkpoints.restore(self.train.abstract_state, step, self.match)
        return (restored[0], restored[2]) if restored else None

    def check(self) -> None:
        """Start-up: CheckpointError when the checkpoint folder holds another model than the config builds."""
        self.checkpoints.check(self.train.abstract_state, self.match)

    def close(self) -> None:
        self.checkpoints.close()

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def finished(self, num_steps: int) -> int | None:
        """The newest checkpoint's step when it has reached `num_steps` (nothing left to train)."""
        steps = self.checkpoints.steps()
        return steps[-1] if steps and steps[-1] >= num_steps else None
