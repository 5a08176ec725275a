"""Orbax checkpoints: periodic async saves, keep-N, restore-newest with fall-back past an unreadable step.

Each step holds two items: `state` (a pytree of arrays, restored onto the caller's shardings) and `meta` (JSON:
what the state was built from, so a checkpoint that does not fit the config is named as such, not as a shape
error deep inside orbax).
"""

import logging
import os

import orbax.checkpoint as ocp

from unitystyle_jax.errors import CheckpointError


class Checkpoints:
    """One folder of numbered steps, written by orbax's CheckpointManager."""

    def __init__(self, directory: str, max_to_keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "meta"))

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state, meta: dict, force: bool = True) -> None:
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            force=force,
        )

    def restore(self, abstract_state, step: int | None = None):
        """(state, meta, step) of `step`, or of the newest readable step; None when the folder has none.

        An unreadable newest step is skipped with a warning naming it, so a crash mid-write or a damaged file costs
        one checkpoint interval, not the run. An explicitly requested step is never substituted.
        """
        steps = self.steps()
        if step is not None:
            if step not in steps:
                raise CheckpointError(
                    f"{self.directory} has no checkpoint at step {step} (it has {steps or 'none'})"
                )
            steps = [step]
        failures = []
        for candidate in reversed(steps):
            try:
                restored = self._manager.restore(
                    candidate,
                    args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
                    ),
                )
            except Exception as error:  # orbax raises many types for damaged or mismatched files
                reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                failures.append(f"step {candidate}: {reason}")
                logging.warning(
                    "checkpoint %s/%d is unreadable (%s); trying an older one",
                    self.directory,
                    candidate,
                    reason,
                )
                continue
            return restored.state, restored.meta, candidate
        if failures:
            raise CheckpointError(
                f"no checkpoint in {self.directory} could be restored ({'; '.join(failures)})"
            )
        return None

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
