"""Camera-based BN at test time: each camera's statistics re-estimated from its own images cancel a camera's
affine change of the input, where the checkpoint's shared statistics do not; evaluation and export use them."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import PIL.Image

from unitystyle_jax.models.resnet import ResNet
from unitystyle_jax.reid import camera_bn
from unitystyle_jax.reid import evaluation as reid_evaluation

jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def backbone_and_variables():
    backbone = ResNet(depth=18, width=4)
    images = jax.random.normal(jax.random.key(1), (12, 32, 16, 3))
    variables = jit(functools.partial(backbone.init, train=False))(jax.random.key(0), images)
    return backbone, variables, np.asarray(images)


def features(backbone, variables, images):
    return np.asarray(reid_evaluation.features(backbone, variables, jnp.asarray(images), flip=False))


def test_the_batch_statistics_are_the_images_own():
    backbone, variables, images = backbone_and_variables()
    stats = jax.device_get(camera_bn.statistics_fn(backbone)(variables, images))
    # The first BN normalises conv1's output: its statistics are that output's per-channel mean and variance.
    conv1 = backbone.apply(
        variables, jnp.asarray(images), train=False, capture_intermediates=True, mutable=["intermediates"]
    )[1]["intermediates"]["conv1"]["__call__"][0]
    np.testing.assert_allclose(
        stats["bn1"]["mean"], np.asarray(conv1).mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        stats["bn1"]["var"], np.asarray(conv1).var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5
    )


def cosine(a, b):
    return (a * b).sum(axis=1)  # features are L2-normalised


def test_a_cameras_contrast_is_cancelled_by_its_own_statistics():
    backbone, variables, images = backbone_and_variables()
    changed = 2.5 * images  # camera 1: the same people with more contrast
    per_camera = camera_bn.camera_variables(
        backbone, variables, {0: [images[:6], images[6:]], 1: [changed[:6], changed[6:]]}
    )
    own = features(backbone, per_camera[1], changed)
    reference = features(backbone, per_camera[0], images)
    shared = features(backbone, per_camera[0], changed)  # the control: camera 0's statistics on camera 1
    assert cosine(own, reference).min() > 0.9999
    assert cosine(shared, reference).min() < 0.5
    # Each camera's statistics average its batches': the first layer's mean is the mean over all its images.
    whole = camera_bn.camera_variables(backbone, variables, {0: [images]})[0]["batch_stats"]["bn1"]["mean"]
    np.testing.assert_allclose(per_camera[0]["batch_stats"]["bn1"]["mean"], whole, rtol=1e-4, atol=1e-5)


def test_a_cameras_affine_change_is_cancelled_but_at_the_borders():
    """A shift as well: zero padding makes the first convolution's borders differ, a smaller share of a larger
    image."""
    backbone = ResNet(depth=18, width=4)
    images = np.asarray(jax.random.normal(jax.random.key(1), (12, 64, 32, 3)))
    variables = jit(functools.partial(backbone.init, train=False))(jax.random.key(0), images)
    changed = 2.5 * images + 0.4
    per_camera = camera_bn.camera_variables(backbone, variables, {0: [images], 1: [changed]})
    own = cosine(features(backbone, per_camera[1], changed), features(backbone, per_camera[0], images))
    shared = cosine(features(backbone, per_camera[0], changed), features(backbone, per_camera[0], images))
    assert own.min() > 0.9 and own.min() > shared.min() + 0.3


def test_evaluation_extraction_and_export_use_each_cameras_own_statistics(tmp_path):
    """Evaluation re-estimates every test camera's statistics from its query and gallery images; the Extractor
    from the images it is given; the exported program from its batch. All three agree with camera_variables."""
    from configs import synthetic
    from unitystyle_jax import startup
    from unitystyle_jax.core import parallel
    from unitystyle_jax.data import pipeline
    from unitystyle_jax.models.factory import create_backbone
    from unitystyle_jax.reid.feature_model import FeatureModel
    from unitystyle_jax.serving import export
    from unitystyle_jax.serving.extraction import Extractor

    config = synthetic.get_config("tiny")
    config.model.camera_bn = True
    config.model.conv = "xla"
    splits = startup.load_dataset(config, str(tmp_path))
    backbone = create_backbone(config.model)
    shape = (1, config.data.height, config.data.width, 3)
    variables = jit(functools.partial(backbone.init, train=False))(jax.random.key(0), jnp.zeros(shape))
    trained, mesh = FeatureModel(backbone, variables, 0, {}), parallel.make_mesh()
    query, gallery = reid_evaluation.query_gallery_features(trained, splits, config, mesh)
    records = [*splits.query, *splits.gallery]
    per_camera = camera_bn.camera_variables(backbone, variables, camera_bn.record_batches(records, config))
    assert sorted(per_camera) == sorted({r.camid for r in records})
    for split, got in ((splits.query, query), (splits.gallery, gallery)):
        for camera, camera_variables in per_camera.items():
            rows = [i for i, r in enumerate(split) if r.camid == camera]
            images = np.concatenate(
                [b for b in camera_bn.record_batches([split[i] for i in rows], config)[camera]]
            )
            np.testing.assert_allclose(got[rows], features(backbone, camera_variables, images), atol=2e-5)
    config.model.camera_bn = False  # the control: the checkpoint's statistics give other features
    plain, _ = reid_evaluation.query_gallery_features(trained, splits, config, mesh)
    assert np.abs(plain - query).max() > 1e-2
    config.model.camera_bn = True

    # The Extractor and the exported program: statistics of the images they are given, per camera.
    camera = splits.query[0].camid
    paths = [r.path for r in records if r.camid == camera][:6]
    uint8 = np.stack([np.asarray(PIL.Image.open(p).convert("RGB")) for p in paths])
    extracted = Extractor(config, trained, {}, mesh)(uint8, [camera] * len(paths))
    resized = np.stack(
        [np.asarray(pipeline.resized(i, config.data.height, config.data.width)) for i in uint8]
    )
    exported = np.asarray(export.features_program(config, trained).fn(jnp.asarray(resized)))
    normalised = np.stack([np.asarray(pipeline.normalize_imagenet(i)) for i in resized])
    own = camera_bn.camera_variables(backbone, variables, {camera: [normalised]})[camera]
    np.testing.assert_allclose(extracted, features(backbone, own, normalised), atol=2e-5)
    np.testing.assert_allclose(exported, extracted, atol=2e-5)


def test_deployable_statistics_come_from_each_cameras_training_images_with_a_stated_fallback(
    tmp_path, caplog
):
    """eval.camera_bn_statistics=train: each test camera's features use the statistics of its training images,
    not of its test images; a test camera with no training images keeps the checkpoint's statistics, named in
    a warning."""
    import dataclasses
    import logging

    from configs import synthetic
    from unitystyle_jax import startup
    from unitystyle_jax.core import parallel
    from unitystyle_jax.models.factory import create_backbone
    from unitystyle_jax.reid.feature_model import FeatureModel

    config = synthetic.get_config("tiny")
    config.model.camera_bn, config.model.conv = True, "xla"
    config.eval.camera_bn_statistics = "train"
    splits = startup.load_dataset(config, str(tmp_path))
    unseen = splits.query[0].camid
    splits = dataclasses.replace(splits, train=tuple(r for r in splits.train if r.camid != unseen))
    backbone = create_backbone(config.model)
    shape = (1, config.data.height, config.data.width, 3)
    variables = jit(functools.partial(backbone.init, train=False))(jax.random.key(0), jnp.zeros(shape))
    trained, mesh = FeatureModel(backbone, variables, 0, {}), parallel.make_mesh()
    with caplog.at_level(logging.WARNING):
        query, _ = reid_evaluation.query_gallery_features(trained, splits, config, mesh)
    assert f"test camera c{unseen + 1} (id {unseen}): no training images" in caplog.text
    per_camera = camera_bn.camera_variables(
        backbone, variables, camera_bn.record_batches(splits.train, config)
    )
    assert unseen not in per_camera
    for camera in {r.camid for r in splits.query}:
        rows = [i for i, r in enumerate(splits.query) if r.camid == camera]
        images = np.concatenate(
            list(camera_bn.record_batches([splits.query[i] for i in rows], config)[camera])
        )
        expected = features(backbone, per_camera.get(camera, variables), images)
        np.testing.assert_allclose(query[rows], expected, atol=2e-5)
    config.eval.camera_bn_statistics = "test"  # the control: the test images' own statistics differ
    transductive, _ = reid_evaluation.query_gallery_features(trained, splits, config, mesh)
    assert np.abs(transductive - query).max() > 1e-3
