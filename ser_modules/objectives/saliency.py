"""Emotion-salient feature selection (CCS, MIS) and a PCA baseline, fitted as plain functions.

Implements section 3.3 of Mitra et al. (2024), "Investigating salient
representations and label variance in dimensional speech emotion analysis":
rank the dimensions of frozen upstream features (e.g. HuBERT layer 24,
1024 dims) by how strongly their utterance means relate to the dimensional
emotion targets, and keep only the top fraction of dimensions.  The
selection is fitted on the *training* split only (:func:`fit_selection`) and
then applied to every frame of every utterance by
:class:`ser_modules.nn.selection.FeatureSelection`, so the temporal structure
of the kept dimensions is preserved.

Reading of the paper's equations
--------------------------------
The text is a machine extraction; this is the reconstruction implemented.
In the paper ``N`` is the number of feature *dimensions*; here the feature
matrix is ``X`` with shape ``[N, D]`` (``N`` utterances, ``D`` dimensions),
so the paper's ``N`` becomes ``D`` below.  ``Hbar_k`` is column ``k`` of
``X`` (the frame-average of dimension ``k`` for each training utterance),
``L`` is one target column (valence, activation or dominance),
``corr(a, b) = Cov(a, b) / (sigma_a sigma_b)`` is Pearson's r over the
training utterances (the paper writes ``sigma_{H_k}`` without the bar in
eq. (1); it is the standard deviation of the same utterance means) and the
norm ``||.||`` of a scalar is its absolute value::

    (1)  S_L(k)   = |corr(Hbar_k, L)| + gamma_L(k)
    (2)  gamma_L(k) = 1/(D-1) * sum_{j != k} w_L(j) * |corr(Hbar_k, Hbar_j)|
         with w_L(j) = |corr(Hbar_j, L)|
    (3)  mu_CCS(k) = 1/K * sum_L S_L(k)        (K = 3 in the paper)

So a dimension scores high if it is itself correlated with the target, plus
a bonus for being correlated with other dimensions, weighted by how
correlated those dimensions are with the target.  ``mu_CCS`` is returned by
:func:`cross_correlation_saliency`.

MIS (:func:`mutual_information_saliency`) uses the same three equations
with every ``|corr(., .)|`` replaced by a mutual-information estimate
``I(., .)`` (scikit-learn's KSG kNN estimator ``mutual_info_regression``).

Conventions
-----------
* Degenerate cases: a correlation that involves a constant column (zero
  variance) is defined as 0.  So a constant feature dimension gets saliency
  exactly 0 and adds nothing to the ``gamma`` of other dimensions, and a
  constant target column adds 0 to every score (it still counts in the
  ``1/K`` of eq. (3)).  The same holds for MIS (the mutual information with
  a constant is 0 by definition, so it is set to 0 exactly rather than
  estimated).  With ``D == 1`` the sum in eq. (2) is empty and ``gamma = 0``.
* All computations are done in float64 numpy; the functions return
  ``numpy.ndarray`` and accept numpy arrays or torch tensors (any float
  dtype, any device; they are copied to CPU).

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> feats = torch.randn(200, 10, generator=g)
>>> targets = torch.stack([feats[:, 3], -feats[:, 6], feats[:, 3] + feats[:, 6]], dim=1)
>>> fit_selection("ccs", feats, targets, keep_fraction=0.2)["indices"].tolist()
[3, 6]
"""

import logging

import numpy as np
import torch
from tqdm import tqdm

from ser_modules.nn.selection import INDEX_METHODS, kept_size, selection_method

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------
def _to_numpy_2d(x, name):
    """Converts a numpy array or torch tensor to a float64 2-D numpy array.

    Arguments
    ---------
    x : numpy.ndarray or torch.Tensor
        Array of shape ``[N, C]`` (a 1-D array is read as ``[N, 1]``).
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``[N, C]``.

    Example
    -------
    >>> _to_numpy_2d(torch.ones(3), "x").shape
    (3, 1)
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    x = np.array(x, dtype=np.float64, copy=True)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape [N, C], got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_pair(features, targets):
    """Converts and validates a ``(features [N, D], targets [N, K])`` pair.

    Arguments
    ---------
    features : numpy.ndarray or torch.Tensor
        Utterance-mean features ``[N, D]``.
    targets : numpy.ndarray or torch.Tensor
        Targets ``[N, K]`` or ``[N]``.

    Returns
    -------
    tuple of numpy.ndarray
        float64 ``X [N, D]`` and ``Y [N, K]``.

    Example
    -------
    >>> X, Y = _check_pair(np.zeros((4, 3)), np.zeros(4))
    >>> X.shape, Y.shape
    ((4, 3), (4, 1))
    """
    X = _to_numpy_2d(features, "features")
    Y = _to_numpy_2d(targets, "targets")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            "features and targets must have the same number of rows (utterances), "
            f"got {X.shape[0]} and {Y.shape[0]}"
        )
    if X.shape[0] < 2:
        raise ValueError("at least 2 utterances are needed to compute saliency")
    return X, Y


def _constant_columns(x):
    """Boolean mask of the exactly constant columns of ``x [N, C]``.

    Arguments
    ---------
    x : numpy.ndarray
        Array ``[N, C]``.

    Returns
    -------
    numpy.ndarray
        bool ``[C]``, True where all rows of the column are equal.

    Example
    -------
    >>> _constant_columns(np.array([[1.0, 2.0], [1.0, 3.0]])).tolist()
    [True, False]
    """
    return np.ptp(x, axis=0) == 0


def _pearson(a, b):
    """Pearson correlation between every column of ``a`` and of ``b``.

    Columns that are exactly constant get correlation 0 with everything.

    Arguments
    ---------
    a : numpy.ndarray
        float64 ``[N, P]``.
    b : numpy.ndarray
        float64 ``[N, Q]``.

    Returns
    -------
    numpy.ndarray
        ``[P, Q]`` correlations in ``[-1, 1]``.

    Example
    -------
    >>> a = np.array([[0.0], [1.0], [2.0]])
    >>> np.round(_pearson(a, np.hstack([2 * a, -a, np.ones_like(a)])), 6).tolist()
    [[1.0, -1.0, 0.0]]
    """

    def _unit_columns(x):
        xc = x - x.mean(axis=0, keepdims=True)
        xc[:, _constant_columns(x)] = 0.0
        norm = np.sqrt((xc**2).sum(axis=0))
        norm[norm == 0] = 1.0  # only constant columns (all zeros after centring)
        return xc / norm

    return np.clip(_unit_columns(a).T @ _unit_columns(b), -1.0, 1.0)


def _assemble_saliency(rel, pair):
    """Eq. (1)-(3): combines feature-target and feature-feature relevances.

    Arguments
    ---------
    rel : numpy.ndarray
        ``[D, K]`` non-negative relevance of dimension ``k`` to target ``L``
        (``|corr|`` for CCS, mutual information for MIS).  It is both the
        first term of eq. (1) and the weight ``w_L(j)`` of eq. (2).
    pair : numpy.ndarray
        ``[D, D]`` non-negative relevance between dimensions, entry
        ``[k, j]`` used in ``gamma(k)``; the diagonal is ignored.

    Returns
    -------
    numpy.ndarray
        ``[D]`` saliency averaged over the ``K`` targets (eq. (3)).

    Example
    -------
    >>> rel = np.array([[1.0], [0.0]])
    >>> pair = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> _assemble_saliency(rel, pair).tolist()
    [1.0, 0.5]
    """
    D = rel.shape[0]
    pair = np.array(pair, dtype=np.float64, copy=True)
    np.fill_diagonal(pair, 0.0)
    if D > 1:
        gamma = pair @ rel / (D - 1)  # [D, K], eq. (2)
    else:
        gamma = np.zeros_like(rel)
    per_target = rel + gamma  # eq. (1)
    return per_target.mean(axis=1)  # eq. (3)


# ----------------------------------------------------------------------------
# Saliency scores
# ----------------------------------------------------------------------------
def cross_correlation_saliency(features, targets):
    """Cross-correlation saliency (CCS), eq. (1)-(3) of Mitra et al. (2024).

    For each dimension ``k`` and target ``L``::

        S_L(k) = |r(X_k, L)| + 1/(D-1) sum_{j != k} |r(X_j, L)| |r(X_k, X_j)|

    where ``r`` is Pearson's correlation over the ``N`` utterances; the
    result is the mean of ``S_L(k)`` over the ``K`` targets.  Constant
    feature dimensions get saliency exactly 0 (their correlations are
    defined as 0); a constant target column contributes 0.  Scores lie in
    ``[0, 2]``.

    Arguments
    ---------
    features : numpy.ndarray or torch.Tensor
        Utterance-mean features ``[N, D]`` of the training set.
    targets : numpy.ndarray or torch.Tensor
        Targets ``[N, K]`` (e.g. valence, activation, dominance), or ``[N]``
        for a single target.

    Returns
    -------
    numpy.ndarray
        float64 saliency ``[D]`` (``mu_CCS`` of eq. (3)).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5))
    >>> Y = np.stack([X[:, 1] + 0.1 * rng.normal(size=300), X[:, 1] + 0.5 * X[:, 4]], axis=1)
    >>> s = cross_correlation_saliency(X, Y)
    >>> s.shape, int(np.argmax(s))
    ((5,), 1)
    >>> X[:, 0] = 3.0  # a constant dimension gets saliency 0
    >>> float(cross_correlation_saliency(X, Y)[0])
    0.0
    """
    X, Y = _check_pair(features, targets)
    rel = np.abs(_pearson(X, Y))  # [D, K]: |corr(Hbar_k, L)| = w_L(k)
    pair = np.abs(_pearson(X, X))  # [D, D]: |corr(Hbar_k, Hbar_j)|
    return _assemble_saliency(rel, pair)


def mutual_information_saliency(
    features, targets, seed, n_neighbors=3, max_samples=None, n_jobs=None, progressbar=False
):
    """Mutual-information saliency (MIS): eq. (1)-(3) with MI for ``|corr|``.

    For each dimension ``k`` and target ``L``::

        S_L(k) = I(X_k; L) + 1/(D-1) sum_{j != k} I(X_j; L) I(X_k; X_j)

    averaged over the ``K`` targets.  ``I(X_k; L)`` is
    ``mutual_info_regression(X, L, n_neighbors, random_state=seed)[k]`` and
    the feature-feature term ``I(X_k; X_j)`` is
    ``mutual_info_regression(X, X[:, j], n_neighbors, random_state=seed)[k]``
    (estimated with ``X_j`` as the regression target, not symmetrised).
    MI with a constant column is set to exactly 0 (no estimate), so constant
    dimensions get saliency 0.  Scores are in nats and not bounded by 1.

    Cost: ``D + K`` calls of ``mutual_info_regression``, i.e. about
    ``D * (D + K)`` kNN estimates on ``N`` points (each ``O(N log N)``): for
    ``D = 1024`` and ``N = 2000``, about 15 hours of one CPU core. ``n_jobs``
    spreads the ``D`` estimates of each call over processes (scikit-learn's
    ``n_jobs``; the scores do not depend on it), ``max_samples`` bounds ``N``,
    and ``progressbar`` shows a tqdm bar over the calls.

    Arguments
    ---------
    features : numpy.ndarray or torch.Tensor
        Utterance-mean features ``[N, D]`` of the training set.
    targets : numpy.ndarray or torch.Tensor
        Targets ``[N, K]`` or ``[N]``.
    seed : int
        ``random_state`` of every ``mutual_info_regression`` call (it adds
        tiny noise to the data) and of the optional subsampling.
    n_neighbors : int
        Number of neighbours of the KSG estimator (scikit-learn default 3).
    max_samples : int or None
        If set and ``N > max_samples``, use a random subset of
        ``max_samples`` utterances (drawn with
        ``numpy.random.default_rng(seed)``, without replacement).
    n_jobs : int or None
        Processes of each ``mutual_info_regression`` call (``None``: 1, ``-1``:
        all cores).
    progressbar : bool
        Show a tqdm bar over the ``D + K`` calls.

    Returns
    -------
    numpy.ndarray
        float64 saliency ``[D]``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> Y = np.stack([np.sin(2 * X[:, 2]), X[:, 2] ** 2], axis=1)
    >>> s = mutual_information_saliency(X, Y, seed=0)
    >>> s.shape, int(np.argmax(s))
    ((4,), 2)
    """
    from sklearn.feature_selection import mutual_info_regression

    X, Y = _check_pair(features, targets)
    if max_samples is not None:
        if int(max_samples) < 2:
            raise ValueError(f"max_samples must be >= 2, got {max_samples}")
        if X.shape[0] > int(max_samples):
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(X.shape[0], int(max_samples), replace=False))
            X, Y = X[keep], Y[keep]
    N, D = X.shape
    if N <= n_neighbors:
        raise ValueError(
            f"mutual information needs more than n_neighbors={n_neighbors} utterances, got {N}"
        )
    const_x = _constant_columns(X)
    const_y = _constant_columns(Y)

    calls = int((~const_y).sum()) + (int((~const_x).sum()) if D > 1 else 0)
    bar = tqdm(
        total=calls, desc=f"MIS ({D} dims, {N} utterances)", unit="call", disable=not progressbar
    )

    def _mi(target):
        mi = mutual_info_regression(
            X, target, n_neighbors=n_neighbors, random_state=seed, n_jobs=n_jobs
        )
        bar.update()
        mi = np.asarray(mi, dtype=np.float64)
        mi[const_x] = 0.0
        return mi

    with bar:
        rel = np.zeros((D, Y.shape[1]))
        for k in range(Y.shape[1]):
            if not const_y[k]:
                rel[:, k] = _mi(Y[:, k])
        pair = np.zeros((D, D))
        if D > 1:
            for j in range(D):
                if not const_x[j]:
                    pair[:, j] = _mi(X[:, j])
    return _assemble_saliency(rel, pair)


def select_top_fraction(scores, fraction):
    """Indices of the ``round(fraction * D)`` highest scores, sorted ascending.

    The count is ``max(1, round(fraction * D))`` with Python's ``round``
    (round half to even, e.g. ``round(2.5) == 2``).  Ties are broken
    deterministically in favour of the *lower* index (stable sort on the
    descending score).

    Arguments
    ---------
    scores : numpy.ndarray or torch.Tensor
        Finite scores ``[D]``.
    fraction : float
        Fraction of dimensions to keep, in ``(0, 1]``.

    Returns
    -------
    numpy.ndarray
        int64 indices, sorted in ascending order.

    Example
    -------
    >>> select_top_fraction([0.1, 0.9, 0.5, 0.9], 0.5).tolist()
    [1, 3]
    >>> select_top_fraction([0.1, 0.9, 0.5, 0.9], 0.01).tolist()
    [1]
    >>> select_top_fraction([0.3, 0.3, 0.3], 0.34).tolist()
    [0]
    """
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().to(device="cpu", dtype=torch.float64).numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    n_keep = kept_size(scores.shape[0], fraction)
    order = np.argsort(-scores, kind="stable")  # ties: lower index first
    return np.sort(order[:n_keep]).astype(np.int64)


# ----------------------------------------------------------------------------
# Fitting a selection
# ----------------------------------------------------------------------------
def principal_components(features, n_components, seed=0, svd_solver="covariance_eigh"):
    """PCA of ``features`` with scikit-learn (no whitening).

    Arguments
    ---------
    features : numpy.ndarray or torch.Tensor
        Utterance means ``[N, D]``.
    n_components : int
        Components kept, at most ``min(N, D)``.
    seed : int
        ``random_state`` of the PCA (only used by randomized solvers).
    svd_solver : str
        scikit-learn ``svd_solver``.  Default ``"covariance_eigh"``: exact
        and deterministic like ``"full"`` but about 10x faster when
        ``N >> D`` (13 s vs 150 s for ``N = 34k``, ``D = 1024`` on 2 CPU cores).

    Returns
    -------
    dict
        float64 arrays ``mean`` ``[D]``, ``components`` ``[n_components, D]``
        (C-contiguous) and ``explained_variance_ratio`` ``[n_components]``.

    Example
    -------
    >>> X = np.random.default_rng(0).normal(size=(50, 6)) * [10.0, 5.0, 1.0, 0.1, 0.1, 0.1]
    >>> pca = principal_components(X, 2)
    >>> pca["components"].shape, bool(pca["explained_variance_ratio"].sum() > 0.9)
    ((2, 6), True)
    """
    from sklearn.decomposition import PCA

    X = _to_numpy_2d(features, "features")
    if not 1 <= n_components <= min(X.shape):
        raise ValueError(
            f"PCA of {X.shape[0]} utterances of {X.shape[1]} dimensions can keep 1 to"
            f" {min(X.shape)} components, not {n_components}: lower keep_fraction or use more"
            " utterances"
        )
    pca = PCA(n_components=n_components, svd_solver=svd_solver, random_state=seed).fit(X)
    return {
        "mean": np.ascontiguousarray(pca.mean_, dtype=np.float64),
        "components": np.ascontiguousarray(pca.components_, dtype=np.float64),
        "explained_variance_ratio": np.asarray(pca.explained_variance_ratio_, dtype=np.float64),
    }


def fit_selection(
    method,
    features,
    targets,
    keep_fraction,
    seed=0,
    n_neighbors=3,
    max_samples=None,
    n_jobs=None,
    progressbar=False,
):
    """Fits a feature selection on the training utterance means.

    * ``ccs`` / ``mis``: scores every dimension (:func:`cross_correlation_saliency`,
      :func:`mutual_information_saliency`) and keeps :func:`select_top_fraction` of them;
    * ``pca``: :func:`principal_components` with ``kept_size(D, keep_fraction)`` components;
    * ``none``: keeps every dimension.

    The result holds the buffers of :class:`ser_modules.nn.selection.FeatureSelection` under
    their names (``indices``, or ``mean`` and ``components``) and, for the record, the
    ``scores`` or the ``explained_variance_ratio``.

    Arguments
    ---------
    method : str
        ``"ccs"``, ``"mis"``, ``"pca"`` or ``"none"`` (case-insensitive).
    features : numpy.ndarray or torch.Tensor
        Utterance-mean features ``[N, D]`` (training split only).
    targets : numpy.ndarray or torch.Tensor or None
        Targets ``[N, K]`` or ``[N]`` (needed by ``ccs`` and ``mis``).
    keep_fraction : float
        Fraction of the dimensions (or components) kept, in ``(0, 1]``.
    seed : int
        Seed of the MI estimator and of the PCA.
    n_neighbors : int
        MIS only: neighbours of the KSG estimator.
    max_samples : int or None
        MIS only: subsample the utterances to at most this many.
    n_jobs : int or None
        MIS only: processes of scikit-learn's MI estimator (``-1``: all cores).
    progressbar : bool
        MIS only: show a tqdm bar.

    Returns
    -------
    dict
        ``method``, ``keep_fraction``, ``seed``, ``input_size``, ``output_size`` and the
        numpy arrays of the method.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> Y = X[:, [4, 0]] + 0.1 * rng.normal(size=(100, 2))
    >>> fitted = fit_selection("ccs", X, Y, keep_fraction=0.4)
    >>> fitted["indices"].tolist(), fitted["output_size"], fitted["scores"].shape
    ([0, 4], 2, (5,))
    >>> fit_selection("pca", X, None, keep_fraction=0.4)["components"].shape
    (2, 5)
    """
    method = selection_method(method)
    X = _to_numpy_2d(features, "features")
    N, D = X.shape
    size = kept_size(D, keep_fraction)
    fitted = {
        "method": method,
        "keep_fraction": float(keep_fraction),
        "seed": int(seed),
        "input_size": D,
    }
    if method in INDEX_METHODS:
        if targets is None:
            raise ValueError(f"{method!r} saliency needs targets")
        if method == "ccs":
            scores = cross_correlation_saliency(X, targets)
        else:
            scores = mutual_information_saliency(
                X,
                targets,
                seed,
                n_neighbors=n_neighbors,
                max_samples=max_samples,
                n_jobs=n_jobs,
                progressbar=progressbar,
            )
        fitted.update(
            output_size=size, indices=select_top_fraction(scores, keep_fraction), scores=scores
        )
    elif method == "pca":
        fitted.update(output_size=size, **principal_components(X, size, seed=seed))
    else:
        fitted.update(output_size=D)
    logger.info(
        "%s selection: kept %d of %d dimensions (keep_fraction=%s) on %d utterances",
        method.upper(),
        fitted["output_size"],
        D,
        keep_fraction,
        N,
    )
    return fitted
