"""Every top-level key of a recipe yaml is read by something.

A key of ``recipes/<corpus>/hparams/*.yaml`` (not the inference templates of
``hparams/inference/``) counts as *read* when at least one of these holds:

1. the yaml refers to it: ``!ref`` / ``!copy`` ``<key>`` or ``<key[...]>`` in the value of
   another key that is read (a key read only by unread keys is unread too);
2. the Python code that runs the recipe names it: a string constant ``"key"`` or an attribute
   ``.key`` in the recipe's scripts (``recipes/<corpus>/*.py``) or in ``ser_modules`` (the
   package they call). Docstrings (doctest examples) and comments do not count; neither do
   ``ser_modules/testing/`` (fixtures) and ``ser_modules/training/identity.py`` (it reads every
   key generically; the names it spells are the keys it leaves out of an identity);
3. SpeechBrain's ``Brain`` reads it: a run option (``RunOptions``), taken from the hparams
   when not given on the command line;
4. the yaml's inference template (``inference_template``) has a plain key of that name, which
   ``ser_modules/tools/publish.py`` fills from the experiment's value;
5. it starts with ``__`` (built for its side effect when the file is loaded: the seed);
6. it is listed in :data:`EXCEPTIONS` with the reason.
"""

import ast
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from speechbrain.core import RunOptions

from ser_modules.tools.publish import PLAIN_VALUE

ROOT = Path(__file__).resolve().parents[1]
RECIPE_YAMLS = sorted(ROOT.glob("recipes/*/hparams/*.yaml"))
#: Package files whose names of keys are not reads (see the module docstring).
NOT_READERS = ("ser_modules/testing/", "ser_modules/training/identity.py")

#: Keys read by something the rules above cannot see, with the reason.
#: ``{key: reason}``; none today: the rules above see every reader of the recipes.
EXCEPTIONS = {}

REFERENCE = re.compile(r"<([^<>\[\]]+)[\]\[>]")


def yaml_references(node):
    """Names referred to by the ``!ref`` / ``!copy`` values under a ruamel node."""
    names = set()
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag in ("!ref", "!copy"):
        names.update(REFERENCE.findall(str(node.value if hasattr(node, "value") else node)))
    if isinstance(node, dict):
        for value in node.values():
            names |= yaml_references(value)
    elif isinstance(node, list):
        for value in node:
            names |= yaml_references(value)
    return names


def docstring_nodes(tree):
    """The constant nodes of a module's, classes' and functions' docstrings."""
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                nodes.add(id(body[0].value))
    return nodes


def code_names(paths):
    """String constants (docstrings left out) and attribute names of Python files."""
    names = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings:
                    names.add(node.value)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def package_files():
    """The ``ser_modules`` files that count as readers."""
    return [
        path
        for path in sorted((ROOT / "ser_modules").rglob("*.py"))
        if not str(path.relative_to(ROOT)).startswith(NOT_READERS)
    ]


PACKAGE_NAMES = code_names(package_files())
RUN_OPTIONS = set(RunOptions().as_dict())


def load(path):
    """The yaml's round-trip document (tags kept)."""
    return YAML(typ="rt").load(path.read_text(encoding="utf-8")) or {}


def template_keys(path, document):
    """The plain keys of the yaml's inference template (filled by publish)."""
    name = document.get("inference_template")
    if not name:
        return set()
    text = (path.parent / str(name)).read_text(encoding="utf-8")
    return {match["key"] for match in PLAIN_VALUE.finditer(text)}


def unread_keys(path, package_names=PACKAGE_NAMES):
    """The top-level keys of a recipe yaml that nothing reads (rules of the module docstring).

    Arguments
    ---------
    path : Path
        A recipe yaml ``recipes/<corpus>/hparams/<name>.yaml``.
    package_names : set of str
        The names spelled by the package's code.
    """
    document = load(path)
    recipe_names = code_names(sorted(path.parent.parent.glob("*.py")))
    read = (
        recipe_names | package_names | RUN_OPTIONS | template_keys(path, document) | set(EXCEPTIONS)
    )
    unread, changed = [], True
    while changed:  # until no key is left that only unread keys refer to
        changed = False
        for key in document:
            readers = {k: v for k, v in document.items() if k != key and k not in unread}
            if key in unread or str(key).startswith("__") or key in read:
                continue
            if key not in yaml_references(readers):
                unread.append(key)
                changed = True
    return [str(key) for key in document if key in unread]


@pytest.mark.parametrize(
    "path", RECIPE_YAMLS, ids=lambda path: f"{path.parent.parent.name}/{path.name}"
)
def test_every_key_is_read(path):
    """The rules of the module docstring find a reader for every top-level key."""
    unread = unread_keys(path)
    assert not unread, (
        f"{path.relative_to(ROOT)}: keys read by nothing (no <key> reference, no script or "
        f"ser_modules code naming it, not a SpeechBrain run option nor a plain key of the "
        f"inference template): {unread}. Remove them, or list them in EXCEPTIONS with the reason"
    )


def test_an_unread_key_is_found(tmp_path):
    """A key planted in a recipe yaml is reported, and so is a key only it refers to."""
    source = ROOT / "recipes" / "IEMOCAP" / "hparams" / "wavlm_corr_att.yaml"
    recipe = tmp_path / "recipes" / "IEMOCAP"
    (recipe / "hparams").mkdir(parents=True)
    for script in source.parent.parent.glob("*.py"):
        (recipe / script.name).write_text(script.read_text(encoding="utf-8"), encoding="utf-8")
    (recipe / "hparams" / "inference").symlink_to(source.parent / "inference")
    planted = recipe / "hparams" / source.name
    text = source.read_text(encoding="utf-8")
    planted.write_text(text + "\nplanted_unread_key: 3\n", encoding="utf-8")
    assert unread_keys(planted) == ["planted_unread_key"]
    planted.write_text(
        text + "\nplanted_unread_key: 3\nplanted_reader: !ref <planted_unread_key>\n",
        encoding="utf-8",
    )
    assert unread_keys(planted) == ["planted_unread_key", "planted_reader"]


def test_references_are_found():
    document = YAML(typ="rt").load(
        "a: 1\nb: !ref <a>/x\nc: !ref <d[e]>\nf:\n    g: !copy <h>\nd: {e: 1}\nh: 2\n"
    )
    assert yaml_references(document) == {"a", "d", "h"}
