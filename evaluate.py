"""Evaluates a trained IDE model: `python evaluate.py --config=configs/synthetic.py --workdir=runs/demo`.

Restores the newest checkpoint under WORKDIR (or --config.eval.step), prints Rank-1/5/10, mAP and mINP, and
writes WORKDIR/eval/metrics.json, cmc.png and ranked.png.
"""

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Configuration file the model was trained with.", lock_config=True
)
flags.DEFINE_string("workdir", None, "Folder holding the run's checkpoints.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    cli.check_config(FLAGS.config)
    from unitystyle_jax.reid import (
        evaluation,
    )  # after the check: TensorFlow and the models take ~10 s to import

    cli.run_main(evaluation.run, FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
