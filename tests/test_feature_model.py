"""What evaluation restores (reid.feature_model): an IDE's backbone read alone from the checkpoints training
writes, equal to the trained one whatever its classifier; a checkpoint of another model, a missing workdir and an
empty one each refused with one line. In-process, at the tiny size."""

import os

import jax
import fakedata
import numpy as np
import pytest

from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.reid import evaluation as reid_evaluation
from unitystyle_jax.reid.feature_model import restore_features
from unitystyle_jax.reid.training import ReidPrograms, ReidRun


def test_the_backbone_restores_alone_whatever_the_classifier(tiny_config_and_mesh, tmp_path):
    config, mesh = tiny_config_and_mesh
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
    x = fakedata.gan_images((config.data.height, config.data.width, 3))
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
