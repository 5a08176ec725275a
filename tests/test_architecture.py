"""The house's walls: every import (lazy ones included) runs from a folder to a folder below it, and the README's
Layout, a newcomer's map of the house, names every module in that order.

Read from the source with `ast`, so it costs nothing to run and cannot be fooled by import order.
"""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "unitystyle_jax"
# Top to bottom; a folder (or top-level module) imports only those after it, and itself. Folders on one line
# are peers that must not import each other.
LAYERS = (
    ("commands",),
    ("serving", "transfer", "preflight"),
    ("gan", "reid"),
    ("startup", "config_validation", "reference"),
    ("data", "models", "losses", "evaluation", "methods"),
    ("core",),
)
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}
# What the walls keep out beyond the ranks: pure models and losses read no files or checkpoints, and evaluation
# knows nothing of models.
FORBIDDEN = {
    "models": ("core.files", "core.checkpoints", "core.training_loop"),
    "losses": ("core.files", "core.checkpoints", "core.training_loop"),
    "evaluation": ("models",),
}


def room(module: str) -> str:
    """'gan' for unitystyle_jax.gan.training, 'losses' for unitystyle_jax.losses.Loss."""
    return module.split(".")[1]


def imported(source: str) -> set[str]:
    """Every unitystyle_jax module a source names in an import, at any depth of the code."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unitystyle_jax"):
            # `from unitystyle_jax.core import files` names unitystyle_jax.core.files (a module or a symbol)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("unitystyle_jax."))
    return names


def breaches(module: str, source: str) -> list[str]:
    """'importer -> imported' for each import that climbs a layer, crosses to a peer or passes a wall."""
    here = room(module)
    found = []
    for target in sorted(imported(source)):
        there = room(target)
        inner = target.split(".", 1)[1]
        if there != here and RANK[there] <= RANK[here]:
            found.append(f"{module} -> {target}")
        elif any(inner == f or inner.startswith(f + ".") for f in FORBIDDEN.get(here, ())):
            found.append(f"{module} -> {target} (wall)")
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if len(parts) > 1:  # the package's own __init__ only sets CPU flags
            yield ".".join(parts), path


def test_every_module_sits_in_a_known_layer():
    unknown = sorted(m for m, _ in modules() if room(m) not in RANK and room(m) != "__init__")
    assert unknown == []


def test_imports_run_downward_only():
    found = [b for m, path in modules() if room(m) in RANK for b in breaches(m, path.read_text())]
    assert found == []


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("unitystyle_jax.core.files", "from unitystyle_jax.gan import training", 1),  # climbs
        (
            "unitystyle_jax.gan.training",
            "def f():\n    from unitystyle_jax.reid import training",
            1,
        ),  # peer, lazy
        ("unitystyle_jax.models.resnet", "from unitystyle_jax.core import checkpoints", 1),  # wall
        ("unitystyle_jax.evaluation.report", "from unitystyle_jax import models", 1),  # wall
        ("unitystyle_jax.gan.training", "from unitystyle_jax.core import parallel\nimport numpy", 0),
    ],
)
def test_the_check_sees_a_breach(module, source, expected):
    """Negative controls: an upward, sideways (even lazy) or walled import is caught; a downward one is not."""
    assert len(breaches(module, source)) == expected


# What the two train steps may import of the project: models, losses and the step's own pure helpers. No
# checkpoints, config validation, data or meshes: their settings come from the trainer that builds them.
STEP_IMPORTS = {
    "unitystyle_jax.gan.step": (
        "losses",
        "models",
        "gan.cyclegan_step",
        "gan.initialisation",
        "gan.settings",
    ),
    "unitystyle_jax.gan.cyclegan_step": ("losses", "models", "gan.initialisation", "gan.settings"),
    "unitystyle_jax.gan.initialisation": (),
    "unitystyle_jax.gan.settings": (),
    "unitystyle_jax.reid.step": ("losses", "models"),
}


def impure(module: str, source: str) -> list[str]:
    allowed = STEP_IMPORTS[module]
    inner = lambda target: target.split(".", 1)[1]  # noqa: E731
    return [
        t
        for t in sorted(imported(source))
        if not any(inner(t) == a or inner(t).startswith(a + ".") for a in allowed)
    ]


def test_the_train_steps_import_only_models_losses_and_their_own_helpers():
    paths = dict(modules())
    assert {m: impure(m, paths[m].read_text()) for m in STEP_IMPORTS} == {m: [] for m in STEP_IMPORTS}
    # The control: what the steps imported before they were made pure is seen.
    assert impure("unitystyle_jax.gan.step", "from unitystyle_jax import config_validation, losses") == [
        "unitystyle_jax.config_validation"
    ]
    assert impure("unitystyle_jax.reid.step", "from unitystyle_jax.reid.feature_model import BACKBONE") != []


def method_dispatches(source: str) -> list[str]:
    """Each comparison of a `.method` with a method's name: a dispatch that should read methods.METHODS."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr == "method" for s in sides)
            literal = any(
                isinstance(s, ast.Constant)
                and isinstance(s.value, str)
                or isinstance(s, (ast.Tuple, ast.List, ast.Set))
                for s in sides
            )
            if named and literal:
                found.append(ast.unparse(node))
    return found


def test_every_method_dispatch_reads_the_methods_table():
    found = {m: method_dispatches(path.read_text()) for m, path in modules()}
    assert {m: d for m, d in found.items() if d} == {}
    # The control: the dispatches the table replaced are seen.
    assert method_dispatches('if config.reid.method == "unitystyle":\n    pass') != []
    assert method_dispatches('x = r.method in ("baseline", "colour_norm")') != []
    assert method_dispatches("if methods.of(config.reid).transferred:\n    pass") == []


@pytest.mark.command
def test_the_train_steps_import_without_tensorflow():
    """The UnityGAN and IDE steps are pure JAX: they import where TensorFlow, TFDS and clu are not installed (an
    accelerator machine, benchmarks/device_check.py). The control: the trainers, which read tf.data, do not."""

    import runs

    code = (
        "import sys\n"
        "for name in ('tensorflow', 'tensorflow_datasets', 'clu'):\n"
        "    sys.modules[name] = None  # importing it now fails\n"
        "import unitystyle_jax.gan.step, unitystyle_jax.reid.step\n"
        "for trainer in ('unitystyle_jax.gan.training', 'unitystyle_jax.reid.training'):\n"
        "    try:\n"
        "        __import__(trainer)\n"
        "    except ImportError:\n"
        "        print(trainer, 'needs TensorFlow')\n"
    )
    assert runs.python(code).stdout.split("\n")[:2] == [
        "unitystyle_jax.gan.training needs TensorFlow",
        "unitystyle_jax.reid.training needs TensorFlow",
    ]


def layout_blocks(readme: str) -> list[tuple[str, str]]:
    """The README's Layout block as (room, its text) in reading order: 'gan' for `  gan/  step (...), ...`."""
    block = readme.split("## Layout", 1)[1].split("```")[1]
    blocks, room_lines = [], None
    for line in block.splitlines():
        if line.startswith(" " * 24):  # a description continued: a room's, or a top-level entry's
            if room_lines is not None:
                room_lines[1] += " " + line.strip()
        elif line.startswith("  ") and line.strip():  # a room of the package
            name, text = line.strip().split(None, 1)
            room_lines = [name.rstrip("/").removesuffix(".py"), text]
            blocks.append(room_lines)
        else:  # a top-level entry (benchmarks/, tests/, ...): its lines belong to no room
            room_lines = None
    return [(name, text) for name, text in blocks]


def layout_gaps(readme: str) -> list[str]:
    """What the README's Layout leaves untrue: a module its folder's line does not name, a room it does not show,
    a room listed above one it may not import."""
    blocks = layout_blocks(readme)
    gaps = [f"{r} is not in the Layout" for r in sorted(set(RANK) - {name for name, _ in blocks})]
    for (upper, _), (lower, _) in zip(blocks, blocks[1:]):
        if RANK[upper] > RANK[lower]:
            gaps.append(f"{upper} is listed above {lower}, which it may not import")
    named = dict(blocks)
    for module, _ in modules():
        parts = module.split(".")
        if len(parts) == 3 and parts[2] != "__init__" and parts[1] in named:
            if not re.search(rf"\b{parts[2]}\b", named[parts[1]]):
                gaps.append(f"{parts[1]}/{parts[2]}.py is not named in the Layout")
    return gaps


def test_the_readme_layout_names_every_module_in_import_order():
    readme = (PACKAGE.parent / "README.md").read_text()
    assert layout_gaps(readme) == []
    assert len(readme.splitlines()) <= 200  # the README's promise: a page; the rest is in docs/


def test_the_layout_check_sees_a_missing_module_and_a_room_out_of_order():
    readme = (PACKAGE.parent / "README.md").read_text()
    no_rerank = readme.replace("distance, rerank,", "distance,")
    assert layout_gaps(no_rerank) == ["evaluation/rerank.py is not named in the Layout"]
    lines = readme.splitlines(keepends=True)
    core = next(i for i, line in enumerate(lines) if line.startswith("  core/"))
    commands = next(i for i, line in enumerate(lines) if line.startswith("  commands/"))
    swapped = lines[:commands] + [lines[core]] + lines[commands:core] + lines[core + 1 :]
    assert "core is listed above commands, which it may not import" in layout_gaps("".join(swapped))


@pytest.mark.command
def test_inference_imports_no_training_module():
    """Evaluation, feature extraction and export load what inference needs: no trainer, stage or optimiser."""

    import runs

    code = (
        "import sys; import unitystyle_jax.reid.evaluation, unitystyle_jax.serving.extraction, "
        "unitystyle_jax.serving.export; print(sorted(m for m in sys.modules if m == 'optax' or m in "
        "('unitystyle_jax.gan.training', 'unitystyle_jax.reid.training', 'unitystyle_jax.core.training_loop', "
        "'unitystyle_jax.commands.train', 'unitystyle_jax.transfer.unitystyle')))"
    )
    assert runs.python(code).stdout.strip() == "[]"
