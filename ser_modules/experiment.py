"""Experiment set-up shared by the recipes' training scripts.

Parses the command line like every SpeechBrain recipe, joins the DDP group when launched by
``torchrun``, loads the HyperPyYAML file with the overrides and creates the experiment folder
(with the resolved hyperparameters and a copy of the recipe script).

Authors
 * ser-recipes contributors 2026
"""

import os
import shutil

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml


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
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    hparams["device"] = run_opts.get("device", "cpu")
    hparams["noprogressbar"] = bool(run_opts.get("noprogressbar", False))
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if sb.utils.distributed.if_main_process():
        shutil.copy(os.path.realpath(script), hparams["output_folder"])
    return hparams, run_opts
