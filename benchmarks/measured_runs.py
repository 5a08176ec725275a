"""What the benchmarks that start commands share: a command's peak resident memory, the steps' seconds, the
commit it ran at, and the comparison run as a benchmark's instrument. Imported by the benchmarks beside it
(paper_scale_gan, unitygan_ablation, learning_curve, gan_budget).

    python benchmarks/measured_runs.py WORKDIR IMAGES_PER_STEP   # a finished run's seconds per GAN step
"""

import argparse
import json
import os
import subprocess
import sys

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


def comparison(config: str, workdir: str, shared: str, rows: str, seeds: int, *flags: str) -> dict:
    """The comparison of ROWS over SEEDS IDE seeds, its runs and report in WORKDIR (resumed where an earlier
    invocation stopped), its dataset and compilation cache in SHARED so a benchmark's points share them; its
    compare.json. FLAGS: further --config overrides."""
    os.makedirs(workdir, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "unitystyle_jax.commands.compare",
        f"--config={config}",
        f"--workdir={workdir}",
        f"--results={workdir}",
        f"--config.compare.rows={rows}",
        f"--config.compare.seeds={seeds}",
        f"--config.data.root={os.path.join(shared, 'dataset')}",
        f"--config.compilation_cache_dir={os.path.join(shared, '.jax_cache')}",
        *flags,
    ]
    peak_run(command, os.path.join(workdir, "log.txt"))
    with open(os.path.join(workdir, "compare.json")) as f:
        return json.load(f)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("images_per_step", type=int)
    args = parser.parse_args()
    print(seconds_per_step(args.workdir, args.images_per_step))
