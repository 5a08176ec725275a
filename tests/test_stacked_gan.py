"""The stacked GAN trainer (config.gan.train_together): every model of a stage as one vmapped program gives what
training the models one after another gives (to 1e-5 relative after a step; see RTOL), on one device
and on 8 simulated devices with the model axis sharded (against the same models trained one after another on
one device); it writes each model's checkpoints, metrics and samples to that model's own folder, so a run can
resume in the other mode. In-process at the tiny size (the 8-device check in a subprocess: the device
count is fixed when JAX starts)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import runs
from configs import synthetic
from unitystyle_jax import gan_training, networks, parallel, startup
from unitystyle_jax.errors import ConfigError

CAMERAS = (0, 1)
# One step from equal states: losses and updated parameters (relative to the norm of each model's whole
# parameter vector) differ by float32 summation order alone, 1e-5. Later steps amplify that: Adam's first
# updates, about lr * sign(gradient), turn rounding-sized differences of near-zero gradients into lr-sized ones,
# and a GAN feeds them back (measured 1.7e-5 at step 2, 2.5e-4 at step 3), so a resumed run's step 2 gets 1e-4.
RTOL, RTOL_LATER = 1e-5, 1e-4


def trained(config, workdir: str, splits, mesh, together: bool, num_steps: int) -> dict:
    """CAMERAS' GANs trained to num_steps, then `read`."""
    c = config.copy_and_resolve_references()
    c.gan.train_together, c.gan.num_steps = together, num_steps
    gan_training.train_all(c, workdir, splits, [networks.Domains(camera) for camera in CAMERAS], mesh)
    return read(c, workdir, mesh, num_steps)


def read(config, workdir: str, mesh, num_steps: int) -> dict:
    """{camera: (G's and D_Y's parameters and SLN state, metrics.jsonl records)} of CAMERAS' GANs in workdir."""
    out = {}
    for camera in CAMERAS:
        setup = gan_training.GanSetup(config, workdir, networks.Domains(camera), mesh)
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


def test_models_trained_together_equal_models_trained_one_after_another(tiny, one_after_another):
    config, base, splits, mesh = tiny
    together = trained(config, str(base / "together"), splits, mesh, together=True, num_steps=1)
    assert_same_training(one_after_another[1], together)
    # The models did differ from each other: the comparison above is per model, not of one model twice.
    assert not np.allclose(together[0][0][0], together[1][0][0])
    for camera in CAMERAS:
        samples = os.listdir(base / "together" / "gan" / f"cam{camera}" / "samples")
        assert samples == ["step_0000001.png"]


def test_a_run_resumes_in_the_other_mode(tiny, one_after_another):
    config, base, splits, mesh = tiny
    workdir = str(base / "switched")
    trained(config, workdir, splits, mesh, together=True, num_steps=1)
    resumed = trained(config, workdir, splits, mesh, together=False, num_steps=2)
    assert_same_training(one_after_another[2], resumed, RTOL_LATER)


def test_a_model_axis_that_does_not_divide_the_devices_is_a_config_error():
    config = synthetic.get_config("tiny")
    config.gan.model_devices = jax.device_count() + 1
    with pytest.raises(
        ConfigError, match=r"config\.gan\.model_devices=\d+ does not divide this job's \d+ devices"
    ):
        gan_training.check_model_devices(config)


EIGHT_DEVICES = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {tests!r})
import test_stacked_gan as t
from configs import synthetic
from unitystyle_jax import parallel, startup
config = synthetic.get_config("tiny")
config.data.root = {root!r}
config.gan.checkpoint_every = 1
config.gan.batch_size = 8
config.gan.model_devices = 2
mesh = parallel.make_mesh()
splits = startup.load_dataset(config, {workdir!r})
together = t.trained(config, {workdir!r}, splits, mesh, together=True, num_steps=1)
t.assert_same_training(t.read(config, {alone!r}, mesh, 1), together)
print(json.dumps({{"devices": len(mesh.devices.flat)}}))
"""


def test_on_8_devices_with_the_model_axis_sharded_the_models_train_as_on_one_device_one_after_another(
    tiny, one_after_another, tmp_path
):
    config, base, _, _ = tiny
    code = EIGHT_DEVICES.format(
        tests=os.path.dirname(__file__),
        root=config.data.root,
        workdir=str(tmp_path),
        alone=str(base / "alone1"),
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=runs.REPO,
        env=runs.env(8),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == 8
    assert "trained together as one program (model axis over 2 of 8 devices)" in result.stderr
