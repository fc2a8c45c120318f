"""Tests of ser_modules.nn.fusion: frame alignment, early / late fusion, ECAPA aggregator, Fbank."""

from functools import partial

import pytest
import torch

from ser_modules.nn.fusion import (
    EarlyFusion,
    EcapaAggregator,
    FbankUpstream,
    LateFusion,
    align_frame_counts,
    build_aggregator,
)
from ser_modules.nn.masking import frame_counts
from ser_modules.nn.pooling import MeanPooling

TINY_ECAPA = dict(
    ecapa_lin_neurons=8,
    ecapa_channels=[8, 8, 8, 8, 24],
    ecapa_attention_channels=4,
    ecapa_res2net_scale=2,
    ecapa_se_channels=4,
)


def test_truncate_aligns_different_frame_counts():
    # wav2vec 2.0 / HuBERT-like: same rate, padded lengths differ by one frame
    a, b = torch.randn(3, 50, 4), torch.randn(3, 49, 6)
    la, lb = torch.tensor([1.0, 0.8, 0.3]), torch.tensor([1.0, 40 / 49, 15 / 49])
    (xa, xb), lengths = align_frame_counts([(a, la), (b, lb)])
    assert xa.shape == (3, 49, 4) and xb.shape == (3, 49, 6)
    counts = torch.round(lengths * 49).long().tolist()
    assert counts == [49, 40, 15]  # min(50, 49), min(40, 40), min(15, 15)
    assert torch.equal(xa, a[:, :49]) and torch.equal(xb, b)


def test_truncate_refuses_different_frame_rates():
    a, b = torch.randn(2, 50, 4), torch.randn(2, 25, 4)
    with pytest.raises(ValueError, match="interpolate"):
        align_frame_counts([(a, None), (b, None)])


def test_interpolate_is_identity_for_equal_counts_and_resamples_ramps():
    x = torch.randn(2, 20, 3)
    lens = torch.tensor([1.0, 0.5])
    (same, again), lengths = align_frame_counts([(x, lens), (x, lens)], mode="interpolate")
    valid = torch.arange(20)[None, :, None] < torch.tensor([20, 10])[:, None, None]
    assert torch.allclose(same, x * valid) and torch.allclose(again, same)
    assert lengths.tolist() == [1.0, 0.5]
    # a ramp at half the frame rate becomes the ramp at full rate (up to the edges)
    fast = torch.arange(10, dtype=torch.float32).view(1, 10, 1)
    slow = fast[:, ::2] + 0.5  # the average of frames 2k and 2k + 1
    (_, up), lengths = align_frame_counts([(fast, None), (slow, None)], mode="interpolate")
    assert up.shape == (1, 10, 1) and lengths.tolist() == [1.0]
    assert torch.allclose(up[0, 1:-1, 0], fast[0, 1:-1, 0])


def test_interpolate_respects_each_utterance_length():
    a = torch.randn(2, 50, 2)
    b = torch.randn(2, 25, 3)
    (xa, xb), lengths = align_frame_counts(
        [(a, torch.tensor([1.0, 0.4])), (b, torch.tensor([1.0, 0.4]))], mode="interpolate"
    )
    assert torch.round(lengths * xa.shape[1]).tolist() == [50.0, 20.0]
    assert torch.all(xb[1, 20:] == 0) and torch.all(xa[1, 20:] == 0)
    # utterance 1 of b: 10 valid frames stretched to 20, padding never read
    b2 = b.clone()
    b2[1, 10:] = 1e9
    (_, xb2), _ = align_frame_counts(
        [(a, torch.tensor([1.0, 0.4])), (b2, torch.tensor([1.0, 0.4]))], mode="interpolate"
    )
    assert torch.allclose(xb2, xb)


def test_early_fusion_concatenates_and_is_padding_invariant():
    fusion = EarlyFusion([3, 4], partial(build_aggregator, "mean"))
    a, b = torch.randn(2, 50, 3), torch.randn(2, 49, 4)
    lens = torch.tensor([1.0, 0.5])
    out = fusion([(a, lens), (b, lens)])
    assert out.shape == (2, 7) and fusion.output_size == 7
    # utterance 1 alone (25 / 24 frames, truncated to 24) gives the same embedding
    alone = fusion([(a[1:, :25], None), (b[1:, :24], None)])
    assert torch.allclose(out[1], alone[0], atol=1e-6)
    expected = torch.cat([a[1, :24].mean(0), b[1, :24].mean(0)])
    assert torch.allclose(alone[0], expected, atol=1e-6)


def test_early_fusion_single_upstream_is_the_aggregator():
    pooling = MeanPooling(5)
    fusion = EarlyFusion([5], pooling)
    x, lens = torch.randn(3, 9, 5), torch.tensor([1.0, 0.5, 0.2])
    assert torch.equal(fusion([(x, lens)]), pooling(x, lens))
    with pytest.raises(ValueError):
        fusion([(torch.randn(3, 9, 4), lens)])
    with pytest.raises(ValueError):
        fusion([(x, lens), (x, lens)])


def test_early_fusion_with_ecapa_handles_different_frame_counts():
    fusion = EarlyFusion([4, 6], partial(build_aggregator, "ecapa", **TINY_ECAPA))
    out = fusion(
        [
            (torch.randn(3, 30, 4), torch.tensor([1.0, 0.7, 0.2])),
            (torch.randn(3, 29, 6), torch.tensor([1.0, 0.7, 0.2])),
        ]
    )
    assert out.shape == (3, 8) and fusion.output_size == 8
    assert fusion.aggregator.input_size == 10


def test_late_fusion_concatenates_separate_aggregators():
    fusion = LateFusion([4, 6], partial(build_aggregator, "ecapa", **TINY_ECAPA))
    fusion.eval()
    xa, la = torch.randn(2, 30, 4), torch.tensor([1.0, 0.5])
    xb, lb = torch.randn(2, 7, 6), torch.tensor([1.0, 3 / 7])  # e.g. text tokens
    out = fusion([(xa, la), (xb, lb)])
    assert out.shape == (2, 16) and fusion.output_size == 16
    first, second = fusion.aggregators
    assert torch.allclose(out, torch.cat([first(xa, la), second(xb, lb)], dim=-1))
    mixed = LateFusion([4, 6], [MeanPooling(4), build_aggregator("mean_std", 6)])
    assert mixed([(xa, la), (xb, lb)]).shape == (2, 16)


def test_ecapa_uses_exactly_the_rounded_number_of_frames():
    torch.manual_seed(0)
    ecapa = EcapaAggregator(6, **{k[len("ecapa_") :]: v for k, v in TINY_ECAPA.items()}).eval()
    x = torch.randn(2, 50, 6)
    # 0.6 * 50 = 30.000001 in float32: SpeechBrain's mask would count a 31st frame
    reference = ecapa(x, torch.tensor([1.0, 30 / 50]))
    for lengths in (torch.tensor([1.0, 0.6]), torch.tensor([1.0, 0.6049])):
        assert torch.allclose(ecapa(x, lengths), reference, atol=1e-6)
    assert not torch.allclose(ecapa(x, torch.tensor([1.0, 0.62])), reference, atol=1e-6)


def test_ecapa_short_sequences_and_gradients():
    ecapa = EcapaAggregator(6, **{k[len("ecapa_") :]: v for k, v in TINY_ECAPA.items()})
    x = torch.randn(3, 2, 6, requires_grad=True)  # shorter than the reflection padding
    out = ecapa(x, torch.tensor([1.0, 0.5, 1.0]))
    out.sum().backward()
    assert out.shape == (3, 8) and torch.isfinite(x.grad).all()
    assert ecapa.min_frames == 5


def test_build_aggregator_names():
    assert build_aggregator("ECAPA-TDNN", 8, **TINY_ECAPA).output_size == 8
    assert build_aggregator("mean", 8).output_size == 8
    assert build_aggregator("corr_att", 8, channel_dropout=0.1).output_size == 28
    with pytest.raises(ValueError):
        build_aggregator("max", 8)


def test_fbank_upstream_shapes_normalisation_and_precision():
    fbank = FbankUpstream(n_mels=40)
    wavs = torch.randn(2, 16000) * 0.1
    lens = torch.tensor([1.0, 0.5])
    feats, out_lens = fbank(wavs, lens)
    assert feats.shape == (2, 101, 40) and fbank.hidden_size == 40
    assert frame_counts(out_lens, 101).tolist() == [101, 51]  # 8000 // 160 + 1 frames
    assert feats[1, :51].mean(0).abs().max() < 1e-4  # mean-normalised over the valid frames
    alone, _ = fbank(wavs[1:, :8000], torch.tensor([1.0]))
    assert alone.shape[1] == 51  # the frame count of the utterance alone
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half, _ = fbank(wavs, lens)
    assert half.dtype == torch.float32 and torch.allclose(half, feats)
