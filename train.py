"""Trains UnityStyle: `python train.py --config=configs/synthetic.py --workdir=runs/demo` (the installed
`unitystyle-train` is the same command).

Runs the stages the config lists (gan, transfer, reid), resuming each from WORKDIR's newest checkpoint.
"""

from unitystyle_jax.commands import scripts

if __name__ == "__main__":
    scripts.train()
