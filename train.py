"""Trains UnityStyle: `python train.py --config=configs/synthetic.py --workdir=runs/demo`.

Runs the stages the config lists (gan, transfer, reid), resuming each from WORKDIR's newest checkpoint.
"""

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and outputs.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.check_config(FLAGS.config)
    from unitystyle_jax.commands import (
        train,
    )  # after the check: TensorFlow and the models take ~10 s to import

    cli.run_main(train.run, FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
