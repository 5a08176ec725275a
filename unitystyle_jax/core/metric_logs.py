"""Where a trained model's metrics go, all through clu's writer interface: TensorBoard, WORKDIR/metrics.jsonl
and one progress line on stderr per logging window. One `MultiWriter` per model, so a loop writes each window
once and every destination sees the same numbers (the window's means)."""

import json
import logging
import os
from collections.abc import Mapping

import jax
from clu import metric_writers

from unitystyle_jax.core import files
from unitystyle_jax.core.errors import WorkdirError


class _ScalarsOnly(metric_writers.interface.MetricWriter):
    """A writer of scalars: what is not a scalar (pictures, histograms) is for TensorBoard alone."""

    def write_summaries(self, step, values, metadata=None):
        pass

    def write_images(self, step, images):
        pass

    def write_videos(self, step, videos):
        pass

    def write_audios(self, step, audios, *, sample_rate):
        pass

    def write_texts(self, step, texts):
        pass

    def write_histograms(self, step, arrays, num_buckets=None):
        pass

    def write_hparams(self, hparams):
        pass

    def flush(self):
        pass

    def close(self):
        pass


class MetricsLog(_ScalarsOnly):
    """WORKDIR/metrics.jsonl, one JSON object per logged step; on resume, lines past the resumed step are dropped
    so the file always describes one consistent run."""

    def __init__(self, path: str, start_step: int):
        self.path = path
        kept = []
        if os.path.exists(path):
            with open(path) as f:
                kept = [line for line in f if line.strip() and json.loads(line)["step"] <= start_step]
        files.write_text(path, "".join(kept))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": step, **scalars}) + "\n")
        except OSError as error:
            raise WorkdirError(f"cannot write {self.path} ({error.strerror or error})") from None


class ProgressLine(_ScalarsOnly):
    """'gan[cam0] step 40/150  loss 0.51  ...' on stderr: the window's metrics, named by model. The time left
    is clu's progress report's, one line per loop (`periodic_actions.ReportProgress`)."""

    def __init__(self, name: str, num_steps: int):
        self.name, self.num_steps = name, num_steps

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        values = "  ".join(f"{k} {v:.4g}" for k, v in scalars.items())
        logging.info("%s step %d/%d  %s", self.name, step, self.num_steps, values)


def model_writers(name: str, logdir: str, num_steps: int, start_step: int):
    """(every destination of model `name`'s metrics, its TensorBoard writer or None). Process 0 writes the files;
    every process prints its progress line."""
    os.makedirs(logdir, exist_ok=True)
    writers: list[metric_writers.interface.MetricWriter] = [ProgressLine(name, num_steps)]
    tensorboard = None
    if jax.process_index() == 0:
        tensorboard = metric_writers.SummaryWriter(os.path.join(logdir, "tensorboard"))
        writers += [tensorboard, MetricsLog(os.path.join(logdir, "metrics.jsonl"), start_step)]
    return metric_writers.MultiWriter(writers), tensorboard
