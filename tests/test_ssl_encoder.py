"""Tests of ser_modules.nn.ssl_encoder: padding-invariant, eval-mode-safe SSL features."""

import warnings

import pytest
import torch

from ser_modules.nn.masking import length_mask
from ser_modules.nn.ssl_encoder import MISMATCHED_MASKS_WARNING, SSLEncoder, normalize_waveforms
from ser_modules.testing.tiny_ssl import save_random_ssl_model


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    folder = save_random_ssl_model("wavlm", tmp_path_factory.mktemp("wavlm"))
    return SSLEncoder(str(folder), save_path=str(tmp_path_factory.mktemp("hf_cache")))


def test_normalisation_ignores_padding():
    wav = torch.randn(1, 1000)
    mask, _ = length_mask(torch.tensor([0.6]), wav.shape[1])
    garbage = wav.clone()
    garbage[:, 600:] = 1e3
    out = normalize_waveforms(garbage, mask)
    valid = out[0, :600]
    assert torch.allclose(valid.mean(), torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(valid.std(unbiased=False), torch.tensor(1.0), atol=1e-4)
    assert (out[0, 600:] == 0).all()
    assert torch.allclose(out[:, :600], normalize_waveforms(wav[:, :600], mask[:, :600]), atol=1e-6)


def test_batched_features_equal_single_utterance_features(encoder):
    torch.manual_seed(0)
    short, long = torch.randn(9000), torch.randn(16000)
    batch = torch.stack([torch.nn.functional.pad(short, (0, 7000), value=5.0), long])
    lens = torch.tensor([9000 / 16000, 1.0])
    batched = encoder(batch, lens)
    alone = encoder(short[None], torch.ones(1))
    frames = int(
        torch.round(encoder.frame_lengths(lens, 16000, batched.shape[2])[0] * batched.shape[2])
    )
    assert frames == alone.shape[2] == (9000 - 400) // 320 + 1
    assert torch.allclose(batched[:, 0, :frames], alone[:, 0], atol=1e-4)


def test_frozen_encoder_stays_in_eval_mode(encoder):
    modules = torch.nn.ModuleDict({"ssl": encoder})
    modules.train()
    assert not encoder.model.training
    assert not any(m.training for m in encoder.model.modules())
    assert not any(p.requires_grad for p in encoder.parameters())


def test_fine_tuned_encoder_trains_but_keeps_cnn_frozen(tmp_path):
    folder = save_random_ssl_model("hubert", tmp_path / "hubert")
    encoder = SSLEncoder(str(folder), save_path=str(tmp_path / "cache"), freeze=False)
    encoder.train()
    assert encoder.model.encoder.training
    assert not encoder.model.feature_extractor.training
    out = encoder(torch.randn(2, 8000), torch.tensor([1.0, 0.8]))
    out.sum().backward()
    assert encoder.model.encoder.layers[0].attention.q_proj.weight.grad is not None
    assert all(p.grad is None for p in encoder.model.feature_extractor.parameters())


def test_reports_sizes(encoder):
    assert encoder.num_hidden_states == 3
    assert encoder.hidden_size == 32


@pytest.mark.parametrize("kind", ["hubert", "wavlm", "wav2vec2"])
def test_last_hidden_state_is_after_the_final_layer_norm(tmp_path, kind):
    """The tiny models are "stable layer norm" ones, like the large checkpoints: with
    transformers 5 their hidden_states[-1] lacks the encoder's final LayerNorm. The stacked
    hidden states end with the normalised output, the one output_all_hiddens=False gives."""
    folder = save_random_ssl_model(kind, tmp_path / kind)
    every = SSLEncoder(str(folder), save_path=str(tmp_path / "cache"))
    last = SSLEncoder(str(folder), save_path=str(tmp_path / "cache"), output_all_hiddens=False)
    assert every.model.config.do_stable_layer_norm
    wavs, lens = torch.randn(2, 12000), torch.tensor([1.0, 0.7])
    hiddens, final = every(wavs, lens), last(wavs, lens)
    assert hiddens.shape[0] == every.num_hidden_states
    assert torch.allclose(hiddens[-1], final, atol=1e-5)
    mask, _ = length_mask(lens, wavs.shape[1])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", MISMATCHED_MASKS_WARNING, UserWarning
        )  # WavLM, see SSLEncoder
        raw = every.model(
            normalize_waveforms(wavs, mask), attention_mask=mask.long(), output_hidden_states=True
        )
    assert torch.allclose(hiddens[:-1], torch.stack(raw.hidden_states[:-1]), atol=1e-5)
    assert torch.allclose(
        hiddens[-1], every.model.encoder.layer_norm(raw.hidden_states[-1]), atol=1e-5
    )
    assert (raw.hidden_states[-1] - hiddens[-1]).abs().max() > 0.1


@pytest.mark.parametrize(
    "source",
    [
        "/no/such/folder/wavlm",
        "./missing_wavlm",
        "~/no_such_folder_ser/wavlm",
        "models/missing/wavlm",
        "models/missing_wavlm",
    ],
)
def test_missing_local_source_is_named(tmp_path, monkeypatch, source):
    """A local path that is no folder fails at once, naming it (not as a Hub repo id, nor
    after a wait for the network: "models/missing_wavlm" is local since ./models exists)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(FileNotFoundError, match="SSL upstream .*no such folder") as error:
        SSLEncoder(source, save_path=str(tmp_path / "cache"))
    assert source in str(error.value)


def test_padded_wavlm_batch_gives_no_mask_type_warning(encoder):
    """WavLM with an attention mask (a padded batch): no torch warning about mismatched
    key_padding_mask and attn_mask types reaches the logs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder(torch.randn(2, 12000), torch.tensor([1.0, 0.6]))
    assert encoder.pass_attention_mask
    assert [str(w.message) for w in caught if "key_padding_mask" in str(w.message)] == []
