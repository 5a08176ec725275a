"""A full Market-scale evaluation (distances + CMC/mAP/mINP) against torchreid's per-query numpy loop.

    python benchmarks/evaluation.py [--full] [--reference-queries 300] [--scale market|msmt17] [--rerank]

The data: seeded random 2,048-d L2-normalised features, identity centres plus noise, so that true matches
spread over the ranking as with a real model; Market-1501's sizes (3,368 queries, 15,913 gallery images, 750
identities + distractors with id 0, 6 cameras), or MSMT17's (11,659 x 82,161, 3,060 identities, 15 cameras).
The reference is torchreid's `eval_market1501` Python path (plus fast-reid's mINP) with a stable sort, after a
numpy distance matrix; it runs ~2 minutes on Market, so by default it runs on the first --reference-queries
queries and its time is extrapolated linearly (it is linear in the number of queries); --full runs it all.
Both metric implementations are fed the same distance rows, and must agree to 1e-6.
"""

import argparse
import os
import sys
import threading
import time


import numpy as np
import psutil

from unitystyle_jax.evaluation import compute_distance, evaluate_rank, rerank

SCALES = {  # queries, gallery images, identities, cameras
    "market": (3368, 15913, 750, 6),
    "msmt17": (11659, 82161, 3060, 15),
}
FEATURE_DIM = 2048
IDENTITY_SIGNAL = 0.28  # identity centre vs unit noise: rank-1 ~90%, mAP ~50% at Market's sizes
GIB = 1 << 30


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 5 ms by a background thread."""

    def __enter__(self):
        self._process = psutil.Process()
        self.baseline = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_gib(self) -> float:
        return (self.peak - self.baseline) / GIB


def make_data(num_query, num_gallery, num_ids, num_cameras, seed=0):
    """Features, identities, cameras; every query identity appears in the gallery, ~15% of it distractors."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids + 1, FEATURE_DIM), dtype=np.float32)
    q_pids = rng.integers(1, num_ids + 1, num_query)
    g_pids = np.where(rng.random(num_gallery) < 0.15, 0, rng.integers(1, num_ids + 1, num_gallery))

    def features(pids):
        out = np.empty((len(pids), FEATURE_DIM), np.float32)
        for start in range(0, len(pids), 4096):  # bounded temporaries
            block = IDENTITY_SIGNAL * centres[pids[start : start + 4096]] + rng.standard_normal(
                (len(pids[start : start + 4096]), FEATURE_DIM), dtype=np.float32
            )
            out[start : start + 4096] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    return (
        features(q_pids),
        features(g_pids),
        q_pids,
        g_pids,
        rng.integers(0, num_cameras, num_query),
        rng.integers(0, num_cameras, num_gallery),
    )


def numpy_squared_distances(query, gallery):
    """torchreid's euclidean_squared_distance, in numpy."""
    return np.square(query).sum(1)[:, None] + np.square(gallery).sum(1)[None, :] - 2 * query @ gallery.T


def torchreid_eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """torchreid's Python `eval_market1501`, with a stable sort, fast-reid's mINP, and the curve padded (not
    truncated) when a query keeps fewer than max_rank gallery entries."""
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_ap, all_inp = [], [], []
    for q_idx in range(distmat.shape[0]):
        order = indices[q_idx]
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        raw_cmc = matches[q_idx][np.invert(remove)]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        all_inp.append(cmc[np.flatnonzero(raw_cmc)[-1]] / (np.flatnonzero(raw_cmc)[-1] + 1.0))
        cmc[cmc > 1] = 1
        all_cmc.append(np.pad(cmc[:max_rank], (0, max(0, max_rank - len(cmc))), mode="edge"))
        tmp_cmc = raw_cmc.cumsum()
        tmp_cmc = np.asarray([x / (i + 1.0) for i, x in enumerate(tmp_cmc)]) * raw_cmc
        all_ap.append(tmp_cmc.sum() / raw_cmc.sum())
    return np.asarray(all_cmc, np.float64).mean(0), float(np.mean(all_ap)), float(np.mean(all_inp))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="market")
    parser.add_argument("--full", action="store_true", help="the reference on every query (~2 min on Market)")
    parser.add_argument("--reference-queries", type=int, default=300, help="queries the reference runs on")
    parser.add_argument("--repeats", type=int, default=3, help="project runs (the first compiles too)")
    parser.add_argument("--rerank", action="store_true", help="also time k-reciprocal re-ranking")
    args = parser.parse_args()

    num_query, num_gallery, num_ids, num_cameras = SCALES[args.scale]
    query, gallery, q_pids, g_pids, q_camids, g_camids = make_data(*SCALES[args.scale])
    print(
        f"data: {num_query} queries x {num_gallery} gallery, {FEATURE_DIM}-d float32 features, {num_ids} "
        f"identities + distractors (id 0), {num_cameras} cameras, seed 0; {os.cpu_count()} CPU cores"
    )

    project_seconds = float("inf")
    for run in range(args.repeats):
        with PeakRSS() as memory:
            start, cpu_start = time.perf_counter(), time.process_time()
            distmat = compute_distance(query, gallery)
            distance_seconds = time.perf_counter() - start
            result = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        project_seconds = min(project_seconds, seconds)
        print(
            f"project run {run + 1}{' (incl. JIT compiles)' if run == 0 else ''}: distances "
            f"{distance_seconds:.2f} s + metrics {seconds - distance_seconds:.2f} s = {seconds:.2f} s "
            f"(CPU time {cpu_seconds:.2f} s); peak RSS growth {memory.growth_gib:.2f} GiB "
            f"(the distance matrix itself: {distmat.nbytes / GIB:.2f} GiB)"
        )
    print(
        f"metrics: rank-1 {100 * result['cmc'][0]:.2f}%, mAP {100 * result['mAP']:.2f}%, "
        f"mINP {100 * result['mINP']:.2f}%, valid queries {result['num_valid_queries']}"
    )

    subset = num_query if args.full else min(args.reference_queries, num_query)
    start = time.perf_counter()
    reference_distances = numpy_squared_distances(query[:subset], gallery)
    reference_distance_seconds = time.perf_counter() - start
    reference = torchreid_eval_market1501(
        distmat[:subset], q_pids[:subset], g_pids, q_camids[:subset], g_camids
    )
    reference_seconds = (time.perf_counter() - start) * num_query / subset
    scope = (
        "all queries"
        if subset == num_query
        else (
            f"EXTRAPOLATED x{num_query / subset:.1f} from its time on the first {subset} of {num_query} queries"
        )
    )
    print(f"reference (numpy distances + torchreid per-query loop): {reference_seconds:.1f} s, {scope}")
    print(f"speed-up: {reference_seconds / project_seconds:.0f}x (against the project's best run)")

    ours = evaluate_rank(distmat[:subset], q_pids[:subset], g_pids, q_camids[:subset], g_camids)
    gaps = (
        np.abs(ours["cmc"] - reference[0]).max(),
        abs(ours["mAP"] - reference[1]),
        abs(ours["mINP"] - reference[2]),
    )
    distance_gap = np.abs(distmat[:subset] - reference_distances).max() / np.abs(reference_distances).max()
    print(
        f"agreement on the same {subset} distance rows: max |cmc gap| {gaps[0]:.1e}, "
        f"|mAP gap| {gaps[1]:.1e}, |mINP gap| {gaps[2]:.1e}"
    )
    print(
        f"JAX vs numpy distances: max gap {distance_gap:.1e} of the largest distance "
        f"(numpy took {reference_distance_seconds:.2f} s for those {subset} rows)"
    )
    if max(gaps) > 1e-6:
        sys.exit("error: the project's metrics disagree with the reference")

    if args.rerank:
        with PeakRSS() as memory:
            start = time.perf_counter()
            q_q, g_g = compute_distance(query, query), compute_distance(gallery, gallery)
            distance_seconds = time.perf_counter() - start
            reranked = rerank(distmat, q_q, g_g)
            rerank_seconds = time.perf_counter() - start - distance_seconds
        result = evaluate_rank(reranked, q_pids, g_pids, q_camids, g_camids)
        print(
            f"re-ranking (k1=20, k2=6, lambda=0.3): q-q and g-g distances {distance_seconds:.1f} s + "
            f"rerank {rerank_seconds:.1f} s; peak RSS growth {memory.growth_gib:.2f} GiB, of which g-g distances "
            f"{g_g.nbytes / GIB:.2f} GiB"
        )
        print(f"after re-ranking: rank-1 {100 * result['cmc'][0]:.2f}%, mAP {100 * result['mAP']:.2f}%")


if __name__ == "__main__":
    main()
