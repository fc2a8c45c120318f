"""Export a finished experiment as a Hugging Face Hub model folder, and push it.

Export (an experiment folder, or a cross-validation folder with ``--fold``: its
``session<N>/`` fold) with the ``ser-publish`` command that the package installs (or
``python -m ser_modules.tools.publish``)::

    ser-publish export EXP_DIR --out DIR [--fold 1] [--average 5] [--repo-id USER/NAME]

The package knows no recipe: the experiment folder holds all the export reads. Its
``hyperparams.yaml`` (the resolved hyperparameters), its checkpoints and result files, and its
copy of the recipe's *inference template* (``inference_template.yaml``: the HyperPyYAML file
``recipes/<corpus>/hparams/inference/<name>.yaml`` that the training yaml names as
``inference_template``, copied when training starts). The template ends with an ``export:``
mapping, the recipe's declaration of what the export needs (:mod:`ser_modules.tools.declaration`):
the kind of model (categorical or dimensional: the card's metrics), the result files of a
finished evaluation, the files that travel (``label_encoder.txt``; the record of a fitted
selection without the arrays ``model.ckpt`` holds), the hyperparameters that name the upstreams,
which weights make ``model.ckpt`` (the reported model, fine-tuned and stage-1 upstreams) and the
card's texts. A training yaml with ``inference_template: null`` declares a model that cannot be
exported (one that reads text). The export writes ``DIR`` with:

* ``hyperparams.yaml``: the template without its declaration, its plain values filled from the
  experiment's ``hyperparams.yaml`` (same key names), the sizes that only the weights know
  read from ``model.ckpt`` by module name, and an overridable ``pretrained_path``;
* ``model.ckpt``: the trained modules by name: the best checkpoint on the validation metric
  (every recipe yaml: ``checkpoint_key``), or the average of the best ``--average`` ones, which
  the recipe must have kept (``keep_checkpoints``); by default the model that the declared
  ``reported_model`` hyperparameter names where there is one, with the declared upstreams.
  Floating-point weights are averaged; fitted integer buffers and extra states are kept
  (:func:`ser_modules.training.checkpoint_averaging.average_states`);
* ``custom_interface.py``: inference code only, for ``foreign_class`` with plain
  ``speechbrain``: the modules of the interface class and of the ``ser_modules`` objects the
  template names, and the ``ser_modules`` modules these import (docstrings cut to their first
  line; autograd functions reduced to their forward pass);
* the declared files (``label_encoder.txt``, ``feature_selection.json``), an example wav, a
  ``README.md`` model card generated from the experiment's result files and the declared texts
  (:mod:`ser_modules.tools.model_card`: Hub metadata with the results as ``model-index``) and
  the ``LICENSE.md`` it links to (the corpus terms);
* the upstream's commit, when known (:mod:`ser_modules.tools.upstreams`), as
  ``<upstream>_revision`` in ``hyperparams.yaml`` (an upstream given as a Hugging Face cache
  snapshot folder is named by its Hub id).

Push (token from ``hf auth login`` or ``HF_TOKEN``; warns first when ``README.md`` or
``hyperparams.yaml`` would publish local filesystem paths)::

    ser-publish push DIR --repo-id USER/NAME [--private] [--commit-message TEXT]

Authors
 * ser-recipes contributors 2026
"""

import argparse
import contextlib
import datetime
import json
import logging
import os
import re
import sys
from pathlib import Path

import torch
import yaml

from ser_modules.data.audio import SAMPLE_RATE, load_audio
from ser_modules.tools.bundle import OBJECT_REFERENCE, custom_interface_source, template_objects
from ser_modules.tools.declaration import DECLARATION_KEY, declaration, split_template
from ser_modules.tools.errors import PublishError
from ser_modules.tools.model_card import (
    experiment_name,
    git_commit,
    license_text,
    model_card,
    package_version,
    set_card_repo_id,
)
from ser_modules.tools.upstreams import find_upstreams
from ser_modules.training.checkpoint_averaging import average_states, best_checkpoints
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.training.experiment import INFERENCE_TEMPLATE_COPY
from ser_modules.utils.files import (
    DiskFullError,
    disk_full_named,
    open_atomic,
    read_json,
    torch_save_atomic,
    write_json_atomic,
    write_wav_atomic,
)
from ser_modules.utils.values import is_whole_number
from ser_modules.utils.yaml_values import YAMLError, read_yaml_values

logger = logging.getLogger(__name__)

EXPORT_FILES = ("hyperparams.yaml", "custom_interface.py", "model.ckpt", "README.md")
DEFAULT_REPO_ID = "USER/NAME"
# What to change to keep more checkpoints (for --average N): the recipes' one vocabulary.
KEEP_MORE = "retrain keeping more (--keep_checkpoints=N)"
# Files of an export whose text is published as is (checked for local paths before a push).
PUBLISHED_TEXT = ("README.md", "hyperparams.yaml")
# An absolute local path (POSIX, home-relative or Windows drive), not part of a URL.
LOCAL_PATH = re.compile(r"(?<![\w/.:-])(?:~/|[A-Za-z]:\\|/(?=[\w.-]+/))[^\s'\"`),\]}]*")


# ----------------------------------------------------------------------------------------------
# Reading the experiment
# ----------------------------------------------------------------------------------------------
def read_resolved_hparams(path):
    """The plain values of a resolved ``hyperparams.yaml`` (as written in experiment folders).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("lr: 0.1\\nopt: !name:torch.optim.Adam\\n    lr: 0.1\\n")
    >>> read_resolved_hparams(path)
    {'lr': 0.1, 'opt': {'lr': 0.1}}
    """
    try:
        return read_yaml_values(path)
    except FileNotFoundError:
        raise PublishError(f"{path} is missing: is this a finished experiment folder?") from None
    except YAMLError as error:
        raise PublishError(f"{path} is not readable YAML: {error}") from None


def trained_folds(exp_dir):
    """The test sessions of the trained folds (``session<N>/save/``) of a cross-validation folder.

    Example
    -------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("session2/save", "session10/save", "session3"):
    ...     os.makedirs(os.path.join(folder, name))
    >>> trained_folds(folder)
    [2, 10]
    """
    folds = [
        path.name[len("session") :]
        for path in Path(exp_dir).glob("session*")
        if (path / "save").is_dir()
    ]
    return sorted(int(fold) for fold in folds if fold.isdigit())


def experiment_folder(exp_dir, fold=None):
    """The folder of one trained model: ``exp_dir`` itself, or its ``session<fold>``; an error
    that says what to pass when ``--fold`` is missing, out of range or not needed."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise PublishError(f"{exp_dir} is not a folder")
    folds = trained_folds(exp_dir)
    choices = " or ".join(f"--fold {number}" for number in folds)
    if fold is not None:
        if (exp_dir / "save").is_dir():
            raise PublishError(
                f"--fold {fold}: {exp_dir} is the folder of one trained model (it has save/), not a"
                " cross-validation folder: drop --fold"
            )
        if fold not in folds:
            trained = (
                f"its trained folds are {', '.join(f'session{n}' for n in folds)}: use {choices}"
                if folds
                else (
                    "it holds no trained fold (no session<N>/save/ folder): pass a cross-validation"
                    " folder (the one that holds the session<N>/ fold folders) or a fold folder"
                    " without --fold"
                )
            )
            raise PublishError(
                f"--fold {fold}: {exp_dir} has no trained fold session{fold}; {trained}"
            )
        exp_dir = exp_dir / f"session{fold}"
    elif not (exp_dir / "save").is_dir() and folds:
        raise PublishError(
            f"{exp_dir} holds the folds {', '.join(f'session{n}' for n in folds)}: choose one "
            f"with {choices}"
        )
    if not (exp_dir / "save").is_dir():
        raise PublishError(
            f"{exp_dir} has no save/ folder with checkpoints: is it an experiment folder?"
        )
    return exp_dir


def experiment_path(path, folder, hparams):
    """A path of the resolved hparams; a relative one is relative to where training ran (the
    folder that holds ``output_folder``)."""
    path = Path(path)
    output = Path(hparams["output_folder"])
    if path.is_absolute() or path.exists() or output.is_absolute():
        return path  # (an absolute output_folder does not tell where training ran: as given)
    parents = Path(folder).resolve().parents
    depth = len(output.parts)
    return parents[depth - 1] / path if depth <= len(parents) else path


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------
def checkpoint_states(save_folder, key, average=1, names=("model",), keep_more=None):
    """The states of the recoverables ``names`` in the best checkpoint on ``key``, or their
    means over the best ``average`` checkpoints.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        The experiment's ``save/`` folder.
    key : str
        Validation metric of the selection (higher is better).
    average : int
        Number of best checkpoints to average (1: the best one).
    names : tuple of str
        Recoverables to read (``model``, fine-tuned upstreams).
    keep_more : str, optional
        What to change to keep more checkpoints: given when ``average`` was asked for
        (``--average``), fewer kept checkpoints are then an error that says it; otherwise
        (the recipe's own setting) the checkpoints kept are averaged, with a warning.

    Returns
    -------
    tuple
        ``({name: state_dict}, description)``, the description naming the checkpoints used.
    """
    checkpointer = AtomicCheckpointer(save_folder)  # complete checkpoints only
    checkpoints = best_checkpoints(checkpointer, key, average)
    checkpoints = [ckpt for ckpt in checkpoints if all(name in ckpt.paramfiles for name in names)]
    if not checkpoints:
        raise PublishError(
            f"{save_folder} has no checkpoint with {', '.join(names)} files and a {key} value"
        )
    described = ", ".join(
        f"{ckpt.path.name} ({key} {ckpt.meta.get(key, float('nan')):.3f})" for ckpt in checkpoints
    )
    if len(checkpoints) < average and keep_more:
        raise PublishError(
            f"{save_folder}: --average {average} asks for the {average} best checkpoints on valid"
            f" {key}, but it keeps {len(checkpoints)} ({described}): use --average"
            f" {len(checkpoints)} or less, or {keep_more}"
        )
    if len(checkpoints) < average:
        logger.warning(
            "Asked to average %d checkpoints, %s keeps %d", average, save_folder, len(checkpoints)
        )
    if len(checkpoints) == 1:
        files = checkpoints[0].paramfiles
        states = {
            name: torch.load(files[name], map_location="cpu", weights_only=True) for name in names
        }
        return states, f"best checkpoint on valid {key}: {described}"
    try:
        states = {name: average_states(checkpoints, name) for name in names}
    except ValueError as error:
        raise PublishError(f"{save_folder}: cannot average {described}: {error}") from None
    return states, f"average of the {len(checkpoints)} best checkpoints on valid {key}: {described}"


def checkpoint_state(save_folder, key, average=1, keep_more=None):
    """The ``model`` state of the best checkpoint on ``key``, or the mean of the best ``average``
    (``(state_dict, description)``, see :func:`checkpoint_states`)."""
    states, description = checkpoint_states(save_folder, key, average, keep_more=keep_more)
    return states["model"], description


def module_state(state, name):
    """The part of a ``model.ckpt`` state that belongs to the module ``name`` (prefix removed).

    Example
    -------
    >>> state = {"classifier.weight": 1, "classifier.bias": 2, "projector.weight": 3}
    >>> module_state(state, "classifier")
    {'weight': 1, 'bias': 2}
    """
    prefix = f"{name}."
    part = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    if not part:
        modules = sorted({key.split(".", 1)[0] for key in state})
        raise PublishError(f"model.ckpt has no module {name!r} (modules: {', '.join(modules)})")
    return part


def exported_state(folder, hparams, weights, average=None):
    """The weights of ``model.ckpt``: the trained modules by name, and a note on their origin.

    ``weights`` is what the recipe declares (the ``weights`` of its ``export:`` mapping, see
    :mod:`ser_modules.tools.declaration`): each value names a hyperparameter of the
    experiment. Without ``average``, the model that ``reported_model`` names (``best``, or
    ``average`` of the ``keep_checkpoints`` best) or else the best checkpoint on
    ``checkpoint_key``. The checkpointed ``model``; with ``upstreams``, the upstream modules it
    lists too, by name: each from the same checkpoints when it was fine-tuned (its own
    recoverable), else from the stage-1 file that ``pretrained_upstreams`` maps it to.
    """
    save = folder / "save"
    keep_more = None if average is None else KEEP_MORE
    key = hparams["checkpoint_key"]
    if average is None:
        reported = hparams.get(weights["reported_model"]) if "reported_model" in weights else None
        average = hparams["keep_checkpoints"] if reported == "average" else 1
    if "upstreams" not in weights:
        return checkpoint_state(save, key, average, keep_more=keep_more)
    upstreams = list(hparams[weights["upstreams"]])
    pretrained = hparams.get(weights.get("pretrained_upstreams")) or {}
    trained = [name for name in upstreams if any(save.glob(f"CKPT+*/{name}.ckpt"))]
    states, note = checkpoint_states(
        save, key, average, names=("model", *trained), keep_more=keep_more
    )
    state = dict(states.pop("model"))
    for name in upstreams:
        if name not in states and name in pretrained:
            path = experiment_path(pretrained[name], folder, hparams)
            if not path.is_file():
                raise PublishError(
                    f"{folder}: the upstream {name} was loaded from {path}, which is missing"
                )
            states[name] = torch.load(path, map_location="cpu", weights_only=True)
            note += f"; upstream {name} (frozen): {path}"
        for module_key, value in states.get(name, {}).items():
            state[f"{name}.{module_key}"] = value
    return state, note


def json_record(path, drop_keys=()):
    """A JSON file of the experiment without the keys ``drop_keys`` (e.g. the arrays of a
    fitted selection that ``model.ckpt`` holds too).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "feature_selection.json")
    >>> write_json_atomic({"method": "pca", "mean": [0.0], "components": [[1.0]]}, path)
    >>> json_record(path, drop_keys=("mean", "components"))
    {'method': 'pca'}
    """
    return {key: value for key, value in read_json(path).items() if key not in drop_keys}


def write_declared_files(folder, out, files):
    """Copies the files the recipe declares (``export: files``) from the experiment folder into
    the export (a JSON file without its ``drop_keys``)."""
    for item in files:
        source, target = folder / item.source, out / item.target
        if item.drop_keys:
            write_json_atomic(json_record(source, item.drop_keys), target)
        else:
            write_text(target, source.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# Inference hyperparameters: the template, filled
# ----------------------------------------------------------------------------------------------
# Template values that only the trained weights know: key -> (module in model.ckpt, reader).
STATE_FACTS = {
    "num_classes": ("classifier", lambda state: int(state["weight"].shape[0])),
    "predict_spread": (
        "head",
        lambda state: any(key.startswith("spread_output.") for key in state),
    ),
}
# A top-level plain value of a template (one line; tagged values are the template's wiring).
PLAIN_VALUE = re.compile(
    r"^(?P<key>[A-Za-z_]\w*):(?P<space>[ \t]+)(?P<value>[^!&*#\s].*?)(?P<comment>[ \t]+#.*)?$", re.M
)


def template_file(folder, hparams):
    """The experiment's inference template: its copy in the experiment folder
    (``inference_template.yaml``, made when training starts). An experiment whose recipe names
    none (``inference_template: null``) cannot be exported; one trained before the templates
    were copied needs the copy made by hand (the error says how)."""
    if "inference_template" in hparams and not hparams["inference_template"]:
        raise PublishError(
            f"{folder}: its recipe declares no inference template (inference_template: null in"
            " hyperparams.yaml): the exported interfaces take audio and return emotions, and"
            " this model needs more than audio (e.g. transcripts or text), so it cannot be"
            " exported"
        )
    copied = folder / INFERENCE_TEMPLATE_COPY
    if not copied.is_file():
        name = hparams.get("inference_template") or "inference/<name>.yaml"
        raise PublishError(
            f"{copied} is missing (the experiment was trained before the recipes copied their"
            " inference template into the experiment folder): copy the inference template that"
            f" its training yaml names there, e.g. cp <recipe>/hparams/{name} {copied}"
        )
    return copied


def read_template(path, hparams):
    """``(template text, declaration)`` of an inference template: the text without its
    ``export:`` mapping (what the export fills) and the mapping read
    (:class:`ser_modules.tools.declaration.Declaration`)."""
    text, declared = split_template(path.read_text(encoding="utf-8"), path)
    if declared is None:
        name = hparams.get("inference_template") or "inference/<name>.yaml"
        raise PublishError(
            f"{path} declares nothing for the export (no top-level {DECLARATION_KEY}: mapping:"
            " copied before the recipes declared what the export needs): copy the recipe's"
            f" current inference template there, e.g. cp <recipe>/hparams/{name} {path}"
        )
    return text, declaration(read_resolved_hparams(path), path)


def template_value(key, hparams, state, repo_id):
    """The value of the template's plain ``key`` in an export, or ``None`` to keep the template's.

    ``pretrained_path`` is the repository; ``*_folder`` values (download folders) are the
    template's; :data:`STATE_FACTS` come from the weights; the others from the experiment.
    """
    if key == "pretrained_path":
        return repo_id
    if key.endswith("_folder"):
        return None
    if key in STATE_FACTS:
        module, reader = STATE_FACTS[key]
        return reader(module_state(state, module))
    value = hparams.get(key)
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    ):
        raise PublishError(
            f"hyperparams.yaml: {key} is not a plain value ({value!r}): the template cannot take it"
        )
    return value


def _yaml_value(value):
    """A scalar or a flow list as YAML text."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("\n...")
        .strip()
    )


def fill_template(text, hparams, state, repo_id):
    """The template ``text`` with its plain top-level values filled (:func:`template_value`)
    and its ``ser_modules`` objects named in ``custom_interface``.

    Example
    -------
    >>> template = (
    ...     "pretrained_path: USER/NAME\\nssl_folder: pretrained_ssl\\npooling: mean  # or corr\\n"
    ...     "num_classes: 4\\nlayer: !new:ser_modules.nn.pooling.build_pooling\\n"
    ...     "    name: !ref <pooling>\\n"
    ... )
    >>> state = {"classifier.weight": torch.zeros(3, 8)}
    >>> hparams = {"pooling": "corr_att", "ssl_folder": "/home/me/cache"}
    >>> print(fill_template(template, hparams, state, "me/model"))
    pretrained_path: me/model
    ssl_folder: pretrained_ssl
    pooling: corr_att  # or corr
    num_classes: 3
    layer: !new:custom_interface.build_pooling
        name: !ref <pooling>
    """
    kept = []

    def fill(match):
        value = template_value(match["key"], hparams, state, repo_id)
        if value is None:
            kept.append(match["key"])
            return match[0]
        return f"{match['key']}:{match['space']}{_yaml_value(value)}{match['comment'] or ''}"

    filled = PLAIN_VALUE.sub(fill, text)
    if kept:
        logger.info("Template values kept (not in the experiment): %s", ", ".join(kept))
    return OBJECT_REFERENCE.sub(lambda match: f"!{match[1]}:custom_interface.{match[3]}", filled)


def upstream_pins(upstreams):
    """The hyperparameters that name the upstreams as trained with: the Hub id of an upstream
    given as a Hugging Face cache snapshot folder, and each known commit (``<name>_revision``).

    Example
    -------
    >>> from ser_modules.tools.upstreams import Upstream
    >>> snapshot = "/cache/models--org--x/snapshots/abc"
    >>> upstream_pins([Upstream("ssl_hub", snapshot, "org/x", "abc", "cache"),
    ...                Upstream("hubert_hub", "org/y", "org/y")])
    {'ssl_hub': 'org/x', 'ssl_revision': 'abc'}
    """
    pins = {}
    for upstream in upstreams:
        if upstream.hub_id and upstream.source != upstream.hub_id:
            pins[upstream.key] = upstream.hub_id
        if upstream.revision:
            pins[upstream.revision_key] = upstream.revision
    return pins


def pin_revisions(text, upstreams):
    """Adds ``<name>_revision: SHA`` after the ``<name>_hub`` line of a filled template for each
    upstream whose commit is known and that the template does not already name.

    Example
    -------
    >>> from ser_modules.tools.upstreams import Upstream
    >>> upstream = Upstream("ssl_hub", "org/x", "org/x", "abc")
    >>> print(pin_revisions("ssl_hub: org/x\\nssl_folder: cache\\n", [upstream]))
    ssl_hub: org/x
    ssl_revision: abc  # commit of org/x this model was trained with
    ssl_folder: cache
    <BLANKLINE>
    """
    for upstream in upstreams:
        if not upstream.revision or re.search(rf"^{upstream.revision_key}:", text, flags=re.M):
            continue
        name = upstream.hub_id or upstream.source
        line = (
            f"{upstream.revision_key}: {upstream.revision}  # commit of {name} this model was"
            " trained with"
        )
        after = re.compile(rf"^({re.escape(upstream.key)}:.*)$", flags=re.M)
        text = after.sub(lambda match, line=line: f"{match[1]}\n{line}", text, count=1)
    return text


def inference_hparams(template_text, hparams, state, folder, repo_id, upstreams=()):
    """The export's ``hyperparams.yaml``: two lines naming its origin, then the filled template
    (the upstreams named as trained with: :func:`upstream_pins`, :func:`pin_revisions`)."""
    origin = (
        f"# Exported by python -m ser_modules.tools.publish from {experiment_name(folder)} on"
        f" {datetime.date.today()}\n# (ser-recipes {package_version()}, git {git_commit()};"
        f" template {hparams.get('inference_template') or 'of the recipe'})\n"
    )
    filled = fill_template(template_text, {**hparams, **upstream_pins(upstreams)}, state, repo_id)
    return origin + pin_revisions(filled, upstreams)


# ----------------------------------------------------------------------------------------------
# Example wav and model card
# ----------------------------------------------------------------------------------------------
def write_example_wav(folder, out, sample_wav=None):
    """Writes ``example.wav`` (16 kHz mono) from ``sample_wav`` or the first test utterance."""
    if sample_wav is None:
        manifests = sorted((folder / "manifests").glob("test*.json"))
        entries = read_json(manifests[0]) if manifests else {}
        if not entries:
            logger.warning(
                "No test manifest in %s: no example wav written (use --sample-wav)", folder
            )
            return None
        sample_wav = entries[sorted(entries)[0]]["wav"]
        logger.warning(
            "example.wav is a test utterance of the corpus (%s): check that its licence allows you"
            " to redistribute it, or pass --sample-wav / --no-sample-wav",
            sample_wav,
        )
    write_wav_atomic(load_audio(sample_wav).numpy(), out / "example.wav", SAMPLE_RATE)
    return "example.wav"


# ----------------------------------------------------------------------------------------------
# Export and push
# ----------------------------------------------------------------------------------------------
def check_average(average):
    """Fails, saying what to pass, unless ``average`` is ``None`` or a whole number >= 1."""
    if average is not None and (not is_whole_number(average) or average < 1):
        raise PublishError(
            f"--average {average}: give how many of the best checkpoints to average, 1 or more "
            "(or no --average: the best checkpoint, or the model the experiment reports)"
        )


@contextlib.contextmanager
def disk_space(folder):
    """Turns a full disk while writing into ``folder`` (``utils.files.disk_full_named``) into a
    :class:`PublishError` that names the folder and the file."""
    try:
        with disk_full_named(folder):
            yield
    except DiskFullError as error:
        cause = error.__cause__ if error.__cause__ is not None else error
        raise PublishError(
            f"No space left on the device of {folder} (ENOSPC:"
            f" {getattr(cause, 'strerror', None) or cause}, writing"
            f" {getattr(cause, 'filename', None) or 'a file'}): free space there or choose another"
            " folder, then run the command again (the folder is incomplete)"
        ) from None


def write_text(path, text):
    """Writes a text file atomically (the old file or the complete new one)."""
    with open_atomic(path) as handle:
        handle.write(text)


def local_paths(text):
    """The lines of ``text`` that hold an absolute local path: ``[(line number, path), ...]``.

    Example
    -------
    >>> text = "see https://huggingface.co/org/x\\npython run.py --data_folder=/home/me/IEMOCAP x/y"
    >>> local_paths(text)
    [(2, '/home/me/IEMOCAP')]
    """
    return [
        (number, match[0])
        for number, line in enumerate(text.splitlines(), start=1)
        for match in LOCAL_PATH.finditer(line)
    ]


def warn_local_paths(folder):
    """Logs a warning per published text file of an export folder that holds local paths.

    Returns
    -------
    dict
        ``{file name: [(line number, path), ...]}`` of the files that hold some.
    """
    found = {}
    for name in PUBLISHED_TEXT:
        path = Path(folder) / name
        paths = local_paths(path.read_text(encoding="utf-8")) if path.is_file() else []
        if paths:
            found[name] = paths
            shown = ", ".join(f"line {number}: {value}" for number, value in paths[:3])
            logger.warning(
                "%s would publish %d local filesystem path(s) (%s%s): edit them out, or train with"
                " Hub ids (e.g. --ssl_hub=ORG/NAME) and export again, if they should not be public",
                path,
                len(paths),
                shown,
                ", ..." if len(paths) > 3 else "",
            )
    return found


def export(
    exp_dir,
    out,
    fold=None,
    average=None,
    repo_id=DEFAULT_REPO_ID,
    sample_wav=None,
    no_sample_wav=False,
):
    """Writes a Hub-ready model folder from a finished experiment folder.

    Arguments
    ---------
    exp_dir : str
        An experiment folder (with its ``inference_template.yaml``), or a cross-validation
        folder with ``fold``.
    out : str
        The export folder (created; existing export files are replaced).
    fold : int, optional
        Test session of the fold to export from a cross-validation folder.
    average : int, optional
        Average the ``average`` best checkpoints (those the recipe kept: fewer is an error).
        Default: the best one, or the model the experiment reports (the hyperparameter that
        the recipe declares as its reported_model).
    repo_id : str
        The Hub repository the card and ``pretrained_path`` point to.
    sample_wav : str, optional
        Audio file written as ``example.wav`` (default: the first test utterance).
    no_sample_wav : bool
        Write no ``example.wav``.

    Returns
    -------
    pathlib.Path
        The export folder.
    """
    check_average(average)
    folder = experiment_folder(exp_dir, fold)
    hparams = read_resolved_hparams(folder / "hyperparams.yaml")
    template = template_file(folder, hparams)
    template_text, declared = read_template(template, hparams)
    missing = [name for name in declared.required_files if not (folder / name).is_file()]
    if missing:
        raise PublishError(
            f"{folder}: {', '.join(missing)} missing: did the experiment finish its evaluation?"
        )
    state, checkpoint_note = exported_state(folder, hparams, declared.weights, average)
    upstreams = find_upstreams(
        hparams,
        lambda path: experiment_path(path, folder, hparams),
        keys=declared.upstreams,
        download_folder=declared.download_folder,
    )
    inference = inference_hparams(template_text, hparams, state, folder, repo_id, upstreams)
    classname = template_objects(template_text)[0][1]
    out = Path(out)
    with disk_space(out):
        out.mkdir(parents=True, exist_ok=True)
        (out / "export.json").unlink(
            missing_ok=True
        )  # written last: its absence marks an incomplete export
        torch_save_atomic(state, out / "model.ckpt")
        write_declared_files(folder, out, declared.files)
        write_text(out / "hyperparams.yaml", inference)
        write_text(out / "custom_interface.py", custom_interface_source(template_text))
        example = None if no_sample_wav else write_example_wav(folder, out, sample_wav)
        card = model_card(
            declared, folder, hparams, repo_id, checkpoint_note, example, classname, upstreams
        )
        write_text(out / "README.md", card)
        write_text(out / "LICENSE.md", license_text(declared.card["dataset"]))
        record = {
            "experiment": str(folder.resolve()),
            "kind": declared.kind,
            "template": str(template),
            "checkpoint": checkpoint_note,
        }
        write_json_atomic(record, out / "export.json")
    warn_local_paths(out)
    logger.info("Exported %s (%s) to %s", folder, checkpoint_note, out)
    return out


def set_repo_id(folder, repo_id):
    """Points ``pretrained_path`` and the card's usage line and model name of an export folder
    to ``repo_id``."""
    folder = Path(folder)
    hparams = (folder / "hyperparams.yaml").read_text(encoding="utf-8")
    hparams = re.sub(
        r"^pretrained_path: .*$", f"pretrained_path: {repo_id}", hparams, count=1, flags=re.M
    )
    write_text(folder / "hyperparams.yaml", hparams)
    write_text(
        folder / "README.md",
        set_card_repo_id((folder / "README.md").read_text(encoding="utf-8"), repo_id),
    )


def check_export_folder(folder):
    """Fails, naming the missing files, unless ``folder`` is a complete export."""
    folder = Path(folder)
    missing = [name for name in EXPORT_FILES if not (folder / name).is_file()]
    if missing:
        raise PublishError(
            f"{folder} is not an export folder: {', '.join(missing)} missing (run the export"
            " command first)"
        )


def hub_token(token=None):
    """The Hub token: given, or from ``HF_TOKEN`` / ``hf auth login``; a clear error if none."""
    import huggingface_hub

    token = token or huggingface_hub.get_token()
    if not token:
        raise PublishError(
            "Not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN (or pass"
            " --token)"
        )
    return token


def push(folder, repo_id, private=False, token=None, commit_message=None):
    """Creates the Hub repository if needed and uploads the export folder.

    Returns
    -------
    str
        The URL of the repository.
    """
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check_export_folder(folder)
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise PublishError("HF_HUB_OFFLINE is set: the Hub cannot be reached; unset it to push")
    token = hub_token(token)
    with disk_space(folder):
        set_repo_id(folder, repo_id)
    warn_local_paths(folder)
    try:
        url = huggingface_hub.create_repo(
            repo_id, token=token, private=private, repo_type="model", exist_ok=True
        )
        huggingface_hub.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            token=token,
            repo_type="model",
            commit_message=commit_message or "Upload ser-recipes model",
            ignore_patterns=["export.json"],
        )
    except OfflineModeIsEnabled as error:
        raise PublishError(
            f"Offline mode is enabled ({error}): unset HF_HUB_OFFLINE to push"
        ) from None
    except HfHubHTTPError as error:
        raise PublishError(f"The Hub refused the push to {repo_id}: {error}") from None
    except Exception as error:
        if not _is_network_error(error):
            raise
        raise PublishError(
            f"Cannot reach the Hugging Face Hub to push {repo_id} (offline?): {error}"
        ) from None
    logger.info("Pushed %s to %s", folder, url)
    return str(url)


def _is_network_error(error):
    """Connection failures: ``OSError`` or the HTTP client's transport errors (httpx, requests)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, OSError) or bool(
        names & {"TransportError", "RequestError", "ConnectionError"}
    )


def parse_args(argv):
    """The ``export`` and ``push`` sub-commands (options in --kebab-case)."""
    parser = argparse.ArgumentParser(prog="ser-publish", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporter = commands.add_parser(
        "export", help="write a Hub-ready folder from an experiment folder"
    )
    exporter.add_argument(
        "exp_dir",
        help="experiment folder (a fold), or cross-validation folder with --fold",
    )
    exporter.add_argument("--out", required=True, help="export folder")
    exporter.add_argument(
        "--fold", type=int, default=None, help="test session of the fold to export (1-5)"
    )
    exporter.add_argument(
        "--average",
        type=int,
        default=None,
        help="average the N best kept checkpoints (default: the best one, or the reported_model)",
    )
    exporter.add_argument(
        "--repo-id", default=DEFAULT_REPO_ID, help="Hub repository named in the card and hparams"
    )
    exporter.add_argument("--sample-wav", default=None, help="audio file shipped as example.wav")
    exporter.add_argument("--no-sample-wav", action="store_true", help="ship no example.wav")
    pusher = commands.add_parser("push", help="upload an export folder to the Hugging Face Hub")
    pusher.add_argument("folder", help="export folder")
    pusher.add_argument("--repo-id", required=True, help="USER/NAME")
    pusher.add_argument("--private", action="store_true", help="create a private repository")
    pusher.add_argument(
        "--token", default=None, help="Hub token (default: HF_TOKEN or the login cache)"
    )
    pusher.add_argument("--commit-message", default=None, help="message of the Hub commit")
    return parser.parse_args(argv)


def main(argv=None):
    """Command-line entry point (the ``ser-publish`` command)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "export":
            out = export(
                args.exp_dir,
                args.out,
                args.fold,
                args.average,
                args.repo_id,
                args.sample_wav,
                args.no_sample_wav,
            )
            print(json.dumps({"exported": str(out)}))
        else:
            url = push(args.folder, args.repo_id, args.private, args.token, args.commit_message)
            print(json.dumps({"pushed": url}))
    except PublishError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
