"""The project installs like a library (`make venv`: `pip install --editable .`): each console script that
pyproject.toml names starts from any folder, and every benchmark runs as its docstring says; each in a fresh
interpreter whose imports come from the installation, not from an import path set by hand."""

import ast
import glob
import os
import re
import subprocess
import sys
import tomllib

import pytest

import runs

pytestmark = pytest.mark.command  # starts fresh interpreters: `make test`, not `make test-fast`

with open(os.path.join(runs.REPO, "pyproject.toml"), "rb") as file:
    SCRIPTS = sorted(tomllib.load(file)["project"]["scripts"])
# The benchmarks: the files in benchmarks/ that run; the others (step_setups) are what they share.
BENCHMARKS = sorted(
    path
    for path in glob.glob(os.path.join(runs.REPO, "benchmarks", "*.py"))
    if '__name__ == "__main__"' in open(path).read()
)


def all_run(commands: list[list[str]], cwd) -> list[subprocess.CompletedProcess]:
    """COMMANDS run four at a time (each mostly imports), with no PYTHONPATH."""
    env = {k: v for k, v in runs.env().items() if k != "PYTHONPATH"}
    done = []
    for i in range(0, len(commands), 4):
        started = [
            subprocess.Popen(c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands[i : i + 4]
        ]
        done += [subprocess.CompletedProcess(p.args, p.wait(600), *p.communicate()) for p in started]
    return done


def test_every_console_script_starts_outside_the_checkout(tmp_path):
    assert {"unitystyle-train", "unitystyle-evaluate", "unitystyle-compare", "unitystyle-extract"} <= set(
        SCRIPTS
    )
    paths = [os.path.join(os.path.dirname(sys.executable), name) for name in SCRIPTS]
    missing = [p for p in paths if not os.path.exists(p)]
    assert not missing, f"not installed (run `make venv`): {missing}"
    for name, result in zip(SCRIPTS, all_run([[p, "--help"] for p in paths], cwd=tmp_path)):
        assert result.returncode == 0, (name, result.stderr[-2000:])
        assert result.stdout.startswith(f"usage: {name} "), (name, result.stdout[:300])
        assert "--workdir" in result.stdout or name in ("unitystyle-dataset", "unitystyle-convert-torch")


def test_a_config_file_outside_the_checkout_derives_from_the_installed_defaults(tmp_path):
    """A user's own config file, as configs/*.py are written (`from configs import default`), read by the
    installed train script from another folder: the defaults' empty data root is the config check's one line."""
    own = tmp_path / "my_config.py"
    own.write_text("from configs import default\n\n\ndef get_config():\n    return default.get_config()\n")
    (result,) = all_run(
        [
            [
                os.path.join(os.path.dirname(sys.executable), "unitystyle-train"),
                f"--config={own}",
                f"--workdir={tmp_path / 'run'}",
            ]
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == "error: config.data.root is empty: where is market1501?"
    assert not (tmp_path / "run").exists()


def test_every_benchmark_runs_as_its_docstring_says():
    commands = []
    for path in BENCHMARKS:
        relative = os.path.relpath(path, runs.REPO)
        with open(path) as file:
            docstring = ast.get_docstring(ast.parse(file.read())) or ""
        assert re.search(rf"^\s*python {re.escape(relative)}\b", docstring, re.M), (
            f"{relative}: no command line"
        )
        commands.append([sys.executable, relative, "--help"])
    assert len(commands) >= 11
    for result in all_run(commands, cwd=runs.REPO):
        assert result.returncode == 0, (result.args, result.stderr[-2000:])
        assert result.stdout.startswith("usage: "), (result.args, result.stdout[:300])


def test_no_import_path_is_set_by_hand():
    """Benchmarks and tests import the installed package; only the suite's forked commands set sys.path[0] the
    way `python SCRIPT` does (tests/forked.py)."""
    patched = {
        os.path.relpath(path, runs.REPO)
        for folder in ("benchmarks", "tests", "configs", "unitystyle_jax")
        for path in glob.glob(os.path.join(runs.REPO, folder, "**", "*.py"), recursive=True)
        if re.search(r"sys\.path\.(insert|append)", open(path).read())
    }
    assert patched == {"tests/forked.py"}
