"""UnityStyle-JAX: Unity Style Transfer for Person Re-Identification (Liu et al., CVPR 2020) in JAX/Flax."""

import os

from unitystyle_jax.core import cpu_flags

cpu_flags.apply_defaults()  # before anything imports jax's backend
# Before anything imports TensorFlow (the input pipeline): its C++ start-up lines (absl's "All log messages
# before absl::InitializeLog()", oneDNN's note, the CPU-instructions note) at the default verbosity, and oneDNN's
# reordered float sums in the pipeline's decode and resize. A value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
