"""Dataset command line.

  unitystyle-dataset stats --name NAME --root DIR [--json] [--no-verify]
  unitystyle-dataset synthetic --root DIR [--tiny] [--family global|local|sensor] [--grid PNG]

`stats` is the check to run before training: it parses every file name / list line and, unless --no-verify,
decodes every image, then prints images, identities and cameras per split. Bad input ends with one
`error: ...` line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from unitystyle_jax.commands import cli
from unitystyle_jax.data import formats, synthetic


def split_stats(splits: formats.Splits) -> dict[str, dict[str, int]]:
    """Images, distinct identities and distinct cameras per split."""
    return {
        split: {
            "images": len(records),
            "ids": len({r.pid for r in records}),
            "cameras": len({r.camid for r in records}),
        }
        for split, records in ((s, getattr(splits, s)) for s in formats.SPLITS)
    }


def format_table(name: str, stats: dict[str, dict[str, int]]) -> str:
    """The start-up summary torchreid prints."""
    rule = "  " + "-" * 42
    lines = [
        f"=> {name} loaded",
        "Dataset statistics:",
        rule,
        f"  {'subset':<8} | {'# ids':>7} | {'# images':>9} | {'# cameras':>9}",
        rule,
    ]
    lines += [
        f"  {split:<8} | {s['ids']:>7} | {s['images']:>9} | {s['cameras']:>9}" for split, s in stats.items()
    ]
    return "\n".join(lines + [rule])


def camera_table(name: str, splits: formats.Splits) -> str:
    """Images per camera and split, each camera by the dataset's own name."""
    cameras = sorted({r.camid for s in formats.SPLITS for r in getattr(splits, s)})
    lines = [f"  {'camera':<8} | " + " | ".join(f"{s:>8}" for s in formats.SPLITS)]
    for camera in cameras:
        counts = [sum(r.camid == camera for r in getattr(splits, s)) for s in formats.SPLITS]
        lines.append(f"  {formats.camera_label(name, camera):<8} | " + " | ".join(f"{n:>8}" for n in counts))
    return "\n".join(lines)


def untrained_cameras_warning(name: str, splits: formats.Splits) -> str | None:
    """The warning for test cameras with no training images (no UnityGAN can transfer them), naming them all."""
    tested = {r.camid for r in splits.query + splits.gallery}
    missing = sorted(tested - set(splits.cameras))
    if not missing:
        return None
    return (
        f"warning: {formats.camera_names(name, missing)}: query/gallery images but no "
        "training images, so no UnityGAN can transfer them (train the real-image baseline, or remove them)"
    )


def _stats(args: argparse.Namespace) -> None:
    splits = formats.load(args.name, args.root)
    if args.verify:
        formats.verify_images(splits.train + splits.query + splits.gallery)
    stats = split_stats(splits)
    if args.json:
        print(json.dumps(stats))
    else:
        print(format_table(args.name, stats) + "\n" + camera_table(args.name, splits))
    warning = untrained_cameras_warning(args.name, splits)
    if warning:
        print(warning, file=sys.stderr)


def _synthetic(args: argparse.Namespace) -> None:
    spec = synthetic.SyntheticSpec.tiny() if args.tiny else synthetic.SyntheticSpec()
    spec = dataclasses.replace(spec, **synthetic.STYLE_FAMILIES[args.family])
    synthetic.ensure(args.root, spec)
    print(format_table("synthetic", split_stats(formats.load("synthetic", args.root))))
    if args.grid:
        synthetic.render_grid(args.root, args.grid)
        print(f"grid written to {args.grid}")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other bad input: one `error:` line, exit status 1."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unitystyle-dataset", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser(
        "stats", help="check a dataset folder and count images, ids, cameras per split"
    )
    stats.add_argument("--name", required=True, choices=formats.DATASETS)
    stats.add_argument("--root", required=True, help="the dataset folder")
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    stats.add_argument("--no-verify", dest="verify", action="store_false", help="skip decoding every image")
    stats.set_defaults(run=_stats)
    synth = commands.add_parser("synthetic", help="generate the synthetic dataset (reused if already there)")
    synth.add_argument("--root", required=True, help="folder to generate into")
    synth.add_argument("--tiny", action="store_true", help="the tiny test-sized spec")
    synth.add_argument(
        "--family", default="global", choices=synthetic.STYLE_FAMILIES, help="camera style family"
    )
    synth.add_argument("--grid", metavar="PNG", help="also write an identities x cameras contact sheet")
    synth.set_defaults(run=_synthetic)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Runs the chosen command; a bad input is one `error:` line and exit code 1, as for every command."""
    args = _parser().parse_args(argv)
    cli.run_main(args.run, args)


if __name__ == "__main__":
    main()
