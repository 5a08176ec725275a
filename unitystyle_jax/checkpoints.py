"""Orbax checkpoints: periodic async saves, keep-N, restore-newest with fall-back past an unreadable step.

Each step holds two items: `state` (a pytree of arrays, restored onto the caller's shardings) and `meta` (JSON:
what the state was built from, so a checkpoint that does not fit the config is named as such, not as a shape
error deep inside orbax).
"""

import logging
import os

import jax
import orbax.checkpoint as ocp

from unitystyle_jax.errors import CheckpointError


class Checkpoints:
    """One folder of numbered steps, written by orbax's CheckpointManager."""

    def __init__(self, directory: str, max_to_keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
        )
        # Handlers named up front so a step's array metadata (shapes) can be read without restoring it.
        handlers = {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state, meta: dict, force: bool = True) -> None:
        if step in self._manager.all_steps():
            # Training only comes back to a step it has saved after restore() skipped that step as unreadable.
            logging.warning("replacing unreadable checkpoint %s/%d", self.directory, step)
            self._manager.delete(step)
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            force=force,
        )

    def restore(self, abstract_state, step: int | None = None):
        """(state, meta, step) of `step`, or of the newest readable step; None when the folder has none.

        An unreadable newest step is skipped with a warning naming it, so a crash mid-write or a damaged file
        costs one checkpoint interval, not the run. An explicitly requested step is never substituted. A
        readable step whose arrays do not fit `abstract_state` (another model) is an error, not damage.
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
                misfit = _first_misfit(self._manager.item_metadata(candidate)["state"], abstract_state)
            except Exception:  # unreadable metadata: let the restore below name the damage
                misfit = None
            if misfit:
                raise CheckpointError(
                    f"checkpoint {self.directory}/{candidate} holds another model than the config builds "
                    f"({misfit}): use the config it was trained with, or another workdir"
                )
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


def _leaf_shapes(tree) -> dict[str, tuple]:
    """{'params/backbone/conv1/kernel': (shape, dtype)}: paths alike for orbax metadata and live trees."""

    def name(key) -> str:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                return str(getattr(key, attribute))
        return str(key)

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(map(name, path)): (tuple(a.shape), str(a.dtype)) for path, a in leaves}


def _first_misfit(on_disk, abstract_state) -> str | None:
    """The first array that is missing, extra or of another shape/dtype on disk; None when the trees fit."""
    saved, wanted = _leaf_shapes(on_disk), _leaf_shapes(abstract_state)
    for path in sorted(saved.keys() | wanted.keys()):
        if path not in saved:
            return f"{path} is not in the checkpoint"
        if path not in wanted:
            return f"{path} is in the checkpoint but not in the model"
        if saved[path] != wanted[path]:
            (saved_shape, saved_dtype), (shape, dtype) = saved[path], wanted[path]
            return f"{path} is {saved_shape} {saved_dtype} there, {shape} {dtype} here"
    return None
