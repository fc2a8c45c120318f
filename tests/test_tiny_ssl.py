"""Tests of ser_modules.testing.tiny_ssl: random SSL models load through SpeechBrain's HF
wrappers."""

import json

import pytest
import torch
from speechbrain.integrations.huggingface import HuBERT, Wav2Vec2, WavLM

from ser_modules.testing.tiny_ssl import MODEL_KINDS, build_ssl_config, save_random_ssl_model

WRAPPERS = {"wavlm": WavLM, "hubert": HuBERT, "wav2vec2": Wav2Vec2}


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_ssl")
    return {kind: save_random_ssl_model(kind, root / kind) for kind in MODEL_KINDS}


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_folder_has_hf_files(model_folders, kind):
    folder = model_folders[kind]
    assert (folder / "config.json").exists()
    assert (folder / "preprocessor_config.json").exists()
    assert list(folder.glob("*.safetensors")) or list(folder.glob("*.bin"))
    config = json.loads((folder / "config.json").read_text())
    assert config["layerdrop"] == 0.0
    assert config["hidden_size"] == 32


# SpeechBrain's own wrapper passes WavLM an attention mask: transformers' WavLM attention then
# mixes a boolean and a float mask (ser_modules.nn.ssl_encoder.SSLEncoder silences it there).
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_loads_through_speechbrain_wrapper_with_all_hiddens(model_folders, kind, tmp_path):
    ssl = WRAPPERS[kind](
        str(model_folders[kind]), save_path=str(tmp_path), freeze=True, output_all_hiddens=True
    )
    wavs = torch.randn(3, 24000)
    hiddens = ssl(wavs, torch.tensor([1.0, 0.7, 0.3]))
    # 2 transformer layers + the CNN projection = 3 hidden states; 50 frames per second.
    assert hiddens.shape == (3, 3, 74, 32)
    assert torch.isfinite(hiddens).all()


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_all_hiddens_stable_in_train_mode(model_folders, kind, tmp_path):
    """LayerDrop is off, so train mode never drops a hidden state."""
    ssl = WRAPPERS[kind](
        str(model_folders[kind]), save_path=str(tmp_path), freeze=False, output_all_hiddens=True
    )
    ssl.train()
    counts = {ssl(torch.randn(1, 8000)).shape[0] for _ in range(20)}
    assert counts == {3}


def test_same_seed_same_weights_and_idempotent(tmp_path):
    first = save_random_ssl_model("hubert", tmp_path / "a", seed=3)
    second = save_random_ssl_model("hubert", tmp_path / "b", seed=3)
    weights = sorted(p.name for p in first.glob("*.safetensors"))
    assert weights
    for name in weights:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    mtime = (first / "config.json").stat().st_mtime_ns
    save_random_ssl_model("hubert", first, seed=3)
    assert (first / "config.json").stat().st_mtime_ns == mtime
    save_random_ssl_model("hubert", first, seed=4)
    assert (first / "config.json").stat().st_mtime_ns != mtime


def test_base_size_matches_base_geometry():
    config = build_ssl_config("wavlm", "base")
    assert (config.hidden_size, config.num_hidden_layers, config.conv_dim[0]) == (768, 12, 512)


def test_unknown_kind_and_size_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="Unknown SSL model kind"):
        save_random_ssl_model("whisper", tmp_path)
    with pytest.raises(ValueError, match="Unknown size"):
        build_ssl_config("wavlm", "huge")


def test_small_size_uses_group_norm_and_64_channels(tmp_path):
    folder = save_random_ssl_model("hubert", tmp_path / "small", size="small")
    ssl = HuBERT(str(folder), save_path=str(tmp_path / "hf"), freeze=True, output_all_hiddens=True)
    assert ssl.model.config.feat_extract_norm == "group"
    assert ssl(torch.randn(1, 16000)).shape == (3, 1, 49, 64)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_tiny_models_are_stable_layer_norm_ones(model_folders, kind):
    """Like the large checkpoints (and unlike the demo's "small" ones): the encoder ends with a
    LayerNorm that transformers 5 leaves out of hidden_states[-1], which tests of the final
    hidden state rely on."""
    config = json.loads((model_folders[kind] / "config.json").read_text())
    assert config["do_stable_layer_norm"] is True and config["feat_extract_norm"] == "layer"
    assert build_ssl_config(kind, "small").do_stable_layer_norm is False
