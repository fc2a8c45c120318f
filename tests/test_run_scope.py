"""training.run_scope: a --debug run reads a few batches of each split, a --test_only run
extracts the features of the test splits only (issue #15 item 3)."""

import os

from ser_modules.training.run_scope import debug_manifests, splits_to_extract
from ser_modules.utils.files import read_json, write_json_atomic


def test_debug_manifests_hold_debug_batches_of_each_split(tmp_path):
    manifests = {}
    for split, size in (("train", 30), ("valid", 5), ("test1", 20)):
        manifests[split] = str(tmp_path / f"{split}.json")
        write_json_atomic(
            {f"{split}_{i}": {"wav": f"{i}.wav"} for i in range(size)}, manifests[split]
        )
    hparams = {
        "output_folder": str(tmp_path / "exp"),
        "batch_size": 8,
        "test_dataloader_opts": {"batch_size": 3},
    }
    used = debug_manifests(hparams, {"debug": True, "debug_batches": 2}, manifests)
    assert {split: len(read_json(path)) for split, path in used.items()} == {
        "train": 16,
        "valid": 5,
        "test1": 6,
    }
    assert list(read_json(used["train"])) == [f"train_{i}" for i in range(16)]
    assert all(
        os.path.dirname(path) == str(tmp_path / "exp" / "debug_manifests") for path in used.values()
    )
    assert debug_manifests(hparams, {"debug": False}, manifests) == manifests


def test_test_only_extracts_the_test_splits_only():
    manifests = {"train": "a", "valid": "b", "test1": "c", "test1_snr0-10": "d"}
    assert splits_to_extract(manifests, {"test_only": True}) == {"test1": "c", "test1_snr0-10": "d"}
    assert splits_to_extract(manifests, {"test_only": False}) == manifests
