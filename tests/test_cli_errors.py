"""Every bad input to train.py / evaluate.py ends the same way: exactly one `error:` line naming the culprit,
exit code 1, no traceback — and nothing a previous run wrote is lost."""

import os

import pytest

import fakedata
import runs
from test_end_to_end import run


def one_error_line(result) -> str:
    """The single `error:` line of a failed command (asserting there is exactly one, and no traceback)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    assert len(errors) == 1, result.stderr[-4000:]
    return errors[0]


def fails(script: str, workdir, *flags, config: str = runs.TINY) -> str:
    return one_error_line(run(script, workdir, *flags, config=config, check=False))


def snapshot(workdir) -> dict:
    """{relative path: (size, mtime)} of every file under workdir: any rewrite or removal shows."""
    files = {}
    for folder, _, names in os.walk(workdir):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            files[os.path.relpath(os.path.join(folder, name), workdir)] = (stat.st_size, stat.st_mtime_ns)
    return files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished real-only IDE run (depth 18), its synthetic dataset generated into WORKDIR/dataset."""
    workdir = tmp_path_factory.mktemp("trained")
    run("train.py", workdir, "--config.stages=reid", "--config.reid.method=baseline")
    return workdir


@pytest.mark.parametrize(
    "flag, culprit",
    [
        ("--config.gan.lambda_gan=0.9", "config.gan lambdas: loss weights gan=0.9 + "),
        ("--config.stages=gan,style,reid", "config.stages='gan,style,reid': unknown stage(s) ['style']"),
        ("--config.data.name=cuhk03", "config.data.name='cuhk03'"),
        ("--config.model.depth=7", "config.model.depth=7"),
        ("--config.reid.batch_size=-8", "config.reid.batch_size=-8 must be a positive integer"),
        ("--config.reid.bacth_size=8", "--config.reid.bacth_size: the config has no field 'bacth_size'"),
        ("--config.reid.num_steps=many", "--config.reid.num_steps=many"),
    ],
)
def test_bad_config_value_is_one_error_line_before_anything_is_written(tmp_path, flag, culprit):
    assert culprit in fails("train.py", tmp_path / "run", flag)
    assert not os.path.exists(tmp_path / "run")


def test_unknown_config_variant_and_missing_config_file_are_named(tmp_path):
    assert "no variant 'huge'" in fails("train.py", tmp_path, config="configs/synthetic.py:huge")
    assert "configs/nowhere.py" in fails("evaluate.py", tmp_path, config="configs/nowhere.py")


def test_missing_market_root_is_named(tmp_path):
    root = tmp_path / "Market-1501-v15.09.15"
    error = fails("train.py", tmp_path / "run", "--config.data.name=market1501", f"--config.data.root={root}")
    assert f"dataset root {root} does not exist" in error


def test_corrupt_jpeg_in_a_market_folder_is_named(tmp_path):
    root = fakedata.write_market(tmp_path / "market")
    broken = os.path.join(root, "bounding_box_train", fakedata.MARKET["bounding_box_train"][2])
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    error = fails("train.py", tmp_path / "run", "--config.data.name=market1501", f"--config.data.root={root}")
    assert f"{broken}: not a readable image" in error


def test_evaluate_without_a_checkpoint_names_the_folder(tmp_path, trained):
    error = fails("evaluate.py", tmp_path, f"--config.data.root={trained / 'dataset'}")
    assert f"no IDE checkpoint in {tmp_path / 'checkpoints'}" in error


def test_unitystyle_reid_before_transfer_asks_for_the_transfer_stage(tmp_path, trained):
    error = fails("train.py", tmp_path, f"--config.data.root={trained / 'dataset'}", "--config.stages=reid")
    assert f"no complete UnityStyle dataset in {tmp_path / 'unitystyle'}: run the transfer stage" in error


@pytest.mark.parametrize("script", ["evaluate.py", "train.py"])
def test_checkpoint_of_another_model_is_named_and_kept(trained, script):
    before = snapshot(trained)
    flags = ("--config.reid.method=baseline", "--config.stages=reid", "--config.model.depth=34")
    error = fails(script, trained, *flags)
    assert f"checkpoint {trained / 'checkpoints'}/4 holds another model than the config builds" in error
    assert snapshot(trained) == before
