"""Experiment set-up shared by the recipes' training scripts.

Parses the command line like every SpeechBrain recipe, joins the DDP group when launched by
``torchrun``, loads the HyperPyYAML file with the overrides and creates the experiment folder
(with the resolved hyperparameters, a copy of the recipe script and of the model's inference
template, the file that ``ser_modules.tools.publish export`` fills in).

An override that is not a key of the hparams file (a typo such as ``--lrr=0.1``) and a
``!PLACEHOLDER`` left without value raise :class:`HparamsError` naming the file and the key,
with the closest keys as suggestions (:func:`load_hparams`).

Authors
 * ser-recipes contributors 2026
"""

import difflib
import os
import shlex
import shutil

import ruamel.yaml
import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml


#: Name of the copy of the inference template in an experiment folder.
INFERENCE_TEMPLATE_COPY = "inference_template.yaml"


class HparamsError(ValueError):
    """A wrong override or a missing value of an hparams file (the message names the file)."""


def load_experiment(argv, script):
    """Parses ``argv``, loads the hparams and creates the experiment folder.

    Arguments
    ---------
    argv : list of str
        ``[hparams_file, --run_opt..., --override=value...]`` as given to the recipe script.
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
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
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
        write_command(script, argv, hparams["output_folder"])
        if template is not None:
            shutil.copy(template, os.path.join(hparams["output_folder"], INFERENCE_TEMPLATE_COPY))
    return hparams, run_opts


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
    >>> _ = open(os.path.join(folder, "inference", "model.yaml"), "w").write("interface_class: X\\n")
    >>> path = inference_template(os.path.join(folder, "h.yaml"), {"inference_template": "inference/model.yaml"})
    >>> os.path.relpath(path, folder), inference_template("h.yaml", {"inference_template": None})
    ('inference/model.yaml', None)
    >>> try:
    ...     inference_template(os.path.join(folder, "h.yaml"), {"inference_template": "missing.yaml"})
    ... except HparamsError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    /.../h.yaml: inference_template missing.yaml is not a file (looked for /.../missing.yaml)
    """
    name = hparams.get("inference_template")
    if not name:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(hparams_file)), name)
    if not os.path.isfile(path):
        raise HparamsError(f"{hparams_file}: inference_template {name} is not a file (looked for {path})")
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
    /.../h.yaml: data_folder has no value (!PLACEHOLDER): give it on the command line, e.g. --data_folder=...
    """
    yaml = ruamel.yaml.YAML()
    with open(hparams_file, encoding="utf-8") as fin:
        document = yaml.load(fin) or {}
    if isinstance(overrides, str):
        overrides = yaml.load(overrides)
    overrides = overrides or {}
    for key in overrides:
        if key not in document:
            raise HparamsError(unknown_override_message(key, hparams_file, [*document, *run_options]))
    for key, value in document.items():
        if getattr(getattr(value, "tag", None), "value", None) == "!PLACEHOLDER" and key not in overrides:
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
        return f"Unknown override --{key}: not a key of {hparams_file} (nor a run option). Check the spelling."
    suggestions = " or ".join(f"--{name}" for name in close)
    return f"Unknown override --{key}: not a key of {hparams_file}. Did you mean {suggestions}?"


def process_group():
    """``(rank, world_size)`` of this process in the DDP group; ``(0, 1)`` without one.

    Example
    -------
    >>> process_group()
    (0, 1)
    """
    if not sb.utils.distributed.is_distributed_initialized():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


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
