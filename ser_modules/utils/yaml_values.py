"""YAML files and command-line overrides read the way HyperPyYAML reads them: one reader for
the whole project.

HyperPyYAML reads YAML 1.2 with ``ruamel.yaml`` (``1e-4`` is a number, ``yes`` a string); every
module that reads an hparams file, an export's ``hyperparams.yaml``, a checkpoint's meta file
or an override given on the command line without building its objects goes through here, so
that they all read the same values:

* :func:`read_yaml_values`: the plain values of a file (tags such as ``!new:`` or ``!ref``
  dropped, their arguments kept);
* :func:`read_resolved_values`: the plain values of an hparams file with its references
  resolved (``!ref``) and overrides applied, nothing instantiated;
* :func:`parse_overrides`: the overrides of ``speechbrain.parse_arguments`` (YAML text) as a
  dict; :func:`parse_yaml_value`: one ``key=value`` value of a command line;
* :class:`YAMLError`: what they raise for a text that is not YAML;
* :func:`load_yaml_nodes`, :func:`load_resolved_nodes` and :func:`yaml_tag`: the round-trip
  nodes, tags kept, for the readers that need the tags themselves (an experiment's identity
  hashes its objects; a ``!PLACEHOLDER`` left without value is refused).

Authors
 * ser-recipes contributors 2026
"""

import os

from hyperpyyaml import resolve_references
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = [
    "YAMLError",
    "load_resolved_nodes",
    "load_yaml_nodes",
    "parse_overrides",
    "parse_yaml_value",
    "plain_values",
    "read_resolved_values",
    "read_yaml_values",
    "yaml_tag",
]


def load_yaml_nodes(source):
    """The round-trip nodes of a YAML document (``ruamel.yaml``, as HyperPyYAML loads it): tags
    kept (:func:`yaml_tag`), scalars typed as HyperPyYAML types them; ``None`` when empty.

    Arguments
    ---------
    source : str, os.PathLike or file-like
        The path of a YAML file, or an open text stream (e.g. the ``StringIO`` of
        ``hyperpyyaml.resolve_references``).

    Example
    -------
    >>> import io
    >>> nodes = load_yaml_nodes(io.StringIO("lr: 1e-4\\nopt: !name:torch.optim.Adam {lr: 0.1}\\n"))
    >>> nodes["lr"], yaml_tag(nodes["opt"]), yaml_tag(nodes["lr"])
    (0.0001, '!name:torch.optim.Adam', None)
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as stream:
            return YAML(typ="rt").load(stream)
    return YAML(typ="rt").load(source)


def yaml_tag(node):
    """The local tag of a round-trip node (``"!new:..."``, ``"!PLACEHOLDER"``), else ``None``.

    Example
    -------
    >>> import io
    >>> [yaml_tag(node) for node in load_yaml_nodes(io.StringIO("[!PLACEHOLDER , 3, !ref <a>]"))]
    ['!PLACEHOLDER', None, '!ref']
    """
    tag = getattr(getattr(node, "tag", None), "value", None)
    return tag if tag and tag.startswith("!") else None


def plain_values(node, keep_tags=False):
    """A round-trip node as plain Python values (dict, list, str, int, float, bool, None).

    Arguments
    ---------
    node : object
        A node of :func:`load_yaml_nodes`.
    keep_tags : bool
        ``False``: a tagged node becomes its value (``!name:f {lr: 0.1}`` -> ``{"lr": 0.1}``,
        ``!PLACEHOLDER`` -> ``""``); ``True``: ``{tag: value}``.

    Example
    -------
    >>> import io
    >>> text = "a: !new:torch.nn.Linear {in_features: 2}\\nb: [1, 0.5]"
    >>> nodes = load_yaml_nodes(io.StringIO(text))
    >>> plain_values(nodes)
    {'a': {'in_features': 2}, 'b': [1, 0.5]}
    >>> plain_values(nodes, keep_tags=True)
    {'a': {'!new:torch.nn.Linear': {'in_features': 2}}, 'b': [1, 0.5]}
    """
    tag = yaml_tag(node)
    if isinstance(node, dict):
        value = {str(key): plain_values(item, keep_tags) for key, item in node.items()}
    elif isinstance(node, (list, tuple)):
        value = [plain_values(item, keep_tags) for item in node]
    elif hasattr(node, "value") and tag:  # a tagged scalar
        value = plain_values(node.value, keep_tags)
    elif isinstance(node, bool) or node is None:
        value = node
    elif isinstance(node, int):
        value = int(node)
    elif isinstance(node, float):
        value = float(node)
    else:  # strings, dates
        value = str(node)
    return {tag: value} if keep_tags and tag else value


def read_yaml_values(source):
    """The plain values of a YAML file, HyperPyYAML tags dropped (:func:`plain_values`).

    Arguments
    ---------
    source : str, os.PathLike or file-like
        As for :func:`load_yaml_nodes`.

    Example
    -------
    >>> import io
    >>> text = "lr: 0.1\\nopt: !name:torch.optim.Adam\\n    lr: 0.1\\nx: !ref <lr>\\n"
    >>> read_yaml_values(io.StringIO(text))
    {'lr': 0.1, 'opt': {'lr': 0.1}, 'x': '<lr>'}
    """
    return plain_values(load_yaml_nodes(source))


def read_resolved_values(hparams_file, overrides=None):
    """The plain values of an hparams file with ``overrides`` applied and references resolved
    (``hyperpyyaml.resolve_references``); nothing is instantiated. A ``!PLACEHOLDER`` left
    without value raises HyperPyYAML's ``ValueError``.

    Arguments
    ---------
    hparams_file : str or os.PathLike
        The HyperPyYAML file.
    overrides : str or dict, optional
        Overrides (YAML text or dict).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("root: results\\noutput_folder: !ref <root>/exp\\n")
    >>> read_resolved_values(path, {"root": "/tmp/r"})
    {'root': '/tmp/r', 'output_folder': '/tmp/r/exp'}
    """
    return plain_values(load_resolved_nodes(hparams_file, overrides))


def load_resolved_nodes(hparams_file, overrides=None):
    """The round-trip nodes (tags kept) of an hparams file with ``overrides`` applied and
    references resolved: :func:`read_resolved_values` before its tags are dropped.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("lr: 0.1\\nopt: !name:torch.optim.Adam {lr: !ref <lr>}\\n")
    >>> nodes = load_resolved_nodes(path, "lr: 0.5")
    >>> yaml_tag(nodes["opt"]), nodes["opt"]["lr"]
    ('!name:torch.optim.Adam', 0.5)
    """
    with open(hparams_file, encoding="utf-8") as stream:
        return load_yaml_nodes(resolve_references(stream, overrides)) or {}


def parse_overrides(overrides):
    """Overrides as a dict: the YAML text of ``speechbrain.parse_arguments`` read as
    HyperPyYAML reads it (round-trip values, which compare and format as plain ones; what
    ``load_hyperpyyaml`` would do with the text), a dict copied, ``None`` or ``""`` empty.

    Example
    -------
    >>> parse_overrides("lr: 0.5\\nemotions: [neu, hap]"), parse_overrides(None)
    ({'lr': 0.5, 'emotions': ['neu', 'hap']}, {})
    >>> parse_overrides({"lr": 0.5})
    {'lr': 0.5}
    """
    if isinstance(overrides, str):
        overrides = YAML(typ="rt").load(overrides)
    return dict(overrides or {})


def parse_yaml_value(text):
    """One value given on a command line (``key=value``), read as YAML: numbers, booleans,
    lists; anything else stays text.

    Example
    -------
    >>> [parse_yaml_value(text) for text in ("12", "0.5", "true", "[1, 2]", "/models/wavlm")]
    [12, 0.5, True, [1, 2], '/models/wavlm']
    """
    return plain_values(YAML(typ="rt").load(text))
