"""Checkpoints: restore-newest, fall back past a damaged step with a warning, refuse what does not fit."""

import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unitystyle_jax.core.checkpoints import Checkpoints
from unitystyle_jax.core.errors import CheckpointError


def state(value):
    return {"w": jnp.full((3, 2), value, jnp.float32), "step": jnp.asarray(int(value), jnp.int32)}


def abstract():
    return jax.eval_shape(lambda: state(0.0))


def test_restores_newest_then_falls_back_past_a_damaged_one(tmp_path, caplog):
    ckpt = Checkpoints(str(tmp_path / "ck"), max_to_keep=3)
    for step in (1, 2, 3):
        ckpt.save(step, state(float(step)), {"step": step})
    ckpt.wait()
    restored, meta, step = ckpt.restore(abstract())
    assert step == 3 and meta["step"] == 3
    np.testing.assert_array_equal(restored["w"], np.full((3, 2), 3.0))
    # Damage every file of the newest step.
    for folder, _, files in os.walk(tmp_path / "ck" / "3"):
        for name in files:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"\x00garbage")
    with caplog.at_level(logging.WARNING):
        restored, _, step = Checkpoints(str(tmp_path / "ck")).restore(abstract())
    assert step == 2
    np.testing.assert_array_equal(restored["w"], np.full((3, 2), 2.0))
    assert any("/3" in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)


def test_empty_folder_restores_nothing_and_missing_step_is_named(tmp_path):
    ckpt = Checkpoints(str(tmp_path / "empty"))
    assert ckpt.restore(abstract()) is None
    with pytest.raises(CheckpointError, match="no checkpoint at step 5"):
        ckpt.restore(abstract(), step=5)


def test_state_of_another_shape_is_an_error_naming_the_folder(tmp_path):
    ckpt = Checkpoints(str(tmp_path / "ck"))
    ckpt.save(1, state(1.0), {})
    ckpt.wait()
    other = jax.eval_shape(lambda: {"w": jnp.zeros((4, 2)), "step": jnp.zeros((), jnp.int32)})
    with pytest.raises(CheckpointError, match=str(tmp_path / "ck")):
        Checkpoints(str(tmp_path / "ck")).restore(other)


def test_a_part_restores_alone_and_must_fit(tmp_path):
    """partial=True (inference: a generator, a backbone): only the named arrays are read and checked."""
    ckpt = Checkpoints(str(tmp_path / "ck"))
    ckpt.save(1, {"nets": {"G": state(1.0), "D": state(2.0)}, "opt": state(3.0)}, {"kind": "gan"})
    ckpt.wait()
    part = {"nets": {"G": abstract()}}
    restored, meta, step = Checkpoints(str(tmp_path / "ck")).restore(part, meta={"kind": "gan"}, partial=True)
    assert (
        step == 1
        and meta == {"kind": "gan"}
        and restored.keys() == {"nets"}
        and restored["nets"].keys() == {"G"}
    )
    np.testing.assert_array_equal(restored["nets"]["G"]["w"], np.full((3, 2), 1.0))
    with pytest.raises(
        CheckpointError, match="nets/G/w is \\(3, 2\\) float32 there, \\(4, 2\\) float32 here"
    ):
        wrong = {"nets": {"G": jax.eval_shape(lambda: {**state(0.0), "w": jnp.zeros((4, 2))})}}
        Checkpoints(str(tmp_path / "ck")).restore(wrong, partial=True)
    with pytest.raises(CheckpointError, match="nets/F/step is not in the checkpoint"):
        Checkpoints(str(tmp_path / "ck")).restore({"nets": {"F": abstract()}}, partial=True)
    with pytest.raises(CheckpointError, match="was trained with kind=gan, the config asks for reid"):
        Checkpoints(str(tmp_path / "ck")).restore(part, meta={"kind": "reid"}, partial=True)
    with pytest.raises(CheckpointError, match="is in the checkpoint but not in the model"):
        Checkpoints(str(tmp_path / "ck")).restore(part)  # the whole state must fit when not partial


def test_differing_settings_are_named_by_their_config_fields_before_shapes(tmp_path):
    ckpt = Checkpoints(str(tmp_path / "ck"))
    ckpt.save(1, state(1.0), {"model": {"depth": 18, "width": 8, "strides": (1, 2)}, "kind": "reid"})
    ckpt.wait()
    wider = jax.eval_shape(lambda: {**state(0.0), "w": jnp.zeros((4, 2))})  # the shapes differ too
    asked = {"model": {"depth": 34, "width": 8, "strides": [1, 2]}, "kind": "reid"}
    with pytest.raises(
        CheckpointError, match=r"was trained with model\.depth=18, the config asks for 34: use"
    ):
        Checkpoints(str(tmp_path / "ck")).restore(wider, meta=asked)
    asked["model"].update(depth=18, width=16)
    with pytest.raises(CheckpointError, match=r"model\.width=8, the config asks for 16"):
        Checkpoints(str(tmp_path / "ck")).check(wider, asked)
