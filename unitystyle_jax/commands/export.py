"""Exports a trained run's networks with a symbolic batch (docs/deployment.md):

    unitystyle-export --config=configs/synthetic.py --workdir=runs/demo/unitystyle --output=exported \
        [--format=stablehlo|onnx]

Writes OUTPUT/ide_features.<format> and OUTPUT/generator_camC.<format> per camera, and export.json;
`jax.export.deserialize(open(path, "rb").read()).call(images)` runs a StableHLO one, onnxruntime an ONNX one.
"""

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Configuration the run was trained with.", lock_config=True)
flags.DEFINE_string("workdir", None, "The trained run's folder.")
flags.DEFINE_string("output", None, "Folder to create for the exported programs; must not exist.")
flags.DEFINE_enum("format", "stablehlo", ["stablehlo", "onnx"], "stablehlo (jax.export) or onnx (jax2onnx).")
flags.DEFINE_integer("batch", 1, "ONNX only: the batch size its programs take (StableHLO's take any).")
flags.mark_flags_as_required(["config", "workdir", "output"])


def main(argv):
    del argv

    cli.check_config(FLAGS.config)
    from unitystyle_jax.serving import export  # after the check: JAX takes seconds to import

    cli.run_main(export.run, FLAGS.config, FLAGS.workdir, FLAGS.output, FLAGS.format, FLAGS.batch)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
