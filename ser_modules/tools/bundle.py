"""``custom_interface.py`` of an export: the inference interface and the ``ser_modules`` objects
that an inference template names, bundled into one self-contained file as inference code.

The modules are read as source (not imported), their imports of each other removed; docstrings
are cut to their first line and autograd functions reduced to their forward pass, so that the
file holds no training or fitting code and loads with plain ``speechbrain`` through
``foreign_class``.

Authors
 * ser-recipes contributors 2026
"""

import ast
import copy
import importlib.util
import re
import textwrap
from pathlib import Path

from ser_modules.tools.errors import PublishError
from ser_modules.tools.model_card import git_commit, package_version

# A ser_modules object that a template builds or calls.
OBJECT_REFERENCE = re.compile(r"!(new|name|apply|applyref):(ser_modules(?:\.\w+)+)\.(\w+)")
INTERFACES = "ser_modules.inference.interfaces"


def template_objects(text):
    """``(module, name)`` of the interface class and of the ``ser_modules`` objects of a template.

    Example
    -------
    >>> template = "interface_class: EmotionClassifier\\n"
    >>> template += "x: !new:ser_modules.nn.pooling.MeanPooling\\n"
    >>> template_objects(template)
    [('ser_modules.inference.interfaces', 'EmotionClassifier'),
     ('ser_modules.nn.pooling', 'MeanPooling')]
    """
    match = re.search(r"^interface_class:\s*(\w+)", text, flags=re.M)
    if not match:
        raise PublishError("the inference template names no interface_class")
    return [(INTERFACES, match[1])] + [
        (found[2], found[3]) for found in OBJECT_REFERENCE.finditer(text)
    ]


def module_tree(name):
    """The syntax tree of a module's source file (the module is not imported)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not str(spec.origin).endswith(".py"):
        raise PublishError(f"cannot find the Python source of {name}")
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"), filename=spec.origin)


def _is_internal(node):
    """An import of this project's package (``from ser_modules.x import y``)."""
    names = (
        [node.module or ""]
        if isinstance(node, ast.ImportFrom)
        else [a.name for a in getattr(node, "names", [])]
    )
    return isinstance(node, (ast.Import, ast.ImportFrom)) and any(
        n.startswith("ser_modules") for n in names
    )


def bundled_modules(objects):
    """``{module: tree}`` of the objects' modules and the ``ser_modules`` modules they import,
    each after the modules it imports from; fails if a module does not define its object."""
    trees = {}

    def visit(name):
        if name in trees:
            return
        tree = module_tree(name)
        for node in tree.body:
            if _is_internal(node):
                if not isinstance(node, ast.ImportFrom) or any(
                    alias.asname for alias in node.names
                ):
                    raise PublishError(
                        f"{name}:{node.lineno}: write 'from ser_modules.x import y' (no alias) to"
                        " be bundled"
                    )
                visit(node.module)
        trees[name] = tree

    for module, _ in objects:
        visit(module)
    for module, name in objects:
        if name not in _bound_names(trees[module].body):
            raise PublishError(f"{module} defines no {name}")
    return trees


def _bound_names(statements):
    """The names that top-level ``statements`` define or import."""
    names = set()
    for node in statements:
        targets = node.targets if isinstance(node, ast.Assign) else [node]
        names |= {getattr(t, "id", None) or getattr(t, "name", None) for t in targets}
        names |= {alias.asname or alias.name.split(".")[0] for alias in getattr(node, "names", [])}
    return names - {None}


AUTOGRAD_FUNCTION = {"Function", "autograd.Function", "torch.autograd.Function"}


def forward_only(node):
    """An autograd ``Function`` class as inference code: its ``forward`` run directly by
    ``apply`` (the same operations, so the same numbers), without the custom backward."""
    forward = next((item for item in node.body if getattr(item, "name", None) == "forward"), None)
    if forward is None:
        raise PublishError(f"the autograd function {node.name} has no forward")
    forward = copy.deepcopy(forward)
    for parent in ast.walk(forward):
        if isinstance(getattr(parent, "body", None), list):
            parent.body = [
                s for s in parent.body if not ast.unparse(s).startswith("ctx.save_for_backward(")
            ]
    if any(
        isinstance(child, ast.Name) and child.id == "ctx"
        for statement in forward.body
        for child in ast.walk(statement)
    ):
        raise PublishError(
            f"{node.name}.forward uses ctx beyond save_for_backward: it cannot run alone"
        )
    apply = ast.parse(
        f"@staticmethod\ndef apply(*args):\n    return {node.name}.forward(None, *args)"
    ).body[0]
    summary = (ast.get_docstring(node) or node.name).split("\n", 1)[0]
    plain = copy.copy(node)
    plain.bases, plain.keywords = [], []
    plain.body = [
        ast.Expr(ast.Constant(f"{summary} (its forward pass only: inference)")),
        apply,
        forward,
    ]
    return plain


def inference_code(node):
    """A top-level statement as bundled: docstrings cut to their first line, autograd functions
    forward only."""
    if (
        isinstance(node, ast.ClassDef)
        and {ast.unparse(base) for base in node.bases} & AUTOGRAD_FUNCTION
    ):
        node = forward_only(node)
    node = copy.deepcopy(node)
    for child in ast.walk(node):
        docstring = (
            ast.get_docstring(child) if isinstance(child, (ast.FunctionDef, ast.ClassDef)) else None
        )
        if docstring is not None:
            child.body[0] = ast.Expr(ast.Constant(docstring.split("\n", 1)[0]))
    return node


def bundle_source(objects):
    """One Python source with the modules of ``objects`` (``(module, name)`` pairs) and the
    ``ser_modules`` modules they import, as inference code (:func:`inference_code`).

    Third-party imports come first; the imports of ``ser_modules``, ``__all__`` and the
    module docstrings are gone. Raises ``PublishError`` if two modules give one name two
    meanings.

    Example
    -------
    >>> source = bundle_source([("ser_modules.nn.pooling", "MeanPooling")])
    >>> "class MeanPooling" in source, "def length_mask" in source, "TCGRU" in source
    (True, True, False)
    """
    imports, parts, meanings = {}, [], {}
    for module, tree in bundled_modules(objects).items():
        code = []
        for node in tree.body:
            names = _bound_names([node])
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            if _is_internal(node) or docstring or names == {"__all__"}:
                continue
            text = ast.unparse(inference_code(node))
            for name in names:
                if meanings.setdefault(name, (text, module))[0] != text:
                    raise PublishError(
                        f"{name} is defined differently in {meanings[name][1]} and {module}"
                    )
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.setdefault(text)
            else:
                code.append(text)
        parts.append(f"# {module}\n" + "\n\n".join(code))
    return "\n".join(imports) + "\n\n\n" + "\n\n\n".join(parts) + "\n"


def custom_interface_source(template_text):
    """``custom_interface.py`` of a template: the interface and the objects it names."""
    objects = template_objects(template_text)
    modules = ", ".join(bundled_modules(objects))
    origin = textwrap.fill(
        "Generated by ``python -m ser_modules.tools.publish export`` from ser-recipes"
        f" {package_version()} (git {git_commit()}), modules {modules} (docstrings cut to their"
        " first line). Inference code only (no training, no fitting); needs only ``speechbrain``"
        " (and the packages it installs).",
        width=100,
    )
    title = "Inference code of a ser-recipes model, self-contained for SpeechBrain's"
    load = (
        'model = foreign_class(source="USER/NAME", pymodule_file="custom_interface.py",'
        f' classname="{objects[0][1]}")'
    )
    return f'''"""{title} ``foreign_class``.

{origin}

Usage::

    from speechbrain.inference.interfaces import foreign_class
    {load}
"""
{bundle_source(objects)}{REGISTRATION}'''


# foreign_class runs custom_interface.py without registering it as a module, then HyperPyYAML
# imports the objects of hyperparams.yaml by name (custom_interface.X): in a process that loaded
# another export first, that name would be the other export's file.
REGISTRATION = '''

def _register_as_custom_interface():
    """Makes ``custom_interface`` name this file, whose objects hyperparams.yaml builds."""
    import sys
    import types
    module = types.ModuleType(__name__)
    module.__dict__.update(globals())
    sys.modules[__name__] = module


_register_as_custom_interface()
'''
