"""Emotion-salient feature selection (CCS, MIS) and a PCA baseline.

Implements section 3.3 of Mitra et al. (2024), "Investigating salient
representations and label variance in dimensional speech emotion analysis":
rank the dimensions of frozen upstream features (e.g. HuBERT layer 24,
1024 dims) by how strongly their utterance means relate to the dimensional
emotion targets, and keep only the top fraction of dimensions.  The
selection is fitted on the *training* split only and then applied to every
frame of every utterance, so the temporal structure of the kept dimensions
is preserved.

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
* All saliency computations are done in float64 numpy; the functions
  return ``numpy.ndarray`` of dtype float64 and accept numpy arrays or
  torch tensors (any float dtype, any device; they are copied to CPU).

Selectors
---------
:class:`SaliencySelector`, :class:`PCAReducer` and :class:`IdentitySelector`
share one interface, built by :func:`make_feature_selector` from a single
hparam (``"ccs"``, ``"mis"``, ``"pca"`` or ``"none"``):

* ``fit(features [N, D], targets [N, K]) -> self`` on train utterance means;
* ``transform(x)`` / ``forward(x)`` on torch tensors ``[..., D]`` (e.g.
  ``[B, T, D]`` frame sequences) returning ``[..., output_size]`` with the
  dtype and device of ``x``;
* ``input_size`` / ``output_size`` (``None`` before fitting);
* they are ``torch.nn.Module`` objects whose fitted state (selected indices
  and scores, or PCA mean and components) lives in buffers plus a small
  ``extra_state`` dict, so ``state_dict()`` / ``load_state_dict()`` round-trip
  exactly, loading works into an unfitted instance (buffers are resized),
  and they can be registered directly as SpeechBrain checkpointer
  recoverables.  ``save(path)`` / ``load(path)`` wrap ``torch.save`` /
  ``torch.load`` and :func:`load_feature_selector` rebuilds the right class
  from a saved file.

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> feats = torch.randn(200, 10, generator=g)
>>> targets = torch.stack([feats[:, 3], -feats[:, 6], feats[:, 3] + feats[:, 6]], dim=1)
>>> sel = make_feature_selector("ccs", keep_fraction=0.2, seed=0).fit(feats, targets)
>>> sel.indices.tolist()
[3, 6]
>>> sel(torch.randn(4, 50, 10)).shape
torch.Size([4, 50, 2])
"""

import logging
import math
import numbers

import numpy as np
import torch

logger = logging.getLogger(__name__)

METHODS = ("ccs", "mis", "pca", "none")
_FORMAT_VERSION = 1


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
            f"features and targets must have the same number of rows (utterances), "
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
    features, targets, seed, n_neighbors=3, max_samples=None
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
    ``D * (D + K)`` kNN estimates on ``N`` points; for ``D = 1024`` use
    ``max_samples`` (a few thousand) to keep it tractable.

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
            f"mutual information needs more than n_neighbors={n_neighbors} "
            f"utterances, got {N}"
        )
    const_x = _constant_columns(X)
    const_y = _constant_columns(Y)

    def _mi(target):
        mi = mutual_info_regression(
            X, target, n_neighbors=n_neighbors, random_state=seed
        )
        mi = np.asarray(mi, dtype=np.float64)
        mi[const_x] = 0.0
        return mi

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
    fraction = _check_fraction(fraction)
    D = scores.shape[0]
    n_keep = max(1, int(round(fraction * D)))
    order = np.argsort(-scores, kind="stable")  # ties: lower index first
    return np.sort(order[:n_keep]).astype(np.int64)


def _check_fraction(fraction):
    """Validates a keep fraction in ``(0, 1]`` and returns it as a float.

    Arguments
    ---------
    fraction : float
        Candidate fraction.

    Returns
    -------
    float
        The fraction.

    Example
    -------
    >>> _check_fraction(1)
    1.0
    >>> _check_fraction(0.0)
    Traceback (most recent call last):
    ...
    ValueError: fraction must be a number in (0, 1], got 0.0
    """
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not math.isfinite(float(fraction))
        or not 0.0 < float(fraction) <= 1.0
    ):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    return float(fraction)


# ----------------------------------------------------------------------------
# Selectors
# ----------------------------------------------------------------------------
class _FeatureSelectorBase(torch.nn.Module):
    """Common machinery: fitted-state buffers, extra state, save/load.

    Subclasses declare ``_KIND`` and the names of their state buffers in
    ``_STATE_BUFFERS``, and implement ``fit`` and ``_transform``.

    Arguments
    ---------
    keep_fraction : float
        Fraction of dimensions (or components) to keep, in ``(0, 1]``.
    seed : int
        Random seed used by the fitting procedure.
    """

    _KIND = None
    _STATE_BUFFERS = ()

    def __init__(self, keep_fraction=0.8, seed=0):
        super().__init__()
        self.keep_fraction = _check_fraction(keep_fraction)
        self.seed = int(seed)
        self.input_size = None
        self.output_size = None

    @property
    def method(self):
        """Name of the method, as accepted by :func:`make_feature_selector`."""
        return self._KIND

    @property
    def fitted(self):
        """Whether the selector has been fitted or loaded."""
        return self.input_size is not None

    def _check_input(self, x):
        """Checks a tensor to transform (``[..., input_size]``)."""
        if not self.fitted:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call fit() or load a saved state"
            )
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"transform expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim == 0 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input of shape [..., {self.input_size}], got {tuple(x.shape)}"
            )

    def transform(self, x):
        """Applies the fitted reduction to the last dimension of ``x``.

        Arguments
        ---------
        x : torch.Tensor
            Features ``[..., input_size]`` (e.g. ``[B, T, D]``).

        Returns
        -------
        torch.Tensor
            ``[..., output_size]``, same dtype and device as ``x``.
        """
        self._check_input(x)
        return self._transform(x)

    def forward(self, x):
        """Same as :meth:`transform` (so the selector can sit in a pipeline).

        Arguments
        ---------
        x : torch.Tensor
            Features ``[..., input_size]``.

        Returns
        -------
        torch.Tensor
            ``[..., output_size]``.
        """
        return self.transform(x)

    def _transform(self, x):
        raise NotImplementedError

    def _sizes_from_buffers(self):
        """Returns ``(input_size, output_size)`` implied by the buffers."""
        raise NotImplementedError

    # -- state -----------------------------------------------------------
    def get_extra_state(self):
        """Non-tensor state stored in ``state_dict()`` under ``_extra_state``.

        Returns
        -------
        dict
            Kind, hyperparameters, sizes and format version (plain Python
            types, loadable with ``torch.load(weights_only=True)``).
        """
        return {
            "format_version": _FORMAT_VERSION,
            "kind": self._KIND,
            "keep_fraction": self.keep_fraction,
            "seed": self.seed,
            "input_size": -1 if self.input_size is None else int(self.input_size),
            "output_size": -1 if self.output_size is None else int(self.output_size),
        }

    def set_extra_state(self, state):
        """Restores the state written by :meth:`get_extra_state`.

        The saved hyperparameters replace the constructor ones (with a
        logged warning if they differ): the saved selection is authoritative.

        Arguments
        ---------
        state : dict
            Output of :meth:`get_extra_state`.
        """
        if not isinstance(state, dict) or "kind" not in state:
            raise ValueError(f"invalid feature-selector extra state: {state!r}")
        if state.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(
                f"feature-selector state has format_version {state['format_version']}, "
                f"this code reads up to {_FORMAT_VERSION}"
            )
        if not self._accepts_kind(state["kind"]):
            raise ValueError(
                f"cannot load a {state['kind']!r} feature-selector state into "
                f"{type(self).__name__}({self._KIND!r})"
            )
        for key in ("kind", "keep_fraction", "seed"):
            current = self._KIND if key == "kind" else getattr(self, key)
            if state[key] != current:
                logger.warning(
                    "Loaded feature-selector state has %s=%r (instance had %r); "
                    "using the saved value.",
                    key,
                    state[key],
                    current,
                )
        self._set_kind(state["kind"])
        self.keep_fraction = float(state["keep_fraction"])
        self.seed = int(state["seed"])
        in_size, out_size = int(state["input_size"]), int(state["output_size"])
        self.input_size = None if in_size < 0 else in_size
        self.output_size = None if out_size < 0 else out_size
        if self.fitted and self._STATE_BUFFERS:
            if self._sizes_from_buffers() != (self.input_size, self.output_size):
                raise ValueError(
                    "inconsistent feature-selector state: buffers imply sizes "
                    f"{self._sizes_from_buffers()}, extra state says "
                    f"{(self.input_size, self.output_size)}"
                )

    def _accepts_kind(self, kind):
        return kind == self._KIND

    def _set_kind(self, kind):
        pass

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Resize the (possibly empty, unfitted) buffers to the saved shapes
        # and dtypes, so a state can be loaded into a fresh instance.
        for name in self._STATE_BUFFERS:
            key = prefix + name
            if key in state_dict and isinstance(state_dict[key], torch.Tensor):
                saved = state_dict[key]
                current = self._buffers[name]
                self._buffers[name] = torch.empty(
                    saved.shape, dtype=saved.dtype, device=current.device
                )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def save(self, path):
        """Saves ``state_dict()`` with ``torch.save``.

        Arguments
        ---------
        path : str or pathlib.Path
            Destination file.
        """
        torch.save(self.state_dict(), path)

    def load(self, path):
        """Loads a state saved by :meth:`save` (or by a SpeechBrain checkpointer).

        Arguments
        ---------
        path : str or pathlib.Path
            File written by :meth:`save`.

        Returns
        -------
        self
        """
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return self

    def extra_repr(self):
        return (
            f"method={self.method!r}, keep_fraction={self.keep_fraction}, seed={self.seed}, "
            f"input_size={self.input_size}, output_size={self.output_size}"
        )


class SaliencySelector(_FeatureSelectorBase):
    """Keeps the most salient feature dimensions (CCS or MIS).

    ``fit`` scores every dimension with :func:`cross_correlation_saliency`
    (``"ccs"``) or :func:`mutual_information_saliency` (``"mis"``) and keeps
    :func:`select_top_fraction` of them.  ``transform`` gathers those
    dimensions (in ascending index order) from the last axis.

    Buffers (saved in ``state_dict``): ``indices`` (int64 ``[D']``) and
    ``scores`` (float64 ``[D]``).

    Arguments
    ---------
    method : str
        ``"ccs"`` or ``"mis"``.
    keep_fraction : float
        Fraction of dimensions to keep, in ``(0, 1]``.
    seed : int
        Seed of the MI estimator (unused by CCS, which is deterministic).
    n_neighbors : int
        MIS only: neighbours of the KSG estimator.
    max_samples : int or None
        MIS only: subsample the utterances to at most this many.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> Y = X[:, [4, 0]] + 0.1 * rng.normal(size=(100, 2))
    >>> sel = SaliencySelector("ccs", keep_fraction=0.4).fit(X, Y)
    >>> sel.indices.tolist(), sel.output_size
    ([0, 4], 2)
    >>> x = torch.arange(10.0).reshape(2, 5)
    >>> sel.transform(x)
    tensor([[0., 4.],
            [5., 9.]])
    """

    _STATE_BUFFERS = ("indices", "scores")

    def __init__(self, method="ccs", keep_fraction=0.8, seed=0, n_neighbors=3, max_samples=None):
        super().__init__(keep_fraction=keep_fraction, seed=seed)
        if method not in ("ccs", "mis"):
            raise ValueError(f"SaliencySelector method must be 'ccs' or 'mis', got {method!r}")
        self._method = method
        self.n_neighbors = int(n_neighbors)
        self.max_samples = max_samples
        self.register_buffer("indices", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("scores", torch.zeros(0, dtype=torch.float64))

    @property
    def method(self):
        return self._method

    @property
    def _KIND(self):  # instance-level kind: "ccs" or "mis"
        return self._method

    def _accepts_kind(self, kind):
        return kind in ("ccs", "mis")

    def _set_kind(self, kind):
        self._method = kind

    def fit(self, features, targets):
        """Scores the dimensions on train utterance means and selects the top.

        Arguments
        ---------
        features : numpy.ndarray or torch.Tensor
            Utterance-mean features ``[N, D]`` (training split only).
        targets : numpy.ndarray or torch.Tensor
            Targets ``[N, K]`` or ``[N]``.

        Returns
        -------
        self
        """
        if targets is None:
            raise ValueError(f"{self._method!r} saliency needs targets")
        if self._method == "ccs":
            scores = cross_correlation_saliency(features, targets)
        else:
            scores = mutual_information_saliency(
                features,
                targets,
                seed=self.seed,
                n_neighbors=self.n_neighbors,
                max_samples=self.max_samples,
            )
        indices = select_top_fraction(scores, self.keep_fraction)
        device = self.indices.device
        self.scores = torch.from_numpy(scores).to(device)
        self.indices = torch.from_numpy(indices).to(device)
        self.input_size = int(scores.shape[0])
        self.output_size = int(indices.shape[0])
        logger.info(
            "%s saliency: kept %d of %d dimensions (keep_fraction=%s)",
            self._method.upper(),
            self.output_size,
            self.input_size,
            self.keep_fraction,
        )
        return self

    def _sizes_from_buffers(self):
        return int(self.scores.shape[0]), int(self.indices.shape[0])

    def _transform(self, x):
        return x.index_select(-1, self.indices.to(x.device))


class PCAReducer(_FeatureSelectorBase):
    """Projects features on their top principal components (scikit-learn PCA).

    ``fit`` runs ``sklearn.decomposition.PCA(n_components, svd_solver,
    random_state=seed)`` on the utterance means (targets are ignored) with
    ``n_components = max(1, round(keep_fraction * D))``.  PCA cannot have
    more than ``min(N, D)`` components: a larger request is clamped to
    ``min(N, D)`` with a logged warning, so check ``output_size`` after
    fitting.  ``transform`` computes ``(x - mean) @ components.T`` on the
    last axis (no whitening), in the dtype and device of ``x``.

    Buffers (saved in ``state_dict``, float64): ``mean`` ``[D]``,
    ``components`` ``[D', D]`` and ``explained_variance_ratio`` ``[D']``.

    Arguments
    ---------
    keep_fraction : float
        Fraction of ``D`` to keep as components, in ``(0, 1]``.
    seed : int
        ``random_state`` of the PCA (only used by randomized solvers).
    svd_solver : str
        scikit-learn ``svd_solver``.  Default ``"covariance_eigh"``: exact
        and deterministic like ``"full"`` but about 10x faster when
        ``N >> D`` (eigendecomposition of the ``D x D`` covariance; 13 s vs
        150 s for ``N = 34k``, ``D = 1024`` on 2 CPU cores).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 6)) * np.array([10.0, 5.0, 1.0, 0.1, 0.1, 0.1])
    >>> pca = PCAReducer(keep_fraction=0.5).fit(X)
    >>> pca.output_size, pca.components.shape
    (3, torch.Size([3, 6]))
    >>> pca.transform(torch.zeros(2, 7, 6)).shape
    torch.Size([2, 7, 3])
    """

    _KIND = "pca"
    _STATE_BUFFERS = ("mean", "components", "explained_variance_ratio")

    def __init__(self, keep_fraction=0.8, seed=0, svd_solver="covariance_eigh"):
        super().__init__(keep_fraction=keep_fraction, seed=seed)
        self.svd_solver = svd_solver
        self.register_buffer("mean", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("components", torch.zeros(0, 0, dtype=torch.float64))
        self.register_buffer("explained_variance_ratio", torch.zeros(0, dtype=torch.float64))

    def fit(self, features, targets=None):
        """Fits the PCA on train utterance means.

        Arguments
        ---------
        features : numpy.ndarray or torch.Tensor
            Utterance-mean features ``[N, D]`` (training split only).
        targets : any
            Ignored (accepted for interface compatibility).

        Returns
        -------
        self
        """
        from sklearn.decomposition import PCA

        del targets
        X = _to_numpy_2d(features, "features")
        N, D = X.shape
        n_components = max(1, int(round(self.keep_fraction * D)))
        limit = min(N, D)
        if n_components > limit:
            logger.warning(
                "PCA: keep_fraction=%s of D=%d asks for %d components but only "
                "min(N=%d, D=%d)=%d are possible; clamping to %d.",
                self.keep_fraction,
                D,
                n_components,
                N,
                D,
                limit,
                limit,
            )
            n_components = limit
        pca = PCA(n_components=n_components, svd_solver=self.svd_solver, random_state=self.seed)
        pca.fit(X)
        device = self.mean.device
        f64 = torch.float64
        # Contiguous copies: sklearn's components_ may be Fortran-ordered, and a
        # loaded (contiguous) buffer must give bit-identical matmul results.
        def _buf(a):
            return torch.tensor(np.ascontiguousarray(a), dtype=f64, device=device)

        self.mean = _buf(pca.mean_)
        self.components = _buf(pca.components_)
        self.explained_variance_ratio = _buf(pca.explained_variance_ratio_)
        self.input_size = D
        self.output_size = int(n_components)
        logger.info(
            "PCA: kept %d of %d dimensions (%.1f%% of the variance)",
            self.output_size,
            D,
            100.0 * float(self.explained_variance_ratio.sum()),
        )
        return self

    def _sizes_from_buffers(self):
        return int(self.mean.shape[0]), int(self.components.shape[0])

    def _transform(self, x):
        if not torch.is_floating_point(x):
            raise TypeError(f"PCAReducer.transform expects a floating tensor, got {x.dtype}")
        mean = self.mean.to(device=x.device, dtype=x.dtype)
        comps = self.components.to(device=x.device, dtype=x.dtype)
        return torch.matmul(x - mean, comps.T)


class IdentitySelector(_FeatureSelectorBase):
    """Keeps all dimensions (method ``"none"``).

    ``fit`` only records ``input_size = output_size = D``; ``transform``
    returns its input unchanged (after a shape check).

    Arguments
    ---------
    keep_fraction : float
        Ignored except for validation (kept for interface compatibility).
    seed : int
        Ignored.

    Example
    -------
    >>> sel = IdentitySelector().fit(np.zeros((3, 4)))
    >>> sel.output_size
    4
    >>> x = torch.ones(2, 4)
    >>> sel.transform(x) is x
    True
    """

    _KIND = "none"

    def __init__(self, keep_fraction=1.0, seed=0):
        super().__init__(keep_fraction=keep_fraction, seed=seed)

    def fit(self, features, targets=None):
        """Records the feature size.

        Arguments
        ---------
        features : numpy.ndarray or torch.Tensor
            Features ``[N, D]``.
        targets : any
            Ignored.

        Returns
        -------
        self
        """
        del targets
        D = _to_numpy_2d(features, "features").shape[1]
        self.input_size = self.output_size = int(D)
        return self

    def _transform(self, x):
        return x


def make_feature_selector(method="ccs", keep_fraction=0.8, seed=0, **kwargs):
    """Builds a feature selector from one hparam.

    Arguments
    ---------
    method : str
        ``"ccs"`` or ``"mis"`` (:class:`SaliencySelector`), ``"pca"``
        (:class:`PCAReducer`) or ``"none"`` (:class:`IdentitySelector`).
        Case-insensitive; ``None`` means ``"none"``.
    keep_fraction : float
        Fraction of dimensions to keep, in ``(0, 1]`` (ignored by ``"none"``).
    seed : int
        Seed for MIS / PCA.
    **kwargs
        Extra constructor arguments (``n_neighbors``, ``max_samples`` for
        MIS; ``svd_solver`` for PCA).

    Returns
    -------
    torch.nn.Module
        An unfitted selector with ``fit``/``transform``/``output_size``.

    Example
    -------
    >>> type(make_feature_selector("pca", 0.5)).__name__
    'PCAReducer'
    >>> make_feature_selector("mis", 0.5, seed=1).method
    'mis'
    >>> make_feature_selector("lda")
    Traceback (most recent call last):
    ...
    ValueError: unknown feature-selection method 'lda'; expected one of ('ccs', 'mis', 'pca', 'none')
    """
    name = "none" if method is None else str(method).lower()
    if name in ("ccs", "mis"):
        return SaliencySelector(name, keep_fraction=keep_fraction, seed=seed, **kwargs)
    if name == "pca":
        return PCAReducer(keep_fraction=keep_fraction, seed=seed, **kwargs)
    if name == "none":
        if kwargs:
            raise TypeError(f"method 'none' takes no extra arguments, got {sorted(kwargs)}")
        return IdentitySelector(keep_fraction=keep_fraction, seed=seed)
    raise ValueError(f"unknown feature-selection method {method!r}; expected one of {METHODS}")


def load_feature_selector(path):
    """Rebuilds a fitted selector of the right class from a saved state file.

    Arguments
    ---------
    path : str or pathlib.Path
        File written by ``selector.save(path)`` or by a SpeechBrain
        checkpointer for a selector recoverable.

    Returns
    -------
    torch.nn.Module
        The fitted selector.

    Example
    -------
    >>> import tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(20, 4))
    >>> sel = make_feature_selector("pca", 0.5).fit(X)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sel.save(os.path.join(d, "sel.ckpt"))
    ...     again = load_feature_selector(os.path.join(d, "sel.ckpt"))
    >>> torch.equal(again.components, sel.components)
    True
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    extra = state.get("_extra_state")
    if not isinstance(extra, dict) or "kind" not in extra:
        raise ValueError(f"{path} does not contain a feature-selector state")
    selector = make_feature_selector(
        extra["kind"], keep_fraction=extra["keep_fraction"], seed=extra["seed"]
    )
    selector.load_state_dict(state)
    return selector
