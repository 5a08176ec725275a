"""CamStyle's CycleGAN train step, as pytorch-CycleGAN-and-pix2pix trains it: pure JAX on arrays, the state and
batch shapes of the UnityGAN step (gan/step.py), so the same loop, checkpoints and stacking run it.

G: X -> Y, F: Y -> X, D_X, D_Y. LSGAN losses; the cycle loss |F(G(x)) - x| + |G(F(y)) - y| weighted by
lambda_cycle (10); the identity loss |G(y) - y| + |F(x) - x| weighted by lambda_identity x lambda_cycle (0.5 x 10);
each discriminator scores real images against a fake drawn from its image pool of the last `pool_size` (50)
generated images, half of its fakes older ones; Adam with beta1 0.5. Left out: the linear decay of the learning
rate over the second half of CycleGAN's 200 epochs (a pair here trains for the UnityGAN's steps).
"""

import dataclasses
import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from unitystyle_jax import losses
from unitystyle_jax.gan.initialisation import (
    DISCRIMINATORS,
    GENERATORS,
    create_optimizer,
    networks_and_optimizers,
)
from unitystyle_jax.gan.settings import gan_image_shape
from unitystyle_jax.models.factory import create_gan_networks

POOLS = ("X", "Y")  # fakes of each domain: F(y) (scored by D_X), G(x) (by D_Y)


@flax.struct.dataclass
class CycleGanState:
    """Every network's variables, both Adam states, and the two image pools with the images each holds."""

    step: jax.Array
    nets: dict
    gen_opt: Any
    disc_opt: Any
    pools: dict  # domain -> (pool_size, H, W, 3) images
    pool_fill: dict  # domain -> how many of them are filled
    rng: jax.Array  # the pools' draws (a raw uint32 key: checkpointed as an array)


def initial_state(generator, discriminator, tx, image_shape, pool_size: int, rng) -> CycleGanState:
    keys = jax.random.split(rng, 5)
    return CycleGanState(
        **networks_and_optimizers(generator, discriminator, tx, image_shape, keys),
        pools={d: jnp.zeros((pool_size, *image_shape), jnp.float32) for d in POOLS},
        pool_fill={d: jnp.zeros((), jnp.int32) for d in POOLS},
        rng=jax.random.bits(keys[4], (2,), jnp.uint32),  # threefry key data, whatever impl made `rng`
    )


def image_pool_query(pool, fill, images, rng):
    """CycleGAN's ImagePool.query, image by image: while the pool fills, an image goes in and is returned; once
    full, with probability 1/2 a random pooled image is returned and the new one takes its place, else the new
    one is returned. Returns (images for the discriminator, pool, fill)."""
    size = pool.shape[0]

    def one(carry, inputs):
        pool, fill = carry
        image, key = inputs
        swap_key, index_key = jax.random.split(key)
        if size == 0:
            return (pool, fill), image
        filling = fill < size
        swap = jax.random.uniform(swap_key) > 0.5
        index = jnp.where(filling, fill, jax.random.randint(index_key, (), 0, size))
        returned = jnp.where(filling | ~swap, image, pool[index])
        stored = jnp.where(filling | swap, image, pool[index])
        return (pool.at[index].set(stored), jnp.minimum(fill + 1, size)), returned

    keys = jax.random.split(rng, images.shape[0])
    (pool, fill), returned = jax.lax.scan(one, (pool, fill), (images, keys))
    return returned, pool, fill


def _apply(module, variables, x):
    return module.apply(variables, x, train=True)[0]


@dataclasses.dataclass(frozen=True)
class CycleGanObjective:
    """CycleGAN's loss weights (config.gan.cyclegan), all its step reads of the config."""

    lambda_cycle: float
    lambda_identity: float

    @classmethod
    def of(cls, gan_config) -> "CycleGanObjective":
        return cls(gan_config.cyclegan.lambda_cycle, gan_config.cyclegan.lambda_identity)


def generator_terms(nets, batch, *, generator, discriminator, objective: CycleGanObjective):
    """The CycleGAN generators' loss terms (scalars) and the fakes the discriminators see."""
    x, y, c = batch["x"], batch["y"], objective
    b = x.shape[0]
    g_out = _apply(generator, nets["G"], jnp.concatenate([x, y]))
    f_out = _apply(generator, nets["F"], jnp.concatenate([y, x]))
    fake_y, identity_y, fake_x, identity_x = g_out[:b], g_out[b:], f_out[:b], f_out[b:]
    cycle_x = _apply(generator, nets["F"], fake_y)
    cycle_y = _apply(generator, nets["G"], fake_x)
    adversarial = lambda name, fake: jnp.mean(
        losses.gan_generator_loss(_apply(discriminator, nets[name], fake), "lsgan")
    )
    l1 = lambda a, b: jnp.mean(losses.l1(a, b))
    terms = {
        "gan": adversarial("D_Y", fake_y) + adversarial("D_X", fake_x),
        "cyc": l1(cycle_x, x) + l1(cycle_y, y),
        "id": l1(identity_y, y) + l1(identity_x, x),
    }
    total = terms["gan"] + c.lambda_cycle * (terms["cyc"] + c.lambda_identity * terms["id"])
    return total, terms, {"X": fake_x, "Y": fake_y}


def discriminator_loss(disc_params, nets, batch, fakes, *, discriminator):
    """0.5 x (LSGAN real + LSGAN fake) for each discriminator, its fakes drawn from its pool."""
    total = 0.0
    for name, domain, real in (("D_Y", "Y", batch["y"]), ("D_X", "X", batch["x"])):
        variables = {**nets[name], "params": disc_params[name]}
        real_logits = _apply(discriminator, variables, real)
        fake_logits = _apply(discriminator, variables, fakes[domain])
        total += losses.gan_discriminator_loss(real_logits, fake_logits, "lsgan")
    return total


def train_step(state, batch, *, generator, discriminator, tx, objective: CycleGanObjective):
    nets = state.nets

    def generator_loss(gen_params):
        with_params = {**nets, **{n: {**nets[n], "params": gen_params[n]} for n in GENERATORS}}
        total, terms, fakes = generator_terms(
            with_params, batch, generator=generator, discriminator=discriminator, objective=objective
        )
        return total, (terms, fakes)

    gen_params = {n: nets[n]["params"] for n in GENERATORS}
    (gen_total, (terms, fakes)), gen_grads = jax.value_and_grad(generator_loss, has_aux=True)(gen_params)
    rng, *keys = jax.random.split(jax.random.wrap_key_data(state.rng, impl="threefry2x32"), len(POOLS) + 1)
    pooled, pools, fill = {}, {}, {}
    for domain, key in zip(POOLS, keys):
        pooled[domain], pools[domain], fill[domain] = image_pool_query(
            state.pools[domain], state.pool_fill[domain], jax.lax.stop_gradient(fakes[domain]), key
        )
    disc_params = {n: nets[n]["params"] for n in DISCRIMINATORS}
    disc_total, disc_grads = jax.value_and_grad(discriminator_loss)(
        disc_params, nets, batch, pooled, discriminator=discriminator
    )
    gen_updates, gen_opt = tx.update(gen_grads, state.gen_opt, gen_params)
    disc_updates, disc_opt = tx.update(disc_grads, state.disc_opt, disc_params)
    gen_params = optax.apply_updates(gen_params, gen_updates)
    disc_params = optax.apply_updates(disc_params, disc_updates)
    new_nets = {n: {**nets[n], "params": gen_params[n]} for n in GENERATORS}
    new_nets.update({n: {**nets[n], "params": disc_params[n]} for n in DISCRIMINATORS})
    new_state = CycleGanState(
        step=state.step + 1,
        nets=new_nets,
        gen_opt=gen_opt,
        disc_opt=disc_opt,
        pools=pools,
        pool_fill=fill,
        rng=jax.random.key_data(rng),
    )
    metrics = {"loss": gen_total, "loss_disc": disc_total, **{f"loss_{k}": v for k, v in terms.items()}}
    return new_state, metrics


def step_functions(gan_config):
    """(generator, init(rng) -> state, step(state, batch)) of one CycleGAN config, not yet jit'd."""
    generator, discriminator = create_gan_networks(gan_config)
    tx = create_optimizer(gan_config)
    init = functools.partial(
        initial_state,
        generator,
        discriminator,
        tx,
        gan_image_shape(gan_config),
        gan_config.cyclegan.pool_size,
    )
    step = functools.partial(
        train_step,
        generator=generator,
        discriminator=discriminator,
        tx=tx,
        objective=CycleGanObjective.of(gan_config),
    )
    return generator, init, step
