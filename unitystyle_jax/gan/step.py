"""The UnityGAN train step, alone and stacked: pure JAX on arrays, knowing nothing of files or tf.data, so it runs
wherever JAX does (benchmarks/device_check.py runs it on accelerators without TensorFlow).

G: X -> Y (the UnityStyle generator used for transfer), F: Y -> X, discriminators D_X and D_Y. The four loss
terms (GAN, feature matching, identity, cycle) are each divided by their SLN snapshot (when on) and weighted by
the lambdas; the expectation over Y samples is weighted so that every camera weighs alike in all C models (the
UnityStyle loss, `y_weights`), and feature matching compares style statistics: the minimiser is one shared
style in the middle of the cameras (docs/objective.md).
"""

import dataclasses
import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from unitystyle_jax import losses
from unitystyle_jax.gan import cyclegan_step
from unitystyle_jax.gan.initialisation import (
    DISCRIMINATORS,
    GENERATORS,
    create_optimizer,
    networks_and_optimizers,
)
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.models.factory import create_gan_networks


@dataclasses.dataclass(frozen=True)
class UnityGanObjective:
    """The config.gan settings the UnityGAN step reads (the objective's terms, weights, Style Attention reading
    and SLN schedule; config.gan documents each): typed and hashable, so the step is a function of arrays and
    this, and a setting it does not read cannot reach it."""

    gan_loss: str
    fm_statistics: str
    camera_balance: bool
    style_attention: str
    attention_floor: float
    generator_identity: bool
    identity_other_cameras: bool
    y_cycle: bool
    lambda_gan: float
    lambda_fm: float
    lambda_id: float
    lambda_cyc: float
    lambda_ss: float
    lambda_l1: float
    sln: bool
    sln_floor: str
    sln_decay: float
    sln_first: int
    sln_every: int

    @classmethod
    def of(cls, gan_config) -> "UnityGanObjective":
        return cls(**{field.name: gan_config[field.name] for field in dataclasses.fields(cls)})


@flax.struct.dataclass
class GanState:
    """One UnityGAN's training state: every network's variables (G, F, D_X, D_Y), both Adam states, SLN.
    Its field names are the checkpoint's entry names, which every checkpoint of this project carries."""

    step: jax.Array
    nets: dict  # network name -> its variables ({"params", maybe "batch_stats"})
    gen_opt: Any
    disc_opt: Any
    sln: losses.SLNState


def initial_state(generator, discriminator, tx, image_shape, rng) -> GanState:
    """rng is an argument, not a constant, so every camera's model compiles to the same program (one cache entry)."""
    fresh = networks_and_optimizers(generator, discriminator, tx, image_shape, jax.random.split(rng, 4))
    return GanState(**fresh, sln=losses.sln_init(losses.UNITYGAN_WEIGHT_NAMES))


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


def y_weights(attention, batch, objective: UnityGanObjective):
    """Each Y sample's weight in the UnityStyle loss: its camera's share (`camera_balance`: every camera weighs
    1/C, whatever its image count, and the same for all C models) times its Style Attention weight, bounded by
    `attention_floor` (`style_attention`: per_model, per sample and maximising, each model its own head; shared,
    the same with one head for all the stacked models; joint, per sample and minimising; camera, per camera and
    normalised over the cameras, maximising; none and modulate: 1)."""
    weights = batch["y_balance"] if objective.camera_balance else jnp.ones_like(attention)
    reading, floor = objective.style_attention, objective.attention_floor
    if reading in ("per_model", "shared"):
        weights = weights * losses.adversarial_weights(attention, floor)
    elif reading == "joint":
        weights = weights * losses.unitystyle_weights(attention, floor)
    elif reading == "camera":
        weights = weights * losses.camera_weights(attention, batch["y_camera"], floor)
    return weights


def matched_features(images, features, objective: UnityGanObjective):
    """What feature matching compares: GANimorph's seven instance-normalised maps by channel means ('means'),
    or ('style') the image itself and the discriminator's un-normalised first map by per-image channel mean and
    std, and ('style_layout') also the image's coarse layout (`coarse_layout`). Instance norm removes exactly
    those statistics from every later map, so they cannot see style; and averaged in with them, the style layers
    would weigh 2/9 of the term (measured: too little to move G)."""
    if objective.fm_statistics == "means":
        return features[1:]
    style = (images, features[0])
    return (*style, coarse_layout(images)) if objective.fm_statistics == "style_layout" else style


STYLE_GRID = (4, 2)  # rows, columns of the coarse layout: a person crop's head, torso, legs and feet


def coarse_layout(images):
    """The image's mean colour in each cell of a STYLE_GRID grid, as one 1x1 'map' of cells x channels: light
    that varies across the frame (a gradient, vignetting, a local cast) moves it, while global statistics
    average it away."""
    b, h, w, c = images.shape
    rows, cols = STYLE_GRID
    cells = images.reshape(b, rows, h // rows, cols, w // cols, c).mean(axis=(2, 4))
    return cells.reshape(b, 1, 1, rows * cols * c)


def generator_terms(nets, batch, *, generator, discriminator, objective: UnityGanObjective):
    """The four UnityGAN terms for G and F, each split into its G half (X-indexed: x -> G(x)) and its F half
    (Y-indexed: y -> F(y)), all scalars; and the Y samples' weights.

    The UnityStyle loss weights the expectation over y (paper: sum_c A(y^(c)) L_UnityGAN(x, y^(c))): every
    Y-indexed term, and the real side of what G(x) is compared with (the feature-matching target here, D_Y's
    real samples in `discriminator_loss`). Only the real side decides which style G must produce (`y_weights`).
    Two terms ask G to keep every camera's style, the opposite of many-to-one, and can be left out:
    `generator_identity` (|G(y) - y|, L_ID's G half) and `y_cycle` (G(F(y)) = y). Calls are batched (F on
    [y, x], G on x and whatever else is needed, each discriminator on [fake, real]) so the step compiles to
    fewer network copies; the discriminators' instance norm makes their batching exact.
    """
    x, y, c = batch["x"], batch["y"], objective
    b = x.shape[0]
    g, f = nets["G"], nets["F"]
    (f_out, _), f = _apply(generator, f, jnp.concatenate([y, x]))
    fake_x, identity_x = f_out[:b], f_out[b:]
    # G sees y for L_ID's G half and for the Style Attention of the Y samples, F(y) for the Y cycle.
    with_y = c.generator_identity or c.style_attention in losses.WEIGHTING_ATTENTION
    g_in = [x] + ([y] if with_y else []) + ([fake_x] if c.y_cycle else [])
    (g_out, g_attention), g = _apply(generator, g, jnp.concatenate(g_in))
    fake_y = g_out[:b]
    attention = g_attention[b : 2 * b] if with_y else g_attention[:b]
    weights = y_weights(attention, batch, c)
    (cycle_x, _), f = _apply(generator, f, fake_y)
    (fake_y_logits, _), (fake_y_features, real_y_features) = _scored(discriminator, nets["D_Y"], fake_y, y)
    (fake_x_logits, _), (fake_x_features, real_x_features) = _scored(discriminator, nets["D_X"], fake_x, x)
    kind, mean, with_std = c.gan_loss, losses.weighted_mean, c.fm_statistics != "means"
    cycle = functools.partial(losses.cycle_loss, lambda_ss=c.lambda_ss, lambda_l1=c.lambda_l1)
    zero = jnp.zeros((), jnp.float32)
    g_identity = zero
    if c.generator_identity:
        # Over Y samples from other cameras only, when configured (X is part of Y, and camera c's own images
        # would pull G(x) back to x).
        id_weights = weights * (1.0 - batch["y_own"]) if c.identity_other_cameras else weights
        g_identity = mean(losses.l1(g_out[b : 2 * b], y), id_weights)
    g_terms = {
        "gan": mean(losses.gan_generator_loss(fake_y_logits, kind)),
        "fm": losses.feature_matching(
            matched_features(y, real_y_features, c),
            matched_features(fake_y, fake_y_features, c),
            real_weights=weights,
            with_std=with_std,
        ),
        "id": g_identity,
        "cyc": mean(cycle(x, cycle_x)),
    }
    f_terms = {
        "gan": mean(losses.gan_generator_loss(fake_x_logits, kind), weights),
        "fm": losses.feature_matching(
            matched_features(x, real_x_features, c),
            matched_features(fake_x, fake_x_features, c),
            fake_weights=weights,
            with_std=with_std,
        ),
        "id": mean(losses.l1(identity_x, x)),
        "cyc": mean(cycle(y, g_out[-b:]), weights) if c.y_cycle else zero,
    }
    aux = {
        "fake_x": fake_x,
        "fake_y": fake_y,
        "attention": attention,
        "weights": weights,
        "batch_stats": {"G": g, "F": f},
    }
    return g_terms, f_terms, aux


def discriminator_loss(disc_params, nets, batch, aux, *, discriminator, objective: UnityGanObjective):
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
        total += losses.gan_discriminator_loss(real_logits, fake_logits, objective.gan_loss, **weighting)
    return total


def train_step(state, batch, *, generator, discriminator, tx, objective: UnityGanObjective):
    nets, c = state.nets, objective
    lambdas = losses.loss_weights(c)

    def generator_loss(gen_params):
        with_params = {**nets, **{n: {**nets[n], "params": gen_params[n]} for n in GENERATORS}}
        g_terms, f_terms, aux = generator_terms(
            with_params, batch, generator=generator, discriminator=discriminator, objective=c
        )
        terms = {k: g_terms[k] + f_terms[k] for k in losses.UNITYGAN_WEIGHT_NAMES}
        normalized = losses.sln_normalize(terms, state.sln, c.sln_floor) if c.sln else terms
        total = sum(lambdas[k] * normalized[k] for k in losses.UNITYGAN_WEIGHT_NAMES)
        return total, (terms, aux)

    gen_params = {n: nets[n]["params"] for n in GENERATORS}
    (gen_total, (terms, aux)), gen_grads = jax.value_and_grad(generator_loss, has_aux=True)(gen_params)
    disc_params = {n: nets[n]["params"] for n in DISCRIMINATORS}
    disc_total, disc_grads = jax.value_and_grad(discriminator_loss)(
        disc_params, nets, batch, aux, discriminator=discriminator, objective=c
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


def step_functions(gan_config):
    """(generator, init(rng) -> state, step(state, batch)) of one GAN config, not yet jit'd: the UnityGAN's, or
    CamStyle's CycleGAN's (config.gan.model)."""
    if gan_config.model == "cyclegan":
        return cyclegan_step.step_functions(gan_config)
    generator, discriminator = create_gan_networks(gan_config)
    tx = create_optimizer(gan_config)
    init = functools.partial(initial_state, generator, discriminator, tx, gan_image_shape(gan_config))
    step = functools.partial(
        train_step,
        generator=generator,
        discriminator=discriminator,
        tx=tx,
        objective=UnityGanObjective.of(gan_config),
    )
    return generator, init, step
