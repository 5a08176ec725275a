"""Reading the styled datasets the transfer stage and the comparison write (UnityStyle, CamStyle's generated
images, colour-normalised), each checked to be complete and aligned with the real splits.

Why apart from `transfer`: evaluation and training read these datasets; only the transfer writes them, and
only it needs the generators.
"""

import os

from unitystyle_jax.core.errors import DatasetError
from unitystyle_jax.data import formats

OUTPUT = "unitystyle"
CAMSTYLE_OUTPUT = "camstyle"
COLOUR_NORM_OUTPUT = "colour_norm"
DONE = "transfer.json"
TITLES = {OUTPUT: "UnityStyle", CAMSTYLE_OUTPUT: "CamStyle", COLOUR_NORM_OUTPUT: "colour-normalised"}


def output_root(workdir: str, output: str = OUTPUT) -> str:
    return os.path.join(workdir, output)


def needed_cameras(splits: formats.Splits) -> list[int]:
    """Every camera of every split: each needs its UnityGAN, query and gallery ones too (test-time transfer)."""
    return sorted(set().union(*(splits.cameras_of(s) for s in formats.SPLITS)))


def aligned(workdir: str, splits: formats.Splits, output: str = OUTPUT) -> bool:
    """Whether WORKDIR holds a complete styled version of `splits` (what `load` would return)."""
    try:
        load(workdir, splits, output)
    except (OSError, ValueError):
        return False
    return True


def load(workdir: str, splits: formats.Splits, output: str = OUTPUT) -> formats.Splits:
    """The UnityStyle (or colour-normalised) splits, checked to be aligned row by row with the real ones."""
    root = output_root(workdir, output)
    if not os.path.exists(os.path.join(root, DONE)):
        raise DatasetError(f"no complete {TITLES[output]} dataset in {root}: run the transfer stage first")
    unity = formats.load("custom", root)
    for split in formats.SPLITS:
        real_rows = [(r.pid, r.camid) for r in getattr(splits, split)]
        unity_rows = [(r.pid, r.camid) for r in getattr(unity, split)]
        if real_rows != unity_rows:
            raise DatasetError(
                f"{root}/{split}.csv does not match the {split} split of the dataset: transfer again"
            )
    return unity


def load_camstyle(workdir: str) -> list[formats.Record]:
    """CamStyle's generated training images (pid = the training label of the image they were made from)."""
    root = output_root(workdir, CAMSTYLE_OUTPUT)
    if not os.path.exists(os.path.join(root, DONE)):
        raise DatasetError(f"no complete {TITLES[CAMSTYLE_OUTPUT]} dataset in {root}: run its transfer first")
    return formats.read_split("custom", root, "train")
