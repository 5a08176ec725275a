"""Converts torchvision / IBN-Net ResNet weights (.pth) into an IDE backbone folder (docs/deployment.md):

unitystyle-convert-torch --input resnet50.pth --output weights/resnet50 [--depth 50] [--ibn]
"""

import argparse
import os

from unitystyle_jax.commands.cli import run_main
from unitystyle_jax.models.resnet import STAGE_SIZES
from unitystyle_jax.reid import pretrained


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="unitystyle-convert-torch",
        description="Convert torchvision / IBN-Net ResNet weights (.pth) into an IDE backbone folder.",
    )
    parser.add_argument(
        "--input", required=True, help="a .pth state_dict (bare, or under 'state_dict' / 'model')"
    )
    parser.add_argument("--output", required=True, help="folder to create; must not exist or be empty")
    parser.add_argument("--depth", type=int, default=50, choices=sorted(STAGE_SIZES))
    parser.add_argument(
        "--ibn", action="store_true", help="IBN-Net resnet*_ibn_a weights (bn1.IN / bn1.BN keys)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    meta = run_main(pretrained.convert, args.input, args.output, depth=args.depth, ibn=args.ibn)
    model = pretrained.describe(meta["depth"], meta["width"], meta["ibn"])
    print(f"wrote {os.path.abspath(args.output)}: {model} from {args.input}")


if __name__ == "__main__":
    main()
