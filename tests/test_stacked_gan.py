"""The stacked GAN trainer (config.gan.train_together): every model of a stage as one vmapped program gives what
training the models one after another gives, to 1e-5 relative, on one device and on 8 simulated devices with
the model axis sharded; it writes each model's checkpoints, metrics and samples to that model's own folder, so
a run can resume in the other mode. In-process at the tiny size (the 8-device check in a subprocess: the device
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
# Relative to the norm of each model's whole parameter vector: Adam's first steps move a parameter by about
# lr * sign(gradient), so where a gradient is ~0, float32 rounding in another summation order moves single
# elements (and small zero-initialised biases) by more than 1e-5 of their own size.
RTOL = 1e-5


def trained(config, workdir: str, splits, mesh, together: bool, num_steps: int) -> dict:
    """{camera: (G's and D_Y's parameters, metrics.jsonl records)} after training CAMERAS to num_steps."""
    c = config.copy_and_resolve_references()
    c.gan.train_together, c.gan.num_steps = together, num_steps
    gan_training.train_all(c, workdir, splits, [networks.Domains(camera) for camera in CAMERAS], mesh)
    out = {}
    for camera in CAMERAS:
        setup = gan_training.GanSetup(c, workdir, networks.Domains(camera), mesh)
        state, step = setup.restore()
        assert step == num_steps
        records = runs.metrics(setup.workdir)
        params = jax.tree.leaves((state.nets["G"]["params"], state.nets["D_Y"]["params"], state.sln))
        out[camera] = ([np.asarray(p) for p in params], records)
    return out


def assert_same_training(a: dict, b: dict) -> None:
    for camera in CAMERAS:
        (params_a, log_a), (params_b, log_b) = a[camera], b[camera]
        x, y = (np.concatenate([p.ravel() for p in params]) for params in (params_a, params_b))
        assert np.linalg.norm(x - y) <= RTOL * np.linalg.norm(x), (
            camera,
            np.linalg.norm(x - y) / np.linalg.norm(x),
        )
        assert [r["step"] for r in log_a] == [r["step"] for r in log_b]
        for ra, rb in zip(log_a, log_b):
            # Step 1 starts from equal parameters: its metrics differ by summation order alone. Later steps start
            # from parameters that Adam's sign-like first updates left 1e-6 apart: 1e-4 (measured up to 1.7e-5).
            rel = RTOL if ra["step"] == 1 else 10 * RTOL
            for key in ra:
                if key != "images_per_sec":
                    assert ra[key] == pytest.approx(rb[key], rel=rel, abs=1e-7), (camera, ra, rb)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("stacked")
    config = synthetic.get_config("tiny")
    config.gan.checkpoint_every = 1
    mesh = parallel.make_mesh()
    splits = startup.load_dataset(config, str(base / "data"))
    config.data.root = str(base / "data" / "dataset")
    return config, base, splits, mesh


@pytest.fixture(scope="module")
def one_after_another(tiny):
    config, base, splits, mesh = tiny
    return trained(config, str(base / "alone"), splits, mesh, together=False, num_steps=3)


def test_models_trained_together_equal_models_trained_one_after_another(tiny, one_after_another):
    config, base, splits, mesh = tiny
    together = trained(config, str(base / "together"), splits, mesh, together=True, num_steps=3)
    assert_same_training(one_after_another, together)
    # The models did differ from each other: the comparison above is per model, not of one model twice.
    assert not np.allclose(together[0][0][0], together[1][0][0])
    for camera in CAMERAS:
        samples = os.listdir(base / "together" / "gan" / f"cam{camera}" / "samples")
        assert sorted(samples) == [f"step_{s:07d}.png" for s in (1, 2, 3)]


def test_a_run_resumes_in_the_other_mode(tiny, one_after_another):
    config, base, splits, mesh = tiny
    workdir = str(base / "switched")
    trained(config, workdir, splits, mesh, together=True, num_steps=2)
    assert_same_training(
        one_after_another, trained(config, workdir, splits, mesh, together=False, num_steps=3)
    )


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
import numpy as np
sys.path.insert(0, {tests!r})
import test_stacked_gan as t
from configs import synthetic
from unitystyle_jax import parallel, startup
config = synthetic.get_config("tiny")
config.data.root = {root!r}
config.gan.batch_size = 8
config.gan.model_devices = 2
mesh = parallel.make_mesh()
splits = startup.load_dataset(config, {workdir!r})
alone = t.trained(config, {workdir!r} + "/alone", splits, mesh, together=False, num_steps=2)
together = t.trained(config, {workdir!r} + "/together", splits, mesh, together=True, num_steps=2)
t.assert_same_training(alone, together)
print(json.dumps({{"devices": len(mesh.devices.flat), "max_difference": max(
    float(np.max(np.abs(a - b))) for c in t.CAMERAS for a, b in zip(alone[c][0], together[c][0]))}}))
"""


def test_on_8_devices_with_the_model_axis_sharded_the_models_train_as_one_after_another(tiny, tmp_path):
    config, base, _, _ = tiny
    code = EIGHT_DEVICES.format(tests=os.path.dirname(__file__), root=config.data.root, workdir=str(tmp_path))
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
