"""The tf.data pipeline: deterministic order, resumable, N real + N UnityStyle rows aligned, shapes and ranges."""

import collections

import ml_collections
import numpy as np
import pytest

from unitystyle_jax.data import formats, pipeline, synthetic


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthetic.generate(root, synthetic.SyntheticSpec.tiny())
    return formats.load("synthetic", root)


def data_config(**overrides):
    c = ml_collections.ConfigDict(
        dict(height=32, width=16, flip=True, pad=2, random_erasing=0.0, colour_jitter=0.0, prefetch=1)
    )
    c.update(overrides)
    return c


def test_sample_order_is_epochs_of_permutations_and_resumable():
    order = pipeline.sample_order(10, 4, seed=3, start_step=0, num_steps=10)
    assert order.shape == (10, 4)
    flat = order.reshape(-1)
    for epoch in range(4):
        assert sorted(flat[epoch * 10 : (epoch + 1) * 10]) == list(range(10))
    assert not np.array_equal(flat[:10], flat[10:20])
    np.testing.assert_array_equal(pipeline.sample_order(10, 4, 3, 7, 10), order[7:])
    assert not np.array_equal(pipeline.sample_order(10, 4, 4, 0, 10), order)


def test_reid_batches_are_deterministic_and_resume_exactly(splits):
    take = lambda start: list(pipeline.reid_train_batches(splits.train, None, data_config(), 4, 0, start, 5))
    full, again, resumed = take(0), take(0), take(2)
    assert len(full) == 5 and len(resumed) == 3
    for a, b in zip(full, again):
        np.testing.assert_array_equal(a["image"], b["image"])
    for a, b in zip(full[2:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])
    assert full[0]["image"].shape == (4, 32, 16, 3) and full[0]["image"].dtype == np.float32
    assert set(np.concatenate([b["label"] for b in full])) <= set(range(splits.num_train_ids))


def test_aligned_rows_are_the_same_samples_with_their_own_augmentation(splits):
    """UnityStyle's and the real twin's second part: row i is a version of real row i, augmented on its own."""
    plain = data_config(flip=False, pad=0)
    twin = pipeline.SecondPart(splits.train)
    batch = next(pipeline.reid_train_batches(splits.train, twin, plain, 4, 0, 0, 1))
    np.testing.assert_array_equal(batch["image"], batch["second_image"])  # same files, no augmentation
    np.testing.assert_array_equal(batch["label"], batch["second_label"])
    augmented = next(pipeline.reid_train_batches(splits.train, twin, data_config(pad=4), 4, 0, 0, 1))
    assert not np.array_equal(augmented["image"], augmented["second_image"])  # independent augmentation
    np.testing.assert_array_equal(augmented["label"], augmented["second_label"])
    with pytest.raises(ValueError, match="aligned split has"):
        pipeline.reid_train_batches(splits.train, pipeline.SecondPart(splits.train[:-1]), plain, 4, 0, 0, 1)


def test_independent_part_draws_its_own_samples_and_leaves_the_real_part_as_it_was(splits):
    """CamStyle's generated images: their own batch size and order, labels of the images they show; the real
    part equals the real-only pipeline's, so CamStyle and the baseline see the same real batches."""
    plain = data_config(flip=False, pad=0)
    generated = list(reversed(splits.train))  # stands in for the generated set: other order, same labels
    second_part = pipeline.SecondPart(generated, aligned=False, batch_size=2)
    mixed = list(pipeline.reid_train_batches(splits.train, second_part, plain, 4, 0, 0, 6))
    alone = list(pipeline.reid_train_batches(splits.train, None, plain, 4, 0, 0, 6))
    by_path = {r.path: r for r in splits.train}
    images = {
        r.path: pipeline.normalize_imagenet(pipeline.decode(r.path, 32, 16)).numpy() for r in splits.train
    }
    drawn = []
    for m, a in zip(mixed, alone, strict=True):
        np.testing.assert_array_equal(m["image"], a["image"])
        assert m["second_image"].shape == (2, 32, 16, 3) and m["second_label"].shape == (2,)
        for image, label in zip(m["second_image"], m["second_label"], strict=True):
            path = min(images, key=lambda p: np.abs(images[p] - image).max())
            assert np.abs(images[path] - image).max() < 1e-5 and by_path[path].pid == label
            drawn.append(path)
    assert len(set(drawn)) > 2  # an order of its own over the generated set, not one image repeated
    resumed = list(pipeline.reid_train_batches(splits.train, second_part, plain, 4, 0, 3, 6))
    for a, b in zip(mixed[3:], resumed, strict=True):
        np.testing.assert_array_equal(a["second_image"], b["second_image"])


def test_random_erasing_changes_a_rectangle():
    import tensorflow as tf

    image = tf.zeros((32, 16, 3))
    erased = pipeline.augment(image, tf.constant([1, 2], tf.int64), flip=False, pad=0, erasing=1.0).numpy()
    changed = np.any(erased != 0, axis=-1)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 0
    assert changed[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one filled rectangle


def test_gan_batches_draw_x_from_one_camera_in_gan_range(splits):
    x_records = [r for r in splits.train if r.camid == 1]
    batch = next(pipeline.gan_train_batches(x_records, splits.train, 32, 16, 4, True, 0, 0, 1))
    assert batch["x"].shape == batch["y"].shape == (4, 32, 16, 3)
    assert batch["x"].min() >= -1.0 and batch["x"].max() <= 1.0
    camera_1 = np.stack([pipeline.to_gan_range(pipeline.decode(r.path, 32, 16)).numpy() for r in x_records])
    for image in batch["x"]:  # every X image is one of camera 1's (possibly mirrored)
        distance = np.minimum(
            np.abs(camera_1 - image).max(axis=(1, 2, 3)),
            np.abs(camera_1[:, :, ::-1] - image).max(axis=(1, 2, 3)),
        )
        assert distance.min() < 1e-5
    # y_own marks the Y samples from X's camera: check it against the Y images themselves.
    nearest = lambda image: min(  # noqa: E731
        np.abs(camera_1 - image).max(axis=(1, 2, 3)).min(),
        np.abs(camera_1[:, :, ::-1] - image).max(axis=(1, 2, 3)).min(),
    )
    y_own = [nearest(image) < 1e-5 for image in batch["y"]]
    np.testing.assert_array_equal(batch["y_own"], np.array(y_own, np.float32))


def test_y_balance_weighs_every_camera_of_y_alike(splits):
    """Each Y sample's weight is images / (cameras x its camera's images): summed over a camera's records, every
    camera weighs the same whatever its image count (the tiny data's cameras differ in count)."""
    steps = 60
    batches = list(pipeline.gan_train_batches(splits.train, splits.train, 32, 16, 4, False, 0, 0, steps))
    counts = collections.Counter(r.camid for r in splits.train)
    assert len(set(counts.values())) > 1, counts  # else the check below could pass unweighted
    weight_of = {c: len(splits.train) / (len(counts) * n) for c, n in counts.items()}
    weights = np.concatenate([b["y_balance"] for b in batches])
    assert sorted(np.unique(weights.round(5))) == sorted({round(w, 5) for w in weight_of.values()})
    assert abs(weights.mean() - 1.0) < 0.25  # the weights average to 1 over the Y records


def test_ordered_batches_cover_every_record_once_with_padding(splits):
    records = splits.query
    batches = list(pipeline.ordered_batches(records, 32, 16, 3))
    assert sum(count for _, count in batches) == len(records)
    assert all(images.shape == (3, 32, 16, 3) for images, _ in batches)
    first = pipeline.normalize_imagenet(pipeline.decode(records[0].path, 32, 16)).numpy()
    np.testing.assert_allclose(batches[0][0][0], first, atol=1e-6)


def test_unusual_but_readable_images_are_accepted_and_decoded_as_rgb(tmp_path):
    """What a real folder may hold besides RGB JPEGs, all accepted: grayscale JPEG, RGBA and palette PNGs, a
    1x1 image (resized like any other), and a sub-folder inside a split folder (ignored, not read)."""
    from PIL import Image

    train = tmp_path / "bounding_box_train"
    train.mkdir()
    Image.new("L", (8, 16), 90).save(train / "0001_c1s1_000001_01.jpg")
    Image.new("RGBA", (8, 16), (200, 10, 10, 0)).save(train / "0001_c2s1_000002_01.png")
    Image.new("P", (8, 16), 3).save(train / "0002_c1s1_000003_01.png")
    Image.new("RGB", (1, 1), (0, 255, 0)).save(train / "0002_c2s1_000004_01.jpg")
    (train / "extra_folder").mkdir()
    Image.new("RGB", (8, 16)).save(train / "extra_folder" / "0003_c1s1_000005_01.jpg")
    records = formats.verify_images(formats.read_split("market1501", str(tmp_path), "train"))
    assert [r.name for r in records] == [
        "0001_c1s1_000001_01.jpg",
        "0001_c2s1_000002_01.png",
        "0002_c1s1_000003_01.png",
        "0002_c2s1_000004_01.jpg",
    ]
    (images, count), *rest = pipeline.ordered_batches(records, 32, 16, 4, "gan")
    assert (images.shape, count, rest) == ((4, 32, 16, 3), 4, [])
    gray, rgba, _, one_pixel = images
    np.testing.assert_allclose(gray[..., 0], gray[..., 2])  # grayscale -> equal channels
    assert rgba[..., 0].mean() > 0.5 > rgba[..., 1].mean()  # alpha dropped, colour kept
    np.testing.assert_allclose(one_pixel[..., 1], 1.0, atol=0.02)  # 1x1 green, upsampled


def test_colour_jitter_changes_colour_deterministically_and_is_off_at_zero():
    import tensorflow as tf

    image = tf.constant(np.random.default_rng(0).uniform(0.2, 0.8, (32, 16, 3)), tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    plain = pipeline.augment(image, seed, flip=True, pad=2, erasing=0.5).numpy()
    off = pipeline.augment(image, seed, flip=True, pad=2, erasing=0.5, jitter=0.0).numpy()
    np.testing.assert_array_equal(off, plain)  # the other augmentations draw as before
    jittered = [pipeline.colour_jitter(image, tf.constant([s, 1], tf.int64), 1.0).numpy() for s in range(8)]
    again = pipeline.colour_jitter(image, tf.constant([0, 1], tf.int64), 1.0).numpy()
    np.testing.assert_array_equal(jittered[0], again)
    assert all(0.0 <= j.min() and j.max() <= 1.0 for j in jittered)
    ratios = [j.mean() / image.numpy().mean() for j in jittered]
    assert len({round(r, 4) for r in ratios}) == 8 and all(0.7 < r < 1.3 for r in ratios)
    skipped = pipeline.colour_jitter(image, tf.constant([0, 1], tf.int64), 0.0).numpy()
    np.testing.assert_array_equal(skipped, image.numpy())


def test_camera_batches_hold_one_camera_each_in_proportion_and_resume_exactly():
    cameras = np.array([0] * 60 + [1] * 30 + [2] * 3)
    order = pipeline.camera_sample_order(cameras, 8, seed=4, start_step=0, num_steps=300)
    per_batch = [set(cameras[row]) for row in order]
    assert all(len(s) == 1 for s in per_batch)  # the control below shows batches are not trivially one camera
    assert len(set(cameras[order[:, 0]])) == 3
    drawn = collections.Counter(next(iter(s)) for s in per_batch)
    assert drawn[0] > drawn[1] > drawn[2] > 0  # in proportion to each camera's images
    assert all(
        len(set(row)) == 8 for row in order if cameras[row[0]] != 2
    )  # no repeats where there are enough
    np.testing.assert_array_equal(order[100:], pipeline.camera_sample_order(cameras, 8, 4, 100, 300))


def test_the_reid_pipeline_draws_camera_batches_when_asked(splits):
    batches = list(
        pipeline.reid_train_batches(splits.train, None, data_config(), 4, 0, 0, 6, camera_batches=True)
    )
    assert all(len(set(b["camera"])) == 1 for b in batches)
    mixed = list(pipeline.reid_train_batches(splits.train, None, data_config(), 4, 0, 0, 6))
    assert any(len(set(b["camera"])) > 1 for b in mixed)  # the control: plain batches mix cameras
    records = {r.camid for r in splits.train}
    assert {int(b["camera"][0]) for b in batches} <= records
