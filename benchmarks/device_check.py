"""One run on an accelerator machine: the step tests there, and the train steps against PyTorch on the same chip.

    python benchmarks/device_check.py --out DIR [--smoke] [--budget 450]

Each part runs in a subprocess of its own, so JAX and PyTorch never hold the device's memory at once, and a part
that fails or runs out of time costs only its own rows:
1. tests: pytest on the in-process step tests (STEP_TESTS), which import no TensorFlow (the machine has none);
2. matmul: the chip's measured matrix rate in bfloat16 and float32 (JAX, one n x n x n product at the default
   precision, as the steps use it): the denominator of MFU;
3. JAX steps: the IDE ResNet-50 step at 256x128 (batch 64 and 128) and the paper-size UnityGAN step, each in
   float32 and bfloat16 compute, then the UnityGAN step stacked over 6 models (`gan.stacked.stacked_programs`) against
   one model's step;
4. PyTorch steps: the same steps' twins (benchmarks/train_step.py) in channels_last, TF32 matrix products as
   JAX's default precision uses on GPUs, bfloat16 through autocast; then, time allowing, through torch.compile.
Each step is timed after warm-up (median of the timed steps). Reported per step: images/s, peak device memory
(JAX: the compiled program's arguments + outputs + temporaries; PyTorch: the allocator's peak), the step's FLOPs
(XLA's cost analysis of the JAX step; the twins compute the same), and MFU = FLOPs / step time / the measured
matrix rate of the step's dtype. Writes DIR/device_check.json and DIR/device_check.md.

--smoke runs every part at the tiny size on whatever device there is (the CPU here), as the tests do.
--budget: seconds for the whole run; each part gets at most its share (SHARES) and is stopped there, keeping the
rows it finished.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from unitystyle_jax.commands import cli
from unitystyle_jax.core import errors, files

# The in-process tests of the steps, models and losses that import no TensorFlow (the training loop's test in
# test_reid_step imports clu, hence TensorFlow: deselected by STEP_TESTS_DESELECT).
STEP_TESTS = (
    "tests/test_gan_step.py",
    "tests/test_reid_step.py",
    "tests/test_mixed_precision.py",
    "tests/test_losses.py",
    "tests/test_unitygan.py",
    "tests/test_resnet.py",
    "tests/test_layers.py",
    "tests/test_mixstyle.py",
    "tests/test_fast_conv.py",
)
STEP_TESTS_DESELECT = "not training_loop"
SMOKE_TESTS = ("tests/test_losses.py",)
# Each part's most of --budget, in the order they run (the last gets whatever is left): a slow compile in one part
# cannot take the others' time.
SHARES = {"tests": 0.3, "jax": 0.4, "torch": 0.15, "torch.compile": None}
DTYPES = ("float32", "bfloat16")


class CheckError(errors.UserError):
    """A setting the check cannot run with; the one-line message names it."""


def sizes(smoke: bool) -> dict:
    """What is measured: the paper's sizes, or the tiny ones. The stacked models train at a smaller batch each:
    six paper-size UnityGANs at batch 16 would not fit one GPU's memory."""
    if smoke:
        return {
            "ide_batches": (4,),
            "gan_batch": 2,
            "stacked": (2, 2),
            "matmul_n": 256,
            "warmup": 1,
            "steps": 2,
        }
    return {
        "ide_batches": (64, 128),
        "gan_batch": 16,
        "stacked": (6, 4),  # models, batch of each
        "matmul_n": 8192,
        "warmup": 3,
        "steps": 10,
    }


def plan(s: dict, compiled: bool = False) -> list[tuple[str, str, int]]:
    """(model, dtype, batch) of the steps, most telling first (a part stopped by the budget keeps those): the
    bfloat16 steps at the largest batch, then float32, then the smaller IDE batch. torch.compile, which takes
    minutes per step at the paper's sizes, gets the first four."""
    big = s["ide_batches"][-1]
    steps = [("ide", "bfloat16", big), ("unitygan", "bfloat16", s["gan_batch"])]
    steps += [("ide", "float32", big), ("unitygan", "float32", s["gan_batch"])]
    if not compiled:
        steps += [("ide", dtype, b) for b in s["ide_batches"][:-1] for dtype in DTYPES]
    return steps


def base_config(smoke: bool, dtype: str):
    from configs import default, synthetic

    config = synthetic.get_config("tiny") if smoke else default.get_config()
    if not smoke:
        config.data.height, config.data.width = 256, 128
    config.model.dtype = config.gan.dtype = dtype
    return config


def images_per_step(model: str, batch_size: int) -> int:
    """A UnityGAN step reads an x and a y image per batch entry; the IDE one image."""
    return batch_size if model == "ide" else 2 * batch_size


def image_size(config) -> tuple[int, int]:
    return (config.data.height, config.data.width)


def emit(path: str, record: dict) -> None:
    """One finished row, appended at once: a worker stopped later keeps it."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def median_seconds(one_step, warmup: int, steps: int) -> float:
    from step_setups import timed_steps

    return statistics.median(timed_steps(one_step, warmup, steps))


# ---------------------------------------------------------------------------------------------------- JAX worker
def jax_device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform}: {d.device_kind}"


def matmul_rates(n: int, rows: str) -> None:
    """FLOP/s of an n x n x n product per dtype, at JAX's default precision (TF32 for float32 on recent GPUs)."""
    import jax

    for dtype in DTYPES:
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        b = jax.random.normal(jax.random.key(1), (n, n), dtype)
        product = jax.jit(lambda a, b: a @ b)
        jax.block_until_ready(product(a, b))
        seconds = median_seconds(lambda: jax.block_until_ready(product(a, b)), 2, 10)
        emit(rows, {"part": "matmul", "dtype": dtype, "n": n, "flops_per_s": 2 * n**3 / seconds})


def compiled_step(step, state, batch):
    """The step jit'd with the state donated, compiled (timed), with XLA's FLOPs and memory for it."""
    import jax

    began = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0,)).lower(state, batch).compile()
    compile_s = time.perf_counter() - began
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    memory = compiled.memory_analysis()
    peak = memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
    peak -= memory.alias_size_in_bytes
    return compiled, {
        "compile_s": compile_s,
        "flops": float(cost.get("flops", 0.0)),
        "peak_gib": peak / 2**30,
    }


def time_jax(compiled, state, batch, warmup: int, steps: int) -> float:
    """Median seconds of a step that takes the state and returns it with its metrics (donated or not)."""
    import jax

    batch = jax.device_put(batch)
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], batch)
        jax.block_until_ready(metrics)

    return median_seconds(one_step, warmup, steps)


def jax_steps(smoke: bool, rows: str) -> None:
    s = sizes(smoke)
    for model, dtype, batch_size in plan(s):
        jax_step(smoke, rows, model, dtype, batch_size)
    stacked_step(smoke, rows)


def jax_step(smoke: bool, rows: str, model: str, dtype: str, batch_size: int) -> None:
    from step_setups import jax_gan_setup, jax_ide_setup

    s, config = sizes(smoke), base_config(smoke, dtype)
    if model == "ide":
        step, state, batch = jax_ide_setup(config, batch_size, image_size(config))
    else:
        step, state, batch, _ = jax_gan_setup(config.gan, batch_size)
    compiled, info = compiled_step(step, state, batch)
    seconds = time_jax(compiled, state, batch, s["warmup"], s["steps"])
    emit(rows, row(model, batch_size, dtype, "jax", images_per_step(model, batch_size), seconds, **info))


def stacked_step(smoke: bool, rows: str) -> None:
    """The float32 UnityGAN step of several models (6: the paper's cameras) as one vmapped program, against one
    model's step at the same batch: what config.gan.train_together decides."""
    import jax
    import numpy as np

    from step_setups import jax_gan_setup
    from unitystyle_jax.core import parallel
    from unitystyle_jax.gan import stacked as gan_stacked

    s = sizes(smoke)
    models, batch_size = s["stacked"]
    if batch_size != s["gan_batch"]:  # else plan() measured it
        jax_step(smoke, rows, "unitygan", "float32", batch_size)
    gan = base_config(smoke, "float32").gan
    _, state, batch, _ = jax_gan_setup(gan, batch_size)
    mesh = gan_stacked.stacked_mesh(1)
    stack, stacked = gan_stacked.stacked_programs(gan, mesh)
    on_mesh = parallel.replicated(mesh)
    batches = {k: np.stack([v] * models) for k, v in batch.items()}
    state = stack(*(jax.device_put(state, on_mesh) for _ in range(models)))
    began = time.perf_counter()
    state, metrics = stacked(state, batches)  # compiles
    jax.block_until_ready(metrics)
    first = time.perf_counter() - began
    seconds = time_jax(stacked, state, batches, s["warmup"], s["steps"])
    images = images_per_step("unitygan", batch_size) * models
    emit(
        rows,
        row(
            "unitygan", batch_size, "float32", "jax, stacked", images, seconds, models=models, compile_s=first
        ),
    )


# ------------------------------------------------------------------------------------------------ PyTorch worker
def torch_steps(smoke: bool, rows: str, compiled: bool) -> None:
    import torch

    from step_setups import torch_gan_setup, torch_ide_setup

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_float32_matmul_precision("high")  # TF32, as XLA's default precision on recent GPUs
    torch.backends.cudnn.benchmark = True
    s = sizes(smoke)
    name = "torch.compile" if compiled else "torch"
    for model, dtype, batch_size in plan(s, compiled):
        config = base_config(smoke, dtype)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        try:
            if model == "ide":
                one_step = torch_ide_setup(config, batch_size, image_size(config), device, compiled)
            else:
                one_step = torch_gan_setup(config.gan, batch_size, device, compiled)[0]

            def synced(one_step=one_step):
                one_step()
                if device == "cuda":
                    torch.cuda.synchronize()

            began = time.perf_counter()
            synced()  # the first step: torch.compile's compilation, cuDNN's autotuning
            first = time.perf_counter() - began
            seconds = median_seconds(synced, s["warmup"], s["steps"])
        except Exception as error:  # a twin that fails on this chip is a finding, not the end of the run
            emit(rows, {**row(model, batch_size, dtype, name, 0, 0.0), "error": repr(error)[:300]})
            continue
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
        images = images_per_step(model, batch_size)
        emit(rows, row(model, batch_size, dtype, name, images, seconds, compile_s=first, peak_gib=peak))


def row(model, batch, dtype, framework, images, seconds, **extra) -> dict:
    return {
        "part": "step",
        "model": model,
        "batch": batch,
        "dtype": dtype,
        "framework": framework,
        "images_per_s": images / seconds if seconds else 0.0,
        "step_ms": 1e3 * seconds,
        **extra,
    }


# ------------------------------------------------------------------------------------------------------- driver
WORKERS = {"jax": jax_steps, "torch": lambda smoke, rows: torch_steps(smoke, rows, compiled=False)}
WORKERS["torch.compile"] = lambda smoke, rows: torch_steps(smoke, rows, compiled=True)


def worker(name: str, smoke: bool, rows: str) -> None:
    if name == "jax":
        emit(rows, {"part": "device", "jax": jax_device()})
        matmul_rates(sizes(smoke)["matmul_n"], rows)
    WORKERS[name](smoke, rows)


def part_deadline(part: str, budget: float, end: float) -> float:
    """When a part starting now must stop: at its share of the budget, or at the run's end."""
    share = SHARES[part]
    return end if share is None else min(end, time.monotonic() + share * budget)


def run_part(command: list[str], deadline: float, log: str) -> dict:
    """A part's subprocess, stopped at the deadline; how it ended."""
    left = deadline - time.monotonic()
    if left < 1:
        return {"ended": "skipped: no time left in --budget"}
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "PYTHONUNBUFFERED": "1"}
    began = time.monotonic()
    with open(log, "a") as out:
        try:
            done = subprocess.run(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=left
            )
            ended = "finished" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            ended = "stopped at the end of its time in --budget"
    return {"ended": ended, "seconds": round(time.monotonic() - began, 1)}


def tests_summary(log_lines: list[str]) -> dict:
    """pytest -v's summary line, or the count so far of a run the budget stopped, and the tests that failed."""
    passed = sum(bool(re.match(r"tests/\S+::\S+ PASSED", line)) for line in log_lines)
    failed = [line.split()[0] for line in log_lines if re.match(r"tests/\S+::\S+ (FAILED|ERROR)", line)]
    finals = [line for line in log_lines if re.match(r"=+ .*\d+ (passed|failed|error).* in [\d.]+s", line)]
    line = finals[-1].strip("= \n") if finals else f"stopped after {passed} passed"
    return {"summary": line, "failed": failed}


def summarise(records: list[dict], parts: dict, tests: dict) -> dict:
    rates = {r["dtype"]: r["flops_per_s"] for r in records if r["part"] == "matmul"}
    steps = [r for r in records if r["part"] == "step"]
    flops = {(r["model"], r["batch"], r["dtype"]): r["flops"] for r in steps if r.get("flops")}
    for r in steps:
        step_flops = flops.get((r["model"], r["batch"], r["dtype"]))
        if "models" in r and step_flops:
            step_flops *= r["models"]
        if step_flops and r["step_ms"] and r["dtype"] in rates:
            r["mfu"] = step_flops / (r["step_ms"] / 1e3) / rates[r["dtype"]]
        jax_row = next(
            (j for j in steps if j["framework"] == "jax" and (j["model"], j["batch"], j["dtype"]) ==
             (r["model"], r["batch"], r["dtype"])),
            None,
        )  # fmt: skip
        if jax_row and r is not jax_row and r["images_per_s"]:
            r["jax_vs_this"] = jax_row["images_per_s"] / r["images_per_s"]
    device = next((r["jax"] for r in records if r["part"] == "device"), "unknown")
    return {"device": device, "matmul_flops_per_s": rates, "tests": tests, "parts": parts, "steps": steps}


def models(r: dict) -> str:
    return f" ({r['models']} models)" if "models" in r else ""


def markdown(summary: dict) -> str:
    lines = [
        f"Device: {summary['device']}. Step tests: {summary['tests']['summary']}"
        + "".join(f"; failed: {name}" for name in summary["tests"]["failed"]),
        "Matrix rate (measured): "
        + ", ".join(f"{d} {v / 1e12:.1f} TFLOP/s" for d, v in summary["matmul_flops_per_s"].items()),
        "",
        "| model | batch | dtype | framework | images/s | step ms | JAX ÷ this | MFU | peak GiB | first/compile s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for r in summary["steps"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['batch']} | {r['dtype']} | {r['framework']} | failed: "
                         f"{r['error']} | | | | | |")  # fmt: skip
            continue
        mfu = "-" if r.get("mfu") is None else f"{100 * r['mfu']:.1f}%"
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['dtype']} | {r['framework']}{models(r)} | {r['images_per_s']:.1f} | "
            f"{r['step_ms']:.1f} | {fmt(r.get('jax_vs_this'), '.2f')} | {mfu} | "
            f"{fmt(r.get('peak_gib'), '.2f')} | {fmt(r.get('compile_s'), '.1f')} |"
        )
    lines += ["", "Parts: " + "; ".join(f"{k} {v['ended']}" for k, v in summary["parts"].items())]
    return "\n".join(lines) + "\n"


def main(argv) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", required=True, help="folder for device_check.json / .md (created; must be new)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on any device (what the tests run)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = os.path.join(args.out, "rows.jsonl")
    if args.worker:
        worker(args.worker, args.smoke, rows)
        return
    if os.path.exists(args.out):
        raise CheckError(f"--out={args.out} already exists: name a new folder (nothing is overwritten)")
    if args.budget <= 0:
        raise CheckError(f"--budget={args.budget} must be > 0 seconds")
    os.makedirs(args.out)
    end = time.monotonic() + args.budget
    log = os.path.join(args.out, "log.txt")
    smoke = ["--smoke"] if args.smoke else []
    parts = {}
    modules = SMOKE_TESTS if args.smoke else STEP_TESTS
    pytest = [
        sys.executable,
        "-m",
        "pytest",
        "-v",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-m",
        "not command",
    ]
    pytest += ["-k", STEP_TESTS_DESELECT, *modules]
    parts["tests"] = run_part(pytest, part_deadline("tests", args.budget, end), log)
    tests = (
        tests_summary(open(log).readlines()) if os.path.exists(log) else {"summary": "not run", "failed": []}
    )
    for name in ("jax", "torch", "torch.compile"):
        if name == "torch.compile" and args.smoke:
            parts[name] = {"ended": "skipped: --smoke (torch.compile compiles for minutes on CPU)"}
            continue
        command = [sys.executable, os.path.abspath(__file__), "--out", args.out, "--worker", name, *smoke]
        parts[name] = run_part(command, part_deadline(name, args.budget, end), log)
    records = [json.loads(line) for line in open(rows)] if os.path.exists(rows) else []
    summary = summarise(records, parts, tests)
    table = markdown(summary)
    files.write_text(os.path.join(args.out, "device_check.json"), json.dumps(summary, indent=1))
    files.write_text(os.path.join(args.out, "device_check.md"), table)
    print(table)


if __name__ == "__main__":
    cli.run_main(main, sys.argv[1:])
