"""Tests of ser_modules.nn.masking: one rounding of relative lengths, as each layer had it."""

import pytest
import torch

from ser_modules.nn.masking import frame_counts, length_mask, mask_from_counts


# The hand-written conversions that the layers had before they shared ser_modules.nn.masking.
def old_pooling_counts(lengths, num_frames):  # pooling.length_mask, fusion.frame_counts, ECAPA
    return torch.round(lengths * num_frames).long().clamp_(1, num_frames)


def old_tc_gru_counts(lengths, num_frames):  # tc_gru.valid_frame_counts
    return (
        torch.round(lengths.to(torch.float64) * num_frames)
        .to(torch.int64)
        .clamp(min=1, max=num_frames)
    )


def old_sample_mask(lengths, num_samples):  # ssl_encoder.valid_sample_mask
    counts = torch.round(lengths * num_samples).clamp(min=1)
    return torch.arange(num_samples)[None, :] < counts[:, None]


def old_float32_samples(lengths, num_samples):  # FbankUpstream, SSLEncoder.frame_lengths
    return torch.round(lengths.float() * num_samples)


def _relative_lengths(dtype):
    """n / N for every n <= N < 80, exact halves of frames and random values, in ``dtype``."""
    exact = [n / big for big in range(1, 80) for n in range(1, big + 1)]
    g = torch.Generator().manual_seed(0)
    return torch.cat(
        [
            torch.tensor(exact, dtype=torch.float64),
            torch.rand(500, generator=g, dtype=torch.float64),
        ]
    ).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_every_layer_keeps_its_rounding(dtype):
    lengths = _relative_lengths(dtype)
    for num_frames in (1, 3, 15, 49, 101, 998, 16000):
        assert torch.equal(
            frame_counts(lengths, num_frames), old_pooling_counts(lengths, num_frames)
        )
        assert torch.equal(
            frame_counts(lengths, num_frames, dtype=torch.float64),
            old_tc_gru_counts(lengths, num_frames),
        )
        mask, _ = length_mask(lengths, num_frames)
        if dtype != torch.float16 or num_frames <= 2048:  # the old mask compared sample indices
            assert torch.equal(mask, old_sample_mask(lengths, num_frames))  # in float16: inexact
        samples = old_float32_samples(lengths, num_frames).clamp(1, num_frames).long()
        assert torch.equal(frame_counts(lengths, num_frames, dtype=torch.float32), samples)


def test_float32_and_float64_rounding_differ_so_the_dtype_is_explicit():
    sixth = torch.tensor([1 / 6])  # 15 / 6 = 2.5 exactly in float32, 2.50000007 in float64
    assert frame_counts(sixth, 15).tolist() == [2]
    assert frame_counts(sixth, 15, dtype=torch.float64).tolist() == [3]


def test_length_mask_rounding_and_clamp():
    mask, counts = length_mask(torch.tensor([0.6, 1.0, 0.0, 0.01, 1.5]), 50)
    assert counts.tolist() == [30, 50, 1, 1, 50]  # round, clamped to [1, T]
    assert mask.sum(1).tolist() == counts.tolist()
    assert mask[0, 29] and not mask[0, 30]
    # Relative lengths n / T made in float32 come back exactly.
    n = torch.arange(1, 1001)
    _, counts = length_mask(n.float() / 1000, 1000)
    assert torch.equal(counts, n)
    mask, counts = length_mask(None, 7)
    assert mask.shape == (1, 7) and bool(mask.all()) and counts.tolist() == [7]


def test_frame_counts_round_and_clamp():
    assert frame_counts(torch.tensor([1.0, 0.49, 0.0]), 10).tolist() == [10, 5, 1]
    assert frame_counts(None, 7, batch_size=3).tolist() == [7, 7, 7]
    assert frame_counts(torch.tensor([0.04, 0.5, 1.0]), 10, dtype=torch.float64).tolist() == [
        1,
        5,
        10,
    ]
    assert frame_counts(torch.tensor([1, 0]), 4).tolist() == [4, 1]  # integer lengths: float32


def test_mask_from_counts():
    assert mask_from_counts(torch.tensor([2, 0, 4]), 3).sum(1).tolist() == [2, 0, 3]
    mask, counts = length_mask(None, 4, batch_size=2)
    assert mask.shape == (2, 4) and bool(mask.all()) and counts.tolist() == [4, 4]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        frame_counts(torch.ones(2), 0)
    with pytest.raises(ValueError, match=r"lengths must be 1-D \[batch\]"):
        frame_counts(torch.ones(2, 1), 5)
