"""Averaging of the N best checkpoints of a SpeechBrain run (Popel and Bojar, 2018).

Morais et al. (ICASSP 2022) average the parameters of the 5 best checkpoints of a run, chosen
on validation accuracy only, for the upstream and for the downstream. With SpeechBrain this
needs three things, provided here:

* enough checkpoints must survive: :func:`save_and_keep_best` saves an end-of-epoch
  checkpoint and keeps the ``num_to_keep`` best ones on the selection key plus the newest one
  (needed to resume), deleting the others and any intra-epoch checkpoint;
* the N best are found with ``Checkpointer.find_checkpoints`` (:func:`best_checkpoints`) and
  averaged (:func:`average_states`: SpeechBrain's ``average_state_dicts`` on the floating-point
  tensors; integer buffers and extra states such as ``_extra_state`` are not averaged but kept,
  :func:`load_average` loads the averages);
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
[{'checkpoint': 'CKPT+epoch-2', 'epoch': 2, 'valid_WA': 70.0},
 {'checkpoint': 'CKPT+epoch-4', 'epoch': 4, 'valid_WA': 65.0}]
>>> states = load_average(checkpointer, best, ["model"])
>>> model.weight.item()  # (2 + 4) / 2
3.0

Authors
 * ser-recipes contributors 2026
"""

import torch
from speechbrain.core import INTRA_EPOCH_CKPT_FLAG
from speechbrain.utils.checkpoints import average_state_dicts, ckpt_recency
from speechbrain.utils.distributed import ddp_broadcast

from ser_modules.utils.values import is_whole_number

__all__ = [
    "save_and_keep_best",
    "best_checkpoints",
    "average_states",
    "load_average",
    "checkpoint_summary",
    "keep_best_checkpoints",
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


def keep_best_checkpoints(checkpointer, meta, key, keep, name=None):
    """Saves an end-of-epoch checkpoint and keeps the ``keep`` best on validation ``key``
    (higher is better) and the newest: the recipes' one checkpoint vocabulary, the yaml keys
    ``checkpoint_key`` and ``keep_checkpoints``.

    With ``keep`` 1 and no ``name``, SpeechBrain's ``save_and_keep_only`` (the best and the
    newest); otherwise :func:`save_and_keep_best`.

    Arguments
    ---------
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer.
    meta : dict
        Meta data of the checkpoint; must hold ``key``.
    key : str
        Selection key (the yaml's ``checkpoint_key``).
    keep : int
        Best checkpoints to keep (the yaml's ``keep_checkpoints``), 1 or more.
    name : str, optional
        Name of the checkpoint folder (``CKPT+<name>``; default: a time stamp).

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.training.checkpointing import AtomicCheckpointer
    >>> checkpointer = AtomicCheckpointer(tempfile.mkdtemp())
    >>> for epoch, ua in enumerate([0.3, 0.5, 0.4, 0.2]):
    ...     _ = keep_best_checkpoints(checkpointer, {"UA": ua}, "UA", 2, name=f"epoch-{epoch}")
    >>> sorted(ckpt.meta["UA"] for ckpt in checkpointer.list_checkpoints())
    [0.2, 0.4, 0.5]
    >>> keep_best_checkpoints(checkpointer, {"UA": 0.1}, "UA", 0)
    Traceback (most recent call last):
    ...
    ValueError: keep_checkpoints must be a whole number of checkpoints, 1 or more (got 0):
    set --keep_checkpoints=N
    """
    if not is_whole_number(keep) or keep < 1:
        raise ValueError(
            f"keep_checkpoints must be a whole number of checkpoints, 1 or more (got {keep!r}):"
            " set --keep_checkpoints=N"
        )
    if keep == 1 and name is None:
        return checkpointer.save_and_keep_only(meta=meta, max_keys=[key])
    return save_and_keep_best(checkpointer, meta=meta, key=key, num_to_keep=keep, name=name)


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


def _same(first, other):
    """Whether two state entries (tensors, or plain data holding tensors) are equal."""
    if isinstance(first, torch.Tensor) or isinstance(other, torch.Tensor):
        return (
            isinstance(first, torch.Tensor)
            and isinstance(other, torch.Tensor)
            and first.dtype == other.dtype
            and first.shape == other.shape
            and torch.equal(first, other)
        )
    if isinstance(first, dict) and isinstance(other, dict):
        return first.keys() == other.keys() and all(_same(first[key], other[key]) for key in first)
    if isinstance(first, (list, tuple)) and isinstance(other, (list, tuple)):
        return len(first) == len(other) and all(map(_same, first, other))
    return type(first) is type(other) and first == other


def average_states(checkpoints, recoverable_name):
    """The mean state dict of the recoverable ``recoverable_name`` over ``checkpoints``.

    Floating-point tensors (parameters, float buffers) are averaged with SpeechBrain's
    ``average_state_dicts`` (same arithmetic: running sum in checkpoint order, then division).
    The other entries are not numbers to average: integer buffers (the kept indices of a
    feature selection) and extra states (``_extra_state``, any Python data) equal in every
    checkpoint are kept as they are; an integer buffer that differs (a counter such as
    ``num_batches_tracked``) becomes the truncated mean in its own dtype, the value that
    loading the mean into the module gives; any other entry that differs, or a key that some
    checkpoints lack, is an error that names it. The files are read one at a time.

    Arguments
    ---------
    checkpoints : list
        Checkpoints (e.g. from :func:`best_checkpoints`) holding ``recoverable_name``.
    recoverable_name : str
        Name of the recoverable (its file is ``<name>.ckpt`` in each checkpoint).

    Returns
    -------
    dict
        The averaged state dict (CPU tensors).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> class Scaled(torch.nn.Linear):  # a module with an extra state (a dict)
    ...     def get_extra_state(self):
    ...         return {"unit": "percent"}
    ...     def set_extra_state(self, state):
    ...         pass
    >>> model = Scaled(1, 1, bias=False)
    >>> model.register_buffer("indices", torch.tensor([0, 3]))
    >>> checkpointer = Checkpointer(tempfile.mkdtemp(), {"model": model})
    >>> for value in (1.0, 2.0):
    ...     _ = model.weight.data.fill_(value)
    ...     _ = checkpointer.save_checkpoint(name=str(value))
    >>> state = average_states(checkpointer.list_checkpoints(), "model")
    >>> state["weight"].item(), state["indices"], state["_extra_state"]
    (1.5, tensor([0, 3]), {'unit': 'percent'})
    """
    if not checkpoints:
        raise ValueError(f"No checkpoint to average ({recoverable_name})")
    paths = [ckpt.paramfiles[recoverable_name] for ckpt in checkpoints]
    first = torch.load(paths[0], map_location="cpu", weights_only=True)
    floats = [
        key
        for key, value in first.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    ]
    integers = {
        key: value.clone()
        for key, value in first.items()
        if isinstance(value, torch.Tensor)
        and not value.is_floating_point()
        and value.dtype != torch.bool
    }
    differing = set()

    def float_states():
        """The floating-point part of each state (checked against the first one on the way)."""
        yield {key: first[key] for key in floats}
        for path in paths[1:]:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.keys() != first.keys():
                changed = sorted(set(state) ^ set(first))
                raise ValueError(
                    f"{path} and {paths[0]} hold different entries of {recoverable_name} "
                    f"({', '.join(changed)}): checkpoints of different models cannot be averaged"
                )
            for key, value in state.items():
                if (
                    key in integers
                    and isinstance(value, torch.Tensor)
                    and value.dtype == first[key].dtype
                ):
                    differing.update([key] if not torch.equal(value, first[key]) else [])
                    integers[key] += value
                elif key not in floats and not _same(first[key], value):
                    raise ValueError(
                        f"{recoverable_name} entry {key!r} differs between {paths[0]} and {path}:"
                        " it is not a floating-point tensor, so it cannot be averaged"
                    )
            yield {key: state[key] for key in floats}

    averaged = average_state_dicts(float_states())
    state = dict(first)
    state.update(averaged)
    for key in differing:
        state[key] = (integers[key] / float(len(paths))).to(first[key].dtype)
    return state


def load_average(checkpointer, checkpoints, recoverable_names, strict=True):
    """Averages recoverables over ``checkpoints`` and loads the averages into them.

    The floating-point parameters and buffers are averaged (:func:`average_states`: BatchNorm
    running statistics too); integer buffers equal in all checkpoints and extra states are
    kept; a differing integer buffer such as ``num_batches_tracked`` becomes the truncated mean.

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
        states[name] = average_states(checkpoints, name)
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
