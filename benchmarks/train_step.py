"""Train-step speed of this project against plain PyTorch on CPU: the IDE ResNet-50 step and the UnityGAN step.

    python benchmarks/train_step.py [--models ide,gan] [--batch 8] [--gan-batch 2] [--steps 5] [--rounds 2]
                                    [--conv auto] [--cpus 0,1] [--compilation-cache DIR]

IDE: ResNet-50 + two-FC head at 256x128, SGD (Nesterov, weight decay, two learning rates), cross-entropy,
through `reid_step.train_step`; PyTorch: `torch_models.IDE`, the same optimizer and loss. UnityGAN: one
full step of `gan_step.train_step` (G and F, D_X and D_Y, every loss term, both Adam updates) at the
paper's model size; PyTorch: its twin (both built in step_setups.py), with the same batched calls, losses and updates, and the same
parameter counts (checked). PyTorch runs eager in channels_last memory format.

Fairness: each (model, framework) pair runs in its own subprocess, pinned to the same CPUs, with torch's
thread count set to their number; both see the same batch and image size and are timed after warm-up over
several steps. The measurements run in --rounds interleaved rounds (jax, torch, jax, torch, ...) so that a
change in the machine's load hits both frameworks; the median over all rounds' steps gives images/s, the
fastest step is shown beside it. Compilation is timed apart (lower + compile of the jitted step): "compile s"
is the first round's, "cached s" the later rounds', which load the step from the persistent compilation cache
(a fresh folder per run unless --compilation-cache names one). Peak RSS is the largest of the worker
subprocesses' maximum resident memory, imports included. The load average is printed with the table: on a
shared machine other processes slow both frameworks.
"""

import argparse
import collections
import glob
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from step_setups import (
    IMAGE_SIZE,
    jax_gan_setup,
    jax_ide_setup,
    timed_steps,
    torch_gan_setup,
    torch_ide_setup,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BenchmarkError(ValueError):
    """A benchmark setting that cannot run; the one-line message names it."""


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)  # Linux reports KiB


# ----------------------------------------------------------------------------------------------------------
# JAX side: the project's own train steps, built from configs/default.py.


def jax_config(args):
    from configs import default

    config = default.get_config()
    config.model.conv = config.gan.conv = args.conv
    config.model.dtype = config.gan.dtype = args.dtype
    config.gan.height, config.gan.width = IMAGE_SIZE
    config.gan.batch_size = args.gan_batch
    return config


def jax_ide(args):
    step, state, batch = jax_ide_setup(jax_config(args), args.batch)
    return run_jax_step(step, state, batch, args, images_per_step=args.batch)


def jax_gan(args):
    step, state, batch, counts = jax_gan_setup(jax_config(args).gan, args.gan_batch)
    return run_jax_step(step, state, batch, args, images_per_step=2 * args.gan_batch, parameters=counts)


def run_jax_step(step, state, batch, args, images_per_step: int, **extra) -> dict:
    """Compiles the step (timed), then times it with the state donated from one step to the next."""
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.abspath(args.compilation_cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0,)).lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    memory = compiled.memory_analysis()
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

    times = timed_steps(one_step, args.warmup, args.steps)
    result = {
        "times": times,
        "images_per_step": images_per_step,
        "compile_s": compile_s,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "xla_temp_gib": memory.temp_size_in_bytes / 2**30,
        **extra,
    }
    if args.profile:
        result["profile"] = op_profile(one_step, args.profile)
    if args.memory:
        result["memory"] = peak_buffers(args.memory_dump, args.memory)
    return result


def peak_buffers(dump: str, top: int) -> dict:
    """What holds the step's memory at its peak, from XLA's live-range dump (--xla_dump_to) of the largest
    program compiled: the peak, the `top` largest live buffers grouped by op kind (fusion, copy, convolution...,
    as (kind, GiB, buffers)), and XLA's own breakdown of the peak by the JAX source op that made each buffer."""
    best = None
    for path in glob.glob(os.path.join(dump, "*live-range.txt")):
        text = open(path).read()
        match = re.search(r"Live ranges at \d+ \(peak\):\n((?:    .*\n)+)", text)
        if not match:
            continue
        buffers = [
            (m[1], int(m[2])) for m in re.finditer(r"^    (\S+)\{[^}]*\}: (\d+) bytes", match[1], re.M)
        ]
        peak = sum(size for _, size in buffers)
        if best is None or peak > best[0]:
            best = (peak, buffers, text)
    if best is None:
        return {}
    peak, buffers, text = best
    by_kind, counts = collections.Counter(), collections.Counter()
    for name, size in buffers:
        kind = re.sub(r"[.\d]+$", "", name)
        by_kind[kind] += size / 2**30
        counts[kind] += 1
    breakdown = text.split("Stack trace breakdown for peak usage", 1)[-1].splitlines()[1 : 1 + 3 * top]
    return {
        "peak_gib": peak / 2**30,
        "by_kind": [(kind, round(gib, 3), counts[kind]) for kind, gib in by_kind.most_common(top)],
        "breakdown": [line.rstrip() for line in breakdown if line.strip()],
    }


def op_profile(one_step, top: int) -> list[tuple[str, float, int]]:
    """Where one step's time goes: a jax.profiler trace of one step, its XLA ops' durations summed per kind
    (the op name without its numeric suffix: fusion, convolution, dot, copy, ...), the `top` largest kinds as
    (kind, ms, number of ops). On CPU ops of one step can overlap on two threads, so the sum can exceed the
    step's wall time."""
    import jax

    folder = tempfile.mkdtemp(prefix="train_step_trace_")
    try:
        with jax.profiler.trace(folder):
            one_step()
        (path,) = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)
        data = jax.profiler.ProfileData.from_file(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    seconds, counts = collections.Counter(), collections.Counter()
    for plane in data.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for event in line.events:
                kind = re.sub(r"[.\d]+$", "", event.name)
                if re.fullmatch(r"[a-z][a-z_-]*", kind):  # XLA HLO ops (lower-case names), not Python frames
                    seconds[kind] += event.duration_ns / 1e6
                    counts[kind] += 1
    return [(kind, round(ms, 1), counts[kind]) for kind, ms in seconds.most_common(top)]


# ----------------------------------------------------------------------------------------------------------
# PyTorch side.


def torch_ide(args):
    return run_torch_step(torch_ide_setup(jax_config(args), args.batch), args, images_per_step=args.batch)


def run_torch_step(one_step, args, images_per_step: int, **extra) -> dict:
    result = {
        "times": timed_steps(one_step, args.warmup, args.steps),
        "images_per_step": images_per_step,
        **extra,
    }
    if args.profile:
        result["profile"] = torch_op_profile(one_step, args.profile)
    return result


def torch_op_profile(one_step, top: int) -> list[tuple[str, float, int]]:
    """One step under torch.profiler: the `top` aten ops by self CPU time, as (op, ms, calls)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        one_step()
    averages = sorted(profiler.key_averages(), key=lambda a: a.self_cpu_time_total, reverse=True)
    return [(a.key, round(a.self_cpu_time_total / 1e3, 1), a.count) for a in averages[:top]]


def torch_gan(args):
    one_step, counts = torch_gan_setup(jax_config(args).gan, args.gan_batch)
    return run_torch_step(one_step, args, images_per_step=2 * args.gan_batch, parameters=counts)


WORKERS = {
    ("ide", "jax"): jax_ide,
    ("ide", "torch"): torch_ide,
    ("gan", "jax"): jax_gan,
    ("gan", "torch"): torch_gan,
}


def worker(args) -> None:
    """One measurement in this process; prints one JSON line."""
    model, framework = args.worker.split(":")
    os.sched_setaffinity(0, args.cpus)
    if framework == "jax-bf16":  # the project with --conv, computing in bfloat16 (float32 parameters)
        framework, args.dtype = "jax", "bfloat16"
    elif framework.startswith("jax-"):  # jax-xla, jax-fast, jax-auto: the project with that convolution
        framework, args.conv = "jax", framework[len("jax-") :]
    if framework == "torch":
        import torch

        torch.set_num_threads(len(args.cpus))
    elif args.memory:  # before JAX starts: XLA reads its flags once
        args.memory_dump = tempfile.mkdtemp(prefix="train_step_xla_dump_")
        os.environ["XLA_FLAGS"] = (
            f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={args.memory_dump}".strip()
        )
    result = WORKERS[model, framework](args)
    if args.memory and framework != "torch":
        shutil.rmtree(args.memory_dump, ignore_errors=True)
    result["peak_rss_gib"] = peak_rss_gib()
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------------------------------
# Driver.


def measure(model: str, framework: str, args, cache: str) -> dict:
    """One worker subprocess with this run's settings; the JAX ones share the persistent cache `cache`."""
    settings = {
        "batch": args.batch,
        "gan-batch": args.gan_batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "conv": args.conv,
        "dtype": args.dtype,
        "profile": args.profile,
        "memory": args.memory,
        "cpus": ",".join(map(str, args.cpus)),
        "compilation-cache": cache,
        "worker": f"{model}:{framework}",
    }
    command = [sys.executable, os.path.abspath(__file__), *(f"--{k}={v}" for k, v in settings.items())]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise BenchmarkError(f"{model}/{framework} worker failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def pooled(rounds: list[dict]) -> dict:
    """The rounds of one (model, framework) as one result: all step times, the first (cold) compile and the
    fastest later one (loaded from the persistent cache), the largest peak memory."""
    result = {**rounds[0], "times": [t for r in rounds for t in r["times"]]}
    result["peak_rss_gib"] = max(r["peak_rss_gib"] for r in rounds)
    if "compile_s" in result and len(rounds) > 1:
        result["cached_compile_s"] = min(r["compile_s"] for r in rounds[1:])
    return result


def images_per_second(result: dict) -> float:
    return result["images_per_step"] / statistics.median(result["times"])


def report(results: dict, args) -> None:
    print(
        f"CPUs {args.cpus}, IDE batch {args.batch}, UnityGAN batch {args.gan_batch} (x and y each), "
        f"{'x'.join(map(str, IMAGE_SIZE))} images, conv={args.conv}; {args.rounds} round(s) of {args.steps} "
        f"timed steps after {args.warmup} warm-up"
    )
    flags = next((r["xla_flags"] for r in results.values() if "xla_flags" in r), "")
    print(f"XLA_FLAGS: {flags or '(none)'}")
    header = (
        f"{'model':<9} {'framework':<9} {'images/s':>8} {'median s':>9} {'min s':>7} {'ratio':>6} "
        f"{'compile s':>10} {'cached s':>9} {'peak RSS GiB':>13} {'XLA temp GiB':>13}"
    )
    print(header)
    print("-" * len(header))
    optional = lambda r, key: f"{r[key]:.1f}" if key in r else "-"
    for model in args.models:
        torch_speed = images_per_second(results[model, "torch"]) if (model, "torch") in results else None
        for framework in args.frameworks:
            r = results[model, framework]
            speed = images_per_second(r)
            ratio = f"{speed / torch_speed:.2f}" if torch_speed else "-"
            name = "UnityGAN" if model == "gan" else "IDE-R50"
            print(
                f"{name:<9} {framework:<9} {speed:>8.2f} {statistics.median(r['times']):>9.3f} "
                f"{min(r['times']):>7.3f} {ratio:>6} {optional(r, 'compile_s'):>10} "
                f"{optional(r, 'cached_compile_s'):>9} {r['peak_rss_gib']:>13.2f} "
                f"{optional(r, 'xla_temp_gib'):>13}"
            )
    for (model, framework), r in results.items():
        if "profile" in r:
            what = "aten ops, self time" if framework == "torch" else "XLA ops by kind"
            print(
                f"{model}/{framework}, one step's {what}: "
                + ", ".join(f"{kind} {ms:.0f} ms ({count})" for kind, ms, count in r["profile"])
            )
    for (model, framework), r in results.items():
        if r.get("memory"):
            m = r["memory"]
            print(
                f"{model}/{framework}, buffers live at the step's peak ({m['peak_gib']:.2f} GiB) by kind: "
                + ", ".join(f"{kind} {gib:.2f} GiB ({n})" for kind, gib, n in m["by_kind"])
            )
            print("  by the JAX op that made them (XLA's breakdown):\n" + "\n".join(m["breakdown"]))
    jax_gan = next(
        (r for (model, framework), r in results.items() if model == "gan" and framework != "torch"), None
    )
    if jax_gan and ("gan", "torch") in results:
        jax_counts, torch_counts = jax_gan["parameters"], results["gan", "torch"]["parameters"]
        if jax_counts != torch_counts:
            raise BenchmarkError(
                f"UnityGAN twins differ in parameter counts: jax {jax_counts}, torch {torch_counts}"
            )
        print(f"UnityGAN parameters (both frameworks): {jax_counts}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ide,gan", help="comma-separated: ide, gan")
    parser.add_argument(
        "--frameworks",
        default="jax,torch",
        help="comma-separated: jax (with --conv), jax-auto, jax-fast, jax-xla (with that conv), jax-bf16 "
        "(--conv, bfloat16 compute), torch",
    )
    parser.add_argument("--batch", type=int, default=8, help="IDE images per step")
    parser.add_argument("--gan-batch", type=int, default=2, help="UnityGAN x (and y) images per step")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first, every round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all measurements, interleaved")
    parser.add_argument("--conv", default="auto", help="the project's convolution: auto, fast or xla")
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)  # set by the jax-bf16 framework
    parser.add_argument("--cpus", default=None, help="comma-separated CPU ids to pin to (default: all)")
    parser.add_argument(
        "--compilation-cache",
        default="",
        help="JAX persistent cache folder ('' = a fresh one for this run, deleted after)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="also trace one JAX step and print its N most expensive XLA op kinds",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        help="also dump XLA's buffer live ranges and print the N largest buffer kinds at the step's peak",
    )
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.frameworks = [f for f in args.frameworks.split(",") if f]
    available = sorted(os.sched_getaffinity(0))
    args.cpus = [int(c) for c in args.cpus.split(",")] if args.cpus else available
    for name, values, allowed in (
        ("--models", args.models, ("ide", "gan")),
        (
            "--frameworks",
            args.frameworks,
            ("jax", "torch", "jax-bf16", *(f"jax-{kind}" for kind in ("auto", "fast", "xla"))),
        ),
    ):
        if not values or any(v not in allowed for v in values):
            raise BenchmarkError(f"{name}={','.join(values)}: choose from {', '.join(allowed)}")
    if not set(args.cpus) <= set(available):
        raise BenchmarkError(f"--cpus={args.cpus} names CPUs this process may not use ({available})")
    for names, least in (
        (("batch", "gan_batch", "steps", "rounds"), 1),
        (("profile", "memory", "warmup"), 0),
    ):
        for name in names:
            if getattr(args, name) < least:
                raise BenchmarkError(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= {least}")
    return args


def main(argv) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    cache = args.compilation_cache or tempfile.mkdtemp(prefix="train_step_cache_")
    rounds = {}
    try:
        for index in range(args.rounds):
            for model in args.models:
                for framework in args.frameworks:
                    rounds.setdefault((model, framework), []).append(measure(model, framework, args, cache))
                    print(f"  round {index + 1}: measured {model}/{framework}", flush=True)
    finally:
        if not args.compilation_cache:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    report({key: pooled(value) for key, value in rounds.items()}, args)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
