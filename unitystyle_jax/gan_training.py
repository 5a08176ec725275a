"""UnityGAN training: one model per pair of domains. UnityStyle: X = camera c's images, Y = every camera's
images, one model per camera; CamStyle's pairwise models reuse it with X = camera a, Y = camera b.

G: X -> Y (the UnityStyle generator used for transfer), F: Y -> X, discriminators D_X and D_Y. The four loss
terms (GAN, feature matching, identity, cycle) are each divided by their SLN snapshot and weighted by the
lambdas; terms indexed by Y samples are weighted by the Style Attention of those samples (the UnityStyle loss).
"""

import dataclasses
import functools
import json
import logging
import os
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from unitystyle_jax import config_validation, images, losses, networks, parallel, training_loop
from unitystyle_jax.data import pipeline
from unitystyle_jax.models.unitygan import Generator

GENERATORS, DISCRIMINATORS = ("G", "F"), ("D_X", "D_Y")


def create_optimizer(gan_config):
    return optax.adam(gan_config.learning_rate, b1=gan_config.b1, b2=gan_config.b2)


@flax.struct.dataclass
class GanState:
    """One UnityGAN's training state: every network's variables (G, F, D_X, D_Y), both Adam states, SLN.
    Its fields name the checkpoint's entries as the dict it replaced did, so older checkpoints restore as they are."""

    step: jax.Array
    nets: dict  # network name -> its variables ({"params", maybe "batch_stats"})
    gen_opt: Any
    disc_opt: Any
    sln: losses.SLNState


def initial_state(generator, discriminator, tx, image_shape, rng) -> GanState:
    """rng is an argument, not a constant, so every camera's model compiles to the same program (one cache entry)."""
    keys = jax.random.split(rng, 4)
    dummy = jnp.zeros((1, *image_shape), jnp.float32)
    nets = {name: dict(generator.init(k, dummy, train=False)) for name, k in zip(GENERATORS, keys[:2])}
    nets.update(
        {name: dict(discriminator.init(k, dummy, train=False)) for name, k in zip(DISCRIMINATORS, keys[2:])}
    )
    params = lambda names: {n: nets[n]["params"] for n in names}
    return GanState(
        step=jnp.zeros((), jnp.int32),
        nets=nets,
        gen_opt=tx.init(params(GENERATORS)),
        disc_opt=tx.init(params(DISCRIMINATORS)),
        sln=losses.sln_init(losses.UNITYGAN_WEIGHT_NAMES),
    )


def _apply(module, variables, x):
    """Train-mode forward that threads BatchNorm statistics through repeated calls of one network."""
    if "batch_stats" in variables:
        out, updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
        return out, {**variables, **updates}
    return module.apply(variables, x, train=True), variables


def _halves(tree, size: int):
    return jax.tree.map(lambda a: a[:size], tree), jax.tree.map(lambda a: a[size:], tree)


def _scored(discriminator, variables, fake, real):
    """One discriminator call on [fake, real]: ((fake logits, real logits), (fake features, real features))."""
    logits, features = discriminator.apply(variables, jnp.concatenate([fake, real]), train=True)
    return _halves(logits, fake.shape[0]), _halves(features, fake.shape[0])


def generator_terms(nets, batch, *, generator, discriminator, gan_config):
    """The four UnityGAN terms for G and F, each split into its G half (X-indexed: x -> G(x)) and its F half
    (Y-indexed: y -> F(y)), all scalars; and the Y samples' weights.

    The UnityStyle loss weights the expectation over y (paper: sum_c A(y^(c)) L_UnityGAN(x, y^(c))): every
    Y-indexed term, and the real side of what G(x) is compared with (the feature-matching target here, D_Y's
    real samples in `discriminator_loss`). Only the real side decides which style G must produce. The weights
    carry `losses.adversarial_weights`' reversed gradient, so minimising the total trains the attention head to
    maximise it. Calls are batched (F on [y, x], G on [x, y, F(y)], each discriminator on [fake, real]) so the
    step compiles to a third fewer network copies; the discriminators' instance norm makes their batching exact.
    """
    x, y, c = batch["x"], batch["y"], gan_config
    b = x.shape[0]
    g, f = nets["G"], nets["F"]
    (f_out, _), f = _apply(generator, f, jnp.concatenate([y, x]))
    fake_x, identity_x = f_out[:b], f_out[b:]
    (g_out, g_attention), g = _apply(generator, g, jnp.concatenate([x, y, fake_x]))
    fake_y, identity_y, cycle_y = g_out[:b], g_out[b : 2 * b], g_out[2 * b :]
    attention = g_attention[b : 2 * b]  # Style Attention of the Y samples
    if c.style_attention:
        weights = losses.adversarial_weights(attention, c.attention_floor)
    else:
        weights = jnp.ones_like(attention)
    # L_ID's G half: |G(y) - y| over Y samples from other cameras only, when configured (X is part of Y, and
    # camera c's own images would pull G(x) back to x).
    id_weights = weights * (1.0 - batch["y_own"]) if c.identity_other_cameras else weights
    (cycle_x, _), f = _apply(generator, f, fake_y)
    (fake_y_logits, _), (fake_y_features, real_y_features) = _scored(discriminator, nets["D_Y"], fake_y, y)
    (fake_x_logits, _), (fake_x_features, real_x_features) = _scored(discriminator, nets["D_X"], fake_x, x)
    kind, mean = c.gan_loss, losses.weighted_mean
    cycle = functools.partial(losses.cycle_loss, lambda_ss=c.lambda_ss, lambda_l1=c.lambda_l1)
    g_terms = {
        "gan": mean(losses.gan_generator_loss(fake_y_logits, kind)),
        "fm": losses.feature_matching(real_y_features, fake_y_features, real_weights=weights),
        "id": mean(losses.l1(identity_y, y), id_weights),
        "cyc": mean(cycle(x, cycle_x)),
    }
    f_terms = {
        "gan": mean(losses.gan_generator_loss(fake_x_logits, kind), weights),
        "fm": losses.feature_matching(real_x_features, fake_x_features, fake_weights=weights),
        "id": mean(losses.l1(identity_x, x)),
        "cyc": mean(cycle(y, cycle_y), weights),
    }
    aux = {
        "fake_x": fake_x,
        "fake_y": fake_y,
        "attention": attention,
        "weights": weights,
        "batch_stats": {"G": g, "F": f},
    }
    return g_terms, f_terms, aux


def discriminator_loss(disc_params, nets, batch, aux, *, discriminator, gan_config):
    """D_Y scores real y (weighted as the UnityStyle loss weights them) against G(x); D_X real x against F(y)
    (F(y) weighted like its y). Fakes and weights are constants here."""
    sg, weights = jax.lax.stop_gradient, jax.lax.stop_gradient(aux["weights"])
    pairs = {
        "D_Y": (sg(aux["fake_y"]), batch["y"], dict(real_weights=weights)),
        "D_X": (sg(aux["fake_x"]), batch["x"], dict(fake_weights=weights)),
    }
    total = 0.0
    for name, (fake, real, weighting) in pairs.items():
        variables = {**nets[name], "params": disc_params[name]}
        (fake_logits, real_logits), _ = _scored(discriminator, variables, fake, real)
        total += losses.gan_discriminator_loss(real_logits, fake_logits, gan_config.gan_loss, **weighting)
    return total


def train_step(state, batch, *, generator, discriminator, tx, gan_config):
    nets, c = state.nets, gan_config
    lambdas = config_validation.loss_weights(c)

    def generator_loss(gen_params):
        with_params = {**nets, **{n: {**nets[n], "params": gen_params[n]} for n in GENERATORS}}
        g_terms, f_terms, aux = generator_terms(
            with_params, batch, generator=generator, discriminator=discriminator, gan_config=c
        )
        terms = {k: g_terms[k] + f_terms[k] for k in losses.UNITYGAN_WEIGHT_NAMES}
        normalized = losses.sln_normalize(terms, state.sln) if c.sln else terms
        total = sum(lambdas[k] * normalized[k] for k in losses.UNITYGAN_WEIGHT_NAMES)
        return total, (terms, aux)

    gen_params = {n: nets[n]["params"] for n in GENERATORS}
    (gen_total, (terms, aux)), gen_grads = jax.value_and_grad(generator_loss, has_aux=True)(gen_params)
    disc_params = {n: nets[n]["params"] for n in DISCRIMINATORS}
    disc_total, disc_grads = jax.value_and_grad(discriminator_loss)(
        disc_params, nets, batch, aux, discriminator=discriminator, gan_config=c
    )
    gen_updates, gen_opt = tx.update(gen_grads, state.gen_opt, gen_params)
    disc_updates, disc_opt = tx.update(disc_grads, state.disc_opt, disc_params)
    gen_params, disc_params = (
        optax.apply_updates(gen_params, gen_updates),
        optax.apply_updates(disc_params, disc_updates),
    )
    new_nets = {n: {**aux["batch_stats"][n], "params": gen_params[n]} for n in GENERATORS}
    new_nets.update({n: {**nets[n], "params": disc_params[n]} for n in DISCRIMINATORS})
    sln = losses.sln_update(
        jax.lax.stop_gradient(terms),
        state.sln,
        state.step + 1,
        decay=c.sln_decay,
        first=c.sln_first,
        every=c.sln_every,
    )
    new_state = GanState(step=state.step + 1, nets=new_nets, gen_opt=gen_opt, disc_opt=disc_opt, sln=sln)
    metrics = {
        "loss": gen_total,
        "loss_disc": disc_total,
        **{f"loss_{k}": v for k, v in terms.items()},
        "attention_mean": aux["attention"].mean(),
        "attention_std": aux["attention"].std(),
        "weight_max": aux["weights"].max(),
    }
    return new_state, metrics


@dataclasses.dataclass(frozen=True)
class GanPrograms:
    """One GAN config's models and jit'd programs (init, train step, generator), shared by every model trained
    with that config in this process. Why: each camera's (or camera pair's) model used to trace its own step and
    load it from the compile cache, ~20 s a model at the demo's size and 27 times in a comparison; now only
    the first model of a config pays (the rng is an argument, so one init program serves every model)."""

    generator: Generator
    image_shape: tuple[int, int, int]
    train: training_loop.TrainPrograms
    translate: Callable  # jit'd (generator variables, images in [-1, 1]) -> translated images


@functools.cache
def _programs(gan_json: str, mesh) -> GanPrograms:
    gan = ml_collections.FrozenConfigDict(json.loads(gan_json))
    generator, discriminator = networks.create_gan_networks(gan)
    tx = create_optimizer(gan)
    image_shape = networks.gan_image_shape(gan)
    return GanPrograms(
        generator=generator,
        image_shape=image_shape,
        train=training_loop.train_programs(
            functools.partial(initial_state, generator, discriminator, tx, image_shape),
            functools.partial(
                train_step, generator=generator, discriminator=discriminator, tx=tx, gan_config=gan
            ),
            mesh,
        ),
        translate=networks.translator(gan, mesh),
    )


def programs(gan_config, mesh) -> GanPrograms:
    """The GanPrograms of `gan_config` on `mesh`, built on first use (keyed by the config's contents)."""
    return _programs(gan_config.to_json(sort_keys=True), mesh)


class GanSetup:
    """Programs, checkpoints and identity of one GAN (camera c vs all, or a camera pair): shared by training and
    transfer."""

    def __init__(self, config, workdir: str, domains: networks.Domains, mesh):
        self.config, self.domains, self.mesh = config, domains, mesh
        self.programs = programs(config.gan, mesh)
        self.rng = parallel.init_key(config.seed + domains.seed_offset)
        self.workdir = networks.camera_workdir(workdir, domains)
        self.checkpoints = networks.gan_checkpoints(config, workdir, domains)
        self.meta = networks.gan_meta(config, domains)

    def restore(self):
        """(state, step) of the newest checkpoint, or None; a checkpoint of another model (or camera) is an error."""
        restored = self.checkpoints.restore(self.programs.train.abstract_state, meta=self.meta)
        return (restored[0], restored[2]) if restored else None

    def check(self) -> None:
        """Start-up: CheckpointError when the camera's checkpoint folder holds another model than the config's."""
        self.checkpoints.check(self.programs.train.abstract_state, self.meta)

    def finished(self) -> int | None:
        """The newest checkpoint's step when it has reached config.gan.num_steps (nothing left to train)."""
        steps = self.checkpoints.steps()
        return steps[-1] if steps and steps[-1] >= self.config.gan.num_steps else None


def modelled_cameras(config, splits) -> list[int]:
    """The cameras whose UnityGANs the gan stage trains: config.gan.cameras, or every camera with training
    images. A chosen camera without training images is a ConfigError, raised at start-up."""
    if not config.gan.cameras:
        return list(splits.cameras)
    chosen = config_validation.gan_cameras(config)
    missing = [c for c in chosen if c not in splits.cameras]
    if missing:
        raise config_validation.ConfigError(
            f"config.gan.cameras={config.gan.cameras!r}: camera(s) {missing} have no training images in "
            f"{config.data.name} (its training cameras: {', '.join(map(str, splits.cameras))})"
        )
    return chosen


def _sample_row(translate, state, sample_x) -> np.ndarray:
    """Pairs (real | UnityStyle) side by side for a few of camera c's images, uint8 HWC."""
    fake = np.asarray(translate(state.nets["G"], sample_x))
    return images.strip([image for pair in zip(np.asarray(sample_x), fake) for image in pair])


def train(config, workdir: str, splits, domains: networks.Domains, mesh):
    """Trains (or resumes) the GAN of `domains`; one whose training has finished is skipped."""
    from PIL import Image

    setup = GanSetup(config, workdir, domains, mesh)
    done = setup.finished()
    if done is not None:
        logging.info("GAN %s: finished (step %d in %s), skipping", domains.name, done, setup.workdir)
        return
    restored = setup.restore()
    state, start_step = restored if restored else (setup.programs.train.init(setup.rng), 0)
    gan = config.gan
    x_records, y_records = domains.records(splits.train)
    batches = pipeline.gan_train_batches(
        x_records,
        y_records,
        gan.height,
        gan.width,
        gan.batch_size,
        config.data.flip,
        config.seed + 7919 * domains.seed_offset,
        start_step,
        gan.num_steps,
    )
    sample_x = next(pipeline.ordered_batches(x_records[:4], gan.height, gan.width, 4, "gan"))[0]
    samples_dir = os.path.join(setup.workdir, "samples")

    def write_samples(step, state, writer):
        row = _sample_row(setup.programs.translate, state, sample_x)
        writer.write_images(step, {"samples": row[None]})  # a no-op logger on processes other than 0
        if jax.process_index() == 0:
            os.makedirs(samples_dir, exist_ok=True)
            Image.fromarray(row).save(os.path.join(samples_dir, f"step_{step:07d}.png"))

    logging.info("GAN %s: %d images in X, %d in Y", domains.name, len(x_records), len(y_records))
    training_loop.run(
        name=f"gan[{domains.name}]",
        state=state,
        start_step=start_step,
        num_steps=gan.num_steps,
        batches=batches,
        step_fn=setup.programs.train.step,
        mesh=mesh,
        checkpoints=setup.checkpoints,
        meta=setup.meta,
        logdir=setup.workdir,
        log_every=gan.log_every,
        checkpoint_every=gan.checkpoint_every,
        images_per_step=2 * gan.batch_size,
        on_checkpoint=write_samples,
    )
