"""evaluate.py's work: restore the IDE model, take query and gallery features (from their UnityStyle versions when
the run uses UnityStyle: test-time transfer), rank, score, and write what people look at.

Features are the 2048-d pooled backbone features, L2-normalised (optionally averaged with the mirrored image's);
distances and metrics follow the Market-1501 protocol of `unitystyle_jax.evaluation`.
"""

import dataclasses
import functools
import re
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np

from unitystyle_jax import evaluation, methods, startup
from unitystyle_jax.core import files, parallel, saved_config
from unitystyle_jax.data import formats, pipeline, styled_data

from unitystyle_jax.reid import camera_bn
from unitystyle_jax.reid.feature_model import check_ide_checkpoints, restore_features

TABLE_KEYS = (
    ("Rank-1", "rank1"),
    ("Rank-5", "rank5"),
    ("Rank-10", "rank10"),
    ("mAP", "mAP"),
    ("mINP", "mINP"),
)


def features(backbone, variables, images, flip: bool):
    """L2-normalised backbone features of a normalised image batch (averaged with the mirrored batch's if flip):
    what evaluation ranks, extraction returns and export writes out."""
    f = backbone.apply(variables, images, train=False)
    if flip:
        f = f + backbone.apply(variables, images[:, :, ::-1], train=False)
    return f / jnp.maximum(jnp.linalg.norm(f, axis=-1, keepdims=True), 1e-12)


@functools.cache
def feature_fn(backbone, flip: bool, mesh):
    """jit'd (backbone variables, image batch) -> `features`, replicated on every process; one per backbone
    module (equal for runs of one config), so it is traced once."""
    return jax.jit(
        lambda variables, images: features(backbone, variables, images, flip),
        out_shardings=parallel.replicated(mesh),
    )


def extract_features(fn, variables, records, config, mesh) -> np.ndarray:
    chunks = []
    for local_images, count in pipeline.ordered_batches(
        records, config.data.height, config.data.width, config.eval.batch_size
    ):
        chunks.append(np.asarray(fn(variables, parallel.to_global(local_images, mesh)))[:count])
    return np.concatenate(chunks)


def query_gallery_features(trained, inputs, config, mesh) -> tuple[np.ndarray, np.ndarray]:
    """(query, gallery) features of a restored IDE: with the checkpoint's statistics, or under camera-based BN
    with each camera's own, estimated from that camera's query and gallery images or from its training images
    (`config.eval.camera_bn_statistics`; a test camera with no training images keeps the checkpoint's)."""
    fn = feature_fn(trained.backbone, config.eval.flip, mesh)
    if not config.model.camera_bn:
        return tuple(
            extract_features(fn, trained.variables, split, config, mesh)
            for split in (inputs.query, inputs.gallery)
        )
    tested = [*inputs.query, *inputs.gallery]
    source = config.eval.camera_bn_statistics
    records = tested if source == "test" else list(inputs.train)
    per_camera = camera_bn.camera_variables(
        trained.backbone, trained.variables, camera_bn.record_batches(records, config)
    )
    logging.info(
        "camera-based BN: statistics of cameras %s from their %s images",
        ", ".join(formats.camera_label(config.data.name, c) for c in sorted(per_camera)),
        source,
    )
    unseen = sorted({r.camid for r in tested} - set(per_camera))
    if unseen:
        logging.warning(
            "camera-based BN: test %s: no training images, so their images use the checkpoint's shared "
            "statistics",
            formats.camera_names(config.data.name, unseen),
        )
    return tuple(
        camera_bn.per_camera_rows(
            [r.camid for r in split],
            lambda camera, rows, split=split: extract_features(
                fn, per_camera.get(camera, trained.variables), [split[i] for i in rows], config, mesh
            ),
        )
        for split in (inputs.query, inputs.gallery)
    )


def metrics_table(rows: dict[str, dict]) -> str:
    """Markdown table, one row per method, percentages."""
    header = "| method | " + " | ".join(name for name, _ in TABLE_KEYS) + " |"
    lines = [header, "|" + "---|" * (len(TABLE_KEYS) + 1)]
    for method, m in rows.items():
        lines.append(f"| {method} | " + " | ".join(f"{100 * m[key]:.1f}" for _, key in TABLE_KEYS) + " |")
    return "\n".join(lines)


def score(query_features, gallery_features, splits, eval_config):
    """(metrics, distance matrix, ranking) of query against gallery features under the Market-1501 protocol,
    with the identities and cameras of `splits`: what every evaluated model, JAX or PyTorch, is scored by.
    ranking: `evaluate_rank`'s result (the CMC and each query's own figures)."""
    q_pids, g_pids = (np.array([r.pid for r in rs]) for rs in (splits.query, splits.gallery))
    q_cams, g_cams = (np.array([r.camid for r in rs]) for rs in (splits.query, splits.gallery))
    e = eval_config
    distmat = evaluation.compute_distance(query_features, gallery_features, metric=e.metric)
    if e.rerank:
        distmat = evaluation.rerank(
            distmat,
            evaluation.compute_distance(query_features, query_features, metric=e.metric),
            evaluation.compute_distance(gallery_features, gallery_features, metric=e.metric),
        )
    result = evaluation.evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=e.max_rank, ap=e.ap)
    cmc = np.asarray(result["cmc"])
    metrics = {
        "rank1": float(cmc[0]),
        "rank5": float(cmc[min(4, len(cmc) - 1)]),
        "rank10": float(cmc[min(9, len(cmc) - 1)]),
        "mAP": float(result["mAP"]),
        "mINP": float(result["mINP"]),
        "num_valid_queries": int(result["num_valid_queries"]),
        "ap": e.ap,
        "rerank": bool(e.rerank),
        "flip": bool(e.flip),
    }
    return metrics, distmat, result


def run(config, workdir: str) -> dict:
    """evaluate.py: WORKDIR's newest (or config.eval.step's) IDE checkpoint, on the query and gallery its method
    sees (their UnityStyle versions for unitystyle: test-time transfer); returns the metrics written."""
    check_ide_checkpoints(workdir)
    mesh = startup.start(config, workdir)
    splits = startup.load_dataset(config, workdir)
    return evaluate(config, workdir, splits, None, mesh)


def run_styled_query(config, workdir: str, styles_workdir: str) -> dict:
    """The content guard of a style transfer: WORKDIR's IDE ranks the real gallery for the UnityStyle versions
    (from STYLES_WORKDIR) of the real queries. A transfer that keeps each person scores near the real queries'
    Rank-1; one that paints people over does not. Writes WORKDIR/eval_styled_query."""
    mesh = startup.start(config, workdir)
    splits = startup.load_dataset(config, workdir)
    inputs = dataclasses.replace(splits, query=styled_data.load(styles_workdir, splits).query)
    return evaluate(config, workdir, splits, inputs, mesh, os.path.join(workdir, "eval_styled_query"))


def _test_inputs(config, workdir: str, splits, meta: dict):
    """(query and gallery as the run's method sees them, whether transferred): the real ones, or for unitystyle
    their UnityStyle versions (test-time transfer) from config.eval.styles_workdir or WORKDIR. Data the run did
    not train on, with no UnityStyle version there, is evaluated as real images, said in one line."""
    if not methods.of(config.reid).transferred:
        return splits, False
    styles = config.eval.styles_workdir or workdir
    own = meta.get("dataset") == config.data.name and meta.get(
        "data_root", startup.data_root(config, workdir)
    ) == (startup.data_root(config, workdir))
    if own or config.eval.styles_workdir or styled_data.aligned(styles, splits):
        return styled_data.load(styles, splits), True
    logging.warning(
        "evaluating %s at %s, not the data this run trained on (%s): no UnityStyle version of it in %s, so no "
        "test-time transfer; to transfer, train its generators (train.py --config.stages=gan,transfer on it) "
        "and pass --config.eval.styles_workdir",
        config.data.name,
        startup.data_root(config, workdir),
        meta.get("dataset"),
        styles,
    )
    return splits, False


# Evaluation settings that change no number (how many images a batch holds, where and what is written).
EVAL_LAYOUT_SETTINGS = ("batch_size", "output", "export_features", "ranked_queries")


def default_output_dir(config, workdir: str) -> str:
    """Where an evaluation writes: config.eval.output, or WORKDIR/eval/<dataset> followed by every evaluation
    setting that changes a number and differs from the run's saved config, by name (`-ap_trapezoid`,
    `-flip-rerank`, `-step5`, a folder by its last part: `-styles_workdir_other_gans`), so an evaluation with
    other settings or on other data never replaces another's results. A run without a saved config (trained
    before runs saved one) names rerank, flip and step as it always did."""
    if config.eval.output:
        return config.eval.output
    e = config.eval
    saved = saved_config.load(workdir)
    if saved is None:
        name = config.data.name + "-rerank" * bool(e.rerank) + "-flip" * bool(e.flip)
        return os.path.join(workdir, "eval", name + (f"-step{e.step}" if e.step >= 0 else ""))
    reference = saved.get("eval", {})
    parts = [config.data.name]
    for field, value in sorted(e.to_dict().items()):
        if field in EVAL_LAYOUT_SETTINGS or reference.get(field) == value:
            continue
        if isinstance(value, bool):
            parts.append(field if value else f"no_{field}")
        elif field == "step":
            parts.append(f"step{value}")
        else:
            shown = (
                os.path.basename(os.path.normpath(value))
                if isinstance(value, str) and os.sep in value
                else value
            )
            parts.append(f"{field}_{re.sub(r'[^A-Za-z0-9.]+', '_', str(shown)).strip('_')}")
    return os.path.join(workdir, "eval", "-".join(parts))


def evaluate(config, workdir: str, splits, inputs, mesh, output_dir: str | None = None) -> dict:
    """Features of `inputs`' query and gallery (the real ones, or versions aligned row by row with `splits`';
    None: what the run's method sees, the UnityStyle versions for unitystyle), scored with the identities and
    cameras of `splits`; writes OUTPUT_DIR (default: `default_output_dir`)."""
    trained = restore_features(config, workdir, mesh)
    step = trained.step
    out = output_dir or default_output_dir(config, workdir)
    if jax.process_index() == 0:
        files.check_writable(out, "evaluation folder")  # before the features, not after them
    transferred = inputs is not None and inputs is not splits  # the real splits passed in: no transfer
    if inputs is None:
        inputs, transferred = _test_inputs(config, workdir, splits, trained.meta)
    query_features, gallery_features = query_gallery_features(trained, inputs, config, mesh)
    metrics, distmat, ranking = score(query_features, gallery_features, splits, config.eval)
    metrics.update(
        step=int(step),
        dataset=config.data.name,
        trained_on=trained.meta.get("dataset", config.data.name),
        method=config.reid.method,
        test_time_transfer=bool(transferred and methods.of(config.reid).transferred),
    )
    q_pids, g_pids = (np.array([r.pid for r in rs]) for rs in (splits.query, splits.gallery))
    q_cams, g_cams = (np.array([r.camid for r in rs]) for rs in (splits.query, splits.gallery))
    e = config.eval
    if jax.process_index() == 0:
        evaluation.write_metrics_json(os.path.join(out, "metrics.json"), metrics)
        evaluation.write_per_query(out, ranking["per_query"])
        # Past the gallery's size the curve is flat at its last value: the axis stops there.
        cmc = ranking["cmc"][: len(splits.gallery)]
        evaluation.plot_cmc({config.reid.method: cmc}, os.path.join(out, "cmc.png"))
        evaluation.plot_ranked_lists(
            [r.path for r in splits.query],
            [r.path for r in splits.gallery],
            distmat,
            q_pids,
            g_pids,
            q_cams,
            g_cams,
            os.path.join(out, "ranked.png"),
            num_queries=e.ranked_queries,
        )
        if e.export_features:
            np.savez(
                os.path.join(out, "features.npz"),
                query_features=query_features,
                gallery_features=gallery_features,
                query_pids=q_pids,
                gallery_pids=g_pids,
                query_camids=q_cams,
                gallery_camids=g_cams,
                query_names=np.array([r.name for r in splits.query]),
                gallery_names=np.array([r.name for r in splits.gallery]),
            )
        setting = [f"on {config.data.name}", f"step {step}"]
        setting += ["test-time transfer"] * metrics["test_time_transfer"] + ["re-ranked"] * bool(e.rerank)
        setting += ["flip-averaged"] * bool(e.flip)
        print(metrics_table({f"{config.reid.method} ({', '.join(setting)})": metrics}))
        written = ["metrics.json", "per_query.npz", "cmc.png", "ranked.png"] + [
            "features.npz"
        ] * e.export_features
        print(f"written to {out}: {', '.join(written)}")
    return metrics
