"""Averaging of the N best checkpoints of a SpeechBrain run (Popel and Bojar, 2018).

Morais et al. (ICASSP 2022) average the parameters of the 5 best checkpoints of a run, chosen
on validation accuracy only, for the upstream and for the downstream. With SpeechBrain this
needs three things, provided here:

* enough checkpoints must survive: :func:`save_and_keep_best` saves an end-of-epoch
  checkpoint and keeps the ``num_to_keep`` best ones on the selection key plus the newest one
  (needed to resume), deleting the others and any intra-epoch checkpoint;
* the N best are found with ``Checkpointer.find_checkpoints`` (:func:`best_checkpoints`) and
  averaged with SpeechBrain's ``average_checkpoints`` (:func:`load_average`);
* the average must be loaded where ``Brain.evaluate()`` cannot overwrite it: ``evaluate()``
  calls ``on_evaluate_start()``, whose default reloads the single best checkpoint. Recipes
  therefore call :func:`load_average` *inside* an ``on_evaluate_start`` override, after the
  default one (SpeechBrain's LibriSpeech transformer recipe does the same).

:func:`checkpoint_summary` describes the checkpoints (name, epoch, key value) for the
results files, so a run records which checkpoints were averaged.

Example
-------
>>> import tempfile, torch
>>> from speechbrain.utils.checkpoints import Checkpointer
>>> model = torch.nn.Linear(1, 1, bias=False)
>>> checkpointer = Checkpointer(tempfile.mkdtemp(), {"model": model})
>>> for epoch, accuracy in enumerate([50.0, 70.0, 60.0, 65.0, 40.0], start=1):
...     _ = model.weight.data.fill_(float(epoch))
...     meta = {"WA": accuracy, "epoch": epoch}
...     _ = save_and_keep_best(checkpointer, meta, "WA", num_to_keep=2, name=f"epoch-{epoch}")
>>> sorted(c.path.name for c in checkpointer.list_checkpoints())  # 2 best + newest
['CKPT+epoch-2', 'CKPT+epoch-4', 'CKPT+epoch-5']
>>> best = best_checkpoints(checkpointer, "WA", 2)
>>> checkpoint_summary(best, "WA", prefix="valid_")
[{'checkpoint': 'CKPT+epoch-2', 'epoch': 2, 'valid_WA': 70.0}, {'checkpoint': 'CKPT+epoch-4', 'epoch': 4, 'valid_WA': 65.0}]
>>> states = load_average(checkpointer, best, ["model"])
>>> model.weight.item()  # (2 + 4) / 2
3.0

Authors
 * ser-recipes contributors 2026
"""

from speechbrain.core import INTRA_EPOCH_CKPT_FLAG
from speechbrain.utils.checkpoints import average_checkpoints, ckpt_recency
from speechbrain.utils.distributed import ddp_broadcast

__all__ = [
    "save_and_keep_best",
    "best_checkpoints",
    "load_average",
    "checkpoint_summary",
]


def _key_arguments(key, mode):
    """``{"max_key": key}`` or ``{"min_key": key}``."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    return {f"{mode}_key": key}


def save_and_keep_best(checkpointer, meta, key, num_to_keep, mode="max", name=None):
    """Saves an end-of-epoch checkpoint; keeps the ``num_to_keep`` best on ``key`` and the newest.

    Unlike ``Checkpointer.save_and_keep_only(num_to_keep=N, keep_recent=True)``, which keeps
    the N best *and* the N most recent, at most ``num_to_keep + 1`` checkpoints remain. The
    intra-epoch checkpoints (``ckpt_interval_minutes``) are deleted: the end-of-epoch one
    supersedes them.

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer.
    meta : dict
        Meta data of the checkpoint; must hold ``key`` (e.g. validation ``"WA"``).
    key : str
        Selection key.
    num_to_keep : int
        Best checkpoints to keep (at least the number of checkpoints to average).
    mode : str
        ``"max"`` (higher is better) or ``"min"``.
    name : str, optional
        Name of the checkpoint folder (``CKPT+<name>``; default: a time stamp).

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint or None
        The new checkpoint (``None`` on non-main processes).
    """
    if key not in meta:
        raise KeyError(f"The checkpoint meta data must hold the selection key {key!r}")
    _key_arguments(key, mode)
    checkpoint = checkpointer.save_checkpoint(meta=meta, end_of_epoch=True, name=name)
    # Under DDP only the main process gets the checkpoint; all must delete the same ones.
    newest = ddp_broadcast(None if checkpoint is None else checkpoint.path)

    def deletable(ckpt):
        """Every checkpoint but the one just saved."""
        return ckpt.path != newest

    checkpointer.delete_checkpoints(
        num_to_keep=num_to_keep,
        importance_keys=[],
        ckpt_predicate=deletable,
        **{f"{mode}_keys": [key]},
    )
    checkpointer.delete_checkpoints(
        num_to_keep=0,
        importance_keys=[ckpt_recency],
        ckpt_predicate=lambda ckpt: INTRA_EPOCH_CKPT_FLAG in ckpt.meta,
    )
    return checkpoint


def best_checkpoints(checkpointer, key, num, mode="max"):
    """The ``num`` best checkpoints on ``key`` (best first; ties: the most recent first).

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer.
    key : str
        Selection key of the meta data (checkpoints without it are ignored).
    num : int
        Number of checkpoints.
    mode : str
        ``"max"`` or ``"min"``.

    Returns
    -------
    list
        Checkpoints (fewer than ``num`` when fewer exist).
    """
    return checkpointer.find_checkpoints(max_num_checkpoints=num, **_key_arguments(key, mode))


def load_average(checkpointer, checkpoints, recoverable_names, strict=True):
    """Averages recoverables over ``checkpoints`` and loads the averages into them.

    The parameters (and buffers) are averaged with SpeechBrain's ``average_checkpoints``
    (float buffers such as BatchNorm running statistics are averaged too; integer ones such
    as ``num_batches_tracked`` become the truncated mean).

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        Holds the recoverables (``torch.nn.Module`` objects) under their names.
    checkpoints : list
        Checkpoints to average (e.g. from :func:`best_checkpoints`).
    recoverable_names : list of str
        Names of the recoverables to average.
    strict : bool
        Strict ``load_state_dict``.

    Returns
    -------
    dict
        Name -> averaged state dict (CPU tensors), e.g. to save for later use.
    """
    if not checkpoints:
        raise ValueError("No checkpoint to average")
    states = {}
    for name in recoverable_names:
        module = checkpointer.recoverables[name]
        states[name] = average_checkpoints(checkpoints, name)
        module.load_state_dict(states[name], strict=strict)
    return states


def checkpoint_summary(checkpoints, key, prefix=""):
    """JSON-friendly description of checkpoints: folder name, epoch and ``key`` value.

    Arguments
    ---------
    checkpoints : list
        Checkpoints.
    key : str
        Meta data key to report (e.g. ``"WA"``).
    prefix : str
        Prefix of the key in the output (e.g. ``"valid_"``).

    Returns
    -------
    list of dict
        ``{"checkpoint": "CKPT+...", "epoch": int or None, prefix + key: value}`` per
        checkpoint.
    """
    return [
        {
            "checkpoint": ckpt.path.name,
            "epoch": ckpt.meta.get("epoch"),
            prefix + key: ckpt.meta.get(key),
        }
        for ckpt in checkpoints
    ]
