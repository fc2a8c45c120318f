"""The house rules of docs/architecture.md, checked on the source: which layer of ``ser_modules``
may import which, recipes never load each other, and no file points outside the repository."""

import ast
import re
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


def project_imports(path):
    """``(line, imported ser_modules module)`` of every import statement of a file (doctests aside)."""
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
