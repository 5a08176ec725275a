"""Paper-scale defaults (UnityStyle, Liu et al. CVPR 2020; IDE recipe of CamStyle). Other configs derive from it."""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    # Stages run in this order by train.py; any subset, comma-separated: gan, transfer, reid.
    c.stages = "gan,transfer,reid"

    c.data = ml_collections.ConfigDict()
    c.data.name = "market1501"  # market1501 | dukemtmc | msmt17 | custom | synthetic
    c.data.root = (
        ""  # dataset folder (TFDS manual_dir); synthetic: where it is generated ('' = WORKDIR/dataset)
    )
    c.data.height = 256
    c.data.width = 128
    c.data.verify = True  # decode every image once before training: a corrupt file fails early, by name
    c.data.skip_bad_files = False  # with verify: drop corrupt images with one warning instead of failing
    c.data.flip = True
    c.data.pad = 10  # zero-pad then random-crop back (torchreid's Pad(10) + RandomCrop)
    c.data.random_erasing = 0.0  # probability; 0.5 in CamStyle's "+ random erasing" rows
    c.data.colour_jitter = (
        0.0  # probability of fast-reid's colour jitter (INPUT.CJ: 0.5) on IDE training images
    )
    c.data.prefetch = 2
    c.data.synthetic = ml_collections.ConfigDict()  # SyntheticSpec fields, used when name == 'synthetic'

    c.gan = ml_collections.ConfigDict()
    c.gan.height = 256
    c.gan.width = 128
    c.gan.batch_size = 16  # per camera model (GANimorph: 16)
    c.gan.num_steps = 40_000
    c.gan.cameras = ""  # '' = every camera; else comma-separated 0-based camera ids
    c.gan.learning_rate = 2e-4
    c.gan.b1 = 0.5
    c.gan.b2 = 0.999
    c.gan.gan_loss = "lsgan"  # lsgan | bce: the paper does not say
    # The UnityStyle loss's reading (docs/objective.md): every camera weighs 1/C in the expectation
    # over y, the same in all C models, and feature matching compares style statistics; their minimiser is the
    # middle of the camera styles. Each knob off (and style_attention=per_model) gives back the objective before it.
    c.gan.camera_balance = True  # each Y sample weighted so that every camera weighs alike
    c.gan.fm_statistics = "style"  # style: image and D's first map by mean/std | style_layout | means
    # Style Attention's reading (losses.STYLE_ATTENTION; docs/objective.md): none | per_model | shared (with
    # train_together) | joint | camera | modulate
    c.gan.style_attention = "none"
    c.gan.attention_floor = 0.5  # weights in (floor, 1) / their mean: no sample weighs > 1/floor x another
    c.gan.generator_identity = False  # L_ID's G half |G(y) - y|: asks G to keep the other cameras' styles
    c.gan.identity_other_cameras = True  # that half over Y samples of the other cameras only
    c.gan.y_cycle = True  # the Y-side cycle G(F(y)) = y
    c.gan.lambda_gan = 0.2
    c.gan.lambda_fm = 0.5
    c.gan.lambda_id = 0.1
    c.gan.lambda_cyc = 0.2
    c.gan.lambda_ss = 0.7
    c.gan.lambda_l1 = 0.3
    # The paper's SLN (each term divided by a snapshot of its moving average) is off: with the identity-initialised
    # generator it pulls G back to the identity at the paper's size and rate, whenever its first snapshot is taken
    # (docs/objective.md). True turns it on, with the floor and schedule below.
    c.gan.sln = False
    # none: GANimorph's SLN | gan: each normaliser at least the adversarial term's snapshot (a measured
    # alternative: docs/objective.md)
    c.gan.sln_floor = "none"
    c.gan.sln_decay = 0.9999
    # With SLN on: the first snapshot at half the run (GANimorph: step 36), so that the identity-initialised
    # generator's identity and cycle terms have left 0 when first snapshotted; the lambdas weigh the raw terms
    # until then. Scale it with num_steps.
    c.gan.sln_first = 20_000
    c.gan.sln_every = 90
    c.gan.generator = ml_collections.ConfigDict(
        # output_epsilon: the residual output is tanh(atanh(x) + delta), x clipped to +-(1 - eps) first
        dict(base_features=64, num_res_blocks=3, num_scales=4, ibn_scales=1, output_epsilon=1e-3)
    )
    c.gan.discriminator = ml_collections.ConfigDict(dict(base_features=64))
    # unitygan | cyclegan: CamStyle's CycleGAN (models/cyclegan.py, gan/cyclegan_step.py), what the comparison's
    # camstyle rows train per camera pair, with pytorch-CycleGAN-and-pix2pix's recipe (widths from the two above).
    c.gan.model = "unitygan"
    c.gan.cyclegan = ml_collections.ConfigDict(
        dict(num_res_blocks=9, discriminator_layers=3, lambda_cycle=10.0, lambda_identity=0.5, pool_size=50)
    )
    c.gan.conv = "auto"  # convolution: auto (per-shape fast conv on CPU, XLA's elsewhere) | fast | xla
    # Compute dtype: float32 | bfloat16 (parameters, optimizer state, losses and norm statistics stay float32).
    c.gan.dtype = "float32"
    # train_together: every GAN of a stage (C UnityGANs; CamStyle's pairs) as one vmapped program, each model on
    # a leading axis with its own data, rng and SLN; model_devices: devices that axis spans (the rest split each
    # model's batch). Off by default: on a 2-core CPU it runs 0.5-0.8x the speed of one model after another.
    c.gan.train_together = False
    c.gan.model_devices = 1
    c.gan.log_every = 100
    c.gan.checkpoint_every = 2_000
    c.gan.keep_checkpoints = 2

    c.transfer = ml_collections.ConfigDict()
    c.transfer.batch_size = 64
    c.transfer.jpeg_quality = 95

    # The IDE re-ID model: ResNet-50 whose classifier is replaced by two FC layers.
    c.model = ml_collections.ConfigDict()
    c.model.depth = 50
    c.model.width = 64
    c.model.last_stride = 2
    c.model.ibn = False
    c.model.bottleneck_dim = 1024
    c.model.dropout = 0.5
    c.model.conv = "auto"  # auto | fast | xla, as gan.conv (models/fast_conv.py); not part of the checkpoint
    c.model.dtype = "float32"  # compute dtype, as gan.dtype; not part of the checkpoint either
    # MixStyle (models/mixstyle.py) after the listed ResNet stages while training, e.g. '1,2' (its paper's
    # choice); '' is off. mix: random (a shuffled partner) | camera (a partner of another camera).
    c.model.mixstyle = ml_collections.ConfigDict(dict(layers="", p=0.5, alpha=0.1, mix="random"))
    # Camera-based BN (reid/camera_bn.py): every training batch from one camera, and at test time each camera's
    # BN statistics re-estimated from its own images.
    c.model.camera_bn = False
    # The paper's and CamStyle's numbers assume an ImageNet-initialised ResNet: a folder written by
    # `unitystyle-convert-torch`, or 'none' to train from scratch. '' (not chosen) stops a run that
    # would train the IDE, at start-up.
    c.model.pretrained = ""

    c.reid = ml_collections.ConfigDict()
    # unitystyle: N real + N UnityStyle per batch; baseline: real only; real_twin: N real + the same N again with
    # another augmentation (a control); camstyle and colour_norm: rows of `unitystyle-compare`.
    c.reid.method = "unitystyle"
    c.reid.batch_size = 64  # N real images per batch (UnityStyle adds N more): 128 images as CamStyle
    # per_part: mean CE of the real part + mean CE of the second part (the paper's (1/N) sum over 2N, and
    # CamStyle's); all: one mean over every image of the batch.
    c.reid.loss_normalization = "per_part"
    c.reid.generated_batch_size = 24  # CamStyle: generated images per batch (its 46 per 128 real, rounded)
    c.reid.generated_label_smoothing = 0.1  # CamStyle's LSR epsilon, on generated images only
    # UnityStyle images train with hard labels (the paper: they count as real, no LSR); the comparison's LSR row
    # sets CamStyle's 0.1 to test that claim.
    c.reid.unitystyle_label_smoothing = 0.0
    c.reid.num_steps = 10_000  # ~50 epochs of Market-1501 at N = 64
    c.reid.learning_rate = 0.1  # new layers (two-FC head)
    c.reid.backbone_learning_rate = 0.01
    c.reid.momentum = 0.9
    c.reid.nesterov = True
    c.reid.weight_decay = 5e-4
    c.reid.warmup_steps = 0
    c.reid.decay_steps = (8_000,)  # x decay_factor at each (CamStyle: epoch 40 of 50)
    c.reid.decay_factor = 0.1
    c.reid.log_every = 50
    c.reid.checkpoint_every = 1_000
    c.reid.keep_checkpoints = 3

    c.eval = ml_collections.ConfigDict()
    c.eval.step = -1  # -1 = newest checkpoint
    c.eval.batch_size = 128
    c.eval.flip = False  # average features of the image and its mirror
    c.eval.metric = "euclidean"  # euclidean | cosine
    c.eval.rerank = False  # k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)
    # Camera-based BN's statistics for each test camera: test (its query + gallery images, transductive, as the
    # method's paper evaluates) | train (its training images: deployable)
    c.eval.camera_bn_statistics = "test"
    c.eval.ap = "average"  # average (torchreid/fast-reid) | trapezoid (official MATLAB code)
    c.eval.max_rank = 50
    c.eval.export_features = False  # write features.npz beside metrics.json
    # Where evaluate.py writes: '' = WORKDIR/eval/<dataset>[-rerank][-flip][-step<N>], one folder per setting.
    c.eval.output = ""
    c.eval.ranked_queries = 6
    # Test-time transfer reads the UnityStyle version of the evaluated query and gallery from this run's folder
    # ('' = WORKDIR). For another dataset than the run trained on: a folder where `train.py
    # --config.stages=gan,transfer` ran on that dataset. Without one, such data is evaluated as real images.
    c.eval.styles_workdir = ""

    # `unitystyle-compare`: the paper's comparison with controls, an ablation and seeds.
    c.compare = ml_collections.ConfigDict()
    c.compare.seeds = (
        3  # IDE trainings per row (seed, seed + 1, ...): initialisation, data order, augmentation
    )
    # GAN seeds (seed, seed + 1, ...) of each style set made by UnityGANs; IDE seed i uses GAN seed i mod their
    # number. 0 = one per IDE seed: no two IDE seeds share a generator draw, so each is an independent draw of the
    # GAN's variance too.
    c.compare.gan_seeds = 0
    # The same for CamStyle's C(C-1)/2 pairwise GANs per seed: fewer for their cost; IDE seeds that share one
    # count as one draw in the intervals (evaluation/paired.py).
    c.compare.pair_gan_seeds = 1
    c.compare.rows = ""  # '' = paper; comma-separated compare.ROWS keys and groups (paper, methods, all)
    c.compare.bootstrap_samples = 5000  # draws of the paired bootstrap's intervals

    # Several hosts: set enabled and the three fields, or leave them empty to let JAX detect the cluster.
    c.distributed = ml_collections.ConfigDict()
    c.distributed.enabled = False
    c.distributed.coordinator_address = ""
    c.distributed.num_processes = 0
    c.distributed.process_id = -1

    c.compilation_cache_dir = ""  # '' = WORKDIR/.jax_cache (second run of a config skips compilation)
    return c
