"""Tests of ser_modules/nn/tc_gru.py: the TC-GRU head and the input standardiser."""

import pytest
import torch

from ser_modules.nn.masking import frame_counts
from ser_modules.nn.tc_gru import TCGRU, InputStandardizer, count_parameters


def _batch(lengths, dim, garbage):
    """Random utterances padded with ``garbage`` (a value or "random"); relative lengths."""
    g = torch.Generator().manual_seed(1)
    longest = max(lengths)
    utterances = [torch.randn(n, dim, generator=g) for n in lengths]
    batch = torch.full((len(lengths), longest, dim), float("nan"))
    if garbage == "random":
        batch = 1e3 * torch.randn(len(lengths), longest, dim, generator=g)
    elif garbage is not None:
        batch.fill_(garbage)
    for i, utt in enumerate(utterances):
        batch[i, : len(utt)] = utt
    rel = torch.tensor([n / longest for n in lengths])
    return utterances, batch, rel


@pytest.mark.parametrize("readout", ["last", "mean"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("garbage", ["random", float("nan"), float("inf")])
def test_outputs_do_not_depend_on_padding(readout, stride, garbage):
    torch.manual_seed(0)
    head = TCGRU(
        12,
        conv_channels=10,
        conv_stride=stride,
        gru_size=8,
        embedding_size=6,
        predict_spread=True,
        readout=readout,
        dropout=0.3,
    ).eval()
    lengths = [37, 5, 20, 36, 1, 2]
    utterances, batch, rel = _batch(lengths, 12, garbage)
    means, spreads = head(batch, rel)
    assert torch.isfinite(means).all() and torch.isfinite(spreads).all()
    for i, utt in enumerate(utterances):
        alone_means, alone_spreads = head(utt[None], torch.ones(1))
        torch.testing.assert_close(means[i : i + 1], alone_means, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(spreads[i : i + 1], alone_spreads, atol=1e-6, rtol=1e-5)


def test_no_gradient_reaches_the_padding():
    torch.manual_seed(0)
    head = TCGRU(6, conv_channels=5, gru_size=4, embedding_size=3)
    _, batch, rel = _batch([9, 4], 6, "random")
    batch.requires_grad_(True)
    head(batch, rel).sum().backward()
    assert batch.grad[1, 4:].abs().sum() == 0
    assert batch.grad[1, :4].abs().sum() > 0


def test_paper_configuration_and_model_size():
    head = TCGRU(1024)
    assert head.conv.kernel_size == (3,)
    assert head.gru.num_layers == 2 and head.gru.hidden_size == 256
    assert head.embedding.out_features == 128 and head.output.out_features == 3
    assert head.spread_output is None
    # Only the convolution depends on the input size: 3 * 1024 weights per filter.
    smaller = TCGRU(819)
    assert count_parameters(head) - count_parameters(smaller) == 3 * (1024 - 819) * 1024
    # A spread head adds one linear layer and leaves the other parameter names unchanged.
    spread = TCGRU(1024, predict_spread=True)
    assert set(head.state_dict()) < set(spread.state_dict())
    assert count_parameters(spread) - count_parameters(head) == 128 * 3 + 3


def test_output_frames_and_lengths():
    head = TCGRU(4, conv_channels=4, conv_stride=4, gru_size=4, embedding_size=4)
    counts = torch.arange(1, 30)
    expected = torch.tensor([head.conv(torch.zeros(1, 4, int(n))).shape[-1] for n in counts])
    assert torch.equal(head.output_frame_counts(counts), expected)
    # TCGRU rounds relative lengths in float64 (see ser_modules.nn.masking).
    assert frame_counts(torch.tensor([0.04, 0.5, 1.0]), 10, dtype=torch.float64).tolist() == [
        1,
        5,
        10,
    ]
    with pytest.raises(ValueError, match="lengths must be given"):
        head(torch.zeros(2, 10, 4), None)


def test_training_reduces_a_ccc_loss():
    from ser_modules.objectives.losses import CCCLoss

    torch.manual_seed(0)
    lengths = torch.randint(10, 30, (32,))
    x = torch.randn(32, 30, 8)
    targets = torch.stack([x[i, : int(n), :3].mean(0) for i, n in enumerate(lengths)])
    head = TCGRU(8, conv_channels=16, gru_size=16, embedding_size=8, conv_stride=2)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    loss_fn = CCCLoss()
    rel = lengths.float() / 30
    first = loss_fn(head(x, rel), targets).item()
    for _ in range(40):
        optimizer.zero_grad()
        loss = loss_fn(head(x, rel), targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < first - 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 2}, {"conv_stride": 0}, {"readout": "max"}, {"dropout": 1.0}],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        TCGRU(4, **kwargs)


def test_wrong_input_size():
    with pytest.raises(ValueError, match=r"\[batch, frames, 4\]"):
        TCGRU(4, conv_channels=4, gru_size=4, embedding_size=4)(torch.zeros(1, 3, 5), torch.ones(1))


def test_input_standardizer():
    norm = InputStandardizer()
    x = torch.randn(2, 3, 4)
    assert norm(x) is x and norm.size is None
    norm.set_statistics(torch.arange(4.0), torch.tensor([1.0, 2.0, 0.0, 4.0]))
    torch.testing.assert_close(norm.std, torch.tensor([1.0, 2.0, 1e-5, 4.0]))
    expected = (x - torch.arange(4.0)) / torch.tensor([1.0, 2.0, 1e-5, 4.0])
    torch.testing.assert_close(norm(x), expected)
    fresh = InputStandardizer()
    fresh.load_state_dict(norm.state_dict())
    torch.testing.assert_close(fresh(x), norm(x))
    with pytest.raises(ValueError):
        norm(torch.zeros(2, 5))
    with pytest.raises(ValueError):
        norm.set_statistics(torch.zeros(2), torch.ones(3))
