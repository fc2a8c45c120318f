"""Tests of ser_modules.objectives.losses (CCC, variance-aware CCC, emotion cross-entropy)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from ser_modules.objectives.losses import (
    CCC_EPS,
    DIMENSIONS,
    VARIANCE_MODES,
    CCCLoss,
    EmotionCrossEntropy,
    VarianceAwareCCCLoss,
    ccc,
    class_counts,
    gaussian_kl,
    inverse_frequency_weights,
    sample_targets,
    spread_to_std,
)


def numpy_ccc(pred, target):
    """Naive reference: Lin's CCC per column with population moments, no eps."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.ndim == 1:
        pred, target = pred[:, None], target[:, None]
    out = []
    for k in range(pred.shape[1]):
        p, t = pred[:, k], target[:, k]
        n = len(p)
        mp, mt = sum(p) / n, sum(t) / n
        vp = sum((x - mp) ** 2 for x in p) / n
        vt = sum((y - mt) ** 2 for y in t) / n
        cov = sum((x - mp) * (y - mt) for x, y in zip(p, t)) / n
        out.append(2 * cov / (vp + vt + (mp - mt) ** 2))
    return np.array(out)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---------------------------------------------------------------- ccc


def test_ccc_matches_numpy_reference(rng):
    target = rng.uniform(1, 7, size=(50, 3))
    pred = 0.6 * target + rng.normal(0.5, 0.8, size=(50, 3))
    got = ccc(torch.tensor(pred), torch.tensor(target))
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), numpy_ccc(pred, target), rtol=1e-6)
    # float32 path
    got32 = ccc(torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32))
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.numpy(), numpy_ccc(pred, target), rtol=1e-4)
    # 1-D input -> scalar
    one = ccc(torch.tensor(pred[:, 1]), torch.tensor(target[:, 1]))
    assert one.shape == ()
    np.testing.assert_allclose(one.item(), numpy_ccc(pred[:, 1], target[:, 1])[0], rtol=1e-6)


def test_ccc_known_values(rng):
    x = torch.tensor(rng.normal(size=40))
    assert ccc(x, x).item() == pytest.approx(1.0, abs=1e-7)
    centred = x - x.mean()
    assert ccc(centred, -centred).item() == pytest.approx(-1.0, abs=1e-7)
    # Not centred: -x is also shifted, so CCC > -1 (the mean term counts).
    assert ccc(x + 3, -(x + 3)).item() > -1.0
    # Constant prediction: finite, exactly 0.
    const = torch.full_like(x, 4.0)
    assert ccc(const, x).item() == 0.0
    # Both constant (even equal): finite thanks to eps.
    assert torch.isfinite(ccc(const, const))
    # Shift penalised; same affine map on both leaves CCC unchanged.
    assert ccc(x + 1.0, x).item() < 1.0
    y = x + torch.tensor(rng.normal(scale=0.5, size=40))
    assert ccc(6 * x + 1, 6 * y + 1).item() == pytest.approx(ccc(x, y).item(), rel=1e-6)


def test_ccc_eps_documented_and_optional(rng):
    x = torch.tensor(rng.normal(size=20))
    y = torch.tensor(rng.normal(size=20))
    assert CCC_EPS == pytest.approx(1e-8)
    np.testing.assert_allclose(
        ccc(x, y, eps=0.0).numpy(), numpy_ccc(x.numpy(), y.numpy())[0], rtol=1e-12
    )


def test_ccc_half_precision_is_upcast(rng):
    x = torch.tensor(rng.normal(size=(16, 3)), dtype=torch.float32)
    out = ccc(x.to(torch.bfloat16), x.to(torch.bfloat16))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.ones(3), atol=1e-6)


def test_ccc_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        ccc(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\[N\] or \[N, K\]"):
        ccc(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="no rows"):
        ccc(torch.zeros(0, 3), torch.zeros(0, 3))


def test_ccc_gradcheck_and_finite_gradients(rng):
    pred = torch.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    target = torch.tensor(rng.normal(size=(7, 3)))
    assert torch.autograd.gradcheck(lambda p: ccc(p, target), (pred,))
    # Constant predictions (e.g. a freshly initialised head): finite gradient.
    const = torch.full((7, 3), 2.0, dtype=torch.float64, requires_grad=True)
    ccc(const, target).sum().backward()
    assert torch.isfinite(const.grad).all() and const.grad.abs().sum() > 0


# ---------------------------------------------------------------- CCCLoss


def test_dimensions_constant():
    assert DIMENSIONS == ("arousal", "valence", "dominance")


def test_ccc_loss_values(rng):
    target = rng.uniform(1, 7, size=(32, 3))
    pred = target + rng.normal(size=(32, 3))
    ref = numpy_ccc(pred, target)
    loss = CCCLoss()(torch.tensor(pred), torch.tensor(target))
    assert loss.item() == pytest.approx(-ref.mean(), rel=1e-6)
    # Weights follow the documented column order (arousal, valence, dominance).
    only_valence = CCCLoss(weights=(0.0, 1.0, 0.0))(torch.tensor(pred), torch.tensor(target))
    assert only_valence.item() == pytest.approx(-ref[1], rel=1e-6)
    weighted = CCCLoss(weights=(0.5, 0.3, 0.2))(torch.tensor(pred), torch.tensor(target))
    assert weighted.item() == pytest.approx(-(0.5 * ref[0] + 0.3 * ref[1] + 0.2 * ref[2]), rel=1e-6)
    parts = CCCLoss().compute_parts(torch.tensor(pred), torch.tensor(target))
    assert set(parts) == {"loss", "ccc_arousal", "ccc_valence", "ccc_dominance"}
    assert parts["ccc_dominance"].item() == pytest.approx(ref[2], rel=1e-6)
    # Perfect prediction
    assert CCCLoss()(torch.tensor(target), torch.tensor(target)).item() == pytest.approx(-1.0)


def test_ccc_loss_single_dimension(rng):
    x = torch.tensor(rng.normal(size=10))
    loss = CCCLoss(weights=(1.0,))
    assert loss(x, x).item() == pytest.approx(-1.0)
    assert loss.dimensions == ("dim0",)


def test_ccc_loss_weight_errors():
    with pytest.raises(ValueError, match="one column per weight"):
        CCCLoss(weights=(0.5, 0.5))(torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        CCCLoss(weights=())
    with pytest.raises(ValueError, match="one weight per dimension"):
        CCCLoss(weights=(1.0, 1.0), dimensions=DIMENSIONS)
    with pytest.raises(ValueError, match="same shape"):
        CCCLoss().per_dimension(torch.zeros(4, 3), torch.zeros(5, 3))


def test_ccc_loss_not_in_state_dict():
    assert CCCLoss().state_dict() == {}


# ---------------------------------------------------------------- KL / spreads


def test_gaussian_kl_matches_torch_distributions(rng):
    mp, mq = torch.tensor(rng.normal(size=20)), torch.tensor(rng.normal(size=20))
    sp, sq = torch.tensor(rng.uniform(0.1, 2, size=20)), torch.tensor(rng.uniform(0.1, 2, size=20))
    ref = kl_divergence(Normal(mp, sp), Normal(mq, sq))
    assert torch.allclose(gaussian_kl(mp, sp, mq, sq), ref, rtol=1e-10, atol=1e-12)


def test_gaussian_kl_gradcheck(rng):
    mp = torch.tensor(rng.normal(size=5))
    sp = torch.tensor(rng.uniform(0.3, 1.5, size=5))
    mq = torch.tensor(rng.normal(size=5), requires_grad=True)
    sq = torch.tensor(rng.uniform(0.3, 1.5, size=5), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: gaussian_kl(mp, sp, a, b), (mq, sq))


def test_spread_to_std_positive():
    raw = torch.linspace(-50, 50, 101)
    std = spread_to_std(raw, min_std=1e-3)
    assert (std >= 1e-3).all()
    assert torch.allclose(std, F.softplus(raw) + 1e-3)


# ---------------------------------------------------------------- VarianceAwareCCCLoss


def _batch(rng, n=64, k=3):
    mu = torch.tensor(rng.uniform(1.5, 6.5, size=(n, k)), dtype=torch.float32)
    sigma = torch.tensor(rng.uniform(0, 1.5, size=(n, k)), dtype=torch.float32)
    sigma[:5] = 0.0  # raters agree
    pred_mu = mu + torch.tensor(rng.normal(scale=0.7, size=(n, k)), dtype=torch.float32)
    raw = torch.tensor(rng.normal(size=(n, k)), dtype=torch.float32)
    return pred_mu, mu, raw, sigma


def test_unknown_mode_lists_valid_modes():
    with pytest.raises(ValueError) as err:
        VarianceAwareCCCLoss(mode="kl_t")
    for mode in VARIANCE_MODES:
        assert mode in str(err.value)
    assert set(VARIANCE_MODES) == {"none", "aux", "kl_gauss", "sample"}


def test_mode_none_equals_ccc_loss(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    loss = VarianceAwareCCCLoss(mode="none")
    ref = CCCLoss()(pred_mu, mu)
    assert torch.allclose(loss(pred_mu, mu), ref)
    assert torch.allclose(loss(pred_mu, mu, raw, sigma), ref)  # spreads ignored


def test_mode_aux(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    loss = VarianceAwareCCCLoss(mode="aux", aux_weight=0.3, min_pred_std=1e-3)
    ref = CCCLoss()(pred_mu, mu) + 0.3 * CCCLoss()(F.softplus(raw) + 1e-3, sigma)
    parts = loss.compute_parts(pred_mu, mu, raw, sigma)
    assert torch.allclose(parts["loss"], ref)
    assert torch.allclose(loss(pred_mu, mu, raw, sigma), ref)
    assert {"ccc_loss", "aux_loss", "aux_ccc_arousal", "ccc_valence"} <= set(parts)
    with pytest.raises(ValueError, match="needs pred_spread"):
        loss(pred_mu, mu, None, sigma)
    with pytest.raises(ValueError, match="needs target_spread"):
        loss(pred_mu, mu, raw, None)


def test_mode_kl_gauss_matches_torch_kl(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    floor = 0.25
    loss = VarianceAwareCCCLoss(mode="kl_gauss", kl_weight=0.2, std_floor=floor, min_pred_std=1e-3)
    pred_std = F.softplus(raw) + 1e-3
    kl = kl_divergence(Normal(mu, sigma.clamp(min=floor)), Normal(pred_mu, pred_std))
    kl_term = kl.mean(1).mean()  # weights 1/3 each: mean over dims, then batch
    parts = loss.compute_parts(pred_mu, mu, raw, sigma)
    assert parts["kl"].item() == pytest.approx(kl_term.item(), rel=1e-5)
    ref = CCCLoss()(pred_mu, mu) + 0.2 * kl_term
    assert parts["loss"].item() == pytest.approx(ref.item(), rel=1e-5)
    # The floor matters where raters agree (sigma = 0): finite loss anyway.
    assert torch.isfinite(parts["loss"])
    with pytest.raises(ValueError, match="needs"):
        loss(pred_mu, mu)


def test_kl_gauss_weights_per_dimension(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    loss = VarianceAwareCCCLoss(mode="kl_gauss", weights=(1.0, 0.0, 0.0), kl_weight=1.0)
    kl = kl_divergence(Normal(mu, sigma.clamp(min=0.25)), Normal(pred_mu, F.softplus(raw) + 1e-3))
    assert loss.compute_parts(pred_mu, mu, raw, sigma)["kl"].item() == pytest.approx(
        kl[:, 0].mean().item(), rel=1e-5
    )


def test_kl_gauss_gradcheck_float64(rng):
    n = 6
    mu = torch.tensor(rng.uniform(1, 7, size=(n, 3)))
    sigma = torch.tensor(rng.uniform(0, 1, size=(n, 3)))
    pred_mu = torch.tensor(rng.uniform(1, 7, size=(n, 3)), requires_grad=True)
    raw = torch.tensor(rng.normal(size=(n, 3)), requires_grad=True)
    loss = VarianceAwareCCCLoss(mode="kl_gauss", kl_weight=0.5)
    assert torch.autograd.gradcheck(lambda p, r: loss(p, mu, r, sigma), (pred_mu, raw))


@pytest.mark.parametrize("mode", VARIANCE_MODES)
def test_all_modes_finite_gradients(rng, mode):
    pred_mu, mu, raw, sigma = _batch(rng)
    pred_mu = pred_mu.clone().requires_grad_(True)
    raw = raw.clone().requires_grad_(True)
    loss = VarianceAwareCCCLoss(mode=mode).train()
    out = loss(pred_mu, mu, raw, sigma)
    assert out.shape == ()
    out.backward()
    assert torch.isfinite(pred_mu.grad).all()
    if mode in ("aux", "kl_gauss"):
        assert raw.grad is not None and torch.isfinite(raw.grad).all()
    # Constant predictions, all raters agreeing: still finite.
    const = torch.full_like(mu, 4.0, requires_grad=True)
    loss(const, mu, torch.zeros_like(mu), torch.zeros_like(mu)).backward()
    assert torch.isfinite(const.grad).all()


def test_mode_sample_train_vs_eval(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    loss = VarianceAwareCCCLoss(mode="sample")
    loss.train()
    torch.manual_seed(0)
    first, second = loss(pred_mu, mu, None, sigma), loss(pred_mu, mu, None, sigma)
    assert first.item() != second.item()  # stochastic in training
    torch.manual_seed(0)
    assert loss(pred_mu, mu, None, sigma).item() == first.item()  # reproducible with the seed
    with pytest.raises(ValueError, match="needs target_spread"):
        loss(pred_mu, mu)
    loss.eval()
    ref = CCCLoss()(pred_mu, mu)
    assert torch.equal(loss(pred_mu, mu, None, sigma), ref)  # eval: the means
    assert torch.equal(loss(pred_mu, mu, None, sigma), loss(pred_mu, mu))  # no spread needed


def test_sample_targets_distribution():
    torch.manual_seed(0)
    n = 200_000
    mean = torch.tensor([[3.0, 4.0, 5.0]]).expand(n, 3)
    std = torch.tensor([[0.5, 0.8, 0.3]]).expand(n, 3)
    draws = sample_targets(mean, std, label_range=(1.0, 7.0))  # bounds > 2.5 std away
    assert torch.allclose(draws.mean(0), mean[0], atol=0.01)
    assert torch.allclose(draws.std(0), std[0], rtol=0.01)
    # Clipping to the label range, and None disables it.
    wide = sample_targets(torch.full((n,), 6.5), torch.full((n,), 2.0), label_range=(1.0, 7.0))
    assert wide.max().item() == 7.0 and wide.min().item() >= 1.0
    unclipped = sample_targets(torch.full((n,), 6.5), torch.full((n,), 2.0), label_range=None)
    assert unclipped.max().item() > 7.0
    unit = sample_targets(torch.full((n,), 0.9), torch.full((n,), 0.3), label_range=(0.0, 1.0))
    assert unit.max().item() == 1.0 and unit.min().item() >= 0.0
    # Zero spread: the mean itself.
    assert torch.equal(sample_targets(mean[:10], torch.zeros(10, 3)), mean[:10])


def test_variance_loss_input_errors(rng):
    pred_mu, mu, raw, sigma = _batch(rng)
    loss = VarianceAwareCCCLoss(mode="kl_gauss")
    with pytest.raises(ValueError, match="target_spread must be >= 0"):
        loss(pred_mu, mu, raw, -sigma - 1)
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        loss(pred_mu[:, :2], mu[:, :2], raw[:, :2], sigma[:, :2])
    with pytest.raises(ValueError, match="same shape"):
        loss(pred_mu, mu[:-1], raw, sigma)
    with pytest.raises(ValueError, match="shape of pred_mean"):
        loss(pred_mu, mu, raw[:-1], sigma)
    with pytest.raises(ValueError, match="std_floor"):
        VarianceAwareCCCLoss(mode="kl_gauss", std_floor=0.0)
    with pytest.raises(ValueError, match="label_range"):
        VarianceAwareCCCLoss(mode="sample", label_range=(7.0, 1.0))


# ---------------------------------------------------------------- cross-entropy


@pytest.fixture
def logits():
    torch.manual_seed(3)
    return torch.randn(12, 5, dtype=torch.float64)


@pytest.fixture
def hard():
    return torch.tensor([0, 1, 2, 3, 4, 1, 1, 2, 0, 3, 1, 4])


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch(logits, hard, eps):
    ref = F.cross_entropy(logits, hard, label_smoothing=eps)
    ce = EmotionCrossEntropy(label_smoothing=eps)
    assert torch.allclose(ce(logits, hard), ref)
    # Log-probabilities (SB Softmax(apply_log=True)), [B, 1, C] and [B, 1] targets.
    log_probs = F.log_softmax(logits, -1)
    assert torch.allclose(ce(log_probs.unsqueeze(1), hard.unsqueeze(1)), ref)
    # Other reductions
    per = EmotionCrossEntropy(label_smoothing=eps, reduction="batch")(logits, hard)
    assert torch.allclose(per, F.cross_entropy(logits, hard, label_smoothing=eps, reduction="none"))
    total = EmotionCrossEntropy(label_smoothing=eps, reduction="sum")(logits, hard)
    assert torch.allclose(
        total, F.cross_entropy(logits, hard, label_smoothing=eps, reduction="sum")
    )


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_class_weights_normalised_by_sum(logits, hard, eps):
    weights = torch.tensor([1.0, 0.5, 2.0, 3.0, 0.25], dtype=torch.float64)
    ref = F.cross_entropy(logits, hard, weight=weights, label_smoothing=eps)
    ce = EmotionCrossEntropy(label_smoothing=eps, class_weights=weights)
    assert torch.allclose(ce(logits, hard), ref)
    # Scale of the weights does not matter.
    assert torch.allclose(EmotionCrossEntropy(eps, class_weights=10 * weights)(logits, hard), ref)
    # Naive loop reference of the normalisation (eps = 0 case).
    if eps == 0:
        log_probs = F.log_softmax(logits, -1)
        num = sum(-weights[t] * log_probs[i, t] for i, t in enumerate(hard.tolist()))
        den = sum(weights[t] for t in hard.tolist())
        assert ce(logits, hard).item() == pytest.approx((num / den).item())


def test_speechbrain_weighted_nll_divides_by_n(logits, hard):
    """Documents the pitfall that EmotionCrossEntropy avoids."""
    from speechbrain.nnet.losses import nll_loss

    weights = torch.tensor([1.0, 0.5, 2.0, 3.0, 0.25], dtype=torch.float64)
    log_probs = F.log_softmax(logits, -1)
    sb = nll_loss(log_probs, hard, weight=weights)
    per = F.nll_loss(log_probs, hard, weight=weights, reduction="none")
    assert sb.item() == pytest.approx(per.sum().item() / len(hard))
    ours = EmotionCrossEntropy(class_weights=weights)(logits, hard)
    assert ours.item() == pytest.approx(per.sum().item() / weights[hard].sum().item())


@pytest.mark.parametrize("eps", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_hot_soft_targets_equal_hard(logits, hard, eps, weighted):
    weights = torch.tensor([1.0, 0.5, 2.0, 3.0, 0.25]) if weighted else None
    ce = EmotionCrossEntropy(label_smoothing=eps, class_weights=weights)
    soft = F.one_hot(hard, 5).to(torch.float64)
    assert torch.allclose(ce(logits, soft), ce(logits, hard))


def test_soft_targets(logits):
    torch.manual_seed(5)
    votes = torch.randint(0, 4, (12, 5)).to(torch.float64)
    votes[:, 0] += 1  # at least one vote per row
    soft = votes / votes.sum(1, keepdim=True)
    # Unweighted: PyTorch's probability-target cross-entropy (mean over the batch).
    assert torch.allclose(EmotionCrossEntropy()(logits, soft), F.cross_entropy(logits, soft))
    # Weighted and smoothed: naive loop reference.
    w = torch.tensor([1.0, 0.5, 2.0, 3.0, 0.25], dtype=torch.float64)
    eps = 0.1
    log_probs = F.log_softmax(logits, -1)
    num, den = 0.0, 0.0
    for i in range(12):
        for c in range(5):
            q = (1 - eps) * soft[i, c] + eps / 5
            num += -w[c] * q * log_probs[i, c]
            den += w[c] * soft[i, c]
    got = EmotionCrossEntropy(label_smoothing=eps, class_weights=w)(logits, soft)
    assert got.item() == pytest.approx((num / den).item())


def test_cross_entropy_gradients_and_errors(logits, hard):
    x = logits.clone().requires_grad_(True)
    EmotionCrossEntropy(0.1, class_weights=[1, 2, 3, 4, 5])(x, hard).backward()
    assert torch.isfinite(x.grad).all()
    ce = EmotionCrossEntropy()
    with pytest.raises(ValueError, match="rows summing to 1"):
        ce(logits, torch.full((12, 5), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="soft targets must be"):
        ce(logits, torch.zeros(12, 4))
    with pytest.raises(ValueError, match="lie in"):
        ce(logits, torch.full((12,), 5))
    with pytest.raises(ValueError, match="integer targets"):
        ce(logits, hard[:-1])
    with pytest.raises(ValueError, match="class_weights has 3"):
        EmotionCrossEntropy(class_weights=[1.0, 2.0, 3.0])(logits, hard)
    with pytest.raises(ValueError, match="label_smoothing"):
        EmotionCrossEntropy(label_smoothing=1.0)


def test_class_weight_helpers():
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.array([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    counts = class_counts(torch.tensor(labels), 4)
    assert counts.tolist() == [50, 30, 15, 5]
    ref = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    np.testing.assert_allclose(inverse_frequency_weights(counts).numpy(), ref, rtol=1e-6)
    # Count-weighted mean of balanced weights is 1.
    assert float((inverse_frequency_weights(counts).numpy() * counts).sum() / counts.sum()) == (
        pytest.approx(1.0)
    )
    np.testing.assert_allclose(
        inverse_frequency_weights(counts, power=0.5).numpy(), np.sqrt(ref), rtol=1e-6
    )
    assert inverse_frequency_weights([10, 0, 10]).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError):
        inverse_frequency_weights([0, 0])
    with pytest.raises(ValueError):
        class_counts([0, 4], 4)
