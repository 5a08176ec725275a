"""The IDE step in-process, with a tiny model: its loss is what docs/design.md says, (1/N) * sum over the N real and
N UnityStyle images of the cross-entropy (the paper's formula), the real-only baseline's is the mean, CamStyle's
label smoothing touches its generated images only, and `loss_normalization=all` is one mean over the batch;
and the shared training loop runs the step in-process."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import runs
from configs import synthetic
from unitystyle_jax import losses
from unitystyle_jax.core import parallel
from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.parallel import INIT_PRNG
from unitystyle_jax.models.factory import create_ide
from unitystyle_jax.reid import step as reid_step

N, CLASSES, SEED = 4, 5, 3


@pytest.fixture(scope="module")
def harness():
    config = synthetic.get_config("tiny")
    config.model.conv = "xla"
    model = create_ide(config.model, CLASSES)
    tx, schedule = reid_step.create_optimizer(config.reid)
    init = functools.partial(reid_step.initial_state, model, tx, (32, 16, 3))
    state = jax.jit(init)(jax.random.key(0, impl=INIT_PRNG))

    def step(**options):
        return jax.jit(
            functools.partial(
                reid_step.train_step, model=model, tx=tx, schedule=schedule, seed=SEED, **options
            )
        )

    rng = np.random.default_rng(0)
    batch = {
        "image": jnp.asarray(rng.normal(size=(N, 32, 16, 3)), jnp.float32),
        "second_image": jnp.asarray(rng.normal(size=(N, 32, 16, 3)), jnp.float32),
        "label": jnp.asarray([0, 1, 2, 4], jnp.int32),
        "second_label": jnp.asarray([0, 1, 2, 4], jnp.int32),
    }
    return model, state, step, batch


def cross_entropies(model, state, images, labels):
    """Per-image cross-entropy of one training-mode forward pass, with the step's dropout key."""
    return losses.softmax_cross_entropy(logits_of(model, state, images), labels)


def logits_of(model, state, images):
    outputs, _ = model.apply(
        {"params": state.params, "batch_stats": state.batch_stats},
        images,
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": jax.random.fold_in(jax.random.key(SEED), state.step)},
    )
    return outputs["logits"]


def test_unitystyle_loss_is_the_sum_over_2n_images_divided_by_n(harness):
    model, state, step, batch = harness
    _, metrics = step()(state, batch)
    both = jnp.concatenate([batch["image"], batch["second_image"]])
    ce = cross_entropies(model, state, both, jnp.concatenate([batch["label"]] * 2))
    np.testing.assert_allclose(float(metrics["loss"]), float(ce.sum()) / N, rtol=1e-5)
    assert abs(float(metrics["loss"]) - float(ce.mean())) > 0.1  # not the mean over 2N: twice that


def test_baseline_loss_is_the_mean_cross_entropy_and_the_step_counts(harness):
    model, state, step, batch = harness
    real_only = {k: batch[k] for k in ("image", "label")}
    new_state, metrics = step()(state, real_only)
    ce = cross_entropies(model, state, batch["image"], batch["label"])
    np.testing.assert_allclose(float(metrics["loss"]), float(ce.mean()), rtol=1e-5)
    assert int(new_state.step) == 1 and set(metrics) == {"loss", "accuracy", "learning_rate"}


def test_label_smoothing_reaches_the_generated_part_only(harness):
    """CamStyle: mean CE(real) + mean LSR-CE(generated), the smoothed target (1 - eps) on the label + eps / K."""
    model, state, step, batch = harness
    # The classifier starts at std 0.001 (near-uniform predictions, where smoothing changes little): sharpen it.
    head = state.params["classifier"]
    state = state.replace(params={**state.params, "classifier": {**head, "kernel": head["kernel"] * 2000}})
    generated = {
        **batch,
        "second_image": batch["second_image"][:2],
        "second_label": jnp.asarray([3, 0], jnp.int32),
    }
    _, metrics = step(smoothing=0.1)(state, generated)
    logits = logits_of(model, state, jnp.concatenate([generated["image"], generated["second_image"]]))
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    real = -log_probs[np.arange(N), np.asarray(batch["label"])].mean()
    target = np.full((2, CLASSES), 0.1 / CLASSES)
    target[np.arange(2), [3, 0]] += 0.9
    smoothed = -(target * log_probs[N:]).sum(axis=1).mean()
    np.testing.assert_allclose(float(metrics["loss"]), real + smoothed, rtol=1e-5)
    unsmoothed = real - log_probs[N + np.arange(2), [3, 0]].mean()
    assert abs(float(metrics["loss"]) - unsmoothed) > 1e-3  # the smoothing did change the loss
    real_only = {k: batch[k] for k in ("image", "label")}
    _, plain = step(smoothing=0.1)(state, real_only)
    # never on real images (a forward pass of its own: batch norm sees the real images alone)
    alone = cross_entropies(model, state, batch["image"], batch["label"])
    np.testing.assert_allclose(float(plain["loss"]), float(alone.mean()), rtol=1e-5)


def test_loss_normalization_all_is_one_mean_over_the_batch(harness):
    model, state, step, batch = harness
    _, metrics = step(normalization="all")(state, batch)
    both = jnp.concatenate([batch["image"], batch["second_image"]])
    ce = cross_entropies(model, state, both, jnp.concatenate([batch["label"]] * 2))
    np.testing.assert_allclose(float(metrics["loss"]), float(ce.mean()), rtol=1e-5)


def test_the_training_loop_fits_a_fixed_batch_logs_every_step_and_checkpoints(harness, tmp_path):
    """training_loop.run in-process, as flax's train_test.py runs its loop: eight steps on one repeated batch.
    The loss falls, every logged step has the step's metric keys with finite values, and the loop counts steps
    and saves where asked."""
    # Imported here: the loop needs clu, hence TensorFlow, which the step tests above do not.
    from unitystyle_jax.core import training_loop

    model, state, step, batch = harness
    real_only = {k: np.asarray(batch[k]) for k in ("image", "label")}
    mesh = parallel.make_mesh()
    checkpoints = Checkpoints(str(tmp_path / "checkpoints"), async_save=False)
    final = training_loop.run(
        members=[training_loop.Member("fixed batch", checkpoints, {"what": "test"}, str(tmp_path))],
        state=state,
        start_step=0,
        num_steps=8,
        batches=itertools.repeat(real_only),
        step_fn=step(),
        mesh=mesh,
        log_every=1,
        checkpoint_every=4,
        images_per_step=N,
    )
    logged = runs.metrics(tmp_path)
    assert [m["step"] for m in logged] == list(range(1, 9)) and int(final.step) == 8
    for m in logged:
        assert set(m) == {"step", "loss", "accuracy", "learning_rate", "images_per_sec"}
        assert all(math.isfinite(v) for v in m.values())
    assert logged[-1]["loss"] < 0.5 * logged[0]["loss"], [m["loss"] for m in logged]
    assert checkpoints.steps() == [4, 8]
