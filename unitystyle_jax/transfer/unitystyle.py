"""UnityStyle: every image of every split into the shared style by its camera's generator G."""

import time

from unitystyle_jax.data import formats
from unitystyle_jax.data.styled_data import needed_cameras, output_root
from unitystyle_jax.gan.domains import Domains
from unitystyle_jax.gan.generators import GeneratorLoader
from unitystyle_jax.transfer.style_stats import StyleStats
from unitystyle_jax.transfer.writing import StyledWriter, completed, write_aligned


def run(config, workdir: str, splits: formats.Splits, mesh, loader: GeneratorLoader) -> tuple[dict, bool]:
    """Writes WORKDIR/unitystyle (unless already complete for the same generators); returns its summary and
    whether this call wrote it. `loader`: the command's (GanPrograms.generators)."""
    began = time.perf_counter()
    root = output_root(workdir)
    generators = {c: loader.restore(workdir, Domains(c)) for c in needed_cameras(splits)}
    source = {"gan_steps": {str(c): g.step for c, g in generators.items()}}
    summary = completed(root, source)
    if summary is not None:
        return summary, False
    writer, stats = StyledWriter(root, config, mesh), StyleStats()
    write_aligned(writer, splits, generators, stats)
    return writer.finish(
        {
            "source": source,
            "num_generators": len(generators),
            "camstyle_generators": splits.num_cameras * (splits.num_cameras - 1) // 2,
            "images": {s: len(getattr(splits, s)) for s in formats.SPLITS},
            "style": stats.summary(),
        },
        workdir,
        began,
    ), True
