"""The multimodal model of Mitra et al. (nn.multimodal): the TC-GRU over the acoustic frames
with the lexical utterance embeddings joined before the embedding layer, its padding
invariance, the joining of acoustic streams, and the model sizes of Table 2."""

from pathlib import Path

import pytest
import torch

from ser_modules.nn.multimodal import MultimodalTCGRU, join_frames
from ser_modules.nn.tc_gru import TCGRU, count_parameters
from tests.conftest import recipe_module

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "MSP-Podcast"
SMALL = dict(conv_channels=16, gru_size=8, embedding_size=6)


def model(**options):
    torch.manual_seed(0)
    return MultimodalTCGRU(12, lexical_sizes=[5, 3], **{**SMALL, **options}).eval()


@pytest.mark.parametrize("readout", ["mean", "last"])
def test_padding_invariance(readout):
    net = model(readout=readout, conv_stride=2, predict_spread=True)
    torch.manual_seed(1)
    frames = [torch.randn(n, 12) for n in (40, 17, 3)]
    text = [torch.randn(3, 5), torch.randn(3, 3)]
    padded = torch.full((3, 40, 12), float("nan"))  # any padding value, even NaN
    for i, x in enumerate(frames):
        padded[i, : len(x)] = x
    lengths = torch.tensor([len(x) / 40 for x in frames])
    means, spreads = net(padded, lengths, text)
    assert torch.isfinite(means).all() and torch.isfinite(spreads).all()
    for i, x in enumerate(frames):
        alone_means, alone_spreads = net(x[None], torch.ones(1), [t[i : i + 1] for t in text])
        assert torch.allclose(alone_means, means[i : i + 1], atol=1e-6)
        assert torch.allclose(alone_spreads, spreads[i : i + 1], atol=1e-6)


def test_both_modalities_reach_the_outputs():
    net = model()
    torch.manual_seed(2)
    x, lengths = torch.randn(4, 30, 12), torch.tensor([1.0, 0.5, 0.8, 0.3])
    text = torch.randn(4, 8)
    out = net(x, lengths, text)
    assert not torch.allclose(out, net(x, lengths, text + 1.0))  # the lexical embeddings matter
    assert not torch.allclose(out, net(x + 1.0, lengths, text))  # the frames matter
    assert torch.equal(out, net(x, lengths, [text[:, :5], text[:, 5:]]))  # joined in stream order
    net.train()
    net(x, lengths, text).sum().backward()
    assert net.conv.weight.grad.abs().sum() > 0
    lexical_columns = net.embedding.weight.grad[:, SMALL["gru_size"] :]
    assert lexical_columns.shape == (6, 8) and lexical_columns.abs().sum() > 0


def test_wrong_inputs_are_named():
    net = model()
    x, lengths = torch.randn(2, 9, 12), torch.ones(2)
    with pytest.raises(ValueError, match=r"expected 2 lexical embeddings, got 1"):
        net(x, lengths, [torch.randn(2, 5)])
    with pytest.raises(ValueError, match=r"lexical stream 1: expected \[batch, 3\], got \(2, 4\)"):
        net(x, lengths, [torch.randn(2, 5), torch.randn(2, 4)])
    with pytest.raises(ValueError, match=r"expected utterance features \[2, 8\], got \(2, 7\)"):
        net(x, lengths, torch.randn(2, 7))
    with pytest.raises(ValueError, match="utterance_size=0"):
        TCGRU(12, **SMALL)(x, lengths, torch.randn(2, 8))
    with pytest.raises(ValueError, match="lexical_sizes"):
        MultimodalTCGRU(12, lexical_sizes=[], **SMALL)


def test_the_audio_only_head_is_unchanged():
    """utterance_size=0 (the default) keeps the parameters of the audio-only TC-GRU, and the
    multimodal head differs from it only by the lexical columns of its embedding layer."""
    audio = TCGRU(12, **SMALL)
    multimodal = MultimodalTCGRU(12, lexical_sizes=[5, 3], **SMALL)
    shapes = {name: tuple(p.shape) for name, p in audio.named_parameters()}
    assert list(shapes) == [
        "conv.weight",
        "conv.bias",
        *(
            f"gru.{k}_{layer}"
            for layer in ("l0", "l1")
            for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ),
        "embedding.weight",
        "embedding.bias",
        "output.weight",
        "output.bias",
    ]
    assert shapes["embedding.weight"] == (6, 8)
    assert {name: tuple(p.shape) for name, p in multimodal.named_parameters()} == {
        **shapes,
        "embedding.weight": (6, 16),
    }
    assert count_parameters(multimodal) - count_parameters(audio) == 6 * 8


def test_join_frames_of_acoustic_streams():
    a, b = torch.randn(50, 3), torch.randn(49, 2)
    joined = join_frames([a, b])
    assert torch.equal(joined, torch.cat([a[:49], b], dim=1))
    assert join_frames([a]) is a
    with pytest.raises(ValueError, match=r"x.wav: the acoustic streams have 50 and 40 frames"):
        join_frames([a, torch.randn(40, 2)], where="x.wav")


def test_model_sizes_of_table_2():
    """The real-size heads (2 x 1024 acoustic + 2 x 768 lexical dimensions), built and counted:
    the README's numbers are these."""
    sizes = recipe_module("MSP-Podcast", "model_sizes")
    markdown_table, model_sizes = sizes.markdown_table, sizes.model_sizes

    rows = model_sizes(2048, (768, 768))
    conv = 3 * 2048 * 1024 + 1024
    gru = 3 * (1024 * 256 + 256 * 256 + 2 * 256) + 3 * (2 * 256 * 256 + 2 * 256)
    embedding, output = (256 + 2 * 768) * 128 + 128, 128 * 3 + 3
    assert rows[0]["head_parameters"] == conv + gru + embedding + output
    assert [row["kept_dimensions"] for row in rows] == [2048, 1638, 1229, 819]
    reductions = [round(row["relative_size_reduction_percent"], 1) for row in rows[1:]]
    assert reductions == [15.9, 31.8, 47.8]
    audio = model_sizes(1024)
    assert audio[0]["head_parameters"] == 4_559_363
    reductions = [round(row["relative_size_reduction_percent"], 1) for row in audio[1:]]
    assert reductions == [13.8, 27.6, 41.4]
    readme = (RECIPE / "README.md").read_text()
    assert markdown_table(rows) in readme and markdown_table(audio) in readme
