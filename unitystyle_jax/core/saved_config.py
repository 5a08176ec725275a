"""A run's config as its workdir remembers it: train.py writes WORKDIR/config.json (the resolved config and the
command that made it) at its first write, and every command given a --workdir but no --config reads it back, so
`--workdir` alone evaluates, extracts, exports or resumes the run as it was trained.

This file is also a config file (`--config=.../core/saved_config.py:WORKDIR`, what `cli.parse_flags` passes for the
user): `--config.x=y` overrides then apply on top, as on any config file.
"""

import json
import os

import ml_collections

FILE = "config.json"


def path(workdir: str) -> str:
    return os.path.join(workdir, FILE)


def save(workdir: str, config, command: list[str]) -> None:
    """WORKDIR/config.json, unless the run has one already (the first run's config is the run's)."""
    from unitystyle_jax.core import files

    if os.path.exists(path(workdir)):
        return
    os.makedirs(workdir, exist_ok=True)
    record = {"config": config.to_dict(), "command": command}
    files.write_text(path(workdir), json.dumps(record, indent=2, sort_keys=True) + "\n")


def _read(workdir: str) -> dict:
    """The saved config as a dict; OSError naming the file when it is missing or not one."""
    try:
        with open(path(workdir)) as f:
            return dict(json.load(f)["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise OSError(f"{path(workdir)}: not a run's saved config ({error})") from None


def load(workdir: str) -> dict | None:
    """The config WORKDIR's run saved, as a dict, or None when it saved none."""
    try:
        return _read(workdir)
    except OSError:
        return None


def get_config(workdir: str):
    """The config WORKDIR's run saved (what `--config=this_file:WORKDIR` loads)."""
    return ml_collections.ConfigDict(_read(workdir))


def names_config(argv: list[str]) -> bool:
    """Whether ARGV gives a --config."""
    return any(a == "--config" or a.startswith("--config=") for a in argv)


def with_saved_config(argv: list[str]) -> tuple[list[str], str | None]:
    """ARGV with `--config=<this file>:WORKDIR` added when it names a --workdir whose run saved its config and no
    --config; and that config's path (None when ARGV is left as it is)."""
    if names_config(argv):
        return argv, None
    workdir = next((a.split("=", 1)[1] for a in argv if a.startswith("--workdir=")), None)
    if workdir is None and "--workdir" in argv[:-1]:
        workdir = argv[argv.index("--workdir") + 1]
    if workdir is None or not os.path.exists(path(workdir)):
        return argv, None
    return [argv[0], f"--config={os.path.abspath(__file__)}:{workdir}", *argv[1:]], path(workdir)
