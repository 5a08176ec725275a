"""Many UnityGANs as one program: their states stacked on a leading model axis over the mesh's model axis, and
the step `jax.vmap`ped over it (config.gan.train_together), so C small models fill a device as one large one.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from unitystyle_jax.core import parallel
from unitystyle_jax.gan.initialisation import GENERATORS
from unitystyle_jax.gan.step import GanState, step_functions


def stacked_mesh(model_devices: int) -> jax.sharding.Mesh:
    """A (model, data) mesh over every device: the stacked models' axis over `model_devices` devices, each
    model's batch split over the rest."""
    return jax.make_mesh(
        (model_devices, jax.device_count() // model_devices),
        (parallel.MODEL_AXIS, parallel.DATA_AXIS),
        axis_types=(jax.sharding.AxisType.Auto,) * 2,
    )


def share_attention_heads(state: GanState) -> GanState:
    """Style Attention's `shared` reading on stacked models: G's and F's attention heads set to their mean over
    the model axis, so all C models weigh the Y samples with one head (each model's gradient moves it)."""
    nets = dict(state.nets)
    for name in GENERATORS:
        params = dict(nets[name]["params"])
        params["style_attention"] = jax.tree.map(
            lambda a: jnp.broadcast_to(a.mean(axis=0, keepdims=True), a.shape), params["style_attention"]
        )
        nets[name] = {**nets[name], "params": params}
    return state.replace(nets=nets)


def stacked_programs(gan_config, mesh) -> tuple[Callable, Callable]:
    """(stack, step): stack(*states) -> one state with a leading model axis, laid over the mesh's model axis;
    step = `jax.vmap` of train_step over that axis (each model its own batch), jit'd with the state donated.

    The model axis is manual (`jax.shard_map` over it alone; the data axis stays automatic): each device group
    vmaps over its own models. Left to XLA's partitioner, a vmapped convolution (the models become its feature
    groups) split over the model axis fails to compile where a model's conv has one output channel (Style
    Attention's head, under conv=xla, as on accelerators)."""
    step = step_functions(gan_config)[2]
    by_model = parallel.model_sharded(mesh)
    share = share_attention_heads if gan_config.style_attention == "shared" else lambda state: state
    stack = jax.jit(
        lambda *states: share(jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)),
        out_shardings=by_model,
    )
    per_model = by_model.spec
    models_step = jax.shard_map(
        jax.vmap(step),
        mesh=mesh,
        in_specs=(per_model, per_model),
        out_specs=(per_model, per_model),
        axis_names={parallel.MODEL_AXIS},
        check_vma=False,  # no collective crosses models; the step's conds need no varying-axis types
    )

    def shared_step(state, batch):
        state, metrics = models_step(state, batch)
        return share(state), metrics

    stacked_step = jax.jit(
        shared_step,
        in_shardings=(by_model, parallel.batch_sharded(mesh)),
        out_shardings=(by_model, by_model),
        donate_argnums=(0,),
    )
    return stack, stacked_step
