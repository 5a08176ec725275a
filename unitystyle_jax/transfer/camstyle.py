"""CamStyle's augmentation: each training image into every other camera's style by the camera pair's CycleGAN."""

import os
import time

from unitystyle_jax.data import formats
from unitystyle_jax.data.styled_data import CAMSTYLE_OUTPUT, output_root
from unitystyle_jax.gan.domains import camstyle_pairs
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.transfer.writing import StyledWriter, completed


def run(config, workdir: str, splits: formats.Splits, mesh, loader: GeneratorLoader) -> tuple[dict, bool]:
    """CamStyle's augmentation: every training image of camera a into the style of every other camera b, by
    the pair's G (a < b) or F (a > b). Writes WORKDIR/camstyle/train.csv (pid = training label, camid = b);
    returns its summary and whether this call wrote it. `loader`: the command's (GanPrograms.generators)."""
    began = time.perf_counter()
    root = output_root(workdir, CAMSTYLE_OUTPUT)
    pairs = camstyle_pairs(list(splits.cameras))
    models = {(p, net): loader.restore(workdir, p, net) for p in pairs for net in "GF"}
    source = {"gan_steps": {p.name: models[p, "G"].step for p in pairs}}
    summary = completed(root, source)
    if summary is not None:
        return summary, False
    writer, rows = StyledWriter(root, config, mesh), []
    for pair in pairs:
        for source_camera, target, net in (
            (pair.x_camera, pair.y_camera, "G"),
            (pair.y_camera, pair.x_camera, "F"),
        ):
            records = [r for r in splits.train if r.camid == source_camera]
            names = [
                f"train/cam{target}/{os.path.splitext(os.path.basename(r.name))[0]}.jpg" for r in records
            ]
            writer.translate(records, models[pair, net], names)
            rows += [(n, r.pid, target) for n, r in zip(names, records)]
    writer.write_list("train", sorted(rows))
    summary = {"source": source, "num_generators": len(pairs), "images": {"train": len(rows)}}
    return writer.finish(summary, workdir, began), True
