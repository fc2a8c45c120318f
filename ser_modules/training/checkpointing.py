"""Checkpoints that survive a kill at any moment, and resume with the same random numbers.

Two additions to SpeechBrain's checkpointing (1.1.2), used by every recipe's ``checkpointer``:

* :class:`AtomicCheckpointer`: SpeechBrain writes a checkpoint's ``CKPT.yaml`` (the file that
  makes a ``CKPT+*`` folder a checkpoint) *before* the parameter files, and deletes old
  checkpoints with ``shutil.rmtree``. A run killed while saving leaves a folder that
  ``recover_if_possible`` picks (it is the newest) and fails to load (a missing or truncated
  file); a run killed while deleting can leave ``CKPT.yaml`` with some files gone. Here the
  meta file is written last, atomically, once every DDP process has written its files, and
  lists those files; a checkpoint whose listed files are not all there is never listed,
  found or loaded; the leftovers of interrupted saves and deletions are removed before the
  next save.
* :class:`RNGState`: the states of the Python, NumPy and torch (CPU and current CUDA device)
  random number generators as a recoverable. Resuming from an end-of-epoch checkpoint then
  draws the same dropout masks (and any other random numbers) as the uninterrupted run.
  Under DDP the main process saves its states and every process loads them: SpeechBrain
  seeds all processes alike and they draw the same numbers of random numbers.

Authors
 * ser-recipes contributors 2026
"""

import logging
import random
import shutil
import time

import numpy as np
import torch
import yaml
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    PARAMFILE_EXT,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from ser_modules.utils.files import atomic_path, disk_full_named
from ser_modules.utils.yaml_values import read_yaml_values

logger = logging.getLogger(__name__)

FILES_KEY = "param_files"


@register_checkpoint_hooks
class RNGState:
    """The random number generators' states, saved and restored with the checkpoints.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "rng_state.ckpt")
    >>> rng_state = RNGState()
    >>> rng_state.save(path)
    >>> first = (random.random(), np.random.rand(), torch.rand(1).item())
    >>> rng_state.load(path)
    >>> first == (random.random(), np.random.rand(), torch.rand(1).item())
    True
    """

    @mark_as_saver
    def save(self, path):
        """Saves the current states to ``path``."""
        version, mt_state, gauss = random.getstate()
        name, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": [version, list(mt_state), gauss],
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Restores the states saved in ``path``."""
        del end_of_epoch  # the same either way
        state = torch.load(path, map_location="cpu", weights_only=True)
        version, mt_state, gauss = state["python"]
        random.setstate((version, tuple(mt_state), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if state["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])


class AtomicCheckpointer(Checkpointer):
    """SpeechBrain's ``Checkpointer`` whose checkpoints are either complete or ignored.

    Same arguments as ``speechbrain.utils.checkpoints.Checkpointer``. Recoverables of type
    :class:`RNGState` are optional on load (checkpoints written without one still load).

    Example
    -------
    >>> import tempfile
    >>> model = torch.nn.Linear(1, 1)
    >>> checkpointer = AtomicCheckpointer(tempfile.mkdtemp(), {"model": model, "rng": RNGState()})
    >>> first = checkpointer.save_checkpoint(name="first")
    >>> sorted(first.meta[FILES_KEY])
    ['model.ckpt', 'rng.ckpt']
    >>> # A save killed before its meta file, and a deletion killed half-way:
    >>> torn = checkpointer.checkpoints_dir / "CKPT+torn"
    >>> torn.mkdir()
    >>> _ = (torn / "model.ckpt").write_bytes(b"trunc")
    >>> second = checkpointer.save_checkpoint(name="second")
    >>> (second.path / "rng.ckpt").unlink()
    >>> [c.path.name for c in checkpointer.list_checkpoints()]
    ['CKPT+first']
    >>> checkpointer.recover_if_possible().path.name
    'CKPT+first'
    >>> _ = checkpointer.save_checkpoint(name="third")  # removes the leftovers
    >>> sorted(p.name for p in checkpointer.checkpoints_dir.iterdir())
    ['CKPT+first', 'CKPT+third']
    """

    def __init__(
        self,
        checkpoints_dir,
        recoverables=None,
        custom_load_hooks=None,
        custom_save_hooks=None,
        allow_partial_load=False,
    ):
        super().__init__(
            checkpoints_dir, recoverables, custom_load_hooks, custom_save_hooks, allow_partial_load
        )
        for name, obj in self.recoverables.items():
            self.optional_recoverables.setdefault(name, isinstance(obj, RNGState))

    def save_checkpoint(self, meta=None, end_of_epoch=True, name=None, verbosity=logging.INFO):
        """Saves a checkpoint (see ``Checkpointer.save_checkpoint``); its meta file last."""
        if if_main_process():
            self._remove_incomplete()
        with disk_full_named(self.checkpoints_dir, "saving a checkpoint"):
            checkpoint = super().save_checkpoint(
                meta=meta or {}, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity
            )
        ddp_barrier()  # every process has written its files
        if checkpoint is not None:  # main process
            checkpoint.meta[FILES_KEY] = sorted(
                path.name for path in checkpoint.path.glob(f"*{PARAMFILE_EXT}")
            )
            with atomic_path(checkpoint.path / METAFNAME) as tmp:
                # Written as SpeechBrain's Checkpointer writes (and reads) its meta files.
                tmp.write_text(
                    "# yamllint disable\n" + yaml.dump(checkpoint.meta), encoding="utf-8"
                )
        ddp_barrier()  # the checkpoint is complete for every process
        return checkpoint

    def _save_checkpoint_metafile(self, fpath, meta_to_include=None, end_of_epoch=True):
        """Only builds the meta data (``save_checkpoint`` writes it last); a stale meta file
        of a reused folder is removed first, so the folder is no checkpoint while written."""
        fpath.unlink(missing_ok=True)
        return {"unixtime": time.time(), "end-of-epoch": end_of_epoch, **(meta_to_include or {})}

    def list_checkpoints(self):
        """The complete checkpoints (see ``Checkpointer.list_checkpoints``)."""
        return [ckpt for ckpt in super().list_checkpoints() if _has_files(ckpt.path, ckpt.meta)]

    def _remove_incomplete(self):
        """Deletes the ``CKPT+*`` folders of interrupted saves and deletions."""
        for path in self.checkpoints_dir.glob(f"{CKPT_PREFIX}+*"):
            if path.is_dir() and not _is_complete(path):
                logger.info("Removing the incomplete checkpoint %s (interrupted run)", path)
                shutil.rmtree(path, ignore_errors=True)


def _has_files(path, meta):
    """Whether a checkpoint folder holds every file its meta data lists (meta data written by
    SpeechBrain's own ``Checkpointer``, without the list, is trusted)."""
    return all((path / name).is_file() for name in meta.get(FILES_KEY, []))


def _is_complete(path):
    """Whether a ``CKPT+*`` folder is a complete checkpoint."""
    meta_file = path / METAFNAME
    if not meta_file.is_file():
        return False
    meta = read_yaml_values(meta_file)
    return isinstance(meta, dict) and _has_files(path, meta)
