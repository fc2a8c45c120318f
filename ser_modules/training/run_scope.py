"""What a run uses of its manifests: all of them, a ``--debug`` sample, or the test splits.

A ``--debug`` run (SpeechBrain's smoke test) goes through ``debug_batches`` batches of each
stage; :func:`debug_manifests` gives it manifests of that many batches per split (the first
utterances of each), so that it never reads, nor extracts the frozen features of, the whole
corpus. A ``--test_only`` run evaluates the test splits only: :func:`splits_to_extract` leaves
the training splits out of the feature cache.

Authors
 * ser-recipes contributors 2026
"""

import logging
import os

from speechbrain.utils.distributed import run_on_main

from ser_modules.utils.files import read_json, write_json_atomic

logger = logging.getLogger(__name__)

#: The splits a ``--test_only`` run does not evaluate.
TRAINING_SPLITS = ("train", "valid")
#: Folder (in the output folder) of the manifests of a ``--debug`` run.
DEBUG_MANIFESTS = "debug_manifests"


def split_batch_size(hparams, split):
    """The batch size of a split's data loader (``<stage>_dataloader_opts``, else ``batch_size``).

    Example
    -------
    >>> hparams = {"batch_size": 8, "test_dataloader_opts": {"batch_size": 2}}
    >>> split_batch_size(hparams, "train"), split_batch_size(hparams, "test1")
    (8, 2)
    """
    stage = split if split in TRAINING_SPLITS else "test"
    options = hparams.get(f"{stage}_dataloader_opts") or {}
    return int(options.get("batch_size", hparams.get("batch_size", 1)))


def debug_manifests(hparams, run_opts, manifests):
    """The manifests a run reads: ``manifests`` itself, or with ``--debug`` the first
    ``debug_batches`` batches of each, written to ``<output_folder>/debug_manifests/``.

    Arguments
    ---------
    hparams : dict
        Reads ``output_folder`` and the batch sizes (:func:`split_batch_size`).
    run_opts : dict-like
        Reads ``debug`` and ``debug_batches``.
    manifests : dict
        Split -> manifest path.

    Returns
    -------
    dict
        Split -> manifest path.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> utterances = {f"u{i}": {"emo": "neu"} for i in range(10)}
    >>> write_json_atomic(utterances, os.path.join(folder, "train.json"))
    >>> hparams = {"output_folder": folder, "batch_size": 3}
    >>> debug_manifests(hparams, {"debug": False}, {"train": "train.json"})
    {'train': 'train.json'}
    >>> manifests = {"train": os.path.join(folder, "train.json")}
    >>> used = debug_manifests(hparams, {"debug": True, "debug_batches": 2}, manifests)
    >>> list(read_json(used["train"]))
    ['u0', 'u1', 'u2', 'u3', 'u4', 'u5']
    """
    if not run_opts.get("debug"):
        return dict(manifests)
    batches = int(run_opts.get("debug_batches") or 2)
    folder = os.path.join(hparams["output_folder"], DEBUG_MANIFESTS)
    used = {split: os.path.join(folder, f"{split}.json") for split in manifests}

    def write():
        for split, path in manifests.items():
            entries = read_json(path)
            keep = dict(list(entries.items())[: batches * split_batch_size(hparams, split)])
            write_json_atomic(keep, used[split])
            logger.info(
                "--debug: %s uses %d of the %d utterances of %s",
                split,
                len(keep),
                len(entries),
                path,
            )

    run_on_main(write)
    return used


def splits_to_extract(manifests, run_opts):
    """The manifests whose frozen features a run needs: without the training splits under
    ``--test_only``.

    Example
    -------
    >>> manifests = {"train": "t.json", "valid": "v.json", "test": "x.json"}
    >>> splits_to_extract(manifests, {"test_only": True}), len(splits_to_extract(manifests, {}))
    ({'test': 'x.json'}, 3)
    """
    if not run_opts.get("test_only"):
        return dict(manifests)
    return {split: path for split, path in manifests.items() if split not in TRAINING_SPLITS}
