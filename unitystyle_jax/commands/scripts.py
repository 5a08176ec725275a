"""The commands as `pip install` puts them on PATH (pyproject.toml's [project.scripts]: unitystyle-train,
-evaluate, -compare, -extract, -export, -dataset, -convert-torch); train.py and evaluate.py run the same two functions.

A command's module defines its absl flags when imported, so each script imports only its own; train and evaluate
define theirs here, light to import, so a bad config value is one line before TensorFlow and the models load.
"""

import importlib

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli


def train() -> None:
    """Runs the stages the config lists (gan, transfer, reid), each resuming from WORKDIR's newest checkpoint."""
    _run_command(
        "unitystyle_jax.commands.train",
        config_help="Training configuration file (a trained WORKDIR's own config.json when left out).",
        workdir_help="Folder for checkpoints, logs and outputs.",
    )


def evaluate() -> None:
    """Restores WORKDIR's newest (or --config.eval.step's) IDE checkpoint, prints Rank-1/5/10, mAP and mINP, and
    writes them under WORKDIR/eval/."""
    _run_command(
        "unitystyle_jax.reid.evaluation",
        config_help="Configuration the model was trained with (WORKDIR's own config.json when left out).",
        workdir_help="Folder holding the run's checkpoints.",
    )


def compare() -> None:
    _absl_command("compare")


def extract() -> None:
    _absl_command("extract")


def export() -> None:
    _absl_command("export")


def dataset() -> None:
    importlib.import_module("unitystyle_jax.commands.dataset").main()


def convert_torch() -> None:
    importlib.import_module("unitystyle_jax.commands.convert_torch").main()


def _absl_command(name: str) -> None:
    app.run(importlib.import_module(f"unitystyle_jax.commands.{name}").main, flags_parser=cli.parse_flags)


def _run_command(module: str, config_help: str, workdir_help: str) -> None:
    """MODULE.run(config, workdir) behind --config and --workdir."""
    config_flags.DEFINE_config_file("config", None, config_help, lock_config=True)
    flags.DEFINE_string("workdir", None, workdir_help)
    flags.mark_flags_as_required(["config", "workdir"])

    def main(argv):
        del argv
        cli.check_config(flags.FLAGS.config)
        run = importlib.import_module(module).run  # after the check: TensorFlow and the models take ~10 s
        cli.run_main(run, flags.FLAGS.config, flags.FLAGS.workdir)

    app.run(main, flags_parser=cli.parse_flags)
