"""Tests of ser_modules.objectives.saliency (CCS / MIS saliency, top-fraction selection, PCA).

The references below implement eq. (1)-(3) of Mitra et al. (2024) with explicit
per-dimension / per-target loops, independently of the vectorised module code:

    S_L(k) = |r(X_k, L)| + 1/(D-1) * sum_{j != k} |r(X_j, L)| * |r(X_k, X_j)|
    mu(k)  = mean_L S_L(k)
"""

import json
import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.feature_selection import mutual_info_regression

from ser_modules.nn.selection import FeatureSelection
from ser_modules.objectives.saliency import (
    cross_correlation_saliency,
    fit_selection,
    mutual_information_saliency,
    principal_components,
    select_top_fraction,
)


# ----------------------------------------------------------------------------
# Naive references
# ----------------------------------------------------------------------------
def _naive_pearson(a, b):
    """Pearson's r with explicit sums; 0 if either variable is constant."""
    n = len(a)
    ma = sum(a) / n
    mb = sum(b) / n
    if max(a) == min(a) or max(b) == min(b):
        return 0.0
    cov = sum((a[i] - ma) * (b[i] - mb) for i in range(n))
    va = sum((a[i] - ma) ** 2 for i in range(n))
    vb = sum((b[i] - mb) ** 2 for i in range(n))
    return cov / math.sqrt(va * vb)


def _naive_saliency(X, Y, relevance):
    """Eq. (1)-(3) with loops; ``relevance(a, b)`` replaces |corr(a, b)|.

    ``relevance(X, k, target)`` returns the relevance of column k of X to
    the 1-D ``target``.
    """
    N, D = X.shape
    K = Y.shape[1]
    total = np.zeros(D)
    for t in range(K):
        L = Y[:, t]
        w = [relevance(X, j, L) for j in range(D)]  # w_L(j), also 1st term of eq. (1)
        for k in range(D):
            gamma = 0.0
            for j in range(D):
                if j != k:
                    gamma += w[j] * relevance(X, k, X[:, j])
            if D > 1:
                gamma /= D - 1
            total[k] += w[k] + gamma  # eq. (1)
    return total / K  # eq. (3)


def naive_ccs(X, Y):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    return _naive_saliency(
        X, Y, lambda M, k, target: abs(_naive_pearson(list(M[:, k]), list(target)))
    )


def naive_mis(X, Y, seed, n_neighbors=3):
    """MI version: I(X_k; T) = mutual_info_regression(X, T, random_state=seed)[k]."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    const = np.ptp(X, axis=0) == 0
    cache = {}

    def relevance(M, k, target):
        key = target.tobytes()
        if key not in cache:
            if np.ptp(target) == 0:
                cache[key] = np.zeros(M.shape[1])
            else:
                cache[key] = mutual_info_regression(
                    M, target, n_neighbors=n_neighbors, random_state=seed
                )
        return 0.0 if const[k] else float(cache[key][k])

    return _naive_saliency(X, Y, relevance)


def _planted(n=400, d=12, signal=(2, 7, 9), seed=0):
    """Features where only ``signal`` dims drive the 3 targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    s = X[:, list(signal)]
    Y = np.stack(
        [
            s[:, 0] + 0.5 * s[:, 1] + 0.3 * rng.normal(size=n),
            s[:, 1] - 0.5 * s[:, 2] + 0.3 * rng.normal(size=n),
            s[:, 2] + 0.5 * s[:, 0] + 0.3 * rng.normal(size=n),
        ],
        axis=1,
    )
    return X, Y


# ----------------------------------------------------------------------------
# CCS
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 5, 3), (25, 1, 2), (12, 6, 1)])
def test_ccs_matches_naive_reference(shape):
    n, d, k = shape
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))  # correlated dims
    Y = X[:, :1] @ rng.normal(size=(1, k)) + rng.normal(size=(n, k))
    got = cross_correlation_saliency(X, Y)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (d,)
    np.testing.assert_allclose(got, naive_ccs(X, Y), rtol=1e-10, atol=1e-12)


def test_ccs_hand_computed_two_dims():
    # X0 = L exactly, X1 independent-ish: check eq. (1)-(2) by hand.
    X = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 1.0], [3.0, -1.0]])
    L = X[:, 0].copy()
    r01 = _naive_pearson(list(X[:, 0]), list(X[:, 1]))
    r1L = _naive_pearson(list(X[:, 1]), list(L))
    expected = [1.0 + abs(r1L) * abs(r01), abs(r1L) + 1.0 * abs(r01)]
    np.testing.assert_allclose(cross_correlation_saliency(X, L), expected, rtol=1e-12)


def test_ccs_torch_input_and_1d_targets():
    X, Y = _planted(n=60, d=5, signal=(0, 1, 2))
    ref = cross_correlation_saliency(X, Y[:, :1])
    got = cross_correlation_saliency(torch.tensor(X, dtype=torch.float64), torch.tensor(Y[:, 0]))
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    got32 = cross_correlation_saliency(torch.tensor(X, dtype=torch.float32), Y[:, :1])
    np.testing.assert_allclose(got32, ref, rtol=1e-5)


def test_ccs_constant_dimension_and_target():
    X, Y = _planted(n=80, d=6, signal=(0, 1, 2))
    X[:, 4] = 7.3  # constant dim (mean not exactly representable)
    s = cross_correlation_saliency(X, Y)
    assert np.all(np.isfinite(s))
    assert s[4] == 0.0
    np.testing.assert_allclose(s, naive_ccs(X, Y), rtol=1e-10, atol=1e-12)
    # A constant target adds 0 to every score but still counts in the 1/K mean.
    Y2 = np.hstack([Y, np.full((80, 1), 3.0)])
    np.testing.assert_allclose(cross_correlation_saliency(X, Y2), s * 3 / 4, rtol=1e-12)


def test_ccs_scale_invariance_and_bounds():
    X, Y = _planted(n=100, d=8, signal=(1, 3, 5))
    s = cross_correlation_saliency(X, Y)
    s2 = cross_correlation_saliency(X * np.arange(1, 9) - 5.0, 10 * Y + 1)
    np.testing.assert_allclose(s, s2, rtol=1e-10)
    assert np.all(s >= 0) and np.all(s <= 2)


def test_ccs_planted_signal_ranks_top():
    X, Y = _planted()
    s = cross_correlation_saliency(X, Y)
    assert set(np.argsort(-s)[:3].tolist()) == {2, 7, 9}
    assert select_top_fraction(s, 3 / 12).tolist() == [2, 7, 9]


def test_ccs_input_validation():
    with pytest.raises(ValueError, match="same number of rows"):
        cross_correlation_saliency(np.zeros((5, 3)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="at least 2"):
        cross_correlation_saliency(np.zeros((1, 3)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="NaN"):
        cross_correlation_saliency(np.full((5, 3), np.nan), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="shape"):
        cross_correlation_saliency(np.zeros((5, 3, 2)), np.zeros((5, 1)))


# ----------------------------------------------------------------------------
# MIS
# ----------------------------------------------------------------------------
def test_mis_matches_naive_reference():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 5))
    X[:, 3] += X[:, 0]
    Y = np.stack([np.tanh(X[:, 0]) + 0.2 * rng.normal(size=80), X[:, 1] ** 2], axis=1)
    got = mutual_information_saliency(X, Y, seed=5)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (5,)
    np.testing.assert_allclose(got, naive_mis(X, Y, seed=5), rtol=1e-10, atol=1e-12)


def test_mis_constant_dimension_and_determinism():
    X, Y = _planted(n=100, d=5, signal=(0, 1, 2))
    X[:, 3] = 2.0
    a = mutual_information_saliency(X, Y, seed=0)
    b = mutual_information_saliency(torch.tensor(X), torch.tensor(Y), seed=0)
    assert np.all(np.isfinite(a)) and a[3] == 0.0
    np.testing.assert_array_equal(a, b)  # same seed -> identical
    np.testing.assert_allclose(a, naive_mis(X, Y, seed=0), rtol=1e-10, atol=1e-12)


def test_mis_planted_signal_ranks_top():
    X, Y = _planted(n=300, d=8, signal=(1, 4, 6))
    s = mutual_information_saliency(X, Y, seed=0)
    assert set(np.argsort(-s)[:3].tolist()) == {1, 4, 6}


def test_mis_max_samples_subsamples_deterministically():
    X, Y = _planted(n=200, d=4, signal=(0, 1, 2))
    a = mutual_information_saliency(X, Y, seed=1, max_samples=60)
    b = mutual_information_saliency(X, Y, seed=1, max_samples=60)
    np.testing.assert_array_equal(a, b)
    keep = np.sort(np.random.default_rng(1).choice(200, 60, replace=False))
    np.testing.assert_allclose(a, naive_mis(X[keep], Y[keep], seed=1), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_neighbors"):
        mutual_information_saliency(X[:3], Y[:3], seed=0)


def test_mis_passes_n_jobs_to_scikit_learn_with_the_same_scores(monkeypatch):
    import sklearn.feature_selection

    X, Y = _planted(n=120, d=5, signal=(0, 2, 4))
    serial = mutual_information_saliency(X, Y, seed=2)
    seen = []
    estimator = sklearn.feature_selection.mutual_info_regression

    def recording(*args, **kwargs):
        seen.append(kwargs["n_jobs"])
        return estimator(*args, **kwargs)

    monkeypatch.setattr(sklearn.feature_selection, "mutual_info_regression", recording)
    parallel = fit_selection("mis", X, Y, keep_fraction=0.6, seed=2, n_jobs=2)["scores"]
    assert seen == [2] * (Y.shape[1] + X.shape[1])
    np.testing.assert_array_equal(parallel, serial)


@pytest.mark.parametrize("progressbar", [True, False])
def test_mis_progress_bar_counts_the_estimator_calls(capsys, progressbar):
    X, Y = _planted(n=60, d=5, signal=(0, 1, 2))
    X[:, 3] = 1.0  # constant: no call
    fit_selection("mis", X, Y, keep_fraction=0.6, progressbar=progressbar)
    err = capsys.readouterr().err
    if progressbar:
        assert "MIS (5 dims, 60 utterances)" in err and f"{Y.shape[1] + 4}/{Y.shape[1] + 4}" in err
    else:
        assert "MIS" not in err


# ----------------------------------------------------------------------------
# select_top_fraction
# ----------------------------------------------------------------------------
def test_select_top_fraction_basic_and_sorted():
    scores = np.array([0.5, 0.1, 0.9, 0.3, 0.7])
    idx = select_top_fraction(scores, 0.6)
    assert idx.dtype == np.int64
    assert idx.tolist() == [0, 2, 4]
    assert select_top_fraction(torch.tensor(scores), 0.6).tolist() == [0, 2, 4]


def test_select_top_fraction_edges():
    scores = np.random.default_rng(0).normal(size=10)
    assert select_top_fraction(scores, 1.0).tolist() == list(range(10))
    assert select_top_fraction(scores, 1).tolist() == list(range(10))
    assert select_top_fraction(scores, 1e-9).tolist() == [int(np.argmax(scores))]
    assert len(select_top_fraction(scores, 0.04)) == 1  # round(0.4) = 0 -> at least 1
    assert len(select_top_fraction(np.arange(1024.0), 0.8)) == round(0.8 * 1024)
    assert len(select_top_fraction(np.arange(5.0), 0.5)) == 2  # round(2.5) == 2
    assert select_top_fraction([3.0], 0.5).tolist() == [0]


def test_select_top_fraction_ties_prefer_lower_index():
    scores = np.array([1.0, 2.0, 2.0, 1.0, 2.0, 0.0])
    assert select_top_fraction(scores, 2 / 6).tolist() == [1, 2]
    assert select_top_fraction(scores, 4 / 6).tolist() == [0, 1, 2, 4]
    assert select_top_fraction(np.zeros(4), 0.5).tolist() == [0, 1]


@pytest.mark.parametrize(
    "bad", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf"), True, "0.5", None]
)
def test_select_top_fraction_invalid_fraction(bad):
    with pytest.raises(ValueError, match="fraction"):
        select_top_fraction(np.arange(4.0), bad)


def test_select_top_fraction_invalid_scores():
    with pytest.raises(ValueError):
        select_top_fraction(np.array([]), 0.5)
    with pytest.raises(ValueError):
        select_top_fraction(np.zeros((2, 2)), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        select_top_fraction(np.array([1.0, np.nan]), 0.5)


# ----------------------------------------------------------------------------
# fit_selection
# ----------------------------------------------------------------------------
def _selection_of(fitted):
    """The run-time FeatureSelection holding a fitted result."""
    selection = FeatureSelection(fitted["input_size"], fitted["method"], fitted["keep_fraction"])
    selection.load_state_dict(
        {name: torch.as_tensor(fitted[name]) for name in selection.state_dict()}
    )
    return selection


def test_fit_selection_methods_and_errors():
    X, Y = _planted(n=50, d=4, signal=(0, 1, 2))
    assert fit_selection("CCS", X, Y, 0.5)["method"] == "ccs"
    assert fit_selection("mis", X, Y, 0.5, seed=3)["seed"] == 3
    none = fit_selection(None, X, None, 0.8)
    assert none == {
        "method": "none",
        "keep_fraction": 0.8,
        "seed": 0,
        "input_size": 4,
        "output_size": 4,
    }
    with pytest.raises(ValueError, match="unknown"):
        fit_selection("lda", X, Y, 0.5)
    with pytest.raises(ValueError, match="fraction"):
        fit_selection("ccs", X, Y, 0.0)
    with pytest.raises(ValueError, match="fraction"):
        fit_selection("pca", X, Y, 1.5)
    with pytest.raises(ValueError, match="targets"):
        fit_selection("ccs", X, None, 0.5)


@pytest.mark.parametrize("method", ["ccs", "mis"])
def test_fit_selection_keeps_the_most_salient_dimensions(method):
    X, Y = _planted(n=200, d=10, signal=(1, 5, 8))
    fitted = fit_selection(method, X, Y, keep_fraction=0.3, seed=0)
    assert fitted["input_size"] == 10 and fitted["output_size"] == 3
    assert fitted["indices"].dtype == np.int64 and fitted["indices"].tolist() == [1, 5, 8]
    fn = (
        cross_correlation_saliency
        if method == "ccs"
        else (lambda a, b: mutual_information_saliency(a, b, seed=0))
    )
    np.testing.assert_array_equal(fitted["scores"], fn(X, Y))
    x = torch.randn(4, 7, 10)
    assert torch.equal(_selection_of(fitted)(x), x[..., [1, 5, 8]])


def test_pca_matches_sklearn_and_keeps_variance():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 2)) * [5.0, 3.0]
    mixing = rng.normal(size=(2, 10))
    X = latent @ mixing + 0.05 * rng.normal(size=(300, 10)) + 4.0
    fitted = fit_selection("pca", X, None, keep_fraction=0.2, seed=0)
    assert fitted["output_size"] == 2 and fitted["input_size"] == 10
    assert float(fitted["explained_variance_ratio"].sum()) > 0.99
    assert fitted["components"].flags["C_CONTIGUOUS"]
    pca = _selection_of(fitted)
    ref = PCA(n_components=2, svd_solver="full").fit(X)
    x = torch.tensor(X[:20])
    np.testing.assert_allclose(pca(x).numpy(), ref.transform(X[:20]), atol=1e-10)
    # Frame sequences [B, T, D], dtype preserved.
    seq = torch.randn(3, 11, 10, dtype=torch.float32)
    out = pca(seq)
    assert out.shape == (3, 11, 2) and out.dtype == torch.float32
    flat = ref.transform(seq.reshape(-1, 10).double().numpy()).reshape(3, 11, 2)
    np.testing.assert_allclose(out.numpy(), flat, rtol=1e-4, atol=1e-4)
    # Reconstruction from the kept components retains the variance.
    z = pca(torch.tensor(X))
    recon = z @ pca.components + pca.mean
    resid = ((torch.tensor(X) - recon) ** 2).sum() / ((torch.tensor(X) - pca.mean) ** 2).sum()
    assert float(resid) < 0.01


def test_pca_refuses_more_components_than_utterances():
    X = np.random.default_rng(0).normal(size=(5, 20))
    with pytest.raises(
        ValueError, match="5 utterances of 20 dimensions can keep 1 to 5 components, not 16"
    ):
        fit_selection("pca", X, None, keep_fraction=0.8)
    assert fit_selection("pca", X, None, keep_fraction=0.01)["components"].shape == (1, 20)
    assert principal_components(X, 5)["components"].shape == (5, 20)


def test_fit_is_deterministic_for_a_seed():
    X, Y = _planted(n=120, d=6, signal=(0, 2, 4), seed=2)
    for method in ("ccs", "mis", "pca"):
        a = fit_selection(method, X, Y, 0.5, seed=7)
        b = fit_selection(method, X, Y, 0.5, seed=7)
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], np.ndarray):
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{method} {key}")
            else:
                assert a[key] == b[key]


@pytest.mark.parametrize("method", ["ccs", "mis", "pca", "none"])
def test_fitted_result_round_trips_through_json_exactly(method):
    """The recipe saves the fitted result in feature_selection.json and rebuilds the module from
    it."""
    X, Y = _planted(n=120, d=8, signal=(0, 3, 6), seed=4)
    fitted = fit_selection(method, X, Y, keep_fraction=0.5, seed=3)
    record = json.loads(
        json.dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in fitted.items()})
    )
    selection = FeatureSelection(record["input_size"], record["method"], record["keep_fraction"])
    selection.load_state_dict(
        {
            name: torch.tensor(record[name], dtype=buffer.dtype)
            for name, buffer in selection.state_dict().items()
        }
    )
    direct = _selection_of(fitted)
    for name, buffer in direct.state_dict().items():
        assert torch.equal(selection.state_dict()[name], buffer), name
    x = torch.randn(2, 9, 8)
    assert torch.equal(selection(x), direct(x))
