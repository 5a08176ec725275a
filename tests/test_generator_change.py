"""benchmarks/generator_change.py, the check of whether a run's generators left the identity: a generator as
initialised (the identity) reads as pinned, one whose parameters were moved reads as moving its images."""

import jax
import numpy as np

import runs
from unitystyle_jax import startup
from unitystyle_jax.core import saved_config
from unitystyle_jax.data import synthetic
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains

generator_change = runs.benchmark("generator_change")


def test_an_identity_generator_reads_as_pinned_and_a_moved_one_does_not(tiny_config_and_mesh, tmp_path):
    config, mesh = tiny_config_and_mesh
    workdir = str(tmp_path)
    synthetic.ensure(startup.data_root(config, workdir), startup.synthetic_spec(config))
    saved_config.save(workdir, config, ["test"])
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    noise = np.random.default_rng(0)
    for camera, moved in ((0, False), (1, True)):
        with gan_training.GanRun(config, workdir, Domains(camera), programs) as run:
            state = run.programs.train.init(run.rng)
            if moved:  # the control: G's parameters pushed away from the identity
                g = jax.tree.map(
                    lambda p: p + 0.3 * noise.standard_normal(p.shape), state.nets["G"]["params"]
                )
                state = state.replace(nets={**state.nets, "G": {**state.nets["G"], "params": g}})
            run.checkpoints.save(5, state, run.meta)
            run.checkpoints.wait()
    rows = {r["camera"]: r for r in generator_change.measure(workdir, None, 4)}
    assert sorted(rows) == [0, 1] and rows[0]["step"] == 5 and rows[0]["images"] > 0
    assert rows[0]["mean_abs_change"] < 1.0, rows[0]  # the identity: under a level
    assert rows[1]["mean_abs_change"] > 10.0, rows[1]
    assert len(rows[0]["middle_colour"]) == 3
    np.testing.assert_allclose(rows[0]["unity_colour"], rows[0]["real_colour"], atol=1.0)
