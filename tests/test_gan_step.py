"""The UnityGAN step in-process, with tiny models: every term pairs what it should, the Style Attention reaches
exactly the terms the UnityStyle loss weights, the discriminator sees the weighted real side, the identity knob
leaves camera c out, the chosen reading's knobs drop and weigh what they say, and SLN refreshes on schedule
with bias correction.

Pairing tests use a generator without IBN (ibn_scales = 0): batch norm would let the Y images change the
statistics G normalises X with, and no term could then be "X only".
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import config_validation, losses
from unitystyle_jax.core.parallel import INIT_PRNG
from unitystyle_jax.gan import stacked as gan_stacked
from unitystyle_jax.gan import step as gan_step
from unitystyle_jax.models.factory import create_gan_networks

X_TERMS = (("g", "gan"), ("g", "cyc"), ("f", "id"))  # depend on x alone
Y_TERMS = (("g", "fm"), ("g", "id"), ("f", "gan"), ("f", "fm"), ("f", "cyc"))  # depend on y: weighted


def gan_config(**overrides):
    """The tiny config with every term of the objective on (L_ID's G half too), so each can be checked."""
    c = synthetic.get_config("tiny").gan
    c.generator.ibn_scales = 0
    c.generator_identity = True
    c.update(overrides)
    return c


class Harness:
    """Models, a state, and jitted generator_terms / discriminator_loss / train_step for one GAN config. Each
    program compiles on first use: a harness that only reads terms never builds a state."""

    def __init__(self, config):
        self.config = config
        self.generator, self.discriminator = create_gan_networks(config)
        self.tx = gan_step.create_optimizer(config)
        models = dict(
            generator=self.generator,
            discriminator=self.discriminator,
            objective=gan_step.UnityGanObjective.of(config),
        )
        self.terms = jax.jit(functools.partial(gan_step.generator_terms, **models))
        self.disc_loss = jax.jit(
            functools.partial(
                gan_step.discriminator_loss,
                discriminator=self.discriminator,
                objective=gan_step.UnityGanObjective.of(config),
            )
        )
        self.step = jax.jit(functools.partial(gan_step.train_step, tx=self.tx, **models))

    @functools.cached_property
    def state(self):
        init = functools.partial(
            gan_step.initial_state,
            self.generator,
            self.discriminator,
            self.tx,
            (self.config.height, self.config.width, 3),
        )
        return jax.jit(init)(jax.random.key(0, impl=INIT_PRNG))

    def parts(self, nets, batch) -> dict:
        g_terms, f_terms, _ = self.terms(nets, batch)
        return {
            **{("g", k): float(v) for k, v in g_terms.items()},
            **{("f", k): float(v) for k, v in f_terms.items()},
        }

    def trained(self, batch, steps: int = 3):
        state = self.state
        for _ in range(steps):
            state, _ = self.step(state, batch)
        return state


def images(seed: int, n: int = 4):
    return jnp.asarray(np.random.default_rng(seed).uniform(-0.9, 0.9, (n, 32, 16, 3)), jnp.float32)


def batch_of(x, y, y_own=(1.0, 0.0, 0.0, 1.0), y_balance=(1.0, 1.0, 1.0, 1.0)):
    return {
        "x": x,
        "y": y,
        "y_own": jnp.asarray(y_own, jnp.float32),
        "y_balance": jnp.asarray(y_balance, jnp.float32),
    }


SLN_DECAY = 0.5


@pytest.fixture(scope="module")
def uniform():
    """Without Style Attention; SLN refreshes at steps 2 and 4 (sln = False: the snapshots are kept, the terms
    are not scaled, so the schedule changes no trained weight the other tests read)."""
    return Harness(
        gan_config(style_attention="none", sln=False, sln_first=2, sln_every=2, sln_decay=SLN_DECAY)
    )


@pytest.fixture(scope="module")
def attended():
    return Harness(gan_config(style_attention="per_model"))


def test_identity_generators_zero_the_identity_and_cycle_terms_and_fm_matches_batch_statistics(uniform):
    x = images(0)
    parts = uniform.parts(uniform.state.nets, batch_of(x, x[::-1]))  # untrained G, F: the identity
    for part in (("g", "id"), ("f", "id"), ("g", "cyc"), ("f", "cyc")):
        assert abs(parts[part]) < 1e-3, (part, parts[part])
    # y holds x's images in another order: same batch statistics, so both FM terms vanish...
    assert abs(parts[("g", "fm")]) < 1e-5 and abs(parts[("f", "fm")]) < 1e-5
    assert parts[("g", "gan")] > 0.1 and parts[("f", "gan")] > 0.1  # ...but the adversarial terms do not
    # Negative control: other images in y, and FM no longer vanishes.
    other = uniform.parts(uniform.state.nets, batch_of(x, images(1)))
    assert other[("g", "fm")] > 1e-3 and other[("f", "fm")] > 1e-3


def test_each_term_pairs_the_images_it_should(uniform):
    x, y = images(0), images(1)
    nets = uniform.trained(batch_of(x, y)).nets
    before, after = uniform.parts(nets, batch_of(x, y)), uniform.parts(nets, batch_of(x, images(2)))
    for part in X_TERMS:  # G(x) and its cycle, F's identity on x: y plays no part
        np.testing.assert_allclose(after[part], before[part], rtol=1e-6, err_msg=str(part))
    for part in Y_TERMS:
        assert abs(after[part] - before[part]) > 1e-4 * abs(before[part]), part


def test_style_attention_reaches_exactly_the_weighted_terms(attended):
    x, y = images(0), images(1)
    batch = batch_of(x, y)
    nets = attended.trained(batch).nets

    heads = {n: nets[n]["params"]["style_attention"] for n in ("G", "F")}
    named = X_TERMS + Y_TERMS

    def every_part(head_params):
        """Every term, as a function of the two generators' Style Attention heads alone."""
        with_heads = {
            **nets,
            **{
                n: {**nets[n], "params": {**nets[n]["params"], "style_attention": head_params[n]}}
                for n in ("G", "F")
            },
        }
        terms = dict(zip("gf", attended.terms(with_heads, batch)[:2]))
        return jnp.stack([terms[side][term] for side, term in named])

    jacobian = jax.jit(jax.jacrev(every_part))(heads)  # one program: row i = the gradient of term i
    for i, (side, term) in enumerate(named):
        head = max(float(jnp.abs(g[i]).max()) for g in jax.tree.leaves(jacobian["G"]))
        assert (head > 0) == ((side, term) in Y_TERMS), (side, term, head)
        assert all(float(jnp.abs(g[i]).max()) == 0 for g in jax.tree.leaves(jacobian["F"]))


def test_the_discriminator_loss_weights_the_real_y_side(attended):
    x, y = images(0), images(1)
    batch = batch_of(x, y)
    nets = attended.trained(batch).nets
    _, _, aux = attended.terms(nets, batch)
    disc_params = {n: nets[n]["params"] for n in ("D_X", "D_Y")}
    weights = jnp.array([1.6, 0.8, 0.8, 0.8])  # what a head putting all attention on sample 0 gives
    weighted = float(attended.disc_loss(disc_params, nets, batch, {**aux, "weights": weights}))
    uniform = float(attended.disc_loss(disc_params, nets, batch, {**aux, "weights": jnp.ones(4)}))

    # The difference is exactly that of D_Y's real half and D_X's fake (F(y)) half, reweighted.
    @jax.jit
    def reweighted_difference(nets, fake_x):
        real_y = losses.gan_generator_loss(
            attended.discriminator.apply(nets["D_Y"], y, train=True)[0], "lsgan"
        )
        fake = jnp.square(attended.discriminator.apply(nets["D_X"], fake_x, train=True)[0]).mean(
            axis=(1, 2, 3)
        )
        return 0.5 * sum(losses.weighted_mean(v, weights) - v.mean() for v in (real_y, fake))

    expected = float(reweighted_difference(nets, aux["fake_x"]))
    assert abs(expected) > 1e-5  # the weights matter here
    np.testing.assert_allclose(weighted - uniform, expected, rtol=1e-4, atol=1e-7)


def test_the_identity_term_can_leave_camera_c_out(uniform):
    x, y = images(0), images(1)
    nets = uniform.trained(batch_of(x, y)).nets
    own = uniform.parts(nets, batch_of(x, y, y_own=(1.0, 1.0, 1.0, 1.0)))
    assert own[("g", "id")] == 0.0  # every Y sample from camera c: nothing left in |G(y) - y|
    none_own = uniform.parts(nets, batch_of(x, y, y_own=(0.0, 0.0, 0.0, 0.0)))
    everyone = Harness(gan_config(style_attention="none", identity_other_cameras=False))
    all_y = everyone.parts(nets, batch_of(x, y, y_own=(1.0, 1.0, 1.0, 1.0)))
    np.testing.assert_allclose(none_own[("g", "id")], all_y[("g", "id")], rtol=1e-6)
    assert all_y[("g", "id")] > 0


def test_the_chosen_objective_drops_the_terms_that_keep_styles_and_weighs_cameras_by_y_balance(uniform):
    """The default reading: L_ID's G half and (here) the Y cycle off are exactly zero; the camera weights
    (y_balance) reach the Y-indexed terms and leave the X-indexed ones alone."""
    chosen = Harness(gan_config(generator_identity=False, y_cycle=False, camera_balance=True))
    assert (chosen.config.fm_statistics, chosen.config.style_attention) == ("style", "none")  # the defaults
    x, y = images(0), images(1)
    nets = uniform.trained(batch_of(x, y)).nets
    even = chosen.parts(nets, batch_of(x, y))
    assert even[("g", "id")] == 0.0 and even[("f", "cyc")] == 0.0
    assert all(even[part] > 0 for part in X_TERMS + (("g", "fm"), ("f", "gan"), ("f", "fm")))
    skewed = chosen.parts(nets, batch_of(x, y, y_balance=(3.0, 0.5, 0.25, 0.25)))
    for part in X_TERMS:
        np.testing.assert_allclose(skewed[part], even[part], rtol=1e-6, err_msg=str(part))
    for part in (("g", "fm"), ("f", "gan"), ("f", "fm")):
        assert abs(skewed[part] - even[part]) > 1e-4 * even[part], part


def test_train_step_counts_steps_and_refreshes_sln_on_schedule_with_bias_correction(uniform):
    decay = SLN_DECAY
    state, batch, snapshots, terms = uniform.state, batch_of(images(0), images(1)), [], []
    for _ in range(5):
        state, metrics = uniform.step(state, batch)
        snapshots.append(float(state.sln.snapshot["cyc"]))
        terms.append(float(metrics["loss_cyc"]))
        assert {"loss", "loss_disc", "loss_gan", "loss_fm", "loss_id", "loss_cyc", "weight_max"} <= set(
            metrics
        )
        assert all(np.isfinite(float(v)) for v in metrics.values())
    assert int(state.step) == 5
    ema = lambda n: sum((1 - decay) * decay ** (n - 1 - i) * terms[i] for i in range(n))  # noqa: E731
    np.testing.assert_allclose(snapshots[0], 1.0)  # before the first refresh: unscaled
    np.testing.assert_allclose(snapshots[1], ema(2) / (1 - decay**2), rtol=1e-5)  # step 2
    np.testing.assert_allclose(snapshots[2], snapshots[1])  # step 3: frozen
    np.testing.assert_allclose(snapshots[3], ema(4) / (1 - decay**4), rtol=1e-5)  # step 4
    np.testing.assert_allclose(snapshots[4], snapshots[3])


def test_the_shared_reading_gives_every_stacked_model_one_attention_head():
    """style_attention=shared: stacked, the models' heads start as their mean and stay equal after a step that
    moved them (each model's gradient moves the one head); the other networks stay each model's own."""
    config = gan_config(style_attention="shared", train_together=True)
    mesh = gan_stacked.stacked_mesh(1)
    stack, step = gan_stacked.stacked_programs(config, mesh)
    init = jax.jit(gan_step.step_functions(config)[1])
    states = [init(jax.random.key(seed, impl=INIT_PRNG)) for seed in (0, 1, 2)]
    stacked = stack(*states)
    head = lambda state, net: jax.tree.leaves(state.nets[net]["params"]["style_attention"])
    started = [np.asarray(a) for a in head(stacked, "G")]
    batch = {k: jnp.stack([v] * 3) for k, v in batch_of(images(0), images(1)).items()}
    stepped, _ = step(stacked, batch)
    for net in ("G", "F"):
        for leaf in head(stepped, net):
            np.testing.assert_allclose(leaf, np.broadcast_to(leaf[:1], leaf.shape))
    assert max(float(np.abs(a - np.asarray(b)).max()) for a, b in zip(started, head(stepped, "G"))) > 0
    body = np.asarray(stepped.nets["G"]["params"]["to_image"]["kernel"])
    assert np.abs(body[0] - body[1]).max() > 0  # the rest of each generator is its own
    with pytest.raises(config_validation.ConfigError, match="'shared' gives all C models one head"):
        c = synthetic.get_config("tiny")
        c.gan.style_attention = "shared"
        config_validation.validate(c)
