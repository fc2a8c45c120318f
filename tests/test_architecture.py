"""The house rules of docs/architecture.md, checked on the source: which layer of ``ser_modules``
may import which (and which sibling modules of a room import each other), who imports the
``testing`` fixtures, the rules of the export bundler (``tools.bundle``), how a recipe script
imports its own recipe's tools, recipes never load each other, and no file points outside the
repository."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ser_modules"

# What each room may import (itself included). Lower layers never import higher ones.
ALLOWED = {
    "utils": {"utils"},
    "nn": {"utils", "nn"},
    "data": {"utils", "data"},
    "objectives": {"utils", "nn", "data", "objectives"},
    "training": {"utils", "nn", "data", "objectives", "training"},
    "inference": {"utils", "nn", "inference"},
    "tools": {"utils", "nn", "data", "objectives", "training", "inference", "tools"},
    "testing": {"utils", "nn", "data", "objectives", "training", "inference", "tools", "testing"},
}


# The imports between modules of one room: each for the imported module's own responsibility
# (a mechanism that two rooms share lives in the lower one; one that two modules of a room share
# lives in a module of its own). A new one is added here on purpose, after checking just that.
SIBLING_IMPORTS = {
    "data.audio -> data.checks",
    "data.manifests -> data.audio",
    "data.pipelines -> data.audio",
    "data.pipelines -> data.checks",
    "nn.bert_encoder -> nn.masking",
    "nn.bert_encoder -> nn.model_source",
    "nn.ctc_asr -> nn.masking",
    "nn.fusion -> nn.masking",
    "nn.fusion -> nn.pooling",
    "nn.fusion -> nn.precision",
    "nn.multimodal -> nn.tc_gru",
    "nn.pooling -> nn.masking",
    "nn.pooling -> nn.precision",
    "nn.ssl_encoder -> nn.masking",
    "nn.ssl_encoder -> nn.model_source",
    "nn.tc_gru -> nn.masking",
    "objectives.metrics -> objectives.losses",
    "tools.bundle -> tools.errors",
    "tools.bundle -> tools.model_card",
    "tools.declaration -> tools.errors",
    "tools.model_card -> tools.errors",
    "tools.predict -> tools.prediction_inputs",
    "tools.predict -> tools.prediction_outputs",
    "tools.predict -> tools.prediction_plots",
    "tools.prediction_outputs -> tools.prediction_inputs",
    "tools.publish -> tools.bundle",
    "tools.publish -> tools.declaration",
    "tools.publish -> tools.errors",
    "tools.publish -> tools.model_card",
    "tools.publish -> tools.upstreams",
    "training.acoustic_streams -> training.feature_cache",
    "training.brain -> training.checkpoint_averaging",
    "training.brain -> training.plots",
    "training.classification -> training.brain",
    "training.classification -> training.update_budget",
    "training.experiment -> training.identity",
    "training.feature_cache -> training.distributed",
    "training.input_transforms -> training.lexical_streams",
    "training.lexical_streams -> training.text_embeddings",
    "training.lexical_streams -> training.transcription",
    "training.text_embeddings -> training.feature_cache",
    "training.transcription -> training.feature_cache",
    "utils.plotting -> utils.files",
}
# What ``tools`` takes from ``training``: what reading a finished experiment needs (its
# checkpoints, their averaging, the name of the inference template's copy), never a mechanism
# of a run (plots, caches, the Brain).
TOOLS_FROM_TRAINING = {"checkpoint_averaging", "checkpointing", "experiment"}
# Where ``ser_modules.testing`` (fixtures) may be imported; the package's doctest examples too.
TESTING_IMPORTERS = ("scripts", "benchmarks", "tests", "ser_modules/testing")


def project_imports(path):
    """``(line, imported ser_modules module)`` of every import statement of a file (doctests
    aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            names = names[:1] if node.module != "ser_modules" else names[1:]
        else:
            continue
        for name in names:
            if name == "ser_modules" or name.startswith("ser_modules."):
                yield node.lineno, name


def room_of(module_name):
    parts = module_name.split(".")
    return parts[1] if len(parts) > 1 else None


def package_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_module_lives_in_a_room():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the layer sub-packages: {loose}"
    assert {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    } == set(ALLOWED)


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_never_import_higher_ones(path):
    room = path.relative_to(PACKAGE).parts[0]
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for line, name in project_imports(path)
        if room_of(name) not in ALLOWED[room]
    ]
    assert wrong == [], f"{room} may import only {sorted(ALLOWED[room])}: " + "; ".join(wrong)


def test_the_layer_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from ser_modules.training.experiment import load_experiment\n")
    assert [room_of(name) for _, name in project_imports(bad)] == ["training"]
    assert "training" not in ALLOWED["nn"]


def recipe_scripts():
    return sorted((ROOT / "recipes").rglob("*.py"))


def module_name(path):
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def sibling_imports(path):
    """``"room.module -> room.sibling"`` of each import of a sibling module of the same room."""
    room = path.relative_to(PACKAGE).parts[0]
    for line, name in project_imports(path):
        parts = name.split(".")
        if len(parts) > 2 and parts[1] == room and path.stem != "__init__":
            yield line, f"{module_name(path)} -> {room}.{parts[2]}"


def test_sibling_imports_are_the_listed_ones():
    found = {
        arrow: f"{path.relative_to(ROOT)}:{line}"
        for path in package_files()
        for line, arrow in sibling_imports(path)
    }
    unlisted = {arrow: where for arrow, where in found.items() if arrow not in SIBLING_IMPORTS}
    assert unlisted == {}, (
        "imports of a sibling module not in SIBLING_IMPORTS: does the mechanism belong to that "
        "sibling? If it is shared, move it to a module of its own (or a lower room); else list "
        f"the import: {unlisted}"
    )
    assert SIBLING_IMPORTS <= set(found), f"listed but gone: {SIBLING_IMPORTS - set(found)}"


def test_tools_read_only_what_training_wrote():
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((PACKAGE / "tools").glob("*.py"))
        for line, name in project_imports(path)
        if room_of(name) == "training" and name.split(".")[2] not in TOOLS_FROM_TRAINING
    ]
    assert wrong == []


def test_the_sideways_checks_see_a_violation(tmp_path):
    tools = tmp_path / "ser_modules" / "tools"
    tools.mkdir(parents=True)
    bad = tools / "predict.py"
    bad.write_text("def f():\n    from ser_modules.training.plots import plot_timeline\n")
    assert [name.split(".")[2] for _, name in project_imports(bad)] == ["plots"]
    assert "plots" not in TOOLS_FROM_TRAINING
    assert "training.feature_cache -> training.experiment" not in SIBLING_IMPORTS


def python_files():
    """The repository's Python files (virtual environments, results and data aside)."""
    skipped = {".git", ".venv", "results", "data", "demo_output", "build", "fixtures"}
    return sorted(
        path for path in ROOT.rglob("*.py") if not skipped & set(path.relative_to(ROOT).parts)
    )


def test_only_scripts_benchmarks_and_tests_import_the_testing_fixtures():
    """``ser_modules.testing`` is imported by ``scripts/``, ``benchmarks/``, ``tests/`` and itself;
    in the package, by doctest examples only (not code); never by a recipe."""
    importers = {
        str(path.relative_to(ROOT))
        for path in python_files()
        if any(room_of(name) == "testing" for _, name in project_imports(path))
    }
    wrong = sorted(path for path in importers if not path.startswith(TESTING_IMPORTERS))
    assert wrong == [], f"only {TESTING_IMPORTERS} import ser_modules.testing: {wrong}"
    assert any(path.startswith("tests/") for path in importers)


# ----------------------------------------------------------------------------------------------
# The export bundler's rules (tools.bundle: custom_interface.py is the interface and the nn
# blocks an inference template names, with the modules they import, pasted into one file)
# ----------------------------------------------------------------------------------------------
def bundle_trees():
    """``{module: tree}`` of every module an export may bundle: the interfaces, every nn block
    (a template may name any), and the modules they import."""
    from ser_modules.tools import bundle

    trees = {}
    pending = [
        "ser_modules." + module_name(path)
        for room in ("inference", "nn")
        for path in sorted((PACKAGE / room).glob("*.py"))
        if path.stem != "__init__"
    ]
    while pending:
        name = pending.pop()
        if name in trees:
            continue
        trees[name] = bundle.module_tree(name)
        pending += [
            node.module
            for node in trees[name].body
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ser_modules")
        ]
    return trees


def bundle_import_problems(name, tree, trees):
    """Breaks of the bundler's import style in one module (see docs/architecture.md)."""
    from ser_modules.tools import bundle

    problems = []
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or not bundle._is_internal(node):
            continue
        where = f"{name}:{node.lineno}"
        if id(node) not in top_level:
            problems.append(
                f"{where}: a ser_modules import inside a block (the bundler removes top-level"
                " ones only)"
            )
            continue
        if not isinstance(node, ast.ImportFrom) or node.level or len(node.module.split(".")) != 3:
            problems.append(f"{where}: not 'from ser_modules.<room>.<module> import <name>'")
            continue
        for alias in node.names:
            if alias.asname:
                problems.append(f"{where}: 'import {alias.name} as {alias.asname}' (an alias)")
            elif alias.name not in bundle._bound_names(trees[node.module].body):
                problems.append(f"{where}: {alias.name} is no top-level name of {node.module}")
    return problems


def test_the_bundled_modules_use_the_bundlers_import_style():
    trees = bundle_trees()
    problems = [
        problem
        for name, tree in trees.items()
        for problem in bundle_import_problems(name, tree, trees)
    ]
    assert problems == []
    rooms = {name.split(".")[1] for name in trees}
    assert rooms <= {"inference", "nn", "utils"}, rooms


def test_the_bundled_modules_give_each_name_one_meaning():
    """All of them bundled together: no top-level name defined differently in two of them, every
    autograd function runs its forward alone, and the bundle imports nothing of ser_modules and,
    at its top level, nothing beyond the standard library, torch and speechbrain."""
    from ser_modules.tools import bundle

    trees = bundle_trees()
    objects = [(name, sorted(bundle._bound_names(tree.body))[0]) for name, tree in trees.items()]
    source = bundle.bundle_source(objects)  # raises PublishError naming a name with two meanings
    assert not [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom)) and bundle._is_internal(node)
    ]
    assert "__doc__" not in "".join(ast.unparse(tree) for tree in trees.values())
    top_level = {
        name.split(".")[0]
        for node in ast.parse(source).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        )
    }
    assert top_level - sys.stdlib_module_names <= {"torch", "speechbrain"}, top_level


def test_the_bundle_checks_see_a_violation():
    nested = ast.parse("def f():\n    from ser_modules.nn.masking import length_mask\n")
    aliased = ast.parse("from ser_modules.nn.masking import length_mask as mask\n")
    trees = {"ser_modules.nn.masking": bundle_trees()["ser_modules.nn.masking"]}
    assert len(bundle_import_problems("x", nested, trees)) == 1
    assert len(bundle_import_problems("x", aliased, trees)) == 1


# ----------------------------------------------------------------------------------------------
# Recipes
# ----------------------------------------------------------------------------------------------
# How a recipe script imports its own recipe's tools: this statement at the top level, then a
# plain import.
OWN_FOLDER_ON_PATH = "sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))"


# Scripts rewritten on another branch of the same change (remove once merged).
@pytest.mark.parametrize("path", recipe_scripts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_recipe_scripts_import_their_own_tools_one_way(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own_tools = {p.stem for p in path.parent.glob("*.py")} - {path.stem}
    top_level = set(map(id, tree.body))
    inserts = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "sys.path.insert"
    ]
    imports = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and {
            name.split(".")[0]
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        }
        & own_tools
    ]
    assert all(ast.unparse(node) == OWN_FOLDER_ON_PATH for node in inserts), path
    statements = [node for node in tree.body if isinstance(node, ast.Expr)]
    insert_lines = [node.lineno for node in statements if ast.unparse(node) == OWN_FOLDER_ON_PATH]
    assert len(inserts) == len(insert_lines) <= 1, f"{path}: one top-level insert at most"
    for node in imports:
        assert id(node) in top_level, f"{path}:{node.lineno}: import its own tools at the top level"
        assert insert_lines and node.lineno > insert_lines[0], (
            f"{path}:{node.lineno}: after {OWN_FOLDER_ON_PATH}"
        )


@pytest.mark.parametrize("path", recipe_scripts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_recipes_share_code_only_through_the_package(path):
    """A recipe script may import its own recipe's data tools (``*_prepare``, ``make_noisy_sets``),
    never another training or driver script, and never load a file by path."""
    source = path.read_text(encoding="utf-8")
    assert "spec_from_file_location" not in source and "run_path" not in source, path
    siblings = {
        p.stem
        for p in path.parent.glob("*.py")
        if p.stem.startswith("train") or p.stem == "cross_validate"
    } - {path.stem}
    imported = {
        name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert not (imported & siblings), (
        f"{path} imports another script of its recipe: {imported & siblings}"
    )
    other_recipes = {p.stem for p in (ROOT / "recipes").rglob("*.py") if p.parent != path.parent}
    assert not (imported & other_recipes - siblings - {p.stem for p in path.parent.glob("*.py")})


def test_no_file_points_outside_the_repository():
    pattern = re.compile(r"\.\./shared|shared/research|shared/papers")
    offenders = []
    for path in ROOT.rglob("*"):
        if any(
            part in {".git", ".venv", "results", "data", "demo_output"}
            for part in path.relative_to(ROOT).parts
        ):
            continue
        if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".txt", ".sh", ".ini", ".cfg"}:
            if pattern.search(path.read_text(encoding="utf-8", errors="ignore")) and path != Path(
                __file__
            ):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
