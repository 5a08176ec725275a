"""What inference restores (reid.feature_model, gan.generators): an IDE's backbone and a GAN's generator, read alone from the checkpoints
training writes, equal to the trained ones; a checkpoint of another model refused with one line; and the
pretrained-weights choice checked at start-up. In-process, at the tiny size."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import config_validation
from unitystyle_jax.commands import preflight
from unitystyle_jax.core import parallel
from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains, trained_cameras
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid.feature_model import restore_features
from unitystyle_jax.reid.training import ReidPrograms, ReidRun


@pytest.fixture(scope="module")
def tiny():
    return synthetic.get_config("tiny"), parallel.make_mesh()


def images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, size=(2, *shape)), jnp.float32)


def test_the_backbone_restores_alone_whatever_the_classifier(tiny, tmp_path):
    config, mesh = tiny
    setup = ReidRun(config, str(tmp_path), ReidPrograms.build(config, 7, mesh))  # 7 training identities
    state = setup.fresh_state()
    setup.checkpoints.save(4, state, setup.meta)
    setup.checkpoints.wait()

    trained = restore_features(config, str(tmp_path), mesh)
    assert trained.step == 4 and trained.meta["num_classes"] == 7
    for collection in ("params", "batch_stats"):
        jax.tree.map(
            np.testing.assert_array_equal,
            trained.variables[collection],
            getattr(state, collection)["backbone"],
        )
    x = images((config.data.height, config.data.width, 3))
    ide = setup.programs.model.apply(
        {"params": state.params, "batch_stats": state.batch_stats}, x, train=False
    )
    np.testing.assert_array_equal(trained.backbone.apply(trained.variables, x, train=False), ide["features"])
    features = reid_evaluation.feature_fn(trained.backbone, False, mesh)(trained.variables, x)
    np.testing.assert_allclose(
        features, ide["features"] / np.linalg.norm(ide["features"], axis=1, keepdims=True), rtol=1e-5
    )

    other = config.copy_and_resolve_references()
    other.model.width = 16
    with pytest.raises(CheckpointError, match=r"was trained with model\.width=8, the config asks for 16"):
        restore_features(other, str(tmp_path), mesh)
    with pytest.raises(CheckpointError, match="workdir .*nowhere does not exist"):
        restore_features(config, str(tmp_path / "nowhere"), mesh)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no IDE checkpoint in"):
        restore_features(config, str(tmp_path / "empty"), mesh)
    assert os.listdir(tmp_path / "empty") == []  # looked at, nothing created


def test_a_generator_restores_alone_and_translates_as_trained(tiny, tmp_path):
    config, mesh = tiny
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
        x = images(gan_image_shape(config.gan))
        np.testing.assert_array_equal(generator(x), setup.programs.translate(state.nets[net], x))
    other = config.copy_and_resolve_references()
    other.gan.style_attention = "per_model"
    with pytest.raises(CheckpointError, match="was trained with style_attention=False"):
        GeneratorLoader(other, mesh).restore(str(tmp_path), domains)
    with pytest.raises(CheckpointError, match="no GAN checkpoint for cam2 in .*run the gan stage first"):
        GeneratorLoader(config, mesh).restore(str(tmp_path), Domains(2))
    assert trained_cameras(str(tmp_path)) == [1]


def test_the_pretrained_choice_is_checked_at_start_up(tiny, tmp_path):
    from configs import market1501

    config = market1501.get_config()
    assert config.model.pretrained == ""  # paper scale: no silent training from scratch
    with pytest.raises(
        config_validation.ConfigError, match="config.model.pretrained is empty: .*unitystyle-convert-torch"
    ):
        preflight.check_pretrained(config)
    config.model.pretrained = config_validation.FROM_SCRATCH
    preflight.check_pretrained(config)
    assert synthetic.get_config().model.pretrained == config_validation.FROM_SCRATCH

    folder = tmp_path / "weights"
    folder.mkdir()
    with open(folder / "meta.json", "w") as f:
        json.dump({"depth": 50, "width": 64, "ibn": True, "source": "test"}, f)
    config.model.pretrained = str(folder)
    with pytest.raises(
        config_validation.ConfigError, match="its ResNet has ibn=True, config.model.ibn=False"
    ):
        preflight.check_pretrained(config)
    config.model.ibn = True
    preflight.check_pretrained(config)
    config.model.pretrained = str(tmp_path / "nowhere")
    with pytest.raises(Exception, match="does not exist"):
        preflight.check_pretrained(config)
    assert os.path.isdir(folder)


def test_checkpoints_written_as_dicts_restore_into_the_typed_states(tiny, tmp_path):
    """Train states were nested dicts before they were flax.struct dataclasses (ReidState, GanState); a checkpoint
    saved in the old layout restores into the new state unchanged, field for field."""
    import dataclasses

    config, mesh = tiny
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


@pytest.mark.command
def test_inference_imports_no_training_module():
    """Evaluation, feature extraction and export load what inference needs: no trainer, stage or optimiser."""

    import runs

    code = (
        "import sys; import unitystyle_jax.reid.evaluation, unitystyle_jax.serving.extraction, "
        "unitystyle_jax.serving.export; print(sorted(m for m in sys.modules if m == 'optax' or m in "
        "('unitystyle_jax.gan.training', 'unitystyle_jax.reid.training', 'unitystyle_jax.core.training_loop', "
        "'unitystyle_jax.commands.train', 'unitystyle_jax.gan.transfer')))"
    )
    assert runs.python(code).stdout.strip() == "[]"
