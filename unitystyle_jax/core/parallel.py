"""Device mesh, shardings and multi-host start-up: data parallelism over one `data` mesh axis.

Why one axis: UnityGAN and IDE are small enough to replicate; every step is data-parallel, so parameters are
replicated and batches are split along their first dimension across all devices of all processes.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from unitystyle_jax.core.errors import ConfigError

DATA_AXIS = "data"
# Only the stacked GAN trainer's mesh has it: models stacked on a leading axis, different models on different
# devices (gan_training.train_together).
MODEL_AXIS = "model"
# Parameter initialisation draws from XLA's RngBitGenerator: its init programs compile several times faster on
# CPU than threefry's (docs/performance.md). Step-time randomness (dropout) stays threefry, whose
# bits do not depend on how an array is sharded.
INIT_PRNG = "rbg"


def initialize_distributed(distributed_config) -> None:
    """Joins the JAX processes of a multi-host job (a no-op for one process).

    Empty coordinator fields let JAX detect the cluster (TPU pods, SLURM, Open MPI); CPU-only jobs use gloo.
    """
    if not distributed_config.enabled or jax.distributed.is_initialized():
        return
    kwargs = {}
    if distributed_config.coordinator_address:
        kwargs = dict(
            coordinator_address=distributed_config.coordinator_address,
            num_processes=distributed_config.num_processes,
            process_id=distributed_config.process_id,
        )
    if jax.config.jax_platforms in (None, "", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)


def make_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh over every device of every process."""
    return jax.make_mesh((jax.device_count(),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def init_key(seed: int):
    """The PRNG key a model's parameters are initialised from (INIT_PRNG)."""
    return jax.random.key(seed, impl=INIT_PRNG)


def with_shardings(abstract_tree, sharding):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), abstract_tree)


def batch_sharded(mesh) -> NamedSharding:
    """Batches split over `data`; on a stacked mesh, batches are [model, batch, ...] and split over both."""
    if MODEL_AXIS in mesh.axis_names:
        return NamedSharding(mesh, P(MODEL_AXIS, DATA_AXIS))
    return NamedSharding(mesh, P(DATA_AXIS))


def model_sharded(mesh) -> NamedSharding:
    """Stacked states: each model's slice on its devices of the `model` axis, replicated over `data`."""
    return NamedSharding(mesh, P(MODEL_AXIS))


def local_batch_size(global_batch_size: int) -> int:
    """This process's share of a global batch; the batch must split evenly over devices."""
    if global_batch_size % jax.device_count():
        raise ConfigError(f"batch size {global_batch_size} does not divide over {jax.device_count()} devices")
    return global_batch_size // jax.process_count()


def process_slice(global_batch_size: int) -> slice:
    """Which columns of a global batch this process reads (processes hold contiguous, equal shares)."""
    size = local_batch_size(global_batch_size)
    start = jax.process_index() * size
    return slice(start, start + size)


def to_global(local_batch, mesh):
    """Process-local numpy arrays -> global jax.Arrays split over the `data` axis."""
    sharding = batch_sharded(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch
    )
