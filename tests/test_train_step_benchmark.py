"""The PyTorch UnityGAN twin (torch_reference, what benchmarks/train_step.py times) is a fair twin (same parameter counts as the JAX models, at
the tiny size and the paper's), its step trains, and bad arguments are one clear error."""

import jax
import pytest
import torch

import runs
from configs import default, synthetic
from unitystyle_jax.core.parallel import INIT_PRNG
from unitystyle_jax.gan import step as gan_step
from unitystyle_jax.models.factory import create_gan_networks
from unitystyle_jax.reference import torch_models

train_step = runs.benchmark("train_step")
step_setups = runs.benchmark("step_setups")


def jax_parameter_counts(gan_config) -> dict:
    generator, discriminator = create_gan_networks(gan_config)
    shape = (gan_config.height, gan_config.width, 3)
    state = jax.eval_shape(
        lambda rng: gan_step.initial_state(
            generator, discriminator, gan_step.create_optimizer(gan_config), shape, rng
        ),
        jax.random.key(0, impl=INIT_PRNG),
    )
    return {name: step_setups.parameter_count(state.nets[name]["params"]) for name in ("G", "D_X")}


@pytest.mark.parametrize(
    "config", [synthetic.get_config("tiny"), default.get_config()], ids=["tiny", "paper"]
)
def test_torch_twin_has_the_jax_models_parameter_counts(config):
    nets = torch_models.unitygan_nets(config.gan)
    torch_counts = {name: sum(p.numel() for p in nets[name].parameters()) for name in ("G", "D_X")}
    assert torch_counts == jax_parameter_counts(config.gan)


def test_torch_twin_step_updates_both_sides_with_finite_weights():
    config = synthetic.get_config("tiny")
    torch.manual_seed(0)
    nets = torch_models.unitygan_nets(config.gan)
    before = {
        name: [p.detach().clone() for p in nets[name].parameters()] for name in ("G", "F", "D_X", "D_Y")
    }
    step = torch_models.unitygan_step(nets, config.gan)
    x, y = (torch.rand(2, 3, config.gan.height, config.gan.width) * 2 - 1 for _ in range(2))
    step(x, y, torch.tensor([1.0, 0.0]))
    for name, old in before.items():
        new = list(nets[name].parameters())
        assert all(torch.isfinite(p).all() for p in new), name
        assert any(not torch.equal(a, b) for a, b in zip(old, new, strict=True)), f"{name} did not change"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--models", "ide,vgg"], "--models=ide,vgg: choose from ide, gan"),
        (["--frameworks", "jax-cudnn"], "--frameworks=jax-cudnn: choose from"),
        (["--steps", "0"], "--steps=0 must be >= 1"),
        (["--profile", "-1"], "--profile=-1 must be >= 0"),
        (["--memory", "-2"], "--memory=-2 must be >= 0"),
    ],
)
def test_bad_arguments_are_one_clear_error(argv, message):
    with pytest.raises(train_step.BenchmarkError, match="^" + message.replace("+", r"\+")):
        train_step.parse_args(argv)


def test_frameworks_name_a_convolution():
    args = train_step.parse_args(["--frameworks", "jax-auto,jax-xla,torch", "--models", "gan"])
    assert (args.models, args.frameworks) == (["gan"], ["jax-auto", "jax-xla", "torch"])
