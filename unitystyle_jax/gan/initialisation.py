"""What every GAN train step starts from, UnityGAN's and CycleGAN's alike: G, F, D_X and D_Y initialised from one
rng (an argument, not a constant, so every model of a stage compiles to the same program), one optimiser, and
both Adam states."""

import jax.numpy as jnp
import optax

GENERATORS, DISCRIMINATORS = ("G", "F"), ("D_X", "D_Y")


def create_optimizer(gan_config):
    """Adam with the config's rate and betas, for the generators and the discriminators alike."""
    return optax.adam(gan_config.learning_rate, b1=gan_config.b1, b2=gan_config.b2)


def networks_and_optimizers(generator, discriminator, tx, image_shape, keys) -> dict:
    """{'step', 'nets', 'gen_opt', 'disc_opt'} of a fresh GAN; KEYS: four rng keys, one per network."""
    dummy = jnp.zeros((1, *image_shape), jnp.float32)
    nets = {name: dict(generator.init(k, dummy, train=False)) for name, k in zip(GENERATORS, keys[:2])}
    nets.update(
        {name: dict(discriminator.init(k, dummy, train=False)) for name, k in zip(DISCRIMINATORS, keys[2:4])}
    )
    params = lambda names: {n: nets[n]["params"] for n in names}
    return {
        "step": jnp.zeros((), jnp.int32),
        "nets": nets,
        "gen_opt": tx.init(params(GENERATORS)),
        "disc_opt": tx.init(params(DISCRIMINATORS)),
    }
