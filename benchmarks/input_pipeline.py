"""Input pipeline throughput at 256x128 against what the ResNet-50 IDE train step consumes, in one run.

    python benchmarks/input_pipeline.py [--batch 32] [--batches 30] [--skip-model]

The data: the synthetic dataset at Market-1501's native 128x64, resized to 256x128 by the pipeline as Market is.
The pipeline runs as in training: decode, resize, flip, pad+crop, random erasing, N real + N UnityStyle.
"""

import argparse
import os
import tempfile
import time


import jax
import numpy as np

from configs import default
from unitystyle_jax.core import parallel
from unitystyle_jax.data import formats, pipeline, synthetic
from unitystyle_jax.reid import training as reid_training


def pipeline_images_per_sec(splits, config, batch: int, batches: int) -> float:
    twin = pipeline.SecondPart(splits.train)  # the UnityStyle part's shape: an aligned second image per row
    it = pipeline.reid_train_batches(splits.train, twin, config.data, batch, 0, 0, batches + 5)
    for _ in range(5):  # warm-up: thread pools, first files
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return 2 * batch * batches / (time.perf_counter() - start)


def model_images_per_sec(config, num_classes: int, batch: int, steps: int = 3) -> float:
    """The training's own jit'd IDE step (randomly initialised: the weights do not change its speed)."""
    programs = reid_training.ReidPrograms.build(config, num_classes, parallel.make_mesh()).train
    state = programs.init(parallel.init_key(0))

    def step(state, batch):
        return programs.step(state, batch, 0)  # the seed: a step argument

    rng = np.random.default_rng(0)
    global_batch = {
        "image": rng.normal(size=(batch, 256, 128, 3)).astype(np.float32),
        "label": rng.integers(0, num_classes, batch).astype(np.int32),
    }
    state, m = step(state, global_batch)  # compile
    jax.block_until_ready(m)
    start = time.perf_counter()
    for _ in range(steps):
        state, m = step(state, global_batch)
    jax.block_until_ready(m)
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=32, help="N: real images per batch (as many UnityStyle)")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--model-batch", type=int, default=8)
    parser.add_argument("--skip-model", action="store_true", help="only time the pipeline")
    args = parser.parse_args()
    pipeline.hide_accelerators_from_tf()
    config = default.get_config()
    root = os.path.join(tempfile.mkdtemp(), "synthetic")
    synthetic.generate(root, synthetic.SyntheticSpec(height=128, width=64))
    splits = formats.load("synthetic", root)
    config.data.random_erasing = 0.5
    data_rate = pipeline_images_per_sec(splits, config, args.batch, args.batches)
    print(
        f"input pipeline (256x128, N={args.batch} real + {args.batch} UnityStyle): {data_rate:,.0f} images/s"
    )
    if not args.skip_model:
        model_rate = model_images_per_sec(config, splits.num_train_ids, args.model_batch)
        print(f"ResNet-50 IDE train step (256x128, batch {args.model_batch}): {model_rate:,.1f} images/s")
        print(f"pipeline / train step: {data_rate / model_rate:,.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
