"""How far each camera's trained UnityGAN moves its camera's images, read from a run's workdir at any step: what
to look at long before the transfer and the IDE, to see whether SLN holds a generator at the identity.

    python benchmarks/generator_change.py --workdir runs/market [--cameras 0,1] [--batch 8]

Per trained camera c (its newest checkpoint): the mean |G(x) - x| over camera c's query + gallery images in 0-255
levels, and the mean colour (R, G, B) of camera c's real images, of its UnityStyle images and of every camera's
real images (the middle the objective pulls towards). A generator pinned at the identity changes a pixel by about
one level and leaves the colour where it was; one that works changes it by tens of levels towards the middle.
The run's saved config says what to build (the config of the run that wrote the workdir).
"""

import argparse
import sys

import numpy as np


def camera_images(records, camera: int, config, mesh, batch: int):
    """Camera's images as the GAN reads them (in [-1, 1]), batch by batch: (local batch, count)."""
    from unitystyle_jax.data import pipeline

    chosen = [r for r in records if r.camid == camera]
    return pipeline.ordered_batches(chosen, config.gan.height, config.gan.width, batch, "gan")


def measure(workdir: str, cameras: list[int] | None, batch: int) -> list[dict]:
    from unitystyle_jax import startup
    from unitystyle_jax.core import parallel, saved_config
    from unitystyle_jax.data import formats
    from unitystyle_jax.gan.domains import Domains, trained_cameras
    from unitystyle_jax.gan.generators import GeneratorLoader

    config = saved_config.get_config(workdir)
    mesh = parallel.make_mesh()
    splits = formats.load(config.data.name, startup.data_root(config, workdir))
    records = splits.query + splits.gallery
    loader = GeneratorLoader(config, mesh)
    chosen = set(cameras if cameras is not None else trained_cameras(workdir))
    colour = lambda sums: [round(float(v), 1) for v in (np.mean(sums, axis=0) + 1.0) * 127.5]  # noqa: E731
    unknown = sorted(chosen - set(splits.cameras))
    if unknown:
        raise formats.DatasetError(f"--cameras {unknown}: not training cameras of {config.data.name}")
    real_means, rows = {}, []
    for camera in splits.cameras:  # each camera's images read once: the middle needs every camera's
        generator = loader.restore(workdir, Domains(camera)) if camera in chosen else None
        means, change, fake_means = [], [], []
        for local, n in camera_images(records, camera, config, mesh, batch):
            real = np.asarray(local)[:n]
            means.append(real.mean(axis=(1, 2)))
            if generator is not None:
                fake = np.asarray(generator(parallel.to_global(local, mesh)))[:n]
                change.append(np.abs(fake - real).mean(axis=(1, 2, 3)))
                fake_means.append(fake.mean(axis=(1, 2)))
        if means:
            real_means[camera] = np.concatenate(means).mean(axis=0)
        if generator is not None:
            rows.append(
                {
                    "camera": camera,
                    "step": generator.step,
                    "images": sum(len(c) for c in change),
                    "mean_abs_change": float(np.concatenate(change).mean() * 127.5),
                    "real_colour": colour([real_means[camera]]),
                    "unity_colour": colour(np.concatenate(fake_means)),
                }
            )
    middle = colour(list(real_means.values()))
    return [{**row, "middle_colour": middle} for row in rows]


def main(argv) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a run's workdir (its gan/cam<c>/ checkpoints)")
    parser.add_argument("--cameras", help="comma-separated camera ids (default: every trained camera)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    cameras = [int(c) for c in args.cameras.split(",")] if args.cameras else None
    from unitystyle_jax.core import errors

    try:
        rows = measure(args.workdir, cameras, args.batch)
    except (errors.UserError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    print("| camera | step | images | mean \\|G(x) − x\\| | colour real → UnityStyle (middle) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['camera']} | {r['step']} | {r['images']} | {r['mean_abs_change']:.2f} | "
            f"{tuple(r['real_colour'])} → {tuple(r['unity_colour'])} ({tuple(r['middle_colour'])}) |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
