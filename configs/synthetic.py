"""The built-in synthetic multi-camera dataset: `configs/synthetic.py` is the CPU demo, `configs/synthetic.py:compare`
the demo with a test split large enough to tell methods apart (`make compare`), `configs/synthetic.py:tiny` a run
of seconds for tests.

The demo shrinks every model so that C UnityGANs and two IDE trainings fit in minutes on a 2-core CPU; the
paper-scale settings live in configs/default.py and the real-dataset configs.
"""

import dataclasses

from configs import default
from unitystyle_jax.data import synthetic


def ide_schedule(steps: int) -> dict:
    """The demo's IDE schedule (300 steps: warm-up 30, the rate's decay at 225) scaled to STEPS."""
    return {"num_steps": steps, "warmup_steps": steps // 10, "decay_steps": (3 * steps // 4,)}


def get_config(variant: str | None = None):
    c = default.get_config()
    c.data.name = "synthetic"
    # Every SyntheticSpec field, so each can be set by flag (--config.data.synthetic.local_style_strength=1).
    c.data.synthetic.update(dataclasses.asdict(synthetic.SyntheticSpec()))
    c.data.height, c.data.width = 64, 32
    c.data.pad = 4
    c.gan.height, c.gan.width = 64, 32
    c.gan.batch_size = 8
    c.gan.num_steps = 150
    # A CPU demo trains each UnityGAN for minutes, not days: a faster rate and an SLN whose moving averages can
    # follow within the run (paper-scale values are in configs/default.py).
    c.gan.learning_rate = 1e-3
    c.gan.sln_decay, c.gan.sln_first, c.gan.sln_every = 0.99, 75, 40  # first snapshot at half the run
    c.gan.generator.update(base_features=16, num_res_blocks=1, num_scales=3, ibn_scales=1)
    c.gan.discriminator.base_features = 16
    # CycleGAN's 6 blocks below 256x256; a 34x34 PatchGAN (2 layers), half the image's height as the 70x70 one is
    # a little over a quarter of 256
    c.gan.cyclegan.update(num_res_blocks=6, discriminator_layers=2)
    c.gan.log_every, c.gan.checkpoint_every = 50, 150
    c.model.depth, c.model.width = 18, 16
    c.model.pretrained = "none"  # tiny ResNets of synthetic people: no ImageNet weights fit them
    c.model.last_stride = 1
    c.model.bottleneck_dim = 256
    c.reid.batch_size = 32
    c.reid.generated_batch_size = 12  # CamStyle's 46 generated per 128 real, at N = 32
    c.reid.num_steps = 300
    c.reid.learning_rate, c.reid.backbone_learning_rate = 0.1, 0.1
    c.reid.warmup_steps = 30
    c.reid.decay_steps = (225,)
    c.reid.log_every, c.reid.checkpoint_every = 50, 200
    c.eval.batch_size = 128
    if variant == "compare":
        # 250 test identities and 500 queries: the test sample's share of a method difference's interval
        # shrinks with the queries (the demo's 120 queries alone spread mAP by several points). The IDE trains
        # 1,200 steps: on this split its mAP still climbs steeply at 600 and its seeds spread less at 1,200
        # (results/learning_curve.md).
        c.data.synthetic.update(num_test_ids=250, queries_per_id=2)
        c.reid.update(ide_schedule(1200))
    elif variant == "tiny":
        c.data.synthetic.update(dataclasses.asdict(synthetic.SyntheticSpec.tiny()))
        c.data.height, c.data.width = 32, 16
        c.data.pad = 2
        c.gan.height, c.gan.width = 32, 16
        c.gan.batch_size = 4
        c.gan.num_steps = 3
        c.gan.generator.update(base_features=8, num_res_blocks=1, num_scales=2, ibn_scales=1)
        c.gan.discriminator.base_features = 8
        c.gan.cyclegan.num_res_blocks = 1
        c.gan.log_every, c.gan.checkpoint_every = 1, 3
        c.transfer.batch_size = 16
        c.model.depth, c.model.width = 18, 8
        c.model.bottleneck_dim = 32
        c.reid.batch_size = 8
        c.reid.generated_batch_size = 4
        c.reid.num_steps = 4
        c.reid.warmup_steps = 0
        c.reid.decay_steps = (3,)
        c.reid.log_every, c.reid.checkpoint_every = 1, 2
        c.eval.batch_size = 16
        c.eval.ranked_queries = 2
    elif variant:
        raise ValueError(f"configs/synthetic.py has no variant {variant!r} (use :compare, :tiny or nothing)")
    return c
