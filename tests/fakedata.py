"""Tiny dataset folders in the real datasets' layouts and naming, for tests (reusable by any test module).

The layouts are spelled out here on purpose rather than taken from `formats`, so tests check `formats` against
the datasets' actual conventions instead of against itself.
"""

import hashlib
import os

from PIL import Image

# Market-1501: ids 2, 5, 7 in train (relabelled 0, 1, 2); 0 = distractor, -1 = junk; Thumbs.db must be
# ignored.
MARKET = {
    "bounding_box_train": [
        "0002_c1s1_000451_03.jpg",
        "0002_c2s1_000551_01.jpg",
        "0007_c3s1_000101_01.jpg",
        "0007_c1s2_000201_01.jpg",
        "0005_c6s1_000001_01.jpg",
        "Thumbs.db",
    ],
    "query": ["0003_c1s1_000100_01.jpg", "0004_c2s1_000200_01.jpg"],
    "bounding_box_test": [
        "0003_c2s1_000300_01.jpg",
        "0003_c1s1_000150_01.jpg",
        "0004_c3s1_000400_01.jpg",
        "0000_c1s1_000500_01.jpg",
        "-1_c2s1_000600_01.jpg",
    ],
}

# DukeMTMC-reID: same folders, 8 cameras, `0001_c2_f0046182.jpg` naming.
DUKE = {
    "bounding_box_train": ["0001_c2_f0046182.jpg", "0001_c8_f0000001.jpg", "0010_c5_f0000123.jpg"],
    "query": ["0005_c7_f0000100.jpg"],
    "bounding_box_test": ["0005_c1_f0000200.jpg", "0005_c7_f0000300.jpg", "0006_c8_f0000400.jpg"],
}

# MSMT17 V1: images under train/ and test/, `path label` list files; camera = third '_' field, 1..15.
MSMT_LISTS = {
    "list_train.txt": [
        ("train", "0000/0000_000_01_0303morning_0015_0.jpg", 0),
        ("train", "0000/0000_001_15_0303morning_0016_0.jpg", 0),
    ],
    "list_val.txt": [("train", "0003/0003_000_05_0303noon_0100_1.jpg", 3)],
    "list_query.txt": [("test", "0000/0000_000_02_0303morning_0020_0.jpg", 0)],
    "list_gallery.txt": [
        ("test", "0000/0000_003_09_0303afternoon_0030_1.jpg", 0),
        ("test", "0001/0001_000_02_0303morning_0040_0.jpg", 1),
    ],
}

# custom: CSVs at the root, paths relative to it, camid 0-based; -1 = junk.
CUSTOM = {
    "train.csv": [("imgs/a.png", 10, 0), ("imgs/b.jpg", 10, 3), ("imgs/c.jpeg", 4, 1)],
    "query.csv": [("probe/q1.jpg", 20, 0)],
    "gallery.csv": [("gal/g1.jpg", 20, 2), ("gal/g2.jpg", 21, 1), ("gal/junk.jpg", -1, 0)],
}


def write_image(path, size=(8, 16)):
    """A small image whose colour depends on its name, in the format its suffix says."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    colour = tuple(hashlib.sha1(os.path.basename(path).encode()).digest()[:3])
    Image.new("RGB", size, colour).save(path)


def write_folders(root, layout):
    """Write {folder: [file names]}; non-image names get a few junk bytes, as stray files in real folders."""
    for folder, names in layout.items():
        for name in names:
            path = os.path.join(root, folder, name)
            if name.lower().endswith((".jpg", ".jpeg", ".png")):
                write_image(path)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(b"\x00stray")
    return str(root)


def write_market(root, layout=MARKET):
    return write_folders(root, layout)


def write_duke(root):
    return write_folders(root, DUKE)


def write_msmt(root, lists=MSMT_LISTS):
    for list_name, entries in lists.items():
        for folder, relative, _ in entries:
            write_image(os.path.join(root, folder, relative))
        write_text(root, list_name, [f"{relative} {label}" for _, relative, label in entries])
    return str(root)


def write_custom(root, tables=CUSTOM):
    for csv_name, rows in tables.items():
        for relative, _, _ in rows:
            write_image(os.path.join(root, relative))
        write_text(
            root, csv_name, ["path,pid,camid"] + [f"{path},{pid},{camid}" for path, pid, camid in rows]
        )
    return str(root)


def write_text(root, name, lines):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, name), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_market_cameras(root, cameras, spec=None):
    """A Market-1501 folder of synthetic people (real images, Market names) whose cameras are exactly
    `cameras` (1-based, as in file names; gaps allowed, e.g. (1, 2, 3, 5)). The synthetic generator's cameras
    c1..cK are renamed in order; its meta.json is removed, so the folder is a plain Market-layout one."""
    import dataclasses

    from unitystyle_jax.data import synthetic

    spec = dataclasses.replace(spec or synthetic.SyntheticSpec.tiny(), num_cameras=len(cameras))
    synthetic.generate(str(root), spec)
    os.remove(os.path.join(root, "meta.json"))
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        for name in os.listdir(os.path.join(root, folder)):
            pid, rest = name.split("_c", 1)
            renamed = f"{pid}_c{cameras[int(rest[0]) - 1]}{rest[1:]}"
            os.rename(os.path.join(root, folder, name), os.path.join(root, folder, renamed))
    return str(root)


def gan_images(shape, seed=0):
    """Two random images of SHAPE in the GAN's range [-1, 1]: inputs to compare two networks on."""
    import jax.numpy as jnp
    import numpy as np

    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, size=(2, *shape)), jnp.float32)
