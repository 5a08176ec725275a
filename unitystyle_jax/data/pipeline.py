"""tf.data input pipelines: re-ID training (N real + a second part: UnityStyle, a real twin or CamStyle's
generated images), UnityGAN training, and evaluation.

Why the sample order is computed in numpy from (seed, step): every process derives the same global batch for a
step and reads only its own columns, and augmentation draws stateless randomness from (seed, global position).
So a run's batches do not depend on how many processes or devices share it, and a resumed run continues with
exactly the batches an uninterrupted one would have seen.
"""

import collections
import dataclasses
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from unitystyle_jax.core import parallel
from unitystyle_jax.data.formats import Record

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def hide_accelerators_from_tf() -> None:
    """TF only decodes images here: keep it off GPUs/TPUs so JAX owns them."""
    for kind in ("GPU", "TPU"):
        if tf.config.list_physical_devices(kind):
            tf.config.set_visible_devices([], kind)


def sample_order(num_samples: int, batch_size: int, seed: int, start_step: int, num_steps: int) -> np.ndarray:
    """Indices of the global batches for steps [start_step, num_steps): epochs of seeded permutations, end to end."""
    if num_samples <= 0:
        raise ValueError("cannot draw batches from an empty split")
    first, last = start_step * batch_size, num_steps * batch_size
    epochs = range(first // num_samples, -(-last // num_samples))
    order = (
        np.concatenate([np.random.default_rng([seed, e]).permutation(num_samples) for e in epochs])
        if len(epochs)
        else np.zeros((0,), np.int64)
    )
    offset = epochs.start * num_samples if len(epochs) else first
    return order[first - offset : last - offset].reshape(-1, batch_size)


def camera_sample_order(
    cameras: Sequence[int], batch_size: int, seed: int, start_step: int, num_steps: int
) -> np.ndarray:
    """Indices of the global batches for steps [start_step, num_steps), each batch from one camera: camera-based
    batch normalisation's sampler. A step's camera is drawn in proportion to its images, then its batch from that
    camera's images (without repeats when it has enough); each step is seeded on its own, so a resumed run draws
    what an uninterrupted one does."""
    cameras = np.asarray(cameras)
    if cameras.size == 0:
        raise ValueError("cannot draw batches from an empty split")
    names, counts = np.unique(cameras, return_counts=True)
    members = {c: np.flatnonzero(cameras == c) for c in names}
    order = np.zeros((num_steps - start_step, batch_size), np.int64)
    for row, step in enumerate(range(start_step, num_steps)):
        rng = np.random.default_rng([seed, step, 1])
        camera = names[rng.choice(len(names), p=counts / counts.sum())]
        order[row] = rng.choice(members[camera], batch_size, replace=len(members[camera]) < batch_size)
    return order


def _local_columns(global_indices: np.ndarray, start_step: int):
    """This process's indices and their global positions (the positions seed the augmentation)."""
    steps, batch = global_indices.shape
    columns = parallel.process_slice(batch)
    positions = np.arange(start_step, start_step + steps)[:, None] * batch + np.arange(batch)[None, :]
    return global_indices[:, columns].reshape(-1), positions[:, columns].reshape(-1)


def decode(path: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """JPEG/PNG file -> float32 RGB in [0, 1] at height x width."""
    return resized(read_uint8(path), height, width)


def read_uint8(path) -> tf.Tensor:
    """JPEG/PNG file -> uint8 RGB at its own size (grayscale and RGBA become RGB)."""
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def resized(image_uint8, height: int, width: int) -> tf.Tensor:
    """uint8 RGB -> float32 RGB in [0, 1] at height x width: how every image a model sees is sized."""
    image = tf.image.convert_image_dtype(image_uint8, tf.float32)
    return tf.image.resize(image, (height, width), antialias=True)


def augment(
    image: tf.Tensor, seed: tf.Tensor, flip: bool, pad: int, erasing: float, jitter: float = 0.0
) -> tf.Tensor:
    """Random colour jitter, flip, zero-pad + random crop, random erasing; stateless, so a seed fixes the
    outcome."""
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    height, width = image.shape[0], image.shape[1]
    if jitter > 0:  # its own seed, folded in: the other augmentations draw as they do without it
        image = colour_jitter(image, tf.random.experimental.stateless_fold_in(seed, 1), jitter)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if pad:
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(image, (height, width, 3), seeds[1])
    if erasing > 0:
        image = _random_erasing(image, seeds[2], erasing)
    return image


# fast-reid's INPUT.CJ (torchvision's ColorJitter): brightness and contrast factors in 1 ± 0.15, saturation
# in 1 ± 0.1, hue shifted by up to 0.1 of the colour circle.
JITTER_BRIGHTNESS, JITTER_CONTRAST, JITTER_SATURATION, JITTER_HUE = 0.15, 0.15, 0.1, 0.1


def colour_jitter(image: tf.Tensor, seed: tf.Tensor, probability: float) -> tf.Tensor:
    """With `probability`, fast-reid's colour jitter of an RGB image in [0, 1]: a camera-style augmentation that
    needs no camera labels."""
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    brightness = tf.random.stateless_uniform((), seeds[0], 1 - JITTER_BRIGHTNESS, 1 + JITTER_BRIGHTNESS)
    jittered = tf.clip_by_value(image * brightness, 0.0, 1.0)
    jittered = tf.image.stateless_random_contrast(
        jittered, 1 - JITTER_CONTRAST, 1 + JITTER_CONTRAST, seeds[1]
    )
    jittered = tf.image.stateless_random_saturation(
        tf.clip_by_value(jittered, 0.0, 1.0), 1 - JITTER_SATURATION, 1 + JITTER_SATURATION, seeds[2]
    )
    jittered = tf.image.stateless_random_hue(jittered, JITTER_HUE, seeds[3])
    applied = tf.random.stateless_uniform((), seeds[4]) < probability
    return tf.where(applied, tf.clip_by_value(jittered, 0.0, 1.0), image)


def _random_erasing(image, seed, probability, area=(0.02, 0.4), aspect=(0.3, 3.3)):
    """Zhong et al.'s random erasing: a rectangle of random area and aspect filled with uniform noise."""
    height, width = image.shape[0], image.shape[1]
    u = tf.random.stateless_uniform((6,), seed)
    target = (area[0] + u[1] * (area[1] - area[0])) * height * width
    log_ratio = tf.math.log(aspect[0]) + u[2] * (tf.math.log(aspect[1]) - tf.math.log(aspect[0]))
    ratio = tf.exp(log_ratio)
    h = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32), 1, height)
    w = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32), 1, width)
    top = tf.cast(u[3] * tf.cast(height - h + 1, tf.float32), tf.int32)
    left = tf.cast(u[4] * tf.cast(width - w + 1, tf.float32), tf.int32)
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w) & (u[0] < probability)
    noise = tf.random.stateless_uniform(image.shape, seed + 1)
    return tf.where(inside, noise, image)


def normalize_imagenet(image: tf.Tensor) -> tf.Tensor:
    return (image - IMAGENET_MEAN) / IMAGENET_STD


def to_gan_range(image: tf.Tensor) -> tf.Tensor:
    return image * 2.0 - 1.0


def _paths(records: Sequence[Record]) -> tf.Tensor:
    return tf.constant([r.path for r in records])


def _finish(dataset: tf.data.Dataset, local_batch: int, prefetch: int) -> Iterator[dict]:
    return _numpy_batches(dataset.batch(local_batch, drop_remainder=True), prefetch)


def _numpy_batches(batched: tf.data.Dataset, prefetch: int) -> Iterator[dict]:
    options = tf.data.Options()
    options.deterministic = True
    options.threading.private_threadpool_size = 0
    # No autotuning: destroying an autotuned iterator blocks for seconds (~RootDataset::Iterator waits on a
    # tf.data thread) each time a UnityGAN camera finishes; AUTOTUNE parallelism is then one call per core,
    # which still feeds the ResNet-50 step many times over (benchmarks/input_pipeline.py).
    options.autotune.enabled = False
    return batched.prefetch(prefetch).with_options(options).as_numpy_iterator()


@dataclasses.dataclass(frozen=True)
class SecondPart:
    """The second part of every re-ID batch, after the N real images.

    aligned: row i is a version of real row i (UnityStyle: its transferred image; the real-twin control: the
    same file again), with its own augmentation, so the part has N rows. Not aligned (CamStyle's generated
    images): `batch_size` rows drawn by their own seeded order, independently of the real part.
    """

    records: Sequence[Record]
    aligned: bool = True
    batch_size: int = 0


def reid_train_batches(
    real: Sequence[Record],
    second_part: SecondPart | None,
    data_config,
    batch_size: int,
    seed: int,
    start_step: int,
    num_steps: int,
    camera_batches: bool = False,
) -> Iterator[dict]:
    """Process-local batches {'image', 'label', 'camera'} of `batch_size` real images, plus {'second_image',
    'second_label', 'second_camera'} when a `SecondPart` is given. Labels are the relabelled training ids (0..N-1);
    cameras are the 0-based camera ids (a generated image's: the camera whose style it took). camera_batches:
    every batch's real images from one camera (`camera_sample_order`)."""
    if second_part is not None and second_part.aligned and len(second_part.records) != len(real):
        raise ValueError(f"aligned split has {len(second_part.records)} images, the real one {len(real)}")
    h, w, c = data_config.height, data_config.width, data_config

    def loader(records, key):
        paths, labels = _paths(records), tf.constant([r.pid for r in records], tf.int32)
        cameras = tf.constant([r.camid for r in records], tf.int32)

        def load(index, augment_seed):
            image = decode(tf.gather(paths, index), h, w)
            return {
                f"{key}image": normalize_imagenet(
                    augment(image, augment_seed, c.flip, c.pad, c.random_erasing, c.colour_jitter)
                ),
                f"{key}label": tf.gather(labels, index),
                f"{key}camera": tf.gather(cameras, index),
            }

        return load

    def seeds(position, part_seed):
        pair = tf.stack([tf.constant(part_seed, tf.int64), position])
        return tf.unstack(tf.random.experimental.stateless_split(pair, num=2))

    if camera_batches:
        order = camera_sample_order([r.camid for r in real], batch_size, seed, start_step, num_steps)
    else:
        order = sample_order(len(real), batch_size, seed, start_step, num_steps)
    indices, positions = _local_columns(order, start_step)
    load_real = loader(real, "")
    load_aligned = (
        loader(second_part.records, "second_") if second_part is not None and second_part.aligned else None
    )

    def load(index, position):
        real_seed, aligned_seed = seeds(position, seed)
        example = load_real(index, real_seed)
        if load_aligned is not None:
            example.update(load_aligned(index, aligned_seed))
        return example

    dataset = tf.data.Dataset.from_tensor_slices((indices, positions.astype(np.int64)))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(parallel.local_batch_size(batch_size), drop_remainder=True)
    if second_part is not None and not second_part.aligned:
        second_seed = seed + 1
        second_order = sample_order(
            len(second_part.records), second_part.batch_size, second_seed, start_step, num_steps
        )
        second_indices, second_positions = _local_columns(second_order, start_step)
        load_second = loader(second_part.records, "second_")
        drawn = tf.data.Dataset.from_tensor_slices((second_indices, second_positions.astype(np.int64)))
        drawn = drawn.map(
            lambda index, position: load_second(index, seeds(position, second_seed)[0]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        drawn = drawn.batch(parallel.local_batch_size(second_part.batch_size), drop_remainder=True)
        dataset = tf.data.Dataset.zip(dataset, drawn).map(lambda a, b: {**a, **b})
    return _numpy_batches(dataset, data_config.prefetch)


def gan_train_batches(
    x_records: Sequence[Record],
    y_records: Sequence[Record],
    height: int,
    width: int,
    batch_size: int,
    flip: bool,
    seed: int,
    start_step: int,
    num_steps: int,
    prefetch: int = 2,
) -> Iterator[dict]:
    """Process-local batches {'x': domain X's images, 'y': domain Y's images} in [-1, 1], drawn independently,
    'y_own' (1.0 where a Y sample comes from one of X's cameras: UnityStyle's Y holds X), 'y_balance' (each
    Y sample's weight under which every camera of Y weighs alike: images / (cameras x its camera's images)) and
    'y_camera' (its camera one-hot over Y's cameras, for Style Attention's per-camera reading)."""
    x_order = sample_order(len(x_records), batch_size, seed, start_step, num_steps)
    y_order = sample_order(len(y_records), batch_size, seed + 1, start_step, num_steps)
    x_indices, positions = _local_columns(x_order, start_step)
    y_indices, _ = _local_columns(y_order, start_step)
    x_paths, y_paths = _paths(x_records), _paths(y_records)
    x_cameras = {r.camid for r in x_records}
    y_own = tf.constant([float(r.camid in x_cameras) for r in y_records], tf.float32)
    per_camera = collections.Counter(r.camid for r in y_records)
    y_balance = tf.constant(
        [len(y_records) / (len(per_camera) * per_camera[r.camid]) for r in y_records], tf.float32
    )
    camera_index = {c: i for i, c in enumerate(sorted(per_camera))}
    y_camera = tf.one_hot([camera_index[r.camid] for r in y_records], len(camera_index), dtype=tf.float32)

    def load(x_index, y_index, position):
        seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(seed, tf.int64), position]), num=2
        )
        x = augment(decode(tf.gather(x_paths, x_index), height, width), seeds[0], flip, 0, 0.0)
        y = augment(decode(tf.gather(y_paths, y_index), height, width), seeds[1], flip, 0, 0.0)
        return {
            "x": to_gan_range(x),
            "y": to_gan_range(y),
            "y_own": tf.gather(y_own, y_index),
            "y_balance": tf.gather(y_balance, y_index),
            "y_camera": tf.gather(y_camera, y_index),
        }

    dataset = tf.data.Dataset.from_tensor_slices((x_indices, y_indices, positions.astype(np.int64)))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _finish(dataset, parallel.local_batch_size(batch_size), prefetch)


def sample_images(records: Sequence[Record], height: int, width: int) -> np.ndarray:
    """A few records' images in the GAN's [-1, 1], whole on every process rather than a share of a global batch:
    pictures of what a generator does, fed to a program as one replicated input whatever the device count."""
    return np.stack([to_gan_range(decode(tf.constant(r.path), height, width)).numpy() for r in records])


def ordered_batches(
    records: Sequence[Record], height: int, width: int, batch_size: int, value_range: str = "imagenet"
) -> Iterator[tuple[np.ndarray, int]]:
    """Every record once, in order, as this process's share of global batches padded to full size.

    Yields (local images, number of real rows in the GLOBAL batch); padding rows repeat the last image.
    """
    if value_range not in ("imagenet", "gan"):
        raise ValueError(f"unknown value range {value_range!r}")
    num = len(records)
    num_batches = -(-num // batch_size)
    order = np.minimum(np.arange(num_batches * batch_size), num - 1).reshape(num_batches, batch_size)
    indices, _ = _local_columns(order, 0)
    paths = _paths(records)
    scale = normalize_imagenet if value_range == "imagenet" else to_gan_range

    def load(index):
        return scale(decode(tf.gather(paths, index), height, width))

    dataset = tf.data.Dataset.from_tensor_slices(indices).map(
        load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    for b, images in enumerate(_finish(dataset, parallel.local_batch_size(batch_size), 2)):
        yield images, min(batch_size, num - b * batch_size)
