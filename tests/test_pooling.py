"""Tests of ser_modules.nn.pooling against naive per-utterance numpy references."""

import numpy as np
import pytest
import torch

from ser_modules.nn.masking import length_mask
from ser_modules.nn.pooling import (
    AttentiveCorrelationPooling,
    CorrelationPooling,
    MeanPooling,
    MeanStdPooling,
    pooling_output_size,
)

C = 6
EPS = 1e-6


# ----------------------------------------------------------------------------
# Naive references: loops over utterances, valid frames only, float64 numpy.
# ----------------------------------------------------------------------------
def counts_of(lengths, T):
    return [max(1, min(T, int(np.round(float(length) * T)))) for length in lengths]


def ref_mean(x, lengths):
    x = x.detach().double().numpy()
    return np.stack([x[i, :n].mean(0) for i, n in enumerate(counts_of(lengths, x.shape[1]))])


def ref_meanstd(x, lengths, eps=EPS):
    x = x.detach().double().numpy()
    out = []
    for i, n in enumerate(counts_of(lengths, x.shape[1])):
        v = x[i, :n]
        out.append(np.concatenate([v.mean(0), np.sqrt(v.var(0) + eps)]))  # population var
    return np.stack(out)


def ref_weighted_corr(v, w, eps=EPS):
    """Upper triangle of the w-weighted correlation of frames v [n, C]."""
    mu = w @ v
    vc = v - mu
    cov = (w[:, None] * vc).T @ vc
    s = np.sqrt(np.diag(cov) + eps)
    corr = cov / np.outer(s, s)
    return corr[np.triu_indices(v.shape[1], 1)]


def ref_corr(x, lengths, eps=EPS):
    x = x.detach().double().numpy()
    out = []
    for i, n in enumerate(counts_of(lengths, x.shape[1])):
        out.append(ref_weighted_corr(x[i, :n], np.full(n, 1.0 / n), eps))
    return np.stack(out)


def ref_attentive(pool, x, lengths, eps=EPS):
    x = x.detach().double().numpy()
    W1, b1, W2, b2 = [
        p.detach().double().numpy()
        for p in (
            pool.attention_hidden.weight,
            pool.attention_hidden.bias,
            pool.attention_out.weight,
            pool.attention_out.bias,
        )
    ]
    out = []
    for i, n in enumerate(counts_of(lengths, x.shape[1])):
        v = x[i, :n]
        logits = np.maximum(v @ W1.T + b1, 0.0) @ W2.T + b2  # [n, H]
        if pool.per_head:
            feats = []
            for h in range(logits.shape[1]):
                w = np.exp(logits[:, h] - logits[:, h].max())
                feats.append(ref_weighted_corr(v, w / w.sum(), eps))
            out.append(np.concatenate(feats))
        else:
            e = np.log(np.exp(logits).sum(1))  # log-sum-exp over heads
            w = np.exp(e - e.max())
            out.append(ref_weighted_corr(v, w / w.sum(), eps))
    return np.stack(out)


def make_poolings():
    torch.manual_seed(0)
    return {
        "mean": MeanPooling(C),
        "meanstd": MeanStdPooling(C),
        "corr": CorrelationPooling(C),
        "att": AttentiveCorrelationPooling(C, num_heads=3),
        "att_ph": AttentiveCorrelationPooling(C, num_heads=3, per_head=True),
    }


def reference(name, pool, x, lengths):
    if name == "mean":
        return ref_mean(x, lengths)
    if name == "meanstd":
        return ref_meanstd(x, lengths)
    if name == "corr":
        return ref_corr(x, lengths)
    return ref_attentive(pool, x, lengths)


NAMES = ["mean", "meanstd", "corr", "att", "att_ph"]


@pytest.fixture(scope="module")
def poolings():
    return make_poolings()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 12, C, generator=g) + torch.randn(4, 1, C, generator=g)
    lengths = torch.tensor([1.0, 0.75, 0.5, 0.1])  # 12, 9, 6, 1 frames
    return x, lengths


# ----------------------------------------------------------------------------
# Mask helper and output sizes
# ----------------------------------------------------------------------------
def test_output_sizes(poolings, batch):
    x, lengths = batch
    expected = {"mean": C, "meanstd": 2 * C, "corr": 15, "att": 15, "att_ph": 45}
    for name, pool in poolings.items():
        out = pool(x, lengths)
        assert out.shape == (x.shape[0], expected[name]) == (x.shape[0], pool.output_size)
    assert CorrelationPooling(256).output_size == 32640
    assert pooling_output_size("correlation", 256) == 32640
    assert pooling_output_size("AttentiveCorrelationPooling", 256) == 32640
    assert pooling_output_size("attentive_correlation", 256, num_heads=4, per_head=True) == 130560
    assert pooling_output_size("mean", 256) == 256
    assert pooling_output_size("mean_std", 256) == 512
    with pytest.raises(ValueError):
        pooling_output_size("median", 256)


def test_output_size_in_hyperpyyaml():
    hyperpyyaml = pytest.importorskip("hyperpyyaml")
    yaml = """
proj_dim: 5
pooling: !new:ser_modules.nn.pooling.AttentiveCorrelationPooling
    input_size: !ref <proj_dim>
    num_heads: 2
classifier: !new:torch.nn.Linear
    in_features: !ref <pooling.output_size>
    out_features: 4
pool_dim: !apply:ser_modules.nn.pooling.pooling_output_size
    name: correlation
    channels: !ref <proj_dim>
"""
    hp = hyperpyyaml.load_hyperpyyaml(yaml)
    assert hp["classifier"].in_features == 10 == hp["pool_dim"]


def test_index_buffers_not_persistent():
    pool = AttentiveCorrelationPooling(C, num_heads=2)
    assert set(pool.state_dict()) == {
        "attention_hidden.weight",
        "attention_hidden.bias",
        "attention_out.weight",
        "attention_out.bias",
    }
    assert CorrelationPooling(C).state_dict() == {}
    rows, cols = torch.triu_indices(C, C, offset=1)
    assert torch.equal(pool.triu_rows, rows) and torch.equal(pool.triu_cols, cols)


# ----------------------------------------------------------------------------
# Values against the naive references
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_matches_naive_reference(poolings, batch, name):
    x, lengths = batch
    pool = poolings[name].eval()
    out = pool(x, lengths)
    assert out.dtype == torch.float32
    expected = reference(name, pool, x, lengths)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=2e-6, rtol=1e-5)


def test_correlation_matches_np_corrcoef(batch):
    x, lengths = batch
    out = CorrelationPooling(C)(x, lengths)
    iu = np.triu_indices(C, 1)
    for i, n in enumerate(counts_of(lengths, x.shape[1])):
        if n < 3:
            continue
        expected = np.corrcoef(x[i, :n].double().numpy(), rowvar=False)[iu]
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-5)


def test_correlation_large_offset_is_accurate():
    # Two-pass centring: a large common offset must not destroy the correlations.
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(2, 40, C, generator=g) + 1e3).float()
    out = CorrelationPooling(C)(x)
    iu = np.triu_indices(C, 1)
    for i in range(2):
        expected = np.corrcoef(x[i].double().numpy(), rowvar=False)[iu]
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_lengths_none_means_all_frames(poolings, batch, name):
    x, _ = batch
    pool = poolings[name].eval()
    full = pool(x, torch.ones(x.shape[0]))
    torch.testing.assert_close(pool(x), full, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(pool(x, None), full, atol=1e-6, rtol=1e-6)


def test_uniform_attention_equals_correlation_pooling(batch):
    x, lengths = batch
    corr = CorrelationPooling(C)(x, lengths)
    for per_head in (False, True):
        att = AttentiveCorrelationPooling(C, num_heads=3, per_head=per_head)
        with torch.no_grad():
            att.attention_out.weight.zero_()
            att.attention_out.bias.zero_()
        out = att(x, lengths)
        expected = corr.repeat(1, 3) if per_head else corr
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        w = att.attention_weights(x, lengths)
        n = torch.tensor(counts_of(lengths, x.shape[1]))
        if per_head:
            w = w[:, 0]
        torch.testing.assert_close(w.sum(1), torch.ones(x.shape[0]))
        torch.testing.assert_close(w.max(1).values, 1.0 / n.float())


def test_attentive_weights_zero_on_padding(batch):
    x, lengths = batch
    pool = AttentiveCorrelationPooling(C, num_heads=2)
    mask, _ = length_mask(lengths, x.shape[1])
    w = pool.attention_weights(x, lengths)
    assert torch.all(w[~mask] == 0)
    torch.testing.assert_close(w.sum(1), torch.ones(x.shape[0]))


# ----------------------------------------------------------------------------
# Padding invariance (garbage, huge values, inf, NaN)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("garbage", [1e30, float("inf"), float("nan"), "random"])
def test_padding_invariance(poolings, batch, name, garbage):
    x, lengths = batch
    pool = poolings[name].eval()
    counts = counts_of(lengths, x.shape[1])
    padded = x.clone()
    for i, n in enumerate(counts):
        if garbage == "random":
            padded[i, n:] = 1e4 * torch.randn_like(padded[i, n:])
        else:
            padded[i, n:] = garbage
    padded.requires_grad_(True)
    out = pool(padded, lengths)
    assert torch.isfinite(out).all()
    for i, n in enumerate(counts):
        single = pool(x[i : i + 1, :n])  # unpadded utterance alone
        torch.testing.assert_close(out[i : i + 1], single, atol=1e-6, rtol=1e-6)
    # No garbage in the gradients: zero on padding, finite elsewhere (also params).
    pool.zero_grad()
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(padded.grad).all()
    for i, n in enumerate(counts):
        assert torch.all(padded.grad[i, n:] == 0)
    for p in pool.parameters():
        assert torch.isfinite(p.grad).all()


def test_padding_invariance_is_exact_within_batch(poolings, batch):
    # Changing only padded values (finite garbage) gives bit-identical outputs.
    x, lengths = batch
    counts = counts_of(lengths, x.shape[1])
    other = x.clone()
    for i, n in enumerate(counts):
        other[i, n:] = -7.5e3
    for name in NAMES:
        pool = poolings[name].eval()
        assert torch.equal(pool(x, lengths), pool(other, lengths)), name


# ----------------------------------------------------------------------------
# Gradients, determinism, dtypes
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    torch.manual_seed(3)
    pool = make_poolings()[name].double().eval()
    x = torch.randn(3, 5, C, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([1.0, 0.6, 0.2], dtype=torch.float64)  # 5, 3, 1 frames
    assert pool(x, lengths).dtype == torch.float64
    params = [p.detach().clone().requires_grad_(True) for p in pool.parameters()]
    names = [n for n, _ in pool.named_parameters()]

    def fn(x, *params):
        return torch.func.functional_call(pool, dict(zip(names, params)), (x, lengths))

    # Full-Jacobian mode without parameters; fast mode (random projections of
    # the Jacobian) w.r.t. x and the attention parameters, to keep it quick.
    fast = bool(params)
    assert torch.autograd.gradcheck(fn, (x, *params), atol=1e-6, rtol=1e-4, fast_mode=fast)


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic(name):
    pool = make_poolings()[name]
    if hasattr(pool, "channel_dropout"):
        pool.channel_dropout = 0.5  # must be inactive in eval mode
    pool.eval()
    x = torch.randn(3, 9, C)
    lengths = torch.tensor([1.0, 0.5, 0.2])
    assert torch.equal(pool(x, lengths), pool(x, lengths))


@pytest.mark.parametrize("name", NAMES)
def test_autocast_and_half_inputs_give_float32(poolings, batch, name):
    x, lengths = batch
    pool = poolings[name].eval()
    expected = pool(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pool(x, lengths)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    out = pool(x.bfloat16(), lengths)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, pool(x.bfloat16().float(), lengths), atol=1e-6, rtol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pool(x.half(), lengths)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_constant_channels_and_single_frames_are_finite(name):
    pool = make_poolings()[name].train()
    x = torch.randn(3, 5, C)
    x[:, :, 1] = 3.0  # constant channel
    x[:, :, 2] = 0.0  # zero channel
    x[2, 0] = 0.0  # a single-frame utterance (lengths 0.2 -> 1 frame) of zeros
    lengths = torch.tensor([1.0, 0.4, 0.2])
    for inp, lens in ((x, lengths), (x[:, :1], None)):  # also T == 1
        inp = inp.clone().requires_grad_(True)
        out = pool(inp, lens)
        assert torch.isfinite(out).all()
        (out * torch.randn_like(out)).sum().backward()
        assert torch.isfinite(inp.grad).all()
        for p in pool.parameters():
            assert torch.isfinite(p.grad).all()
    if name in ("corr", "att", "att_ph"):
        out = pool.eval()(x, lengths).view(3, -1, 15)
        rows, cols = torch.triu_indices(C, C, offset=1)
        constant = (rows == 1) | (cols == 1) | (rows == 2) | (cols == 2)
        assert torch.all(out[..., constant].abs() < 1e-3)
        assert torch.all(out[2] == 0)  # single frame: no correlation at all
    if name == "meanstd":
        out = pool(x, lengths)
        torch.testing.assert_close(out[2, C:], torch.full((C,), EPS**0.5))


def test_double_backward_is_refused():
    pool = CorrelationPooling(C)
    x = torch.randn(2, 5, C, requires_grad=True)
    (grad,) = torch.autograd.grad(pool(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_wrong_input_shapes():
    pool = CorrelationPooling(C)
    with pytest.raises(ValueError):
        pool(torch.randn(2, 5, C + 1))
    with pytest.raises(ValueError):
        pool(torch.randn(5, C))
    with pytest.raises(ValueError):
        pool(torch.randn(2, 5, C), torch.ones(2, 1))


# ----------------------------------------------------------------------------
# Channel dropout
# ----------------------------------------------------------------------------
def dropped_channels(feats, channels):
    """Channels whose every pair is exactly 0; checks that the zero pattern is
    exactly the union of the rows/columns of these channels."""
    rows, cols = torch.triu_indices(channels, channels, offset=1)
    zero = feats == 0
    dropped = set()
    for c in range(channels):
        if bool(zero[(rows == c) | (cols == c)].all()):
            dropped.add(c)
    pairs = zip(rows.tolist(), cols.tolist())
    in_dropped = torch.tensor([r in dropped or k in dropped for r, k in pairs])
    assert torch.equal(zero, in_dropped)
    return frozenset(dropped)


@pytest.mark.parametrize("attentive", [False, True])
def test_channel_dropout_whole_channels_per_utterance_in_training(attentive):
    torch.manual_seed(4)
    channels, batch_size = 8, 16
    # Correlated channels: no pair is 0 unless a channel is dropped.
    common = torch.randn(batch_size, 20, 1)
    x = common + 0.5 * torch.randn(batch_size, 20, channels)
    lengths = torch.linspace(0.5, 1.0, batch_size)
    if attentive:
        pool = AttentiveCorrelationPooling(channels, num_heads=2, channel_dropout=0.5)
        with torch.no_grad():  # uniform attention, so surviving pairs are comparable
            pool.attention_out.weight.zero_()
    else:
        pool = CorrelationPooling(channels, channel_dropout=0.5)
    clean = pool.eval()(x, lengths)
    assert torch.all(clean != 0)
    assert torch.equal(clean, pool(x, lengths))  # eval: no dropout

    pool.train()
    out = pool(x, lengths)
    rows, cols = torch.triu_indices(channels, channels, offset=1)
    drop_sets = []
    for i in range(batch_size):
        dropped = dropped_channels(out[i], channels)
        drop_sets.append(dropped)
        pairs = zip(rows.tolist(), cols.tolist())
        keep = torch.tensor([r not in dropped and c not in dropped for r, c in pairs])
        # Surviving pairs are unchanged (the 1/(1-p) rescaling cancels).
        torch.testing.assert_close(out[i, keep], clean[i, keep], atol=1e-5, rtol=1e-5)
    assert len(set(drop_sets)) > 1  # independent per utterance
    n_dropped = sum(len(d) for d in drop_sets)
    assert 0.25 * batch_size * channels < n_dropped < 0.75 * batch_size * channels


def test_channel_dropout_zero_in_training_is_identity(batch):
    x, lengths = batch
    pool = CorrelationPooling(C, channel_dropout=0.0).train()
    assert torch.equal(pool(x, lengths), pool.eval()(x, lengths))
    with pytest.raises(ValueError):
        CorrelationPooling(C, channel_dropout=1.0)


@pytest.mark.parametrize(
    "name, cls, size",
    [
        ("mean", "MeanPooling", 6),
        ("mean_std", "MeanStdPooling", 12),
        ("correlation", "CorrelationPooling", 15),
        ("corr_att", "AttentiveCorrelationPooling", 15),
    ],
)
def test_build_pooling_by_name(name, cls, size):
    from ser_modules.nn.pooling import build_pooling, pooling_output_size

    pool = build_pooling(name, 6, channel_dropout=0.25)
    assert type(pool).__name__ == cls
    assert pool.output_size == size == pooling_output_size(name, 6)
    assert pool(torch.randn(2, 5, 6), torch.tensor([1.0, 0.4])).shape == (2, size)
    if hasattr(pool, "channel_dropout"):
        assert pool.channel_dropout == 0.25


def test_build_pooling_rejects_unknown_names():
    from ser_modules.nn.pooling import build_pooling

    with pytest.raises(ValueError, match="Unknown pooling name.*'max'"):
        build_pooling("max", 4)
