"""Orbax checkpoints: periodic async saves, keep-N, restore-newest with fall-back past an unreadable step.

Each step holds two items: `state` (a pytree of arrays, restored onto the caller's shardings) and `meta` (JSON:
what the state was built from, so a checkpoint that does not fit the config is named as such, not as a shape
error deep inside orbax).
"""

import contextlib
import logging
import os
import shutil

import jax
import orbax.checkpoint as ocp

from unitystyle_jax.core.errors import CheckpointError, WorkdirError

# Room a checkpoint needs beyond its arrays' bytes: orbax's metadata and the meta item.
_SLACK_BYTES = 1 << 20


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
        self._pending = None  # the step of the newest save started (async: maybe still being written)
        self._reader = None  # the partial-restore manager, made on first use

    def steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state, meta: dict, force: bool = True) -> None:
        """Starts an async save of `step`. A folder without room for it fails here, before orbax writes a byte
        (a half-written step is not what a full disk should leave); an orbax write error names the folder.
        Either way the older checkpoints stay as they are."""
        self._check_room(step, state)
        if step in self._manager.all_steps():
            # Training only comes back to a step it has saved after restore() skipped that step as unreadable.
            logging.warning("replacing unreadable checkpoint %s/%d", self.directory, step)
            self._manager.delete(step)
        self._pending = step
        with self._writing(step):
            self._manager.save(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                force=force,
            )

    def _check_room(self, step: int, state) -> None:
        needed = sum(a.nbytes for a in jax.tree.leaves(state)) + _SLACK_BYTES
        free = shutil.disk_usage(self.directory).free
        if free < needed:
            raise WorkdirError(
                f"no room for checkpoint {self.directory}/{step}: {needed / 2**20:.1f} MiB needed, "
                f"{free / 2**20:.1f} MiB free (checkpoints kept: {self.steps() or 'none'})"
            )

    @contextlib.contextmanager
    def _writing(self, step: int):
        """An orbax write that fails (here or, for an async save, at the next save or wait) as one WorkdirError."""
        try:
            yield
        except Exception as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise WorkdirError(
                f"cannot write checkpoint {self.directory}/{step}: {reason[:300]} "
                f"(checkpoints kept: {self.steps() or 'none'})"
            ) from None

    def restore(self, abstract_state, step: int | None = None, meta: dict | None = None, partial=False):
        """(state, meta, step) of `step`, or of the newest readable step; None when the folder has none.

        An unreadable newest step is skipped with a warning naming it, so a crash mid-write or a damaged file
        costs one checkpoint interval, not the run. An explicitly requested step is never substituted. A
        readable step whose arrays do not fit `abstract_state`, or whose meta differs from `meta` in any of its
        keys (what the state was built from), holds another model: an error, not damage.

        partial: `abstract_state` names a part of the saved state (inference: a generator, a backbone, no
        optimiser state); only that part is read, and only its arrays must fit.
        """
        steps = self.steps()
        if step is not None:
            if step not in steps:
                raise CheckpointError(
                    f"{self.directory} has no checkpoint at step {step} (it has {steps or 'none'})"
                )
            steps = [step]
        failures = []
        if partial:
            manager = self._part_reader()
            state_args = ocp.args.PyTreeRestore(
                item=abstract_state,
                restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_state),
                partial_restore=True,
            )
        else:
            manager, state_args = self._manager, ocp.args.StandardRestore(abstract_state)
        for candidate in reversed(steps):
            self._check(candidate, abstract_state, meta, partial)
            try:
                restored = manager.restore(
                    candidate, args=ocp.args.Composite(state=state_args, meta=ocp.args.JsonRestore())
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

    def _part_reader(self):
        """A manager whose state handler can read part of a step (StandardCheckpointHandler reads all of it)."""
        if self._reader is None:
            handlers = {"state": ocp.PyTreeCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
            self._reader = ocp.CheckpointManager(
                self.directory,
                options=ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0),
                item_handlers=handlers,
            )
        return self._reader

    def check(self, abstract_state, meta: dict | None = None) -> None:
        """The start-up check of a folder a run will resume from: CheckpointError when its newest step holds
        another model (as `restore` would raise, hours later). Reads metadata only."""
        steps = self.steps()
        if steps:
            self._check(steps[-1], abstract_state, meta)

    def _check(self, step: int, abstract_state, meta: dict | None, partial: bool = False) -> None:
        """Raises when `step` is readable and holds another model; unreadable metadata is left to `restore`,
        which names the damage and falls back."""
        where = f"checkpoint {self.directory}/{step}"
        try:
            misfit = _first_misfit(self._manager.item_metadata(step)["state"], abstract_state, partial)
            saved = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        except Exception:
            return
        # The settings first: they name the config fields that differ, where a shape names a parameter.
        differing = [
            f"{field}={old}, the config asks for {new}"
            for key, value in (meta or {}).items()
            if key in saved
            for field, old, new in _differences(key, saved[key], value)
        ]
        if differing:
            raise CheckpointError(
                f"{where} was trained with {'; '.join(differing)}: use the config it was trained with, or "
                "another workdir"
            )
        if misfit:
            raise CheckpointError(
                f"{where} holds another model than the config builds ({misfit}): "
                "use the config it was trained with, or another workdir"
            )
        for key, value in (meta or {}).items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"{where} was trained with {key}={saved.get(key)}, the config asks for {value}"
                )

    def wait(self) -> None:
        with self._writing(self._pending):
            self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
        if self._reader is not None:
            self._reader.close()


def _leaf_shapes(tree) -> dict[str, tuple]:
    """{'params/backbone/conv1/kernel': (shape, dtype)}: paths alike for orbax metadata and live trees."""

    def name(key) -> str:
        for attribute in ("key", "name", "idx"):
            if hasattr(key, attribute):
                return str(getattr(key, attribute))
        return str(key)

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(map(name, path)): (tuple(a.shape), str(a.dtype)) for path, a in leaves}


def _first_misfit(on_disk, abstract_state, partial: bool = False) -> str | None:
    """The first array that is missing, extra (unless `partial`) or of another shape/dtype on disk; None when
    the trees fit."""
    saved, wanted = _leaf_shapes(on_disk), _leaf_shapes(abstract_state)
    for path in sorted(wanted.keys() if partial else saved.keys() | wanted.keys()):
        if path not in saved:
            return f"{path} is not in the checkpoint"
        if path not in wanted:
            return f"{path} is in the checkpoint but not in the model"
        if saved[path] != wanted[path]:
            (saved_shape, saved_dtype), (shape, dtype) = saved[path], wanted[path]
            return f"{path} is {saved_shape} {saved_dtype} there, {shape} {dtype} here"
    return None


def _differences(key: str, saved, wanted) -> list[tuple[str, object, object]]:
    """(dotted field, saved value, wanted value) for each leaf where two settings differ."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [
            difference
            for field in sorted(set(saved) | set(wanted))
            for difference in _differences(f"{key}.{field}", saved.get(field), wanted.get(field))
        ]
    saved, wanted = (list(v) if isinstance(v, tuple) else v for v in (saved, wanted))
    return [] if saved == wanted else [(key, saved, wanted)]
