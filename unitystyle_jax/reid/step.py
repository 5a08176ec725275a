"""The IDE train step: SGD on N real images plus the method's second part, pure JAX on arrays (no files, no
tf.data), so it runs wherever JAX does.

Loss, as the paper writes it: (1/N) * sum_i [CE(x_R^i) + CE(x_U^i)] — with UnityStyle images the sum runs over
2N images but is still divided by N (no label smoothing: UnityStyle images count as real);
`reid.loss_normalization = all` takes one mean over the 2N instead.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from unitystyle_jax import losses
from unitystyle_jax.models.ide import BACKBONE


def learning_rate_schedule(base: float, reid_config) -> optax.Schedule:
    """Linear warm-up, then x decay_factor at each of decay_steps."""
    decayed = optax.piecewise_constant_schedule(
        base, {int(s): reid_config.decay_factor for s in reid_config.decay_steps}
    )
    warmup = reid_config.warmup_steps
    if not warmup:
        return decayed
    return lambda step: decayed(step) * jnp.minimum(1.0, (step + 1) / warmup)


def create_optimizer(reid_config):
    """SGD (Nesterov) with weight decay as PyTorch applies it, one learning rate for the backbone and one for the
    new layers. Returns (optimizer, head schedule) — the head's rate is the one logged."""

    def sgd(schedule):
        return optax.chain(
            optax.add_decayed_weights(reid_config.weight_decay),
            optax.sgd(schedule, momentum=reid_config.momentum, nesterov=reid_config.nesterov),
        )

    head = learning_rate_schedule(reid_config.learning_rate, reid_config)
    backbone = learning_rate_schedule(reid_config.backbone_learning_rate, reid_config)

    def group(params):
        return {
            k: jax.tree.map(lambda _: BACKBONE if k == BACKBONE else "head", v) for k, v in params.items()
        }

    return optax.multi_transform({BACKBONE: sgd(backbone), "head": sgd(head)}, group), head


@flax.struct.dataclass
class ReidState:
    """An IDE's training state. Its fields name the checkpoint's entries as the dict it replaced did, so older
    checkpoints restore as they are (and inference reads `params`/`batch_stats` alone)."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


def initial_state(model, tx, image_shape, rng) -> ReidState:
    params_rng, dropout_rng = jax.random.split(rng)
    variables = model.init(
        {"params": params_rng, "dropout": dropout_rng}, jnp.zeros((1, *image_shape), jnp.float32), train=False
    )
    params, batch_stats = variables["params"], variables["batch_stats"]
    return ReidState(
        step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats, opt_state=tx.init(params)
    )


def train_step(
    state, batch, seed, *, model, tx, schedule, smoothing: float = 0.0, normalization: str = "per_part"
):
    """One SGD step on N real images and, when the batch has them, a second part ('second_image',
    'second_label': UnityStyle, a real twin, or CamStyle's generated images, with label smoothing `smoothing`).

    normalization 'per_part': mean CE over the real part + mean CE over the second part, the paper's
    (1/N) * sum over 2N images and CamStyle's loss; 'all': one mean over every image of the batch.
    """
    images, labels, cameras = batch["image"], batch["label"], batch.get("camera")
    num_real = images.shape[0]
    has_second = "second_image" in batch
    if has_second:
        images = jnp.concatenate([images, batch["second_image"]])
        cameras = None if cameras is None else jnp.concatenate([cameras, batch["second_camera"]])
    dropout_rng = jax.random.fold_in(jax.random.key(seed), state.step)
    mixstyle_rng = jax.random.fold_in(dropout_rng, 1)  # apart from dropout's, which stays as it was

    def loss_fn(params):
        outputs, updates = model.apply(
            {"params": params, "batch_stats": state.batch_stats},
            images,
            train=True,
            cameras=cameras,
            mutable=["batch_stats"],
            rngs={"dropout": dropout_rng, "mixstyle": mixstyle_rng},
        )
        logits = outputs["logits"]
        real = losses.softmax_cross_entropy(logits[:num_real], labels)
        if not has_second:
            loss = real.mean()
        else:
            second = losses.softmax_cross_entropy(logits[num_real:], batch["second_label"], smoothing)
            if normalization == "per_part":
                loss = real.mean() + second.mean()
            else:
                loss = jnp.concatenate([real, second]).mean()
        return loss, (logits[:num_real], updates["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = ReidState(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        batch_stats=batch_stats,
        opt_state=opt_state,
    )
    metrics = {
        "loss": loss,
        "accuracy": losses.accuracy(logits, labels),
        "learning_rate": schedule(state.step),
    }
    return new_state, metrics
