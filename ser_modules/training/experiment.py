"""Experiment set-up shared by the recipes' training scripts.

Parses the command line like every SpeechBrain recipe, joins the DDP group when launched by
``torchrun``, checks the output folder's identity (``training.identity``: a folder made by
another command is refused before anything is rewritten), loads the HyperPyYAML file with the
overrides and creates the experiment folder (with ``experiment.json``, the resolved
hyperparameters, a copy of the recipe script and of the model's inference template, the file
that ``ser_modules.tools.publish export`` fills in).

An override that is not a key of the hparams file (a typo such as ``--lrr=0.1``) and a
``!PLACEHOLDER`` left without value raise :class:`HparamsError` naming the file and the key,
with the closest keys as suggestions (:func:`load_hparams`).

Authors
 * ser-recipes contributors 2026
"""

import difflib
import glob
import os
import shlex
import shutil

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml

from ser_modules.training.identity import (
    check_folder,
    make_identity,
    move_aside,
    pop_overwrite_option,
    write_identity,
)
from ser_modules.utils.yaml_values import (
    load_yaml_nodes,
    parse_overrides,
    read_resolved_values,
    yaml_tag,
)

#: Name of the copy of the inference template in an experiment folder.
INFERENCE_TEMPLATE_COPY = "inference_template.yaml"


class HparamsError(ValueError):
    """A wrong override or a missing value of an hparams file (the message names the file)."""


def load_experiment(argv, script):
    """Parses ``argv``, checks the output folder's identity, loads the hparams and creates the
    experiment folder.

    Before anything is written: the command's identity (``training.identity``) must match the
    one recorded in the folder's ``experiment.json`` (a folder made by another command is
    refused, naming the keys that differ; ``--overwrite_experiment=True`` moves it aside), the
    run must have something to do (``number_of_epochs`` at least 1; ``--test_only`` needs a
    checkpoint). A ``--debug`` run writes into ``<output_folder>_debug``, never into the
    experiment's folder.

    Arguments
    ---------
    argv : list of str
        ``[hparams_file, --run_opt..., --override=value...]`` as given to the recipe script,
        plus ``--overwrite_experiment=True`` when wanted.
    script : str
        The recipe script (``__file__`` of the caller); it is copied into the output folder.

    Returns
    -------
    tuple
        ``(hparams, run_opts)``; ``hparams["device"]`` and ``hparams["noprogressbar"]`` are
        filled from the run options.

    Example
    -------
    >>> hparams, run_opts = load_experiment(sys.argv[1:], __file__)  # doctest: +SKIP
    >>> hparams["output_folder"]  # doctest: +SKIP
    'results/...'

    (Run in a subprocess by ``tests/test_experiment.py``: it configures logging.)
    """
    argv, overwrite = pop_overwrite_option(argv)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    check_overrides(hparams_file, overrides, run_opts.keys())
    identity = make_identity(hparams_file, overrides, run_opts, script)
    if run_opts.get("debug"):
        overrides = debug_overrides(hparams_file, overrides)
    plan = resolved_plan(hparams_file, overrides)
    folder = str(plan["output_folder"])
    status = check_folder(folder, identity, overwrite)
    check_run_is_possible(plan, run_opts, hparams_file)
    if sb.utils.distributed.if_main_process() and status != "same":
        if status == "replace":
            move_aside(folder)
        write_identity(folder, identity)
    sb.utils.distributed.ddp_barrier()
    hparams = load_hparams(hparams_file, overrides, run_options=run_opts.keys())
    template = inference_template(hparams_file, hparams)
    # The Brain's default when --device is not given (cuda:<LOCAL_RANK> under torchrun).
    hparams["device"] = run_opts.get("device") or sb.utils.distributed.infer_device()
    hparams["noprogressbar"] = bool(run_opts.get("noprogressbar", False))
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if sb.utils.distributed.if_main_process():
        shutil.copy(os.path.realpath(script), hparams["output_folder"])
        command_file = os.path.join(hparams["output_folder"], "command.txt")
        if not (
            run_opts.get("test_only") and os.path.exists(command_file)
        ):  # keep the training command
            write_command(script, argv, hparams["output_folder"])
        if template is not None:
            shutil.copy(template, os.path.join(hparams["output_folder"], INFERENCE_TEMPLATE_COPY))
    return hparams, run_opts


def resolved_plan(hparams_file, overrides):
    """The hyperparameters with references resolved, as plain YAML values (nothing built).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("root: results\\noutput_folder: !ref <root>/exp\\n")
    >>> str(resolved_plan(path, {"root": "/tmp/r"})["output_folder"])
    '/tmp/r/exp'
    """
    return read_resolved_values(hparams_file, overrides)


def debug_overrides(hparams_file, overrides):
    """The overrides of a ``--debug`` run: those given, with ``output_folder`` moved to
    ``<output_folder>_debug`` (a debug run never writes into the experiment's folder).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("lr: 0.1\\noutput_folder: !ref results/lr<lr>\\n")
    >>> debug_overrides(path, "lr: 0.5")
    {'lr': 0.5, 'output_folder': 'results/lr0.5_debug'}
    """
    overrides = parse_overrides(overrides)
    folder = str(resolved_plan(hparams_file, overrides)["output_folder"]).rstrip("/")
    overrides["output_folder"] = f"{folder}_debug"
    return overrides


def check_run_is_possible(plan, run_opts, hparams_file):
    """Refuses a run that would evaluate an untrained model: ``number_of_epochs`` below 1
    (unless ``--test_only``), or ``--test_only`` without a checkpoint in ``save_folder``.

    Arguments
    ---------
    plan : dict
        The resolved hyperparameters (:func:`resolved_plan`).
    run_opts : dict-like
        The run options.
    hparams_file : str
        The hparams file (named in the messages).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> check_run_is_possible({"number_of_epochs": 2, "save_folder": folder}, {}, "h.yaml")
    >>> try:
    ...     check_run_is_possible({"number_of_epochs": 0, "save_folder": folder}, {}, "h.yaml")
    ... except HparamsError as error:
    ...     print(str(error).split(":")[0])
    h.yaml
    >>> try:
    ...     check_run_is_possible(
    ...         {"number_of_epochs": 2, "save_folder": folder}, {"test_only": True}, "h.yaml"
    ...     )
    ... except HparamsError as error:
    ...     print(str(error).split(" (")[0])  # doctest: +ELLIPSIS
    --test_only: no checkpoint in /...
    """
    epochs = plan.get("number_of_epochs")
    if run_opts.get("test_only"):
        save_folder = str(plan["save_folder"])
        if not any(
            os.path.isfile(os.path.join(path, "CKPT.yaml"))
            for path in glob.glob(f"{save_folder}/CKPT+*")
        ):
            raise HparamsError(
                f"--test_only: no checkpoint in {save_folder} (nothing was trained with these "
                "hyperparameters): run without --test_only to train first, or give the "
                "options (and folder) of the trained run"
            )
    elif epochs is not None and int(epochs) < 1:
        raise HparamsError(
            f"{hparams_file}: number_of_epochs={epochs}: a run trains at least one epoch (the "
            "test results of an untrained model are not a result). To evaluate a trained "
            "model again, use --test_only with the options of its run"
        )


def inference_template(hparams_file, hparams):
    """The inference template named by ``inference_template`` (relative to the hparams file's
    folder), or ``None`` when the hparams name none (a model that is not exported).

    Arguments
    ---------
    hparams_file : str or path-like
        The HyperPyYAML file.
    hparams : dict
        Its loaded hyperparameters.

    Returns
    -------
    str or None
        Path of the template.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "inference"))
    >>> template = os.path.join(folder, "inference", "model.yaml")
    >>> _ = open(template, "w").write("interface_class: X\\n")
    >>> hparams_file = os.path.join(folder, "h.yaml")
    >>> path = inference_template(hparams_file, {"inference_template": "inference/model.yaml"})
    >>> os.path.relpath(path, folder), inference_template("h.yaml", {"inference_template": None})
    ('inference/model.yaml', None)
    >>> try:
    ...     inference_template(hparams_file, {"inference_template": "missing.yaml"})
    ... except HparamsError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    /.../h.yaml: inference_template missing.yaml is not a file (looked for /.../missing.yaml)
    """
    name = hparams.get("inference_template")
    if not name:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(hparams_file)), name)
    if not os.path.isfile(path):
        raise HparamsError(
            f"{hparams_file}: inference_template {name} is not a file (looked for {path})"
        )
    return path


def load_hparams(hparams_file, overrides=None, run_options=()):
    """Loads an hparams file with overrides, after :func:`check_overrides`.

    Arguments
    ---------
    hparams_file : str or path-like
        HyperPyYAML file.
    overrides : str or dict, optional
        Overrides (YAML text as returned by ``speechbrain.parse_arguments``, or a dict).
    run_options : iterable of str
        Names of the run options (only used to suggest a close name for a typo).

    Returns
    -------
    dict
        The loaded hyperparameters.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("data_folder: !PLACEHOLDER\\nlr: 0.1\\n")
    >>> load_hparams(path, "data_folder: /data\\nlr: 0.5")["lr"]
    0.5
    """
    check_overrides(hparams_file, overrides, run_options)
    with open(hparams_file, encoding="utf-8") as fin:
        return load_hyperpyyaml(fin, overrides)


def check_overrides(hparams_file, overrides=None, run_options=()):
    """Raises :class:`HparamsError` for an unknown override key or a placeholder left empty.

    Only top-level keys are checked, as HyperPyYAML does (nested mappings such as the
    dataloader options may gain new keys).

    Arguments
    ---------
    hparams_file : str or path-like
        HyperPyYAML file.
    overrides : str or dict, optional
        Overrides.
    run_options : iterable of str
        Names of the run options, suggested for typos too.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("data_folder: !PLACEHOLDER\\nlr: 0.1\\nbatch_size: 8\\n")
    >>> try:
    ...     check_overrides(path, "data_folder: /data\\nlrr: 0.5")
    ... except HparamsError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    Unknown override --lrr: not a key of /.../h.yaml. Did you mean --lr?
    >>> try:
    ...     check_overrides(path, {"lr": 0.5})
    ... except HparamsError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    /.../h.yaml: data_folder has no value (!PLACEHOLDER): give it on the command line,
    e.g. --data_folder=...
    """
    # The round-trip nodes: a !PLACEHOLDER is seen by its tag.
    document = load_yaml_nodes(hparams_file) or {}
    overrides = parse_overrides(overrides)
    for key in overrides:
        if key not in document:
            raise HparamsError(
                unknown_override_message(key, hparams_file, [*document, *run_options])
            )
    for key, value in document.items():
        if yaml_tag(value) == "!PLACEHOLDER" and key not in overrides:
            raise HparamsError(
                f"{hparams_file}: {key} has no value (!PLACEHOLDER): give it on the command line, "
                f"e.g. --{key}=..."
            )


def unknown_override_message(key, hparams_file, known):
    """The error message of an unknown override, with the closest known names.

    Example
    -------
    >>> unknown_override_message("number_of_epoch", "h.yaml", ["number_of_epochs", "lr"])
    'Unknown override --number_of_epoch: not a key of h.yaml. Did you mean --number_of_epochs?'
    >>> unknown_override_message("zzz", "h.yaml", ["lr"])
    'Unknown override --zzz: not a key of h.yaml (nor a run option). Check the spelling.'
    """
    names = [str(name) for name in dict.fromkeys(known) if not str(name).startswith("__")]
    close = difflib.get_close_matches(str(key), names, n=3, cutoff=0.6)
    if not close:
        return (
            f"Unknown override --{key}: not a key of {hparams_file} (nor a run option). Check the"
            " spelling."
        )
    suggestions = " or ".join(f"--{name}" for name in close)
    return f"Unknown override --{key}: not a key of {hparams_file}. Did you mean {suggestions}?"


def finish_experiment():
    """Ends a DDP run cleanly: all processes meet, then the process group is destroyed.

    Without it a process can exit while the gloo / NCCL threads of its group still run, and
    abort ("terminate called without an active exception") after finishing its work. Called
    at the end of the recipes' ``main``; does nothing without a process group.
    """
    if sb.utils.distributed.is_distributed_initialized():
        sb.utils.distributed.ddp_barrier()
        torch.distributed.destroy_process_group()


def write_command(script, argv, folder):
    """Writes the command line of the run to ``command.txt`` (read by the model card export)."""
    command = shlex.join(["python", os.path.basename(script), *argv])
    with open(os.path.join(folder, "command.txt"), "w", encoding="utf-8") as handle:
        handle.write(command + "\n")
