"""Tests of ser_modules.training.feature_cache: exact, resumable, invalidated when anything
changes."""

import os

import numpy as np
import pytest
import soundfile
import torch

from ser_modules.nn.ssl_encoder import SSLEncoder
from ser_modules.testing.tiny_ssl import save_random_ssl_model
from ser_modules.training.feature_cache import FeatureCache, module_fingerprint


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = save_random_ssl_model("wavlm", tmp_path_factory.mktemp("wavlm"))
    return SSLEncoder(str(folder), save_path=str(tmp_path_factory.mktemp("hf")))


@pytest.fixture()
def wavs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate([0.4, 1.3, 0.9, 2.0, 0.7]):
        path = tmp_path / f"utt{i}.wav"
        soundfile.write(path, rng.normal(0, 0.1, int(16000 * seconds)), 16000)
        paths.append(str(path))
    return paths


def test_cached_features_equal_direct_extraction(encoder, wavs, tmp_path):
    cache = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    assert cache.build(encoder, wavs, batch_size=3, progressbar=False) == len(wavs)
    for path in wavs:
        wav = torch.from_numpy(soundfile.read(path, dtype="float32")[0])
        direct = encoder(wav[None], torch.ones(1))[:, 0].transpose(0, 1)
        cached = cache.load(path)
        assert cached.dtype == torch.float16
        assert cached.shape == direct.shape == ((len(wav) - 400) // 320 + 1, 3, 32)
        assert torch.allclose(cached.float(), direct, atol=2e-2, rtol=1e-2)


def test_build_resumes_and_skips_done_entries(encoder, wavs, tmp_path):
    cache = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    assert cache.build(encoder, wavs[:2], progressbar=False) == 2
    first = cache.path_for(wavs[0]).stat().st_mtime_ns
    assert cache.missing(wavs) == wavs[2:]
    assert cache.build(encoder, wavs, progressbar=False) == 3
    assert cache.path_for(wavs[0]).stat().st_mtime_ns == first
    assert cache.build(encoder, wavs, progressbar=False) == 0
    leftovers = [
        name for _, _, files in os.walk(cache.folder) for name in files if name.endswith(".tmp")
    ]
    assert leftovers == []


def test_shards_split_the_work(encoder, wavs, tmp_path):
    cache = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    done = [cache.build(encoder, wavs, progressbar=False, shard=(rank, 2)) for rank in (0, 1)]
    assert done == [3, 2]
    assert cache.missing(wavs) == []


def test_changes_invalidate_entries(encoder, wavs, tmp_path):
    fingerprint = module_fingerprint(encoder)
    cache = FeatureCache(tmp_path / "cache", fingerprint)
    cache.build(encoder, wavs, progressbar=False)
    # Other options or another encoder: another folder, nothing reused.
    assert FeatureCache(tmp_path / "cache", fingerprint, layers=[2]).missing(wavs) == wavs
    assert FeatureCache(tmp_path / "cache", "another-model").missing(wavs) == wavs
    # A rewritten audio file is not served from the stale entry.
    soundfile.write(wavs[1], np.zeros(8000), 16000)
    os.utime(wavs[1], ns=(0, 10**9))
    assert cache.missing(wavs) == [wavs[1]]


def test_layer_selection_keeps_only_those_hidden_states(encoder, wavs, tmp_path):
    full = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    last = FeatureCache(tmp_path / "cache", module_fingerprint(encoder), layers=[2])
    full.build(encoder, wavs[:1], progressbar=False)
    last.build(encoder, wavs[:1], progressbar=False)
    assert torch.equal(last.load(wavs[0])[:, 0], full.load(wavs[0])[:, 2])


def test_fingerprint_changes_with_weights(encoder):
    before = module_fingerprint(encoder)
    clone = torch.nn.Linear(2, 2)
    assert module_fingerprint(clone) != before
    with torch.no_grad():
        encoder.model.encoder.layers[0].attention.q_proj.weight[0, 0] += 1.0
    try:
        assert module_fingerprint(encoder) != before
    finally:
        with torch.no_grad():
            encoder.model.encoder.layers[0].attention.q_proj.weight[0, 0] -= 1.0


def test_clear_errors(encoder, tmp_path):
    cache = FeatureCache(tmp_path / "cache", "x")
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        cache.load(tmp_path / "nowhere.wav")
    soundfile.write(tmp_path / "ok.wav", np.zeros(8000), 16000)
    with pytest.raises(FileNotFoundError, match="No cached features for .*ok.wav"):
        cache.load(tmp_path / "ok.wav")


def test_padding_sensitive_encoder_extracts_one_file_at_a_time(tmp_path, wavs):
    folder = save_random_ssl_model("wavlm", tmp_path / "small", size="small")
    encoder = SSLEncoder(str(folder), save_path=str(tmp_path / "hf"))
    assert not encoder.padding_invariant
    cache = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    cache.build(encoder, wavs, batch_size=4, progressbar=False)
    for path in wavs:
        wav = torch.from_numpy(soundfile.read(path, dtype="float32")[0])
        alone = encoder(wav[None], torch.ones(1))[:, 0].transpose(0, 1)
        assert torch.allclose(cache.load(path).float(), alone, atol=2e-2, rtol=1e-2)


def test_build_distributed_in_one_process_extracts_all_and_checks(
    encoder, wavs, tmp_path, monkeypatch
):
    cache = FeatureCache(tmp_path / "cache", module_fingerprint(encoder))
    assert cache.build_distributed(encoder, wavs, batch_size=2, progressbar=False) == [len(wavs)]
    assert cache.missing(wavs) == []
    assert cache.build_distributed(encoder, wavs, progressbar=False) == [0]
    # An extraction that left a file out (e.g. a process that died) is reported, naming it.
    other = FeatureCache(tmp_path / "cache", "other-encoder")
    monkeypatch.setattr(other, "build", lambda *args, **kwargs: 0)
    with pytest.raises(RuntimeError, match="5 audio files have no cached features") as error:
        other.build_distributed(encoder, wavs, progressbar=False)
    assert str(error.value).endswith(f"e.g. {wavs[0]}")


def test_resumed_build_gives_the_entries_of_an_uninterrupted_one(encoder, wavs, tmp_path):
    whole = FeatureCache(tmp_path / "whole", module_fingerprint(encoder))
    whole.build(encoder, wavs, batch_size=3, progressbar=False)
    resumed = FeatureCache(tmp_path / "resumed", module_fingerprint(encoder))
    resumed.build(encoder, wavs, batch_size=3, progressbar=False)
    # The entry an interrupted run did not write, of a batch of 3 (extracted alone, the
    # tiny model's features differ in the last bits: another matrix product kernel).
    resumed.path_for(wavs[2]).unlink()
    kept = resumed.path_for(wavs[0]).stat().st_mtime_ns
    assert resumed.build(encoder, wavs, batch_size=3, progressbar=False) == 1
    assert resumed.path_for(wavs[0]).stat().st_mtime_ns == kept
    for path in wavs:
        assert torch.equal(resumed.load(path), whole.load(path))
