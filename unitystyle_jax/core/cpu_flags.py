"""The project's default XLA flags for CPU-only hosts, set before JAX starts its backend.

`--xla_llvm_disable_expensive_passes=true` roughly halves compile time on CPU and does not slow the compiled step
(docs/performance.md). Hosts with a GPU/TPU plugin installed are left untouched,
and so is any flag the user already set in XLA_FLAGS; UNITYSTYLE_CPU_FLAGS=0 turns the defaults off.
"""

import importlib.metadata
import os

CPU_FLAGS = ("--xla_llvm_disable_expensive_passes=true",)
ACCELERATOR_PACKAGES = ("jax-cuda", "jax_cuda", "libtpu", "jax-rocm", "jax_rocm", "jax-metal")


def accelerator_plugin_installed() -> bool:
    names = (d.metadata["Name"] or "" for d in importlib.metadata.distributions())
    return any(name.lower().startswith(ACCELERATOR_PACKAGES) for name in names)


def apply_defaults() -> None:
    if os.environ.get("UNITYSTYLE_CPU_FLAGS", "1") == "0":
        return
    if os.environ.get("JAX_PLATFORMS", "").lower() not in ("", "cpu"):
        return
    if os.environ.get("JAX_PLATFORMS", "").lower() != "cpu" and accelerator_plugin_installed():
        return
    current = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in CPU_FLAGS if f.split("=")[0] not in current]
    if missing:
        os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()
