"""What the package declares is what it needs: setup.py's metadata (Python version, ranges,
extras, entry points) against the imports of the code and the exact pins of requirements*.txt;
make setup's commands (PyPI's torch or the CPU-only wheels); one command-line flag style per
tool family."""

import ast
import functools
import importlib
import importlib.metadata
import re
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_CODE = ("ser_modules", "recipes", "scripts", "benchmarks")  # what users run
TEST_CODE = ("tests",)


@pytest.fixture(scope="module")
def metadata():
    """The keyword arguments setup.py passes to ``setuptools.setup`` (run with a stand-in)."""
    captured = {}
    stand_in = types.ModuleType("setuptools")
    stand_in.setup = captured.update
    stand_in.find_packages = lambda **kwargs: []
    saved = sys.modules.get("setuptools")
    sys.modules["setuptools"] = stand_in
    try:
        runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    finally:
        if saved is None:
            del sys.modules["setuptools"]
        else:
            sys.modules["setuptools"] = saved
    return captured


def requirements(lines):
    """``{canonical name: Requirement}`` of requirement strings (comments and blanks skipped)."""
    parsed = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def pins(file_name):
    """``{canonical name: version}`` of a requirements file, every line an exact ``==`` pin."""
    pinned = {}
    for name, requirement in requirements((ROOT / file_name).read_text().splitlines()).items():
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==" and not requirement.marker, (
            f"{file_name}: {requirement} is not an exact pin (name==version)"
        )
        pinned[name] = specifiers[0].version
    return pinned


def code_files(folders):
    """The Python files under ``folders`` (the frozen export fixtures aside)."""
    return sorted(
        path
        for folder in folders
        for path in (ROOT / folder).rglob("*.py")
        if "fixtures" not in path.parts
    )


def imported_modules(folders):
    """``{top-level module: first file importing it}`` of every import statement (also those
    inside functions) of the Python files under ``folders``."""
    found = {}
    for path in code_files(folders):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def third_party(modules):
    """The imported modules that are neither the standard library nor the repository's own (its
    modules, and the ``tests`` package whose conftest holds the shared test helpers)."""
    own = {"ser_modules", *TEST_CODE} | {path.stem for path in code_files(RUNTIME_CODE + TEST_CODE)}
    return {
        module: where
        for module, where in modules.items()
        if module not in sys.stdlib_module_names | own
    }


@functools.lru_cache(maxsize=1)
def installed_modules():
    return importlib.metadata.packages_distributions()


def distributions_of(module):
    """The canonical names of the distributions that provide ``module`` (its own name when it
    is not installed, e.g. an optional backend)."""
    return {canonicalize_name(dist) for dist in installed_modules().get(module, [module])}


def test_python_requires_admits_only_versions_the_pinned_releases_support(metadata):
    ours = SpecifierSet(metadata["python_requires"])
    assert ours.contains(f"{sys.version_info.major}.{sys.version_info.minor}")
    wrong = []
    for file_name in ("requirements.txt", "requirements-test.txt"):
        for name, version in pins(file_name).items():
            installed = importlib.metadata.metadata(name)
            assert installed["Version"] == version, (
                f"{name} {installed['Version']} installed, {version} pinned: run make setup"
            )
            theirs = SpecifierSet(installed.get("Requires-Python") or "")
            wrong += [
                f"{name}=={version} needs Python {theirs}, python_requires admits 3.{minor}"
                for minor in range(6, 16)
                if ours.contains(f"3.{minor}") and not theirs.contains(f"3.{minor}")
            ]
    assert wrong == []


def test_install_requires_are_ranges_with_a_lower_bound(metadata):
    for requirement in requirements(metadata["install_requires"]).values():
        operators = {specifier.operator for specifier in requirement.specifier}
        assert not operators & {
            "==",
            "===",
        }, f"setup.py pins {requirement} exactly: pins go to requirements.txt"
        assert operators & {">=", ">", "~="}, f"setup.py: {requirement} has no lower bound"


def test_every_imported_distribution_is_declared(metadata):
    runtime = requirements(metadata["install_requires"])
    extras = {name for extra in metadata["extras_require"].values() for name in requirements(extra)}
    missing = [
        f"{where} imports {module} ({', '.join(sorted(distributions_of(module)))})"
        for module, where in sorted(third_party(imported_modules(RUNTIME_CODE)).items())
        if not distributions_of(module) & (set(runtime) | extras)
    ]
    assert missing == [], "not declared in setup.py (install_requires or an extra): " + "; ".join(
        missing
    )
    test_tools = requirements(metadata["extras_require"]["test"])
    missing = [
        f"{where} imports {module}"
        for module, where in sorted(third_party(imported_modules(TEST_CODE)).items())
        if not distributions_of(module) & (set(runtime) | set(test_tools))
    ]
    assert missing == [], (
        "the tests import what neither install_requires nor the [test] extra declares: "
        + "; ".join(missing)
    )


def test_every_declared_runtime_distribution_is_imported_and_test_tools_are_not_runtime(metadata):
    imported = {
        dist
        for module in third_party(imported_modules(RUNTIME_CODE))
        for dist in distributions_of(module)
    }
    runtime = set(requirements(metadata["install_requires"]))
    assert sorted(runtime - imported) == [], "declared in install_requires but imported by no code"
    assert runtime & set(requirements(metadata["extras_require"]["test"])) == set()
    assert {"pytest", "packaging", "tensorboard"} <= set(
        requirements(metadata["extras_require"]["test"])
    )


@pytest.mark.parametrize(
    ("file_name", "declared"), [("requirements.txt", None), ("requirements-test.txt", "test")]
)
def test_requirements_files_pin_each_declared_distribution_within_its_range(
    metadata, file_name, declared
):
    ranges = requirements(
        metadata["install_requires"] if declared is None else metadata["extras_require"][declared]
    )
    pinned = pins(file_name)
    assert sorted(pinned) == sorted(ranges), (
        f"{file_name} and setup.py name different distributions"
    )
    outside = [
        f"{name}=={version} not in {ranges[name].specifier}"
        for name, version in pinned.items()
        if not ranges[name].specifier.contains(version)
    ]
    assert outside == []


def test_entry_points_resolve_and_are_documented(metadata):
    scripts = dict(line.split("=", 1) for line in metadata["entry_points"]["console_scripts"])
    assert {"ser-predict", "ser-publish"} <= set(scripts)
    readme = (ROOT / "README.md").read_text()
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target
        assert f"{name} " in readme, f"README.md does not show the {name} command"


def setup_commands(tmp_path, *make_args):
    """The commands ``make setup`` would run for a new environment (DRY_RUN=1 prints them)."""
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "setup",
            f"VENV={tmp_path / 'venv'}",
            "DRY_RUN=1",
            *make_args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a dry run takes a second
    )
    return (
        result.returncode,
        [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")],
        result.stderr,
    )


def test_make_setup_installs_pypi_torch_or_the_cpu_wheels(tmp_path):
    pinned = pins("requirements.txt")
    pip = f"{tmp_path / 'venv'}/bin/pip install --quiet"
    everything = f"{pip} -r requirements.txt -r requirements-test.txt"
    returncode, commands, _ = setup_commands(tmp_path)
    assert returncode == 0 and everything in commands and f"{pip} --no-deps -e ." in commands
    assert not [command for command in commands if "--index-url" in command]  # PyPI's torch (CI)
    returncode, cpu_commands, _ = setup_commands(tmp_path, "TORCH=cpu")
    cpu_torch = (
        f"{pip} --index-url https://download.pytorch.org/whl/cpu "
        f"torch=={pinned['torch']} torchaudio=={pinned['torchaudio']}"
    )
    assert returncode == 0 and cpu_commands.index(cpu_torch) < cpu_commands.index(everything)
    assert not (tmp_path / "venv").exists()  # a dry run
    # an environment made with TORCH=cpu keeps the choice when make test / make demo set it up
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / ".ser-recipes-torch").write_text("cpu\n")
    assert cpu_torch in setup_commands(tmp_path)[1]
    returncode, _, stderr = setup_commands(tmp_path, "TORCH=cuda")
    assert returncode != 0 and "unknown TORCH=cuda: use TORCH=default" in stderr


def option_strings(path):
    """The ``--long`` option names of the ``add_argument`` calls of a file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            for argument in node.args:
                if isinstance(argument, ast.Constant) and str(argument.value).startswith("--"):
                    yield f"{path.relative_to(ROOT)}: {argument.value}"


SNAKE = re.compile(r"--[a-z0-9]+(_[a-z0-9]+)*")
KEBAB = re.compile(r"--[a-z0-9]+(-[a-z0-9]+)*")
FLAG_STYLES = {  # README, "Command-line conventions"
    "recipes (SpeechBrain's --snake_case)": (sorted((ROOT / "recipes").rglob("*.py")), SNAKE),
    "installed commands and developer tools (--kebab-case)": (
        code_files(("ser_modules/tools", "ser_modules/testing", "scripts", "benchmarks")),
        KEBAB,
    ),
}


@pytest.mark.parametrize("family", FLAG_STYLES)
def test_one_flag_style_per_tool_family(family):
    files, style = FLAG_STYLES[family]
    options = [option for path in files for option in option_strings(path)]
    assert options, "no option found: the scan is broken"
    assert [option for option in options if not style.fullmatch(option.split(": ")[1])] == []


def test_readme_cpu_only_command_installs_the_pinned_torch():
    pinned = pins("requirements.txt")
    command = (
        f"pip install torch=={pinned['torch']} torchaudio=={pinned['torchaudio']} "
        "--index-url https://download.pytorch.org/whl/cpu"
    )
    readme = (ROOT / "README.md").read_text()
    assert command in readme and "make setup TORCH=cpu" in readme
