"""The data preparation step of a training script: run the recipe's preparation, return the
manifests the run uses.

Every recipe prepares its corpus with its own function (``recipes/<corpus>/*_prepare.py``);
:func:`prepare_manifests` runs it on the main process with the recipe's options, finds the
manifests, checks that the splits the run needs are there and applies the ``max_duration``
limit (:func:`ser_modules.data.checks.apply_duration_limit`).

Authors
 * ser-recipes contributors 2026
"""

import os

from speechbrain.utils.distributed import run_on_main

from ser_modules.data.checks import apply_duration_limit, check_required_splits
from ser_modules.data.manifests import recorded_manifests


def prepare_manifests(hparams, prepare, options=(), splits=None, required=None):
    """Runs the data preparation and returns ``{split: manifest path}``.

    ``prepare`` runs on the main process (unless ``skip_prep``) with the keyword arguments
    ``save_folder`` (``manifest_folder``), ``progressbar`` (False with ``--noprogressbar``)
    and the hparams named in ``options``. With ``max_duration``, the long utterances are
    listed and logged per manifest; with ``long_utterance: skip`` the training manifest
    without them is returned.

    Arguments
    ---------
    hparams : dict
        Reads ``skip_prep``, ``manifest_folder``, ``noprogressbar`` (optional),
        ``max_duration``, ``long_utterance`` and the keys of ``options``.
    prepare : callable
        The recipe's preparation (e.g. ``prepare_iemocap``), writing ``<split>.json``
        manifests into ``save_folder``.
    options : iterable of str
        The hparams passed to ``prepare`` under their names.
    splits : iterable of str, optional
        The manifests to use; None: those the preparation lists in its stamp
        (``prepare_options.json``, :func:`ser_modules.data.manifests.recorded_manifests`).
    required : callable, optional
        ``required(manifests)`` gives the splits the run cannot do without; a missing one is
        an error (:func:`ser_modules.data.checks.check_required_splits`) before any is read.

    Returns
    -------
    dict
        Split -> manifest path.

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.data.manifests import write_manifests
    >>> folder = tempfile.mkdtemp()
    >>> def prepare(save_folder, seed, progressbar):
    ...     entries = {"u1": {"duration": 2.0}}
    ...     manifests = {"train": entries, "test1": entries}
    ...     write_manifests(save_folder, manifests, {"seed": seed}, "Demo")
    >>> hparams = {"skip_prep": False, "manifest_folder": folder, "seed": 3, "max_duration": None,
    ...            "long_utterance": "crop", "noprogressbar": True}
    >>> manifests = prepare_manifests(hparams, prepare, ["seed"])
    >>> {split: os.path.basename(path) for split, path in manifests.items()}
    {'test1': 'test1.json', 'train': 'train.json'}
    >>> prepare_manifests(hparams, prepare, ["seed"], required=lambda found: ["train", "valid"])
    Traceback (most recent call last):
    ...
    ser_modules.data.checks.MissingSplitError: ...: no valid manifest (manifests: test1, train)
    """
    folder = hparams["manifest_folder"]
    if not hparams["skip_prep"]:
        kwargs = {key: hparams[key] for key in options}
        kwargs.update(save_folder=folder, progressbar=not hparams.get("noprogressbar", False))
        run_on_main(prepare, kwargs=kwargs)
    if splits is None:  # those of the finished preparation (an error without one)
        splits = list(recorded_manifests(folder))
    manifests = {split: os.path.join(folder, f"{split}.json") for split in splits}
    if required is not None:
        check_required_splits(manifests, required(manifests), folder)
    return apply_duration_limit(manifests, hparams["max_duration"], hparams["long_utterance"])
