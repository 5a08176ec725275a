"""Features for any images from a trained run, as evaluation takes them (docs/deployment.md):

    unitystyle-extract --config=configs/synthetic.py --workdir=runs/demo/unitystyle \
        --images=DIR_OR_CSV --output=features.npz [--no-transfer]

--images: a folder of Market-named images (`<id>_c<camera>...`) or a CSV with header path,camid or path,pid,camid.
"""

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Configuration the run was trained with.", lock_config=True)
flags.DEFINE_string("workdir", None, "The trained run's folder.")
flags.DEFINE_string("images", None, "Folder of Market-named images, or CSV of path,camid or path,pid,camid.")
flags.DEFINE_string("output", None, "Where to write the features (.npz); an existing file is not replaced.")
flags.DEFINE_bool("no-transfer", False, "Real images only: skip the camera generators of a UnityStyle run.")
flags.mark_flags_as_required(["config", "workdir", "images", "output"])


def main(argv):
    del argv
    transfer = False if FLAGS["no-transfer"].value else None

    cli.check_config(FLAGS.config)
    from unitystyle_jax.serving import (
        extraction,
    )  # after the check: TensorFlow and JAX take seconds to import

    cli.run_main(extraction.run, FLAGS.config, FLAGS.workdir, FLAGS.images, FLAGS.output, transfer)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
