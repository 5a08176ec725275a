"""What the GAN benchmarks measure of a command they start: its peak resident memory, the steps' seconds, and
the commit it ran at. Imported by the benchmarks beside it (paper_scale_gan, unitygan_ablation).

    python benchmarks/measured_runs.py WORKDIR IMAGES_PER_STEP   # a finished run's seconds per GAN step
"""

import argparse
import json
import os
import subprocess

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_run(command: list[str], log: str) -> float:
    """Runs COMMAND to its end (output to LOG); its peak resident memory in GiB (ru_maxrss, Linux: KiB)."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[:2])} failed (exit {process.returncode}); see {log}")
    return usage.ru_maxrss / 2**20


def seconds_per_step(workdir: str, images_per_step: int) -> float | None:
    """The median over every camera's logging windows but its first (which includes compilation)."""
    windows = []
    gan = os.path.join(workdir, "gan")
    for camera in sorted(d for d in os.listdir(gan) if d.startswith("cam")):
        with open(os.path.join(gan, camera, "metrics.jsonl")) as f:
            rates = [json.loads(line).get("images_per_sec") for line in f if line.strip()]
        windows += [images_per_step / r for r in rates[1:] if r]
    return float(np.median(windows)) if windows else None


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("images_per_step", type=int)
    args = parser.parse_args()
    print(seconds_per_step(args.workdir, args.images_per_step))
