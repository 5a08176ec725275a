"""Evaluates a trained IDE model: `python evaluate.py --workdir=runs/demo/unitystyle` (the installed
`unitystyle-evaluate` is the same command); the run's saved config is read from WORKDIR.

Restores the newest checkpoint under WORKDIR (or --config.eval.step), prints Rank-1/5/10, mAP and mINP, and
writes WORKDIR/eval/<dataset>[-<setting>...]/metrics.json, cmc.png and ranked.png.
"""

from unitystyle_jax.commands import scripts

if __name__ == "__main__":
    scripts.evaluate()
