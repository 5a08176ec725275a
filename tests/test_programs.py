"""Programs are built once by the command and handed down: every camera's UnityGAN (and every CamStyle pair with
the same GAN config, whatever its loop settings or seed) runs one traced step, every seed of an IDE config one
traced step, while programs handed to a run whose model or loss differs are refused. In-process, through
`gan_training.train_all` and `training_loop.run`, at the tiny size."""

import json
import os

import jax
import numpy as np
import pytest

from configs import synthetic
from unitystyle_jax import methods, startup
from unitystyle_jax.core import parallel
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains
from unitystyle_jax.reid import training as reid_training


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("programs"))
    config = synthetic.get_config("tiny")
    config.gan.checkpoint_every = 3
    mesh = parallel.make_mesh()
    return config, workdir, startup.load_dataset(config, workdir), mesh


def test_gan_programs_serve_every_model_of_their_config_and_refuse_another(tiny):
    config, workdir, splits, mesh = tiny
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    cam0 = gan_training.GanRun(config, workdir, Domains(0), programs)
    pair = gan_training.GanRun(config, workdir, Domains(1, 2), programs)
    assert not np.array_equal(jax.random.key_data(cam0.rng), jax.random.key_data(pair.rng))
    other = config.copy_and_resolve_references()
    other.seed = 11  # the seed is not part of the programs: it only picks the rng
    # Nor are the loop's settings: a run extended to more steps, or switched to training its models together,
    # compiles nothing again (each of GAN_LOOP_SETTINGS changed at once).
    other.gan.update(num_steps=7, cameras="0", log_every=2, checkpoint_every=5, keep_checkpoints=1)
    other.gan.update(train_together=True, model_devices=2)
    assert gan_training.GanRun(other, workdir, Domains(0), programs).programs is programs
    other.gan.style_attention = "per_model"  # another loss: these programs would train the wrong model
    with pytest.raises(ValueError, match="another config.gan"):
        gan_training.GanRun(other, workdir, Domains(0), programs)


def test_ide_programs_serve_every_seed_and_method_of_their_step_and_refuse_another_step_or_class_count(tiny):
    config, workdir, splits, mesh = tiny
    programs = reid_training.ReidPrograms.build(config, 5, mesh)
    seeded = config.copy_and_resolve_references()
    seeded.seed = 4
    assert reid_training.ReidRun(seeded, os.path.join(workdir, "b"), programs).programs is programs
    # A method whose second part is unsmoothed runs UnityStyle's step (a real twin: the same batch layout), and the
    # loop's settings shape nothing (each of REID_LOOP_SETTINGS but the method and smoothing changed at once).
    assert config.reid.method == "unitystyle" and config.reid.unitystyle_label_smoothing == 0.0
    seeded.reid.update(method="real_twin", num_steps=9, log_every=2, checkpoint_every=3, keep_checkpoints=1)
    assert reid_training.ReidRun(seeded, os.path.join(workdir, "b"), programs).programs is programs
    seeded.reid.method = "camstyle"  # label smoothing on generated images: another step
    with pytest.raises(ValueError, match="another config"):
        reid_training.ReidRun(seeded, os.path.join(workdir, "c"), programs)
    six = reid_training.ReidPrograms.build(config, 6, mesh)
    assert six.settings != programs.settings


@pytest.mark.parametrize(
    "method, unitystyle_smoothing, expected",
    [("camstyle", 0.3, 0.1), ("unitystyle", 0.0, 0.0), ("unitystyle", 0.1, 0.1), ("real_twin", 0.1, 0.0)],
)
def test_each_method_smooths_its_second_part_as_configured(method, unitystyle_smoothing, expected):
    reid = synthetic.get_config("tiny").reid
    reid.update(method=method, generated_label_smoothing=0.1, unitystyle_label_smoothing=unitystyle_smoothing)
    assert methods.of(reid).second_part_smoothing(reid) == expected


def test_two_cameras_train_through_one_traced_step(tiny):
    config, workdir, splits, mesh = tiny
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    gan_training.train_all(config, workdir, splits, [Domains(0), Domains(1)], mesh, programs)
    assert programs.train.step._cache_size() == 1  # one trace for both cameras' models
    finals = []
    for camera in (0, 1):
        folder = os.path.join(workdir, "gan", f"cam{camera}")
        with open(os.path.join(folder, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f]
        assert [r["step"] for r in records] == [1, 2, 3]
        assert all(np.isfinite(v) for r in records for v in r.values())
        setup = gan_training.GanRun(config, workdir, Domains(camera), programs)
        state, last = setup.restore()
        assert last == config.gan.num_steps
        finals.append(jax.tree.leaves(state.nets["G"]["params"]))
    # Each camera kept its own model: the shared program did not share parameters.
    assert any(not np.array_equal(a, b) for a, b in zip(*finals))
