"""The identity of an experiment folder, and what "done" means.

An output folder is made by one command. When it is created, ``experiment.json`` records
that command's identity:

* ``hparams``: every top-level hyperparameter, resolved (references followed) with the
  command's overrides. Plain values are recorded as such; objects (``!new:``, ``!name:``...)
  as a SHA-1 of their resolved arguments. Left out: the run-time keys of
  :data:`RUNTIME_KEYS` (device, precision, workers, progress bars, the train logger and the
  checkpointer: they do not change what is trained) and the *paths* (:func:`is_path_key`:
  ``*_folder``, ``train_log``), which are replaced by ``$<key>`` before resolving, so that
  moving a corpus or a results tree keeps the identity. What the paths lead to is recorded
  instead:
* ``inputs``: a fingerprint of the manifests the run trains and tests on (their content,
  with the paths of the folders above written as ``$data_folder``...), recorded after the
  data preparation (:func:`record_inputs`);
* ``script``, ``hparams_file`` (file names), ``debug`` and the result-changing run options
  given on the command line (``--grad_accumulation_factor``, ``--max_grad_norm``...).

A command run again on the folder must have the same identity (:func:`check_folder`); a
different one is refused *before* anything in the folder is rewritten, with a message naming
the keys that differ and how to proceed: another folder (``--experiment_folder``,
``--seed``) or ``--overwrite_experiment=True``, which moves the old folder aside
(``<folder>.replaced-<time>``; finished work is never deleted) and starts afresh.

The file also records the run's state (:func:`record_training`, :func:`record_evaluation`):
a run is *finished* only when training reached its end (epoch limit, early stop or the
update limit ``optimizer_step_limit``; never a ``--debug`` run) and the selected checkpoint
was evaluated after it. ``cross_validate.py`` skips a fold only if it is finished with the
identity of the current command (:func:`finished_run`).

Authors
 * ser-recipes contributors 2026
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import speechbrain as sb

from ser_modules.utils.files import read_json, write_json_atomic
from ser_modules.utils.yaml_values import (
    load_resolved_nodes,
    parse_overrides,
    plain_values,
    read_yaml_values,
)

logger = logging.getLogger(__name__)

#: The identity file of an output folder.
IDENTITY_FILE = "experiment.json"
#: The option that moves a folder of another identity aside (``load_experiment`` takes it).
OVERWRITE_OPTION = "overwrite_experiment"
FORMAT_VERSION = 1

#: Hyperparameters that change how a run goes, not what it trains: never part of an identity.
RUNTIME_KEYS = frozenset(
    {
        "device",
        "precision",
        "eval_precision",
        "num_workers",
        "noprogressbar",
        "extraction_batch_size",
        "skip_prep",
        "record_seen_ids",
        "data_parallel_backend",
        "data_parallel_count",
        "distributed_launch",
        "distributed_backend",
        "find_unused_parameters",
        "ckpt_interval_minutes",
        "ckpt_interval_steps",
        "tqdm_colored_bar",
        "tqdm_barcolor",
        "log_config",
        "compile",
        "jit",
        # how a run is recorded and resumed, not what it trains:
        "train_logger",
        "checkpointer",
    }
)
#: SpeechBrain run options that change the trained model (part of the identity when given).
RESULT_RUN_OPTIONS = (
    "grad_accumulation_factor",
    "max_grad_norm",
    "optimizer_step_limit",
    "skip_nonfinite_grads",
    "remove_vector_weight_decay",
    "debug_batches",
    "debug_epochs",
)
#: Files whose presence shows that a folder holds (part of) a run.
RUN_OUTPUTS = ("test_results.json", "history.json", "train_log.txt")


class ExperimentIdentityError(ValueError):
    """A command that does not match its output folder, or a run that cannot be done."""


def is_path_key(key):
    """Whether a hyperparameter is a path of the run's files (not part of the identity).

    Example
    -------
    >>> keys = ("data_folder", "output_folder", "train_log", "lr", "ssl_hub")
    >>> [key for key in keys if is_path_key(key)]
    ['data_folder', 'output_folder', 'train_log']
    """
    return str(key).endswith("_folder") or key == "train_log"


# ----------------------------------------------------------------------------------------------
# The identity of a command
# ----------------------------------------------------------------------------------------------
def command_identity(hparams_file, argv, script):
    """The identity of ``script hparams_file *argv`` (see :func:`make_identity`).

    Arguments
    ---------
    hparams_file : str
        The HyperPyYAML file.
    argv : list of str
        The options after it (``--lr=0.1``, ``--device=cpu``...).
    script : str
        The recipe script (only its file name is recorded).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("data_folder: !PLACEHOLDER\\nlr: 0.1\\nnum_workers: 0\\n")
    >>> one = command_identity(path, ["--data_folder=/a", "--lr=0.5", "--num_workers=4"], "t.py")
    >>> two = command_identity(path, ["--data_folder=/b", "--lr=0.5", "--device=cpu"], "t.py")
    >>> one["hparams"], identity_differences(one, two)
    ({'lr': 0.5}, [])
    """
    _, run_opts, overrides = sb.parse_arguments([hparams_file, *argv])
    return make_identity(hparams_file, overrides, run_opts, script)


def make_identity(hparams_file, overrides, run_opts, script):
    """The identity of a command from its parsed parts (``speechbrain.parse_arguments``).

    Arguments
    ---------
    hparams_file : str
        The HyperPyYAML file.
    overrides : str or dict
        The overrides (YAML text or dict).
    run_opts : dict-like
        The run options; those of :data:`RESULT_RUN_OPTIONS` given on the command line
        (``overridden_args``) are part of the identity, ``debug`` too.
    script : str
        The recipe script.

    Returns
    -------
    dict
        ``format_version``, ``script``, ``hparams_file``, ``debug``, ``run_options``,
        ``hparams``.
    """
    document = read_yaml_values(hparams_file) or {}
    overrides = parse_overrides(overrides)
    given = getattr(run_opts, "overridden_args", None)
    given = set(run_opts.keys() if given is None else given)
    run_options = {key: run_opts[key] for key in RESULT_RUN_OPTIONS if key in given}
    for key in [key for key in run_options if key in document]:  # a run option that is a key too
        overrides[key] = run_options.pop(key)
    kept = {
        key: value
        for key, value in overrides.items()
        if key not in RUNTIME_KEYS and not is_path_key(key)
    }
    kept.update({key: f"${key}" for key in document if is_path_key(key)})
    # The round-trip nodes, tags kept: an object (!new:, !name:...) is recorded by a hash.
    resolved = load_resolved_nodes(hparams_file, kept)
    hparams = {
        str(key): summarize(value)
        for key, value in resolved.items()
        if key not in RUNTIME_KEYS and not is_path_key(key) and not str(key).startswith("__")
    }
    return {
        "format_version": FORMAT_VERSION,
        "script": os.path.basename(script),
        "hparams_file": os.path.basename(hparams_file),
        "debug": bool(run_opts.get("debug", False)) if hasattr(run_opts, "get") else False,
        "run_options": plain(run_options),
        "hparams": hparams,
    }


def plain(node):
    """A YAML node as plain JSON values; a tagged node becomes ``{tag: value}``.

    Example
    -------
    >>> import io
    >>> from ser_modules.utils.yaml_values import load_yaml_nodes
    >>> text = "a: !new:torch.nn.Linear {in_features: 2}\\nb: [1, 0.5]"
    >>> plain(load_yaml_nodes(io.StringIO(text)))
    {'a': {'!new:torch.nn.Linear': {'in_features': 2}}, 'b': [1, 0.5]}
    """
    return plain_values(node, keep_tags=True)


def summarize(node):
    """The recorded value of a hyperparameter: its plain value, or ``sha1:<digest>`` for an
    object (any tag inside), whose resolved arguments are long and repeat other keys.

    Example
    -------
    >>> import io
    >>> from ser_modules.utils.yaml_values import load_yaml_nodes
    >>> summarize(load_yaml_nodes(io.StringIO("[neu, hap]")))
    ['neu', 'hap']
    >>> adam = load_yaml_nodes(io.StringIO("!name:torch.optim.Adam {lr: 0.1}"))
    >>> summarize(adam).startswith("sha1:")
    True
    """
    value = plain(node)
    text = json.dumps(value, sort_keys=True)
    if '"!' not in text:
        return value
    return "sha1:" + hashlib.sha1(text.encode()).hexdigest()[:16]


def identity_differences(recorded, current):
    """What differs between two identities, one ``"key: recorded -> current"`` line each.

    Hyperparameters only one of them has (a key a newer version of a recipe added) are not
    differences. The inputs are compared by :func:`record_inputs`.

    Example
    -------
    >>> one = {"script": "train.py", "hparams": {"lr": 0.1, "seed": 1, "opt_class": "sha1:ab"}}
    >>> two = {"script": "train.py",
    ...        "hparams": {"lr": 0.5, "seed": 1, "opt_class": "sha1:cd", "new": 2}}
    >>> identity_differences(one, two)
    ['lr: 0.1 -> 0.5', 'opt_class (an object built from the above)']
    """
    lines, derived = [], []
    for key in ("script", "hparams_file", "debug", "run_options"):
        if key in recorded and key in current and recorded[key] != current[key]:
            lines.append(f"{key}: {describe(recorded[key])} -> {describe(current[key])}")
    old, new = recorded.get("hparams", {}), current.get("hparams", {})
    for key in old:
        if key in new and old[key] != new[key]:
            if str(old[key]).startswith("sha1:") and str(new[key]).startswith("sha1:"):
                derived.append(key)
            else:
                lines.append(f"{key}: {describe(old[key])} -> {describe(new[key])}")
    if derived:
        built = "the above" if lines else "the hparams file"
        lines.append(f"{', '.join(derived)} (an object built from {built})")
    return lines


def describe(value):
    """A short text of a recorded value (JSON, cut at 60 characters)."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----------------------------------------------------------------------------------------------
# The folder
# ----------------------------------------------------------------------------------------------
def read_identity(folder):
    """The ``experiment.json`` of a folder, or ``None``."""
    path = Path(folder) / IDENTITY_FILE
    return read_json(path) if path.exists() else None


def holds_a_run(folder):
    """Whether a folder holds outputs of a run (checkpoints, logs or results).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> holds_a_run(folder), holds_a_run(folder / "missing")
    (False, False)
    >>> (folder / "save" / "CKPT+1").mkdir(parents=True)
    >>> holds_a_run(folder)
    True
    """
    folder = Path(folder)
    if any((folder / name).exists() for name in RUN_OUTPUTS):
        return True
    return any(folder.glob("test_*results.json")) or any((folder / "save").glob("CKPT+*"))


def check_folder(folder, identity, overwrite=False):
    """Checks that ``folder`` is new or was made by a command of the same ``identity``.

    Reads only: call it before anything is written into the folder. With ``overwrite``, a
    folder of another identity is not an error (see :func:`move_aside`).

    Arguments
    ---------
    folder : str or path-like
        The output folder.
    identity : dict
        The identity of the current command (:func:`make_identity`).
    overwrite : bool
        ``--overwrite_experiment=True`` was given.

    Returns
    -------
    str
        ``"new"`` (no folder, or one without a run), ``"same"`` (the identity matches) or
        ``"replace"`` (another identity, and ``overwrite``).

    Raises
    ------
    ExperimentIdentityError
        When the folder holds a run of another identity (or of no recorded identity).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "exp"
    >>> mine = {"script": "t.py", "debug": False, "hparams": {"lr": 0.1, "label_smoothing": 0.1}}
    >>> check_folder(folder, mine)
    'new'
    >>> write_identity(folder, mine)
    >>> check_folder(folder, mine)
    'same'
    >>> other = {"script": "t.py", "debug": False, "hparams": {"lr": 0.05, "label_smoothing": 0.0}}
    >>> try:
    ...     check_folder(folder, other)
    ... except ExperimentIdentityError as error:
    ...     print(str(error).splitlines()[1:3])
    ['    lr: 0.1 -> 0.05', '    label_smoothing: 0.1 -> 0.0']
    >>> check_folder(folder, other, overwrite=True)
    'replace'
    """
    folder = Path(folder)
    recorded = read_identity(folder)
    if recorded is None:
        if not holds_a_run(folder):
            return "new"
        if overwrite:
            return "replace"
        raise ExperimentIdentityError(
            f"{folder} holds a run but no {IDENTITY_FILE} (made by an older version of the recipes,"
            " or by hand): its hyperparameters cannot be checked against this command. Give this"
            " run another folder (e.g. --experiment_folder=...), or pass"
            " --overwrite_experiment=True to move the old folder aside (to"
            f" {folder}.replaced-<time>) and start afresh."
        )
    differences = identity_differences(recorded, identity)
    if not differences:
        return "same"
    if overwrite:
        return "replace"
    raise ExperimentIdentityError(mismatch_message(folder, differences, recorded))


def mismatch_message(folder, differences, recorded):
    """The refusal of a command whose identity differs from the folder's."""
    lines = [f"{folder} was made by another command ({folder / IDENTITY_FILE} differs in):"]
    lines += [f"    {line}" for line in differences]
    if recorded.get("debug"):
        lines.append(
            "It holds a --debug run, never a result: delete it, or use --overwrite_experiment=True."
        )
    lines.append(
        "Its checkpoints and results belong to the recorded hyperparameters; nothing was changed."
        " Give this command its own folder (e.g. --experiment_folder=... or another --seed), or"
        " pass --overwrite_experiment=True to move the old folder aside (to"
        f" {folder}.replaced-<time>) and start afresh."
    )
    return "\n".join(lines)


def move_aside(folder):
    """Renames ``folder`` to ``<folder>.replaced-<YYYYmmdd-HHMMSS>`` (a free name); returns it.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "exp"
    >>> folder.mkdir()
    >>> moved = move_aside(folder)
    >>> folder.exists(), moved.exists(), moved.name.startswith("exp.replaced-")
    (False, True, True)
    """
    folder = Path(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, index = folder.with_name(f"{folder.name}.replaced-{stamp}"), 1
    while target.exists():
        index += 1
        target = folder.with_name(f"{folder.name}.replaced-{stamp}-{index}")
    os.replace(folder, target)
    logger.warning("--overwrite_experiment: moved %s to %s", folder, target)
    return target


def write_identity(folder, identity):
    """Creates ``folder`` if needed and writes its ``experiment.json`` (no inputs, no state yet)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    record = {**identity, "inputs": None, "training": None, "evaluation": None}
    write_json_atomic(record, Path(folder) / IDENTITY_FILE)


def update_identity(folder, **fields):
    """Sets top-level fields of the folder's ``experiment.json`` (written atomically)."""
    record = read_identity(folder)
    if record is None:
        raise ExperimentIdentityError(
            f"{Path(folder) / IDENTITY_FILE} is missing: the folder has no identity"
        )
    record.update(fields)
    write_json_atomic(record, Path(folder) / IDENTITY_FILE)


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def manifest_fingerprint(path, prefixes):
    """SHA-1 of a manifest's entries, with the folders of ``prefixes`` written as their names.

    Arguments
    ---------
    path : str or path-like
        A JSON manifest.
    prefixes : dict
        Name -> folder (e.g. ``{"data_folder": "/data/IEMOCAP"}``): a string value starting
        with the folder is recorded as ``$<name>/...``, so a moved corpus has the same
        fingerprint.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> write_json_atomic({"u1": {"wav": "/a/corpus/u1.wav", "emo": "neu"}}, root / "one.json")
    >>> write_json_atomic({"u1": {"wav": "/b/moved/u1.wav", "emo": "neu"}}, root / "two.json")
    >>> one = manifest_fingerprint(root / "one.json", {"data_folder": "/a/corpus"})
    >>> one == manifest_fingerprint(root / "two.json", {"data_folder": "/b/moved"})
    True
    >>> one == manifest_fingerprint(root / "two.json", {"data_folder": "/a/corpus"})
    False
    """
    ordered = sorted(
        ((str(os.path.abspath(p)), name) for name, p in prefixes.items() if p), reverse=True
    )

    def relative(value):
        if isinstance(value, dict):
            return {key: relative(item) for key, item in value.items()}
        if isinstance(value, list):
            return [relative(item) for item in value]
        if isinstance(value, str):
            for prefix, name in ordered:
                if value == prefix or value.startswith(prefix + os.sep):
                    return f"${name}{value[len(prefix) :]}"
        return value

    text = json.dumps(relative(read_json(path)), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()


def record_inputs(hparams, manifests, fingerprints=None):
    """Records the fingerprint of the run's manifests, or checks it against the recorded one.

    Called after the data preparation, by every process. The first run of a folder records
    the fingerprints (main process); a later run must find the same ones.

    Arguments
    ---------
    hparams : dict
        Reads ``output_folder`` and the paths (:func:`is_path_key`) used as prefixes.
    manifests : dict
        Split -> manifest path (those the run trains and tests on).
    fingerprints : dict, optional
        Other inputs: name -> fingerprint (e.g. the weights of a pretrained upstream the run
        starts from, ``feature_cache.module_fingerprint``).

    Raises
    ------
    ExperimentIdentityError
        When an input differs from the one the folder's run used (naming the splits or models).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_identity(folder, {"hparams": {}})
    >>> write_json_atomic({"u1": {"emo": "neu"}}, folder / "test.json")
    >>> hparams = {"output_folder": str(folder)}
    >>> record_inputs(hparams, {"test": folder / "test.json"})
    >>> write_json_atomic({"u1": {"emo": "sad"}}, folder / "test.json")
    >>> try:
    ...     record_inputs(hparams, {"test": folder / "test.json"})
    ... except ExperimentIdentityError as error:
    ...     print(str(error).split(": ", 1)[1].split(". ")[0])
    inputs test differ from those the run of this folder used (the corpus, the data preparation
    or a pretrained model changed)
    """
    folder = Path(hparams["output_folder"])
    prefixes = {
        key: value for key, value in hparams.items() if is_path_key(key) and isinstance(value, str)
    }
    current = {split: manifest_fingerprint(path, prefixes) for split, path in manifests.items()}
    current.update(fingerprints or {})
    recorded = (read_identity(folder) or {}).get("inputs")
    sb.utils.distributed.ddp_barrier()  # every process has read the record before it is written
    if recorded is None:
        sb.utils.distributed.run_on_main(update_identity, args=[folder], kwargs={"inputs": current})
        return
    changed = sorted(
        split for split in current if split in recorded and recorded[split] != current[split]
    )
    if changed:
        raise ExperimentIdentityError(
            f"{folder}: inputs {', '.join(changed)} differ from those the run of this folder used"
            " (the corpus, the data preparation or a pretrained model changed). Its checkpoints"
            " were trained on the old ones: give this run another folder (e.g."
            " --experiment_folder=...), or pass --overwrite_experiment=True to move the old folder"
            " aside and start afresh."
        )


# ----------------------------------------------------------------------------------------------
# Done
# ----------------------------------------------------------------------------------------------
def training_end(epoch_counter, brain=None):
    """How a ``fit`` that returned ended: ``"update limit"`` (the Brain's
    ``optimizer_step_limit`` reached, e.g. the 30,000 updates of ``wavlm_corr_att.yaml``),
    ``"early stop"``, ``"epoch limit"`` or ``None`` (none of them: the training is not complete).

    Example
    -------
    >>> from speechbrain.utils.epoch_loop import EpochCounter
    >>> counter = EpochCounter(limit=2)
    >>> print(training_end(counter))
    None
    >>> for epoch in counter:
    ...     pass  # train and validate
    >>> training_end(counter)
    'epoch limit'
    >>> from types import SimpleNamespace
    >>> brain = SimpleNamespace(optimizer_step=300, optimizer_step_limit=300)
    >>> training_end(EpochCounter(limit=1000), brain)
    'update limit'
    """
    limit = getattr(brain, "optimizer_step_limit", None)
    if limit is not None and brain.optimizer_step >= limit:
        return "update limit"
    if getattr(epoch_counter, "should_stop", False):
        return "early stop"
    if epoch_counter.current >= epoch_counter.limit:
        return "epoch limit"
    return None


def record_training(hparams, brain):
    """Records after ``brain.fit`` whether the training is complete (main process only).

    A ``--test_only`` run trains nothing and records nothing; a ``--debug`` run is never
    complete.

    Arguments
    ---------
    hparams : dict
        Reads ``output_folder`` and ``epoch_counter``.
    brain : speechbrain.Brain
        The Brain after ``fit`` (its ``debug`` and ``test_only`` options).
    """
    if brain.test_only or not sb.utils.distributed.if_main_process():
        return
    counter = hparams["epoch_counter"]
    end = None if brain.debug else training_end(counter, brain)
    state = {
        "completed": end is not None,
        "end": end or "incomplete",
        "epochs": int(counter.current),
    }
    update_identity(hparams["output_folder"], training=state, evaluation=None)


def record_evaluation(hparams, brain, results):
    """Records after the test evaluation that the run is finished, if its training is.

    Arguments
    ---------
    hparams : dict
        Reads ``output_folder``.
    brain : speechbrain.Brain
        The Brain (its ``debug`` option).
    results : list of str
        The result files the evaluation wrote (names in the output folder).
    """
    if not sb.utils.distributed.if_main_process():
        return
    folder = hparams["output_folder"]
    training = (read_identity(folder) or {}).get("training") or {}
    finished = bool(training.get("completed")) and not brain.debug
    if not finished:
        logger.warning(
            "%s: evaluated, but not finished (%s): cross_validate.py will not count it as done",
            folder,
            "a --debug run" if brain.debug else "its training is not complete",
        )
    update_identity(
        folder, evaluation={"finished": finished, "results": list(results), "time": time.time()}
    )


def finished_run(folder, identity):
    """Whether ``folder`` holds a finished run of ``identity``; ``(bool, reason)``.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> mine = {"script": "train.py", "debug": False, "hparams": {"lr": 0.1}}
    >>> finished_run(folder, mine)
    (False, 'no experiment.json')
    >>> write_identity(folder, mine)
    >>> finished_run(folder, mine)
    (False, 'its training is not complete')
    >>> update_identity(folder, training={"completed": True}, evaluation={"finished": True})
    >>> finished_run(folder, mine)
    (True, 'finished')
    >>> finished_run(folder, {**mine, "hparams": {"lr": 0.2}})
    (False, 'another command made it: lr: 0.1 -> 0.2')
    """
    recorded = read_identity(folder)
    if recorded is None:
        return False, f"no {IDENTITY_FILE}"
    differences = identity_differences(recorded, identity)
    if differences:
        return False, "another command made it: " + "; ".join(differences)
    if not (recorded.get("training") or {}).get("completed"):
        return False, "its training is not complete"
    if not (recorded.get("evaluation") or {}).get("finished"):
        return False, "its evaluation is not written"
    return True, "finished"


def pop_overwrite_option(argv):
    """``(argv without --overwrite_experiment[=True|False], whether it asks to overwrite)``.

    Example
    -------
    >>> pop_overwrite_option(["h.yaml", "--lr=0.1", "--overwrite_experiment=True"])
    (['h.yaml', '--lr=0.1'], True)
    >>> pop_overwrite_option(["h.yaml", "--overwrite_experiment", "False"])
    (['h.yaml'], False)
    """
    kept, overwrite, argv = [], False, list(argv)
    flag = f"--{OVERWRITE_OPTION}"
    while argv:
        arg = argv.pop(0)
        if arg == flag:
            value = argv.pop(0) if argv and argv[0].lower() in ("true", "false") else "True"
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        else:
            kept.append(arg)
            continue
        if value.lower() not in ("true", "false"):
            raise ExperimentIdentityError(f"{flag} takes True or False, got {value!r}")
        overwrite = value.lower() == "true"
    return kept, overwrite
