"""UnityStyle-JAX: Unity Style Transfer for Person Re-Identification (Liu et al., CVPR 2020) in JAX/Flax."""

__version__ = "0.1.0"
