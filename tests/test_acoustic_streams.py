"""The acoustic streams (training.acoustic_streams): one cached hidden state per encoder,
joined channel-wise per file, extracted once."""

import pytest
import torch

from ser_modules.training.acoustic_streams import CachedFrames, acoustic_streams, extract_features
from ser_modules.training.feature_cache import _ExampleEncoder, _write_example_wav
from ser_modules.utils.files import write_json_atomic


class Entries:
    def __init__(self, entries):
        self.entries = entries

    def load(self, wav):
        return self.entries[wav]


def test_cached_frames_join_the_streams_in_order():
    a = Entries({"x.wav": torch.arange(24.0).view(4, 3, 2)})  # [frames, hidden states, channels]
    b = Entries({"x.wav": -torch.arange(8.0).view(4, 1, 2)})
    frames = CachedFrames([(a, 2), (b, 0)]).load("x.wav")
    assert torch.equal(frames, torch.cat([a.load("x.wav")[:, 2], b.load("x.wav")[:, 0]], dim=1))
    short = Entries({"x.wav": torch.zeros(1, 1, 2)})
    with pytest.raises(ValueError, match="x.wav: the acoustic streams have 4 and 1 frames"):
        CachedFrames([(a, 0), (short, 0)]).load("x.wav")


def test_the_streams_of_the_yaml_or_the_one_ssl_stream():
    hparams = {"ssl": "hubert", "ssl_layer": 24, "ssl_hub": "org/hubert"}
    assert acoustic_streams(hparams) == [("hubert", 24, "org/hubert", "ssl_layer")]
    streams = [{"encoder": "l", "layer": 3, "name": "L"}, {"encoder": "a", "layer": 1, "name": "A"}]
    assert acoustic_streams({**hparams, "acoustic_streams": streams}) == [
        ("l", 3, "L", "acoustic_streams layer"),
        ("a", 1, "A", "acoustic_streams layer"),
    ]


def test_extract_features_caches_the_selected_hidden_state(tmp_path):
    manifest = str(tmp_path / "train.json")
    wav = _write_example_wav(seconds=0.5)
    write_json_atomic({"a": {"wav": wav}}, manifest)
    encoder = _ExampleEncoder()
    encoder.num_hidden_states = 2
    hparams = {
        "ssl": encoder,
        "ssl_layer": 1,
        "ssl_hub": "example",
        "cache_all_hidden_states": False,
        "feature_cache_folder": str(tmp_path / "cache"),
        "extraction_batch_size": 2,
        "device": "cpu",
        "noprogressbar": True,
    }
    frames = extract_features(hparams, [manifest]).load(wav)
    every = extract_features({**hparams, "cache_all_hidden_states": True}, [manifest]).load(wav)
    assert torch.equal(frames, every) and frames.shape[1] == 3
    with pytest.raises(ValueError, match="ssl_layer=2, but example has 2 hidden states"):
        extract_features({**hparams, "ssl_layer": 2}, [manifest])
