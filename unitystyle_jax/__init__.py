"""UnityStyle-JAX: Unity Style Transfer for Person Re-Identification (Liu et al., CVPR 2020) in JAX/Flax."""

from unitystyle_jax.core import cpu_flags

cpu_flags.apply_defaults()  # before anything imports jax's backend

__version__ = "0.1.0"
