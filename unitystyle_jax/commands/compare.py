"""`make compare`: the paper's comparison on one data split, with controls, ablations, paired seeds and intervals
(what it runs and how it reads the numbers: the `comparison` package and docs/comparison.md).

    unitystyle-compare --config=configs/synthetic.py:compare --workdir=runs/compare --results=results
"""

from absl import app, flags
from ml_collections import config_flags

from unitystyle_jax.commands import cli
from unitystyle_jax.commands.comparison import running

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", "configs/synthetic.py", "Dataset / model configuration.", lock_config=True
)
flags.DEFINE_string("workdir", "runs/compare", "Folder for every row's runs.")
flags.DEFINE_string("results", "results", "Folder for compare.md and compare.json.")
flags.DEFINE_string(
    "record",
    None,
    "Folder for the comparison's record (its evaluations, run times and style sets' summaries, no checkpoints): "
    "read into --workdir at start and written after every IDE seed, so a comparison continues in a fresh workdir.",
)


def main(argv):
    del argv
    cli.run_main(running.run, FLAGS.config, FLAGS.workdir, FLAGS.results, FLAGS.record)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.parse_flags)
