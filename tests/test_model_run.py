"""One model's run (core.model_run, as GanRun and ReidRun use it): checkpoints written in the layout of train
states before they were typed restore into the typed states, and a run that fails to start is closed."""

import dataclasses

import jax
import numpy as np
import pytest

from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.core.model_run import ModelRun
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains
from unitystyle_jax.reid.training import ReidPrograms, ReidRun


def test_checkpoints_written_as_dicts_restore_into_the_typed_states(tiny_config_and_mesh, tmp_path):
    """Train states were nested dicts before they were flax.struct dataclasses (ReidState, GanState); a checkpoint
    saved in the old layout restores into the new state unchanged, field for field."""
    config, mesh = tiny_config_and_mesh
    reid = ReidRun(config, str(tmp_path / "reid"), ReidPrograms.build(config, 7, mesh))
    gan = gan_training.GanRun(
        config, str(tmp_path), Domains(0), gan_training.GanPrograms.build(config.gan, mesh)
    )
    for setup, state in ((reid, reid.fresh_state()), (gan, gan.programs.train.init(gan.rng))):
        as_dict = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}  # the old layout
        setup.checkpoints.save(2, as_dict, setup.meta)
        setup.checkpoints.wait()
        restored, step = setup.restore()
        assert step == 2 and type(restored) is type(state)
        jax.tree.map(np.testing.assert_array_equal, restored, state)


def test_a_gan_that_fails_to_restore_lets_its_checkpoint_folder_go(
    tiny_config_and_mesh, tmp_path, monkeypatch
):
    """A GAN whose start fails (here its folder holds another model's checkpoint) is closed before the error
    leaves: its checkpoint manager is not left open for the rest of the process."""
    config, mesh = tiny_config_and_mesh
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    with gan_training.GanRun(config, str(tmp_path), Domains(0), programs) as run:
        run.checkpoints.save(1, {"step": np.zeros((), np.int32)}, run.meta)  # not a GanState
        run.checkpoints.wait()
    closed = []
    monkeypatch.setattr(
        gan_training.GanRun, "close", lambda self: closed.append(self) or ModelRun.close(self)
    )
    with pytest.raises(CheckpointError, match="another model|does not fit|arrays"):
        gan_training._prepare(config, str(tmp_path), None, Domains(0), programs, mesh)
    assert len(closed) == 1
