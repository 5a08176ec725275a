"""The stacked GAN trainer (config.gan.train_together): every model of a stage as one vmapped program, here on 8
simulated devices with the model axis sharded over 2 of them, gives what training the models one after another on
one device gives (to 1e-5 relative after a step; see RTOL); it writes each model's checkpoints, metrics and
samples to that model's own folder, so a run resumes in either mode from the other's checkpoints. The stacked
runs go in one subprocess (the device count is fixed when JAX starts), the one-after-another ones in-process at
the tiny size; each program compiles once."""

import os
import shutil

import jax
import numpy as np
import pytest

import runs
from configs import synthetic
from unitystyle_jax import startup
from unitystyle_jax.core import parallel
from unitystyle_jax.core.errors import ConfigError
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains

CAMERAS = (0, 1)
# One step from equal states: losses and updated parameters (relative to the norm of each model's whole
# parameter vector) differ by float32 summation order alone, 1e-5. Later steps amplify that: Adam's first
# updates, about lr * sign(gradient), turn rounding-sized differences of near-zero gradients into lr-sized ones,
# and a GAN feeds them back (measured 1.7e-5 at step 2, 2.5e-4 at step 3), so a resumed run's step 2 gets 1e-4.
RTOL, RTOL_LATER = 1e-5, 1e-4


def train(config, workdir: str, splits, mesh, together: bool, num_steps: int) -> None:
    """CAMERAS' GANs trained (or resumed) to num_steps, together or one after another."""
    c = config.copy_and_resolve_references()
    c.gan.train_together, c.gan.num_steps = together, num_steps
    programs = gan_training.GanPrograms.build(c.gan, mesh)
    gan_training.train_all(c, workdir, splits, [Domains(camera) for camera in CAMERAS], mesh, programs)


def trained(config, workdir: str, splits, mesh, together: bool, num_steps: int) -> dict:
    """CAMERAS' GANs trained to num_steps, then `read`."""
    train(config, workdir, splits, mesh, together, num_steps)
    return read(config, workdir, mesh, num_steps)


def read(config, workdir: str, mesh, num_steps: int) -> dict:
    """{camera: (G's and D_Y's parameters and SLN state, metrics.jsonl records)} of CAMERAS' GANs in workdir."""
    out = {}
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    for camera in CAMERAS:
        setup = gan_training.GanRun(config, workdir, Domains(camera), programs)
        state, step = setup.restore()
        assert step == num_steps
        records = runs.metrics(setup.workdir)
        params = jax.tree.leaves((state.nets["G"]["params"], state.nets["D_Y"]["params"], state.sln))
        out[camera] = ([np.asarray(p) for p in params], records)
    return out


def assert_same_training(a: dict, b: dict, rtol: float = RTOL) -> None:
    """Per camera: parameters within rtol of their norm; every logged step's metrics within rtol."""
    for camera in CAMERAS:
        (params_a, log_a), (params_b, log_b) = a[camera], b[camera]
        x, y = (np.concatenate([p.ravel() for p in params]) for params in (params_a, params_b))
        error = np.linalg.norm(x - y) / np.linalg.norm(x)
        assert error <= rtol, (camera, error)
        assert [r["step"] for r in log_a] == [r["step"] for r in log_b]
        for ra, rb in zip(log_a, log_b):
            for key in ra:
                if key != "images_per_sec":
                    assert ra[key] == pytest.approx(rb[key], rel=rtol, abs=1e-7), (camera, ra, rb)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("stacked")
    config = synthetic.get_config("tiny")
    config.gan.checkpoint_every = 1
    config.gan.batch_size = 8  # so that the 8-device run below splits it too
    # With uniform Y weights some discriminator kernels get near-zero first gradients whose sign differs between
    # the one-model and the vmapped program, and Adam's first step turns each into +-lr (parameters 6e-6 apart
    # after a step, against 6e-8 with Style Attention's weights): exactness is checked where it is measurable.
    config.gan.style_attention = "per_model"
    mesh = parallel.make_mesh()
    splits = startup.load_dataset(config, str(base / "data"))
    config.data.root = str(base / "data" / "dataset")
    return config, base, splits, mesh


@pytest.fixture(scope="module")
def one_after_another(tiny):
    """CAMERAS' GANs trained one after another: {steps: what `read` gives} for one step and for two."""
    config, base, splits, mesh = tiny
    return {
        n: trained(config, str(base / f"alone{n}"), splits, mesh, together=False, num_steps=n) for n in (1, 2)
    }


STACKED = """
import logging
logging.basicConfig(level=logging.INFO)
import runs
import test_stacked_gan as t
runs.share_compilation_cache()  # the second run's programs (same convolution) load instead of compiling
from configs import synthetic
from unitystyle_jax import startup
from unitystyle_jax.core import parallel
config = synthetic.get_config("tiny")
config.data.root = {root!r}
config.gan.checkpoint_every = 1
config.gan.batch_size = 8
config.gan.style_attention = "per_model"
config.gan.model_devices = 2
mesh = parallel.make_mesh()
assert len(mesh.devices.flat) == 8
splits = startup.load_dataset(config, {base!r})
for workdir, steps, conv in {runs!r}:
    config.gan.conv = conv
    t.train(config, workdir, splits, mesh, together=True, num_steps=steps)
"""


@pytest.fixture(scope="module")
def stacked(tiny, one_after_another):
    """On 8 devices, CAMERAS' GANs trained together: one step from scratch ("together"), and one step on from
    the one-after-another models' step-1 checkpoints ("from_alone"). Returns the subprocess's result."""
    config, base, _, _ = tiny
    shutil.copytree(base / "alone1", base / "from_alone")
    code = STACKED.format(
        root=config.data.root,
        base=str(base),
        runs=[
            (str(base / "together"), 1, config.gan.conv),
            (str(base / "from_alone"), 2, config.gan.conv),
            (str(base / "together_xla"), 1, "xla"),
        ],
    )
    return runs.python(code, devices=8)


@pytest.mark.command
def test_models_trained_together_on_8_devices_equal_models_trained_one_after_another(
    tiny, one_after_another, stacked
):
    config, base, _, mesh = tiny
    assert "trained together as one program (model axis over 2 of 8 devices)" in stacked.stderr
    together = read(config, str(base / "together"), mesh, 1)
    assert_same_training(one_after_another[1], together)
    # The models did differ from each other: the comparison above is per model, not of one model twice.
    assert not np.allclose(together[0][0][0], together[1][0][0])
    for camera in CAMERAS:
        samples = os.listdir(base / "together" / "gan" / f"cam{camera}" / "samples")
        assert samples == ["step_0000001.png"]


@pytest.mark.command
def test_models_with_xla_convolutions_train_together_with_the_model_axis_sharded(
    tiny, one_after_another, stacked
):
    """XLA's own convolution, as on accelerators: vmapped over the models and split over the model axis, its
    one-output-channel convs (Style Attention's head) once failed to compile. Same training as the default
    convolution's models trained one after another (the two convolutions sum in another order)."""
    config, base, _, mesh = tiny
    assert_same_training(one_after_another[1], read(config, str(base / "together_xla"), mesh, 1))


@pytest.mark.command
def test_models_trained_one_after_another_resume_together(tiny, one_after_another, stacked):
    config, base, _, mesh = tiny
    assert_same_training(one_after_another[2], read(config, str(base / "from_alone"), mesh, 2), RTOL_LATER)


@pytest.mark.command
def test_models_trained_together_resume_one_after_another(tiny, one_after_another, stacked):
    config, base, splits, mesh = tiny
    shutil.copytree(base / "together", base / "to_alone")
    resumed = trained(config, str(base / "to_alone"), splits, mesh, together=False, num_steps=2)
    assert_same_training(one_after_another[2], resumed, RTOL_LATER)


def test_a_model_axis_that_does_not_divide_the_devices_is_a_config_error():
    config = synthetic.get_config("tiny")
    config.gan.model_devices = jax.device_count() + 1
    with pytest.raises(
        ConfigError, match=r"config\.gan\.model_devices=\d+ does not divide this job's \d+ devices"
    ):
        gan_training.check_model_devices(config)
