"""What the transfer restores (gan.generators): a GAN's generator read alone from the checkpoints training writes,
translating as the trained one; a checkpoint of another objective or a camera without one refused with one line.
In-process, at the tiny size."""

import jax
import fakedata
import numpy as np
import pytest

from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains, trained_cameras
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.gan.settings import gan_image_shape


def test_a_generator_restores_alone_and_translates_as_trained(tiny_config_and_mesh, tmp_path):
    config, mesh = tiny_config_and_mesh
    domains = Domains(1)
    setup = gan_training.GanRun(
        config, str(tmp_path), domains, gan_training.GanPrograms.build(config.gan, mesh)
    )
    state = setup.programs.train.init(setup.rng)
    setup.checkpoints.save(3, state, setup.meta)
    setup.checkpoints.wait()

    for net in ("G", "F"):
        generator = GeneratorLoader(config, mesh).restore(str(tmp_path), domains, net)
        assert generator.step == 3
        jax.tree.map(np.testing.assert_array_equal, generator.variables, state.nets[net])
        x = fakedata.gan_images(gan_image_shape(config.gan))
        np.testing.assert_array_equal(generator(x), setup.programs.translate(state.nets[net], x))
    other = config.copy_and_resolve_references()
    other.gan.style_attention = "per_model"
    with pytest.raises(CheckpointError, match="was trained with style_attention=False"):
        GeneratorLoader(other, mesh).restore(str(tmp_path), domains)
    with pytest.raises(CheckpointError, match="no GAN checkpoint for cam2 in .*run the gan stage first"):
        GeneratorLoader(config, mesh).restore(str(tmp_path), Domains(2))
    assert trained_cameras(str(tmp_path)) == [1]
