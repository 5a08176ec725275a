"""A trained IDE's test-time feature extractor restored without optimiser state or classifier, and where IDE
checkpoints live.

Why apart from training: evaluation, extraction and export restore the backbone only, so they load no optimiser
and a checkpoint's classifier (sized by the training set's identities) never has to fit the data being evaluated.
"""

import dataclasses
import os
from typing import Any

from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.errors import CheckpointError
from unitystyle_jax.models.factory import abstract_variables, create_backbone
from unitystyle_jax.models.ide import BACKBONE
from unitystyle_jax.models.resnet import ResNet


def model_fingerprint(model_config) -> dict:
    """The model settings a checkpoint must share with the config that restores it (not how convs compute, nor
    in which dtype: parameters are float32 whatever the compute dtype)."""
    return {
        k: v
        for k, v in model_config.to_dict().items()
        if k not in ("pretrained", "conv", "dtype", "mixstyle")
    }


def reid_checkpoints(workdir: str, keep: int = 3) -> Checkpoints:
    return Checkpoints(os.path.join(workdir, "checkpoints"), keep)


@dataclasses.dataclass(frozen=True)
class FeatureModel:
    """A trained IDE's feature extractor: `backbone.apply(variables, images, train=False)` -> features."""

    backbone: ResNet
    variables: Any  # {"params", "batch_stats"} of the backbone only
    step: int
    meta: dict  # the checkpoint's meta: num_classes, model, method, dataset


def check_ide_checkpoints(workdir: str) -> None:
    """CheckpointError unless WORKDIR has an IDE checkpoint folder: looked at before anything is opened or
    created there (a missing workdir is not made, nor a dataset generated in it)."""
    folder = os.path.join(os.path.abspath(workdir), "checkpoints")
    if not os.path.isdir(workdir):
        raise CheckpointError(f"workdir {os.path.abspath(workdir)} does not exist: train a run there first")
    if not os.path.isdir(folder):
        raise CheckpointError(f"no IDE checkpoint in {folder}: train the reid stage first")


def restore_features(config, workdir: str, mesh) -> FeatureModel:
    """The backbone of WORKDIR's newest IDE checkpoint (or config.eval.step's, when >= 0): no optimiser state and
    no classifier, so a model trained on another dataset (another number of identities) restores as well."""
    step = None if config.eval.step < 0 else config.eval.step
    backbone = create_backbone(config.model)
    image_shape = (config.data.height, config.data.width, 3)
    abstract = abstract_variables(backbone, image_shape, mesh)
    part = {collection: {BACKBONE: abstract[collection]} for collection in ("params", "batch_stats")}
    check_ide_checkpoints(workdir)
    checkpoints = reid_checkpoints(workdir)
    try:
        restored = checkpoints.restore(part, step, {"model": model_fingerprint(config.model)}, partial=True)
    finally:
        checkpoints.close()
    if restored is None:
        raise CheckpointError(f"no IDE checkpoint in {checkpoints.directory}: train the reid stage first")
    state, meta, found = restored
    variables = {collection: state[collection][BACKBONE] for collection in ("params", "batch_stats")}
    return FeatureModel(backbone, variables, found, meta)
