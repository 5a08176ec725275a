"""Which cameras does each UnityGAN's Style Attention up-weight? A diagnostic for trained UnityGANs.

    python benchmarks/attention_weights.py --workdir runs/compare/styles/unitystyle [--config configs/synthetic.py]

For the model of camera c, every training image y (domain Y) gets the weight the UnityStyle loss gives it,
floor + (1 - floor) * A(y), relative to the mean over Y. The table holds the mean weight of each Y camera's images
(rows: the model's camera c; columns: Y's camera), and, per model, the correlation between a Y camera's weight and
how far its mean colour lies from camera c's. A positive correlation means the head pulls camera c's target toward
the camera styles most unlike its own: then each camera's G aims at a different mixture, not at one shared style.
Reads checkpoints only; writes nothing.
"""

import argparse
import os

import numpy as np


from unitystyle_jax import startup
from unitystyle_jax.core import parallel
from unitystyle_jax.data import pipeline
from unitystyle_jax.gan import training as gan_training
from unitystyle_jax.gan.domains import Domains


def load_config(path: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a run (or a comparison style set) holding gan/camC")
    parser.add_argument("--config", default="configs/synthetic.py")
    parser.add_argument(
        "--data-root", default="", help="the dataset (default: the comparison's, ../../dataset)"
    )
    args = parser.parse_args()
    config = load_config(args.config)
    config.data.root = args.data_root or os.path.join(args.workdir, "..", "..", "dataset")
    config.data.verify = False
    mesh = startup.start(config, args.workdir)
    splits = startup.load_dataset(config, args.workdir)
    cameras = list(splits.cameras)
    images = {}
    for camera in cameras:
        records = [r for r in splits.train if r.camid == camera]
        batches = pipeline.ordered_batches(records, config.gan.height, config.gan.width, 64, "gan")
        images[camera] = np.concatenate([b[:n] for b, n in batches])
    colour = {c: images[c].mean(axis=(0, 1, 2)) for c in cameras}
    floor = config.gan.attention_floor
    print("mean Style Attention weight of each Y camera's images (1 = average), per camera's UnityGAN\n")
    print(
        "| model \\ Y camera | "
        + " | ".join(f"cam{c}" for c in cameras)
        + " | corr(weight, colour distance) |"
    )
    print("|---" * (len(cameras) + 2) + "|")
    correlations = []
    programs = gan_training.GanPrograms.build(config.gan, mesh)
    for model in cameras:
        run = gan_training.GanRun(config, args.workdir, Domains(model), programs)
        state, _ = run.restore()
        g = state.nets["G"]
        bounded = {}
        for camera in cameras:
            _, attention = run.programs.generator.apply(
                g, parallel.to_global(images[camera], mesh), train=False
            )
            bounded[camera] = floor + (1.0 - floor) * np.asarray(attention)
        overall = np.concatenate(list(bounded.values())).mean()
        weights = np.array([bounded[c].mean() / overall for c in cameras])
        distance = np.array([np.linalg.norm(colour[c] - colour[model]) for c in cameras])
        corr = float(np.corrcoef(weights, distance)[0, 1])
        correlations.append(corr)
        cells = " | ".join(f"{w:.3f}" for w in weights)
        print(f"| cam{model} | {cells} | {corr:+.2f} |")
    print(f"\nmean correlation over the models: {np.mean(correlations):+.2f}")


if __name__ == "__main__":
    main()
