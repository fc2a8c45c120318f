"""What a recipe declares for the export of its experiments: the ``export:`` mapping of its
inference template.

An inference template (``recipes/<corpus>/hparams/inference/*.yaml``, copied into every
experiment folder when training starts) ends with a top-level ``export:`` mapping that
``ser-publish export`` reads and leaves out of the exported ``hyperparams.yaml``. The package
knows no recipe: what differs between recipes is declared there. Values that name
hyperparameters are keys of the experiment's ``hyperparams.yaml``::

    export:
        kind: categorical              # or dimensional: the card's metrics and usage line
        results: [test_results.json]   # result files of a finished evaluation (the card's)
        files:                         # files of the experiment folder that travel
            - source: save/label_encoder.txt
              target: label_encoder.txt
              # drop_keys: [...]       # (a JSON file) keys left out (arrays model.ckpt holds)
        upstreams: [ssl_hub]           # hyperparameters naming the pretrained upstreams
        download_folder: ssl_folder    # hyperparameter: the download cache of the training run
        weights:                       # {}: `model` of the best checkpoint (or --average N)
            reported_model: reported_model              # best | average: the default model
            upstreams: upstreams                        # upstream modules that model.ckpt holds
            pretrained_upstreams: pretrained_upstreams  # their stage-1 files when frozen
        card:                          # model card texts ({key}: the experiment's values)
            title: ...
            paper: ...
            task: ...
            dataset: iemocap           # a corpus of model_card.CORPUS_LICENSES
            tags: [...]
            pipeline: ...
            protocol: ...
            citation: ...
            upstream: ...              # (optional) the upstream's name when none is pretrained

Authors
 * ser-recipes contributors 2026
"""

import re
from dataclasses import dataclass, field

from ser_modules.tools.errors import PublishError

#: The top-level key of the declaration in an inference template.
DECLARATION_KEY = "export"
KINDS = ("categorical", "dimensional")
CARD_KEYS = ("title", "paper", "task", "dataset", "tags", "pipeline", "protocol", "citation")
OPTIONAL_CARD_KEYS = ("upstream",)
WEIGHT_KEYS = ("reported_model", "upstreams", "pretrained_upstreams")
FILE_KEYS = ("source", "target", "drop_keys")
# A line that starts a top-level key (no indentation, no comment).
TOP_LEVEL_KEY = re.compile(r"^[^\s#][^:]*:")


@dataclass
class ExportedFile:
    """A file of the experiment folder that the export copies (``drop_keys``: a JSON file's
    keys left out)."""

    source: str
    target: str
    drop_keys: tuple = ()


@dataclass
class Declaration:
    """The ``export:`` mapping of an inference template (see the module docstring)."""

    kind: str
    results: tuple
    files: tuple
    card: dict
    upstreams: tuple = ()
    download_folder: str = None
    weights: dict = field(default_factory=dict)

    @property
    def required_files(self):
        """The files of the experiment folder that a finished evaluation leaves."""
        return (*self.results, *(item.source for item in self.files))


def split_template(text, source="the inference template"):
    """``(template, declaration text)``: the template without its declaration (the comment
    lines above it included), and the declaration (``None`` when there is none).

    Example
    -------
    >>> text = "a: 1\\n\\n# what export needs\\nexport:\\n    kind: x\\n"
    >>> template, declared = split_template(text)
    >>> template, declared
    ('a: 1\\n', 'export:\\n    kind: x\\n')
    >>> split_template("a: 1\\n")
    ('a: 1\\n', None)
    """
    lines = text.splitlines(keepends=True)
    starts = [number for number, line in enumerate(lines) if line.startswith(f"{DECLARATION_KEY}:")]
    if not starts:
        return text, None
    first = starts[0]
    following = [line.strip() for line in lines[first + 1 :] if TOP_LEVEL_KEY.match(line)]
    if following:
        raise PublishError(
            f"{source}: its {DECLARATION_KEY}: mapping must end the file (a top-level key"
            f" follows it: {following[0]})"
        )
    begin = first
    while begin > 0 and (lines[begin - 1].startswith("#") or not lines[begin - 1].strip()):
        begin -= 1
    return "".join(lines[:begin]), "".join(lines[first:])


def _unknown(mapping, known, where, source):
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise PublishError(
            f"{source}: {where} has unknown keys {', '.join(unknown)} (known: {', '.join(known)})"
        )


def declaration(template, source="the inference template"):
    """The :class:`Declaration` of a template read as plain data (``template``: its mapping);
    a :class:`PublishError` naming ``source`` and the key when it is missing or wrong.

    Example
    -------
    >>> declared = declaration({"export": {"kind": "dimensional", "results": ["results.md"],
    ...     "files": [{"source": "save/x.json", "target": "x.json", "drop_keys": ["mean"]}],
    ...     "card": dict.fromkeys(CARD_KEYS, "text")}})
    >>> declared.kind, declared.required_files, declared.files[0].drop_keys
    ('dimensional', ('results.md', 'save/x.json'), ('mean',))
    >>> try:
    ...     declaration({"export": {"kind": "ordinal"}}, "t.yaml")
    ... except PublishError as error:
    ...     print(error)
    t.yaml: export: kind is ordinal, not one of categorical, dimensional
    """
    mapping = (template or {}).get(DECLARATION_KEY)
    if not isinstance(mapping, dict):
        raise PublishError(
            f"{source} declares nothing for the export (no top-level {DECLARATION_KEY}: mapping)"
        )
    known = ("kind", "results", "files", "card", "upstreams", "download_folder", "weights")
    _unknown(mapping, known, f"{DECLARATION_KEY}:", source)
    if mapping.get("kind") not in KINDS:
        raise PublishError(
            f"{source}: {DECLARATION_KEY}: kind is {mapping.get('kind')}, not one of"
            f" {', '.join(KINDS)}"
        )
    card, weights = mapping.get("card") or {}, mapping.get("weights") or {}
    missing = [key for key in CARD_KEYS if key not in card]
    if missing:
        raise PublishError(f"{source}: {DECLARATION_KEY}: card has no {', '.join(missing)}")
    _unknown(card, CARD_KEYS + OPTIONAL_CARD_KEYS, f"{DECLARATION_KEY}: card", source)
    _unknown(weights, WEIGHT_KEYS, f"{DECLARATION_KEY}: weights", source)
    files = []
    for item in mapping.get("files") or []:
        if not isinstance(item, dict) or not {"source", "target"} <= set(item):
            raise PublishError(
                f"{source}: {DECLARATION_KEY}: files: {item!r} is not a mapping with source and"
                " target"
            )
        _unknown(item, FILE_KEYS, f"{DECLARATION_KEY}: files", source)
        files.append(ExportedFile(item["source"], item["target"], tuple(item.get("drop_keys", ()))))
    return Declaration(
        kind=mapping["kind"],
        results=tuple(mapping.get("results") or ()),
        files=tuple(files),
        card=dict(card),
        upstreams=tuple(mapping.get("upstreams") or ()),
        download_folder=mapping.get("download_folder"),
        weights=dict(weights),
    )
