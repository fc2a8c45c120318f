"""Tests of ser_modules.training.checkpointing: checkpoints interrupted while saved or deleted
are never loaded (SpeechBrain's own Checkpointer loads them and fails), and the RNG state
round-trips."""

import errno
import random

import numpy as np
import pytest
import torch
from speechbrain.utils.checkpoints import (
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)

from ser_modules.training.checkpointing import FILES_KEY, AtomicCheckpointer, RNGState
from ser_modules.utils.files import DiskFullError


class Killed(BaseException):
    """Stands for the process being killed in the middle of a save."""


@register_checkpoint_hooks
class Fragile:
    """A recoverable whose save can be made to die after the other files were written."""

    def __init__(self):
        self.die = False
        self.value = 0

    @mark_as_saver
    def save(self, path):
        if self.die:
            raise Killed()
        path.write_text(str(self.value))

    @mark_as_loader
    def load(self, path, end_of_epoch):
        self.value = int(path.read_text())


def make(checkpointer_class, folder):
    model, fragile = torch.nn.Linear(2, 2), Fragile()
    recoverables = {"model": model, "fragile": fragile}
    return checkpointer_class(folder, recoverables), model, fragile


def interrupted_save(checkpointer, fragile):
    """A first complete checkpoint (value 1), then a save killed after model.ckpt (value 2)."""
    fragile.value = 1
    checkpointer.save_checkpoint(name="epoch1")
    fragile.value, fragile.die = 2, True
    with pytest.raises(Killed):
        checkpointer.save_checkpoint(name="epoch2")
    fragile.die = False
    assert (checkpointer.checkpoints_dir / "CKPT+epoch2" / "model.ckpt").exists()


def test_speechbrain_checkpointer_loads_a_half_written_checkpoint(tmp_path):
    """Why AtomicCheckpointer exists: SpeechBrain writes CKPT.yaml first."""
    checkpointer, _, fragile = make(Checkpointer, tmp_path)
    interrupted_save(checkpointer, fragile)
    assert checkpointer.find_checkpoint().path.name == "CKPT+epoch2"
    with pytest.raises((RuntimeError, KeyError)):
        checkpointer.recover_if_possible()


def test_interrupted_save_is_ignored_then_removed(tmp_path):
    checkpointer, _, fragile = make(AtomicCheckpointer, tmp_path)
    interrupted_save(checkpointer, fragile)
    assert [c.path.name for c in checkpointer.list_checkpoints()] == ["CKPT+epoch1"]
    fragile.value = 0
    assert checkpointer.recover_if_possible().path.name == "CKPT+epoch1"
    assert fragile.value == 1
    # The rerun saves the same epoch again: the folder is reused and completed.
    fragile.value = 2
    again = checkpointer.save_checkpoint(name="epoch2")
    assert sorted(again.meta[FILES_KEY]) == ["fragile.ckpt", "model.ckpt"]
    assert checkpointer.find_checkpoint().path.name == "CKPT+epoch2"
    assert not list(tmp_path.glob("**/*.tmp"))


def test_half_deleted_checkpoint_is_ignored_then_removed(tmp_path):
    checkpointer, model, fragile = make(AtomicCheckpointer, tmp_path)
    for epoch in (1, 2):
        fragile.value = epoch
        checkpointer.save_checkpoint(name=f"epoch{epoch}", meta={"UA": 50.0 + epoch})
    (tmp_path / "CKPT+epoch2" / "fragile.ckpt").unlink()  # rmtree killed half-way
    assert checkpointer.find_checkpoint(max_key="UA").path.name == "CKPT+epoch1"
    checkpointer.save_and_keep_only(name="epoch3", meta={"UA": 40.0}, max_keys=["UA"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["CKPT+epoch1", "CKPT+epoch3"]


def test_checkpoints_of_speechbrains_checkpointer_still_load(tmp_path):
    """Checkpoints without the file list (and without an RNG state) are trusted and load."""
    plain, model, _ = make(Checkpointer, tmp_path)
    torch.nn.init.constant_(model.weight, 3.0)
    plain.save_checkpoint(name="old")
    new_model, fragile = torch.nn.Linear(2, 2), Fragile()
    recoverables = {"model": new_model, "fragile": fragile, "rng_state": RNGState()}
    atomic = AtomicCheckpointer(tmp_path, recoverables)  # the RNG state is optional on load
    with pytest.warns(UserWarning, match="missing a load path for rng_state"):
        assert atomic.recover_if_possible().path.name == "CKPT+old"
    assert torch.all(new_model.weight == 3.0)


def test_rng_state_restores_every_generator(tmp_path):
    path = tmp_path / "rng.ckpt"
    torch.manual_seed(0)
    RNGState().save(path)
    dropout = torch.nn.Dropout(0.5)
    expected = (dropout(torch.ones(100)), random.random(), np.random.rand(3), torch.randperm(10))
    RNGState().load(path, end_of_epoch=True)
    again = (dropout(torch.ones(100)), random.random(), np.random.rand(3), torch.randperm(10))
    assert torch.equal(expected[0], again[0]) and expected[1] == again[1]
    assert np.array_equal(expected[2], again[2]) and torch.equal(expected[3], again[3])


def test_full_disk_while_saving_names_the_folder_and_leaves_no_checkpoint(tmp_path):
    """Issue #13 item 7: ENOSPC names the checkpoint folder; the partial save is no checkpoint."""
    checkpointer, _, fragile = make(AtomicCheckpointer, tmp_path)
    fragile.value = 1
    checkpointer.save_checkpoint(name="epoch1")

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    checkpointer.add_recoverable(
        "fragile", fragile, custom_save_hook=lambda obj, path: full_disk(path)
    )
    with pytest.raises(
        DiskFullError,
        match=rf"No space left on the device of {tmp_path} \(ENOSPC\) while saving a checkpoint",
    ):
        checkpointer.save_checkpoint(name="epoch2")
    assert [c.path.name for c in checkpointer.list_checkpoints()] == ["CKPT+epoch1"]
