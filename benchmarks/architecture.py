"""The house in figures: modules per folder, imports that climb a layer, and where the config goes.

    python benchmarks/architecture.py [--trace]

--trace runs the tiny config's three stages in-process (a fresh temporary workdir) and follows the config: every
call of a project function that receives the config (or one of its sections) as an argument, in order. It counts
the modules entered, how often the config enters a module other than the caller's, and how often that entry
climbs back to a higher layer (a lower layer calling up, through a callback or a late import). The layers are
tests/test_architecture.py's, the walls `make test` checks.
"""

import argparse
import collections
import importlib.util
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _architecture():
    spec = importlib.util.spec_from_file_location(
        "test_architecture", os.path.join(REPO, "tests", "test_architecture.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def static_figures(layers) -> dict:
    per_folder = collections.Counter()
    climbs = []
    for module, path in layers.modules():
        if not module.endswith("__init__"):
            per_folder[layers.room(module) if path.parent != layers.PACKAGE else "(top level)"] += 1
        if layers.room(module) in layers.RANK:
            climbs += layers.breaches(module, path.read_text())
    return {"modules_per_folder": dict(sorted(per_folder.items())), "upward_imports": climbs}


def trace_config(layers) -> dict:
    """Follows the tiny config through train.run; returns modules entered, entries and climbs."""
    import ml_collections

    from configs import synthetic
    from unitystyle_jax.commands import train

    config = synthetic.get_config("tiny")
    sections = {id(config)} | {id(v) for v in config.values() if isinstance(v, ml_collections.ConfigDict)}
    entries, stack = [], []

    def profile(frame, event, arg):
        name = frame.f_globals.get("__name__", "")
        if event == "call":
            carries = name.startswith("unitystyle_jax.") and any(
                id(frame.f_locals.get(v)) in sections
                for v in frame.f_code.co_varnames[: frame.f_code.co_argcount + frame.f_code.co_kwonlyargcount]
            )
            caller = next((m for m in reversed(stack) if m), None)
            if carries and caller and name != caller:
                entries.append((caller, name))
            stack.append(name if carries else None)
        elif event == "return" and stack:
            stack.pop()

    with tempfile.TemporaryDirectory() as workdir:
        sys.setprofile(profile)
        try:
            train.run(config, workdir)
        finally:
            sys.setprofile(None)

    def rank(module):
        return layers.RANK.get(layers.room(module), len(layers.LAYERS))

    climbs = [(a, b) for a, b in entries if rank(b) < rank(a)]
    return {
        "modules": sorted({b for _, b in entries} | {a for a, _ in entries}),
        "entries": len(entries),
        "climbs": [f"{a} -> {b}" for a, b in climbs],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="store_true", help="follow the tiny config through train.run")
    args = parser.parse_args(argv)
    layers = _architecture()
    figures = static_figures(layers)
    print("modules per folder:", ", ".join(f"{k} {v}" for k, v in figures["modules_per_folder"].items()))
    print(
        f"imports that climb a layer: {len(figures['upward_imports'])}",
        *figures["upward_imports"],
        sep="\n  ",
    )
    if args.trace:
        traced = trace_config(layers)
        print(
            f"the config enters {len(traced['modules'])} modules, {traced['entries']} times, climbing back up "
            f"{len(traced['climbs'])} times"
        )
        for line in traced["climbs"]:
            print("  climb:", line)
        print("  modules:", " ".join(m.removeprefix("unitystyle_jax.") for m in traced["modules"]))


if __name__ == "__main__":
    main()
