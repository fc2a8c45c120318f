"""Tests of ser_modules.utils.files: atomic writes leave the old file or the new one, nothing
else."""

import json
import math

import numpy as np
import pytest
import soundfile as sf

from ser_modules.utils.files import atomic_path, read_json, write_json_atomic, write_wav_atomic


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic({"UA": 50.0}, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"UA": 6')
            raise RuntimeError("killed while writing")
    assert read_json(target) == {"UA": 50.0}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_nan_is_refused_and_the_target_untouched(tmp_path):
    target = tmp_path / "m.json"
    with pytest.raises(ValueError):
        write_json_atomic({"x": math.nan}, target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_folders_are_created_and_json_round_trips(tmp_path):
    target = tmp_path / "a" / "b" / "m.json"
    write_json_atomic({"utt": {"emo": "hap", "duration": 1.5}}, target)
    assert json.loads(target.read_text()) == {"utt": {"emo": "hap", "duration": 1.5}}


def test_invalid_json_error_names_the_file(tmp_path):
    target = tmp_path / "train.json"
    target.write_text('{"a": ')
    with pytest.raises(ValueError, match="Invalid JSON in .*train.json"):
        read_json(target)


def test_wav_written_atomically_and_exactly(tmp_path):
    target = tmp_path / "rirs" / "room000.wav"
    signal = np.random.default_rng(0).uniform(-1, 1, 800).astype(np.float32)
    write_wav_atomic(signal, target, 16000, subtype="FLOAT")
    audio, rate = sf.read(target, dtype="float32")
    assert rate == 16000 and np.array_equal(audio, signal)
    with pytest.raises(ValueError):  # soundfile refuses the subtype: the old file stays
        write_wav_atomic(signal, target, 16000, subtype="NOT_A_SUBTYPE")
    assert np.array_equal(sf.read(target, dtype="float32")[0], signal)
    assert [p.name for p in target.parent.iterdir()] == ["room000.wav"]


def test_full_disk_names_the_folder_and_keeps_the_old_file(tmp_path, monkeypatch):
    """Issue #13 item 7: ENOSPC (an OSError, or torch.save's RuntimeError) names the folder."""
    import torch

    from ser_modules.utils.files import DiskFullError, torch_save_atomic

    target = tmp_path / "results" / "state.pt"
    torch_save_atomic({"w": 1}, target)

    def full_disk(obj, path):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:659] . PytorchStreamWriter failed writing file "
            "data/0: file write failed (No space left on device)"
        )

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(
        DiskFullError, match=r"device of .*results \(ENOSPC\) while writing state.pt"
    ):
        torch_save_atomic({"w": 2}, target)
    monkeypatch.undo()
    assert torch.load(target) == {"w": 1} and sorted(p.name for p in target.parent.iterdir()) == [
        "state.pt"
    ]
    with pytest.raises(ValueError):  # other errors pass unchanged
        with atomic_path(tmp_path / "x.txt"):
            raise ValueError("not a disk problem")
