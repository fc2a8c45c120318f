"""Tests of ser_modules.nn.layer_weighting.WeightedLayerSum."""

import numpy as np
import pytest
import torch

from ser_modules.nn.layer_weighting import WeightedLayerSum

L, B, T, C = 5, 2, 7, 4


@pytest.fixture
def hidden():
    return torch.randn(L, B, T, C, generator=torch.Generator().manual_seed(0))


def naive(hidden, logits, layer_norm=False, eps=1e-5):
    h = hidden.detach().double().numpy()
    a = logits.detach().double().numpy()
    w = np.exp(a - a.max())
    w /= w.sum()
    out = np.zeros(h.shape[1:])
    for index in range(h.shape[0]):
        layer = h[index]
        if layer_norm:
            mu = layer.mean(-1, keepdims=True)
            var = layer.var(-1, keepdims=True)
            layer = (layer - mu) / np.sqrt(var + eps)
        out += w[index] * layer
    return out


def test_zero_init_is_uniform_average(hidden):
    module = WeightedLayerSum(L)
    assert torch.equal(module.weights.detach(), torch.zeros(L))
    torch.testing.assert_close(module(hidden), hidden.mean(0))
    torch.testing.assert_close(module.layer_weights(), torch.full((L,), 1.0 / L))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_matches_naive_reference(hidden, layer_norm):
    module = WeightedLayerSum(L, layer_norm=layer_norm)
    with torch.no_grad():
        module.weights.copy_(torch.tensor([0.3, -1.0, 2.0, 0.0, 0.5]))
    out = module(hidden)
    assert out.shape == (B, T, C) and out.dtype == torch.float32
    expected = naive(hidden, module.weights, layer_norm)
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-5)


def test_layer_norm_has_no_parameters_and_is_per_frame(hidden):
    module = WeightedLayerSum(L, layer_norm=True)
    assert [n for n, _ in module.named_parameters()] == ["weights"]
    # Per-frame normalisation: changing a (padded) frame does not affect others.
    other = hidden.clone()
    other[:, 1, -2:] = 1e6
    torch.testing.assert_close(module(other)[:, :-2], module(hidden)[:, :-2])
    torch.testing.assert_close(module(hidden)[0], module(hidden[:, :1])[0])


def test_layer_weights_for_logging():
    module = WeightedLayerSum(3)
    with torch.no_grad():
        module.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    weights = module.layer_weights()
    assert not weights.requires_grad and weights.device.type == "cpu"
    torch.testing.assert_close(weights, torch.softmax(torch.tensor([0.0, 1.0, 2.0]), 0))
    as_list = module.layer_weights(as_list=True)
    assert isinstance(as_list, list) and len(as_list) == 3
    assert abs(sum(as_list) - 1.0) < 1e-6 and isinstance(as_list[0], float)


def test_layer_count_mismatch_raises_clear_error(hidden):
    module = WeightedLayerSum(L + 1)
    with pytest.raises(ValueError, match=r"expects 6 stacked hidden layers .* got 5"):
        module(hidden)
    with pytest.raises(ValueError, match="layerdrop"):
        module(list(hidden))
    with pytest.raises(ValueError):
        module(torch.randn(6))


def test_list_input_and_other_shapes(hidden):
    module = WeightedLayerSum(L)
    torch.testing.assert_close(module(list(hidden)), module(hidden))
    torch.testing.assert_close(module(tuple(hidden)), module(hidden))
    utt = torch.randn(L, B, C)  # utterance-level states [layers, batch, channels]
    assert module(utt).shape == (B, C)


def test_gradients_float64_gradcheck():
    torch.manual_seed(1)
    for layer_norm in (False, True):
        module = WeightedLayerSum(3, layer_norm=layer_norm).double()
        with torch.no_grad():
            module.weights.normal_()
        hidden = torch.randn(3, 2, 3, 4, dtype=torch.float64, requires_grad=True)
        weights = module.weights.detach().clone().requires_grad_(True)

        def fn(hidden, weights, module=module):
            return torch.func.functional_call(module, {"weights": weights}, (hidden,))

        assert fn(hidden, weights).dtype == torch.float64
        assert torch.autograd.gradcheck(fn, (hidden, weights))


def test_weights_are_learnable(hidden):
    module = WeightedLayerSum(L)
    target = hidden[2]
    opt = torch.optim.SGD(module.parameters(), lr=5.0)
    for _ in range(50):
        opt.zero_grad()
        loss = (module(hidden) - target).square().mean()
        loss.backward()
        opt.step()
    assert int(module.layer_weights().argmax()) == 2


def test_dtypes_and_autocast(hidden):
    module = WeightedLayerSum(L, layer_norm=True)
    assert module(hidden.double()).dtype == torch.float64
    assert module(hidden.bfloat16()).dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(hidden)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), module(hidden), atol=5e-2, rtol=5e-2)


def test_state_dict_round_trip():
    module = WeightedLayerSum(L)
    with torch.no_grad():
        module.weights.copy_(torch.arange(L, dtype=torch.float32))
    other = WeightedLayerSum(L)
    other.load_state_dict(module.state_dict())
    torch.testing.assert_close(other.layer_weights(), module.layer_weights())
