"""The project's default XLA flags go to CPU-only hosts only, never over a flag the user set, and can be
turned off (unitystyle_jax/core/cpu_flags.py)."""

import os
import types

import pytest

from unitystyle_jax.core import cpu_flags

FLAG = "--xla_llvm_disable_expensive_passes=true"


@pytest.fixture
def env(monkeypatch):
    """A CPU-only host whatever this one is (the suite also runs where jax[cuda12] is installed)."""
    for name in ("XLA_FLAGS", "JAX_PLATFORMS", "UNITYSTYLE_CPU_FLAGS"):
        monkeypatch.delenv(name, raising=False)
    installed(monkeypatch, "jax", "jaxlib")
    return monkeypatch


def installed(monkeypatch, *names: str) -> None:
    """The distributions importlib.metadata reports: these NAMES only."""
    monkeypatch.setattr(
        cpu_flags.importlib.metadata,
        "distributions",
        lambda: [types.SimpleNamespace(metadata={"Name": n}) for n in names],
    )


def flags_after(env, **variables) -> str:
    for name, value in variables.items():
        env.setenv(name, value)
    cpu_flags.apply_defaults()
    return os.environ.get("XLA_FLAGS", "")


@pytest.mark.parametrize("plugin", ["jax-cuda12-plugin", "jax_cuda12_pjrt", "libtpu", "jax-rocm60-plugin"])
def test_a_host_with_an_accelerator_plugin_is_left_alone(env, plugin):
    installed(env, "jax", "jaxlib", plugin)
    assert cpu_flags.accelerator_plugin_installed()
    assert flags_after(env) == ""
    assert flags_after(env, JAX_PLATFORMS="cpu") == FLAG  # unless the user asks for the CPU


def test_cpu_only_host_gets_the_defaults_after_the_users_flags(env):
    assert flags_after(env) == FLAG
    assert flags_after(env, XLA_FLAGS="--xla_cpu_use_onednn=true") == f"--xla_cpu_use_onednn=true {FLAG}"


def test_a_flag_the_user_set_is_kept_as_set(env):
    user = "--xla_llvm_disable_expensive_passes=false"
    assert flags_after(env, XLA_FLAGS=user) == user


@pytest.mark.parametrize(
    "variables", [{"UNITYSTYLE_CPU_FLAGS": "0"}, {"JAX_PLATFORMS": "cuda"}, {"JAX_PLATFORMS": "tpu"}]
)
def test_turned_off_or_another_platform_leaves_xla_flags_alone(env, variables):
    assert flags_after(env, **variables) == ""


def test_explicit_cpu_platform_gets_the_defaults(env):
    assert flags_after(env, JAX_PLATFORMS="cpu") == FLAG
