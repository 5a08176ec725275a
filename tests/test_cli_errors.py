"""Every bad input to train.py / evaluate.py ends the same way: exactly one `error:` line naming the culprit,
exit code 1, no traceback — and nothing a previous run wrote is lost."""

import os
import shutil
from types import SimpleNamespace

import fakedata
import pytest

import runs
from configs import synthetic
from runs import BASELINE, finish, one_error_line, run, snapshot, start
from unitystyle_jax import config_validation
from unitystyle_jax.core.errors import ConfigError

pytestmark = pytest.mark.command  # starts commands in subprocesses: `make test`, not `make test-fast`


def fails(script: str, workdir, *flags, config: str = runs.TINY, fresh: bool = False) -> str:
    return one_error_line(run(script, workdir, *flags, config=config, check=False, fresh=fresh))


@pytest.mark.parametrize(
    "field, value, culprit",
    [
        ("gan.lambda_gan", 0.9, "config.gan lambdas: loss weights gan=0.9 + "),
        ("stages", "gan,style,reid", "config.stages='gan,style,reid': unknown stage(s) ['style']"),
        ("data.name", "cuhk03", "config.data.name='cuhk03'"),
        ("model.depth", 7, "config.model.depth=7"),
        ("reid.batch_size", -8, "config.reid.batch_size=-8 must be a positive integer"),
    ],
)
def test_bad_config_value_is_named(field, value, culprit):
    """In-process: what train.py checks first; the subprocess test below shows how it reaches the user."""
    config = synthetic.get_config("tiny")
    config.update_from_flattened_dict({field: value})
    with pytest.raises(ConfigError) as raised:
        config_validation.validate(config)
    assert culprit in str(raised.value)


@pytest.mark.parametrize(
    "flag, culprit",
    [
        ("--config.reid.batch_size=-8", "config.reid.batch_size=-8 must be a positive integer"),
        ("--config.reid.bacth_size=8", "--config.reid.bacth_size: the config has no field 'bacth_size'"),
        ("--config.reid.num_steps=many", "--config.reid.num_steps=many"),
    ],
)
def test_bad_config_value_or_flag_is_one_error_line_before_anything_is_written(tmp_path, flag, culprit):
    assert culprit in fails("train.py", tmp_path / "run", flag)
    assert not os.path.exists(tmp_path / "run")


def test_unknown_config_variant_and_missing_config_file_are_named(tmp_path):
    # Each entry point's error contract once from a new interpreter, as a user meets it (tests/forked.py).
    assert "no variant 'huge'" in fails("train.py", tmp_path, config="configs/synthetic.py:huge", fresh=True)
    assert "configs/nowhere.py" in fails("evaluate.py", tmp_path, config="configs/nowhere.py", fresh=True)


NAMES = ("missing_root", "corrupt_jpeg", "evaluate_untrained", "no_transfer", "evaluate_other", "train_other")


@pytest.fixture(scope="module")
def failed(tmp_path_factory, tiny_baseline):
    """The commands below that start TensorFlow and a model (~10 s each before they can fail), run side by
    side: those that need no trained run while one is trained. Their results by name, and what they name."""
    tmp = tmp_path_factory.mktemp("failures")
    market = fakedata.write_market(tmp / "market")
    broken = os.path.join(market, "bounding_box_train", fakedata.MARKET["bounding_box_train"][2])
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp / "Market-1501-v15.09.15"
    market_flag = "--config.data.name=market1501"
    missing_root, corrupt_jpeg = finish(
        start("train.py", tmp / "missing", market_flag, f"--config.data.root={missing}"),
        start("train.py", tmp / "corrupt", market_flag, f"--config.data.root={market}"),
        check=False,
    )
    training, shared = tiny_baseline
    trained = shutil.copytree(shared, tmp / "trained")  # what the failing commands below must leave alone
    before = snapshot(trained)
    data, other_model = f"--config.data.root={trained / 'dataset'}", (*BASELINE, "--config.model.depth=34")
    results = finish(
        start("evaluate.py", tmp / "untrained", data),
        start("train.py", tmp / "no_transfer", data, "--config.stages=reid"),
        start("evaluate.py", trained, *other_model),
        start("train.py", trained, *other_model),
        check=False,
    )
    return SimpleNamespace(
        tmp=tmp,
        training=training,
        shared=shared,
        trained=trained,
        missing=missing,
        broken=broken,
        kept=snapshot(trained) == before,
        results=dict(zip(NAMES, (missing_root, corrupt_jpeg, *results))),
    )


def test_missing_market_root_is_named(failed):
    error = one_error_line(failed.results["missing_root"])
    assert f"dataset root {failed.missing} does not exist" in error
    assert not os.path.exists(failed.tmp / "missing")  # the workdir it made for the run is gone again


def test_corrupt_jpeg_in_a_market_folder_is_named(failed):
    assert f"{failed.broken}: not a readable image" in one_error_line(failed.results["corrupt_jpeg"])


def test_evaluate_without_a_run_names_the_workdir_and_creates_nothing(failed):
    error = one_error_line(failed.results["evaluate_untrained"])
    assert f"workdir {failed.tmp / 'untrained'} does not exist: train a run there first" in error
    assert not os.path.exists(failed.tmp / "untrained")  # no folder, no generated dataset


def test_unitystyle_reid_before_transfer_asks_for_the_transfer_stage(failed):
    error = one_error_line(failed.results["no_transfer"])
    assert f"no complete UnityStyle dataset in {failed.tmp / 'no_transfer' / 'unitystyle'}" in error
    assert error.endswith("run the transfer stage first")


@pytest.mark.parametrize("script", ["evaluate", "train"])
def test_checkpoint_of_another_model_is_named_and_kept(failed, script):
    error = one_error_line(failed.results[f"{script}_other"])
    checkpoint = failed.trained / "checkpoints" / "4"
    assert f"checkpoint {checkpoint} was trained with model.depth=18, the config asks for 34" in error
    assert failed.kept  # every file of the trained workdir, unchanged


def test_a_run_logs_its_own_progress_only_and_ends_with_what_it_wrote(failed):
    """The suite's shared real-only tiny run, which the failures start from: at the default verbosity its log
    holds this project's lines (no library bookkeeping), and its summary names files that exist."""
    stderr = failed.training.stderr.splitlines()
    assert len(stderr) <= 30, "\n".join(stderr)
    assert not [line for line in stderr if "checkpoint_manager.py" in line or "logging_writer.py" in line]
    printed = failed.training.stdout.splitlines()
    assert printed[-1] == f"next: python evaluate.py --workdir={failed.shared}"
    paths = [
        word.rstrip(";") for line in printed for word in line.split() if word.startswith(str(failed.shared))
    ]
    assert paths and all(os.path.exists(p) for p in paths), paths


@pytest.mark.parametrize(
    "module, output, flags",
    [
        ("unitystyle_jax.commands.export", "exported", ()),
        ("unitystyle_jax.commands.extract", "features.npz", ("--images=.",)),
    ],
)
def test_an_existing_output_is_one_error_line_and_is_kept(tmp_path, module, output, flags):
    """export and extract never replace what is there: an existing --output ends the command at once, with one
    line naming it, before any workdir is read (this workdir does not exist)."""
    existing = tmp_path / output
    existing.mkdir() if output == "exported" else existing.write_bytes(b"kept")
    line = fails(module, tmp_path / "no_run", f"--output={existing}", *flags)
    assert line == f"error: {existing} exists: give another --output, or remove it first"
    assert existing.is_dir() if output == "exported" else existing.read_bytes() == b"kept"
