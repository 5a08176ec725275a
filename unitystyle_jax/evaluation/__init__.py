"""Re-ID evaluation: arrays in, numbers and pictures out. Knows nothing of models or checkpoints.

features -> `compute_distance` -> (optionally `rerank`) -> `evaluate_rank` -> `write_metrics_json`,
`plot_cmc`, `plot_ranked_lists`, `write_per_query`; `paired` compares models query by query. Every bad input
raises `EvaluationError` (a ValueError) with a one-line message.
"""

from unitystyle_jax.evaluation.distance import DISTANCE_METRICS, EvaluationError, compute_distance
from unitystyle_jax.evaluation.metrics import AP_MODES, evaluate_rank
from unitystyle_jax.evaluation.report import (
    PER_QUERY_FILE,
    plot_cmc,
    plot_ranked_lists,
    read_per_query,
    write_metrics_json,
    write_per_query,
)
from unitystyle_jax.evaluation.rerank import rerank

__all__ = [
    "AP_MODES",
    "DISTANCE_METRICS",
    "PER_QUERY_FILE",
    "EvaluationError",
    "compute_distance",
    "evaluate_rank",
    "plot_cmc",
    "plot_ranked_lists",
    "read_per_query",
    "rerank",
    "write_metrics_json",
    "write_per_query",
]
