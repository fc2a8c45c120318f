"""Losses for speech emotion recognition (dimensional and categorical).

Dimensional SER (MSP-Podcast style, regression of arousal / valence / dominance):

* :func:`ccc` -- concordance correlation coefficient (Lin, 1989) per column.
* :class:`CCCLoss` -- ``-sum_k w_k CCC_k``, eq. (4) of Mitra et al. (2024).
* :class:`VarianceAwareCCCLoss` -- CCC loss that can also use the raters'
  spread (grader opinion variance): modes ``none``, ``aux``, ``kl_gauss``,
  ``sample``.
* :func:`gaussian_kl`, :func:`sample_targets`, :func:`spread_to_std` -- helpers.

Categorical SER (IEMOCAP, MSP-Podcast primary emotion):

* :class:`EmotionCrossEntropy` -- cross-entropy with label smoothing, soft
  (annotator vote) targets and class weights normalised by the sum of weights.
* :func:`class_counts`, :func:`inverse_frequency_weights` -- class weights.

Column order
------------
All dimensional tensors use one fixed column order, :data:`DIMENSIONS` =
``("arousal", "valence", "dominance")``. Manifests, model heads and metrics
must follow it. (Eq. (4) of the paper lists valence first, but with the
default weights ``1/3`` the order does not change the loss.)

Scale
-----
Nothing here rescales labels. Targets may be on the raw 1..7 rating scale or
normalised (e.g. ``(y - 1) / 6`` as the MSP-Podcast baseline); CCC is invariant
to applying the same affine map to predictions and targets. The options that
depend on the scale (``std_floor`` and ``label_range`` of
:class:`VarianceAwareCCCLoss`) default to the 1..7 scale and must be divided
by 6 (``std_floor``) or set to ``(0.0, 1.0)`` (``label_range``) for
``(y - 1) / 6`` targets.

Authors
 * ser-recipes contributors 2025
"""

import numpy as np
import torch
import torch.nn.functional as F

from ser_modules.utils.constants import DIMENSIONS, RATING_SCALE

#: Default denominator offset of :func:`ccc` (see its docstring).
CCC_EPS = 1e-8

#: Valid modes of :class:`VarianceAwareCCCLoss`.
VARIANCE_MODES = ("none", "aux", "kl_gauss", "sample")


def _as_float(x):
    """Returns ``x`` as a floating tensor of at least float32 precision."""
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    if x.dtype in (torch.float64, torch.float32):
        return x
    return x.to(torch.float32)


def ccc(pred, target, eps=CCC_EPS):
    """Concordance correlation coefficient per column, over all rows.

    Lin (1989), with population (biased, ``1/N``) moments::

        CCC = 2 cov(p, t) / (var(p) + var(t) + (mean(p) - mean(t))^2 + eps)

    ``eps`` (default ``1e-8``) keeps the value finite when both columns are
    constant: a constant prediction then gives ``CCC = 0`` instead of NaN
    (the covariance is exactly 0). It changes CCC by a relative ``eps /
    denominator``, i.e. ~1e-8 for labels with unit variance, and it is not
    scale invariant, so keep it tiny. Set ``eps=0`` for the textbook value.

    Computed in float32, or float64 if an input is float64 (half precision
    inputs are upcast, so the function is safe under autocast).

    Arguments
    ---------
    pred : torch.Tensor
        Predictions, shape [N] or [N, K].
    target : torch.Tensor
        Targets, same shape as ``pred``.
    eps : float
        Offset added to the denominator.

    Returns
    -------
    torch.Tensor
        CCC per column: shape [] for [N] inputs, [K] for [N, K] inputs.
        Values in [-1, 1]. Differentiable.

    Example
    -------
    >>> x = torch.tensor([-1.5, -0.5, 0.5, 1.5])  # zero mean, so ccc(x, -x) = -1
    >>> round(ccc(x, x).item(), 6), round(ccc(x, -x).item(), 6)
    (1.0, -1.0)
    >>> ccc(torch.full((4,), 2.5), x).item()  # constant prediction: finite, 0
    0.0
    >>> ccc(torch.stack([x, x + 1], 1), torch.stack([x, x], 1)).shape
    torch.Size([2])
    """
    pred = _as_float(pred)
    target = _as_float(target)
    if pred.shape != target.shape:
        raise ValueError(
            "ccc: pred and target must have the same shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.dim() not in (1, 2):
        raise ValueError(f"ccc: expected [N] or [N, K] inputs, got shape {tuple(pred.shape)}")
    if pred.shape[0] == 0:
        raise ValueError("ccc: inputs have no rows")
    dtype = torch.promote_types(pred.dtype, target.dtype)
    pred, target = pred.to(dtype), target.to(dtype)
    mean_p, mean_t = pred.mean(0), target.mean(0)
    dev_p, dev_t = pred - mean_p, target - mean_t
    var_p = (dev_p * dev_p).mean(0)
    var_t = (dev_t * dev_t).mean(0)
    cov = (dev_p * dev_t).mean(0)
    return 2.0 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + eps)


def _check_weights(weights, dimensions=None):
    """Validates loss weights and returns (float64 tensor, names)."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.dim() != 1 or w.numel() == 0:
        raise ValueError(f"weights must be a non-empty 1-D sequence, got {weights!r}")
    if not torch.isfinite(w).all():
        raise ValueError(f"weights must be finite, got {weights!r}")
    if dimensions is None:
        if w.numel() == len(DIMENSIONS):
            dimensions = DIMENSIONS
        else:
            dimensions = tuple(f"dim{k}" for k in range(w.numel()))
    dimensions = tuple(dimensions)
    if len(dimensions) != w.numel():
        raise ValueError(
            f"weights has {w.numel()} entries but dimensions has "
            f"{len(dimensions)} ({dimensions}); give one weight per dimension"
        )
    return w, dimensions


def _check_columns(x, num, name):
    """Checks that ``x`` is [B, num] (or [B] when num == 1); returns [B, num]."""
    if x.dim() == 1 and num == 1:
        return x.unsqueeze(1)
    if x.dim() != 2 or x.shape[1] != num:
        raise ValueError(
            f"{name} must have shape [batch, {num}] (one column per weight, "
            f"order {DIMENSIONS if num == 3 else 'of the weights'}), got "
            f"{tuple(x.shape)}"
        )
    return x


class CCCLoss(torch.nn.Module):
    """Weighted negative CCC loss, ``L = -sum_k w_k CCC_k`` (Mitra et al. 2024, eq. 4).

    CCC is computed over the whole batch for each column (see :func:`ccc`),
    so use large batches (the paper uses 64). Columns follow
    :data:`DIMENSIONS` = (arousal, valence, dominance). The loss lies in
    ``[-sum(w), sum(w)]``; ``-1`` is perfect with the default weights.
    (The MSP-Podcast baseline uses ``sum_k (1 - CCC_k)``, which has the same
    gradients up to a constant factor.)

    Arguments
    ---------
    weights : sequence of float
        One weight per column, default ``(1/3, 1/3, 1/3)``. Not renormalised.
    dimensions : sequence of str, optional
        Column names (for :meth:`compute_parts`). Default :data:`DIMENSIONS`
        for 3 weights, ``dim0, dim1, ...`` otherwise.
    eps : float
        Denominator offset of :func:`ccc`.

    Example
    -------
    >>> loss = CCCLoss()
    >>> target = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0], [3.0, 3.0, 2.0]])
    >>> round(loss(target, target).item(), 6)
    -1.0
    >>> centred = target - target.mean(0)
    >>> round(loss(-centred, centred).item(), 6)
    1.0
    >>> CCCLoss(weights=(0.5, 0.5))(target, target)
    Traceback (most recent call last):
    ...
    ValueError: predictions must have shape [batch, 2] (one column per weight, order of the
    weights), got (3, 3)
    """

    def __init__(self, weights=(1 / 3, 1 / 3, 1 / 3), dimensions=None, eps=CCC_EPS):
        super().__init__()
        w, self.dimensions = _check_weights(weights, dimensions)
        self.eps = float(eps)
        # Not persistent: keeps checkpoints of modules that hold a loss unchanged.
        self.register_buffer("weights", w.to(torch.float32), persistent=False)

    def per_dimension(self, predictions, targets):
        """CCC of each column, shape [K] (differentiable).

        Arguments
        ---------
        predictions : torch.Tensor
            [B, K] predictions (or [B] when K == 1).
        targets : torch.Tensor
            [B, K] targets.

        Returns
        -------
        torch.Tensor
            [K] CCC values, in the order of ``dimensions``.
        """
        num = self.weights.numel()
        predictions = _check_columns(_as_float(predictions), num, "predictions")
        targets = _check_columns(_as_float(targets), num, "targets")
        if predictions.shape != targets.shape:
            raise ValueError(
                f"predictions {tuple(predictions.shape)} and targets "
                f"{tuple(targets.shape)} must have the same shape"
            )
        return ccc(predictions, targets, eps=self.eps)

    def forward(self, predictions, targets):
        """Computes ``-sum_k w_k CCC_k``.

        Arguments
        ---------
        predictions, targets
            As in :meth:`per_dimension`.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        values = self.per_dimension(predictions, targets)
        return -(self.weights.to(values) * values).sum()

    def compute_parts(self, predictions, targets):
        """Loss plus detached per-dimension CCCs, for logging.

        Arguments
        ---------
        predictions : torch.Tensor
            [B, K] predictions.
        targets : torch.Tensor
            [B, K] targets.

        Returns
        -------
        dict
            ``{"loss": scalar (with grad), "ccc_<dim>": scalar (detached)}``.
        """
        values = self.per_dimension(predictions, targets)
        parts = {"loss": -(self.weights.to(values) * values).sum()}
        for name, value in zip(self.dimensions, values.detach()):
            parts[f"ccc_{name}"] = value
        return parts


def gaussian_kl(mean_p, std_p, mean_q, std_q):
    """Element-wise ``KL(N(mean_p, std_p^2) || N(mean_q, std_q^2))``.

    ``log(std_q / std_p) + (std_p^2 + (mean_p - mean_q)^2) / (2 std_q^2) - 1/2``.
    In :class:`VarianceAwareCCCLoss` ``p`` is the raters' distribution and
    ``q`` the predicted one. Standard deviations must be positive.

    Arguments
    ---------
    mean_p, std_p : torch.Tensor
        Mean and standard deviation of ``p``.
    mean_q, std_q : torch.Tensor
        Mean and standard deviation of ``q`` (broadcastable).

    Returns
    -------
    torch.Tensor
        KL divergence (nats), broadcast shape of the inputs.

    Example
    -------
    >>> gaussian_kl(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0))
    tensor(0.)
    >>> kl = gaussian_kl(torch.tensor(1.0), torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0))
    >>> round(kl.item(), 4)
    0.5
    """
    var_q = std_q * std_q
    return (
        torch.log(std_q)
        - torch.log(std_p)
        + (std_p * std_p + (mean_p - mean_q) ** 2) / (2.0 * var_q)
        - 0.5
    )


def spread_to_std(raw, min_std=1e-3):
    """Maps a raw (unconstrained) model output to a positive std.

    ``std = softplus(raw) + min_std``. Models predict the spread with a plain
    linear layer; the loss (and inference code) apply this map. Use the same
    function at inference time to report the predicted spread.

    Arguments
    ---------
    raw : torch.Tensor
        Raw spread output of the model, any shape.
    min_std : float
        Lower bound of the returned std (numerical safety).

    Returns
    -------
    torch.Tensor
        Positive standard deviation, same shape, same scale as the targets.

    Example
    -------
    >>> spread_to_std(torch.tensor([-30.0, 0.0, 30.0]), min_std=1e-3)
    tensor([1.0000e-03, 6.9415e-01, 3.0001e+01])
    """
    return F.softplus(_as_float(raw)) + min_std


def sample_targets(target_mean, target_spread, label_range=RATING_SCALE):
    """Draws targets from the raters' distribution ``N(mean, spread^2)``.

    ``y = clip(mean + spread * eps, low, high)`` with ``eps ~ N(0, 1)`` drawn
    from torch's global RNG (seeded by SpeechBrain's ``seed_everything``).

    Arguments
    ---------
    target_mean : torch.Tensor
        Raters' mean, any shape.
    target_spread : torch.Tensor
        Raters' standard deviation (population), same shape, >= 0.
    label_range : tuple of float or None
        ``(low, high)`` clipping range; default ``(1, 7)`` for raw MSP-Podcast
        ratings, ``(0, 1)`` for ``(y - 1) / 6`` targets, ``None`` for no clip.

    Returns
    -------
    torch.Tensor
        Sampled targets, same shape (no gradient flows to the targets).

    Example
    -------
    >>> mean = torch.tensor([1.0, 4.0, 7.0])
    >>> y = sample_targets(mean, torch.tensor([0.0, 0.5, 3.0]))
    >>> bool(y[0] == 1.0), bool((y >= 1).all() and (y <= 7).all())
    (True, True)
    """
    target_mean = _as_float(target_mean)
    target_spread = _as_float(target_spread).to(target_mean.dtype)
    noise = torch.randn_like(target_mean)
    sample = target_mean + target_spread * noise
    if label_range is not None:
        low, high = label_range
        sample = sample.clamp(min=low, max=high)
    return sample.detach()


class VarianceAwareCCCLoss(torch.nn.Module):
    """CCC loss on the rater means, optionally using the raters' spread.

    Notation: ``mu`` / ``sigma`` = raters' mean and (population) standard
    deviation per utterance and dimension (``target_mean`` /
    ``target_spread``); ``mu_hat`` = ``pred_mean``; ``sigma_hat`` =
    ``spread_to_std(pred_spread)`` = ``softplus(pred_spread) + min_pred_std``.
    ``L_ccc(x, y) = -sum_k w_k CCC_k(x, y)`` (:class:`CCCLoss`).

    Modes
    -----
    ``"none"``
        ``L_ccc(mu_hat, mu)``. Spreads are ignored (may be ``None``).
    ``"aux"``
        ``L_ccc(mu_hat, mu) + aux_weight * L_ccc(sigma_hat, sigma)``: the
        model also predicts the raters' spread (multi-task). Needs both spreads.
    ``"kl_gauss"``
        ``L_ccc(mu_hat, mu) + kl_weight * mean_i sum_k w_k
        KL(N(mu, s^2) || N(mu_hat, sigma_hat^2))`` with
        ``s = max(sigma, std_floor)`` (raters often agree, sigma = 0). The KL
        is in nats; it also pulls ``mu_hat`` towards ``mu`` with weight
        ``1 / sigma_hat^2``. Needs both spreads.
    ``"sample"``
        In training (``self.training``), ``L_ccc(mu_hat, y)`` with
        ``y = clip(mu + sigma * eps, label_range)`` redrawn at every call
        (:func:`sample_targets`); needs ``target_spread``. In eval mode
        ``L_ccc(mu_hat, mu)`` (deterministic, spreads optional).
        SpeechBrain's ``Brain`` sets train/eval mode on modules only, so put
        the loss in ``modules`` or call ``loss.train(stage == TRAIN)``.

    Arguments
    ---------
    mode : str
        One of :data:`VARIANCE_MODES`.
    weights : sequence of float
        Per-dimension weights ``w_k`` (default 1/3 each; order
        :data:`DIMENSIONS`). Used for the CCC of the means, of the spreads
        and for the KL.
    aux_weight : float
        ``lambda`` of mode ``aux`` (tune on dev, e.g. 0.1 / 0.3 / 0.5).
    kl_weight : float
        ``beta`` of mode ``kl_gauss`` (tune on dev).
    std_floor : float
        Minimum raters' std in the KL (default 0.25, on the 1..7 scale; use
        0.25 / 6 for ``(y - 1) / 6`` targets).
    min_pred_std : float
        Added to ``softplus(pred_spread)`` (see :func:`spread_to_std`).
    label_range : tuple of float or None
        Clipping range of mode ``sample`` (default ``(1, 7)``; ``None``: none).
    dimensions : sequence of str, optional
        Names of the columns, for :meth:`compute_parts`.
    eps : float
        Denominator offset of :func:`ccc`.

    Example
    -------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> mu = 1 + 6 * torch.rand(8, 3)
    >>> sigma = torch.rand(8, 3)
    >>> pred_mu, pred_raw_spread = mu + 0.1 * torch.randn(8, 3), torch.zeros(8, 3)
    >>> loss_fn = VarianceAwareCCCLoss(mode="kl_gauss", kl_weight=0.1)
    >>> loss = loss_fn(pred_mu, mu, pred_raw_spread, sigma)
    >>> loss.shape
    torch.Size([])
    >>> sorted(loss_fn.compute_parts(pred_mu, mu, pred_raw_spread, sigma))
    ['ccc_arousal', 'ccc_dominance', 'ccc_loss', 'ccc_valence', 'kl', 'loss']
    >>> VarianceAwareCCCLoss(mode="aux")(pred_mu, mu)
    Traceback (most recent call last):
    ...
    ValueError: mode 'aux' needs pred_spread (raw model output for the spread, [B, 3]); got None
    """

    def __init__(
        self,
        mode="none",
        weights=(1 / 3, 1 / 3, 1 / 3),
        aux_weight=0.3,
        kl_weight=0.1,
        std_floor=0.25,
        min_pred_std=1e-3,
        label_range=RATING_SCALE,
        dimensions=None,
        eps=CCC_EPS,
    ):
        super().__init__()
        if mode not in VARIANCE_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(VARIANCE_MODES)}")
        if std_floor <= 0:
            raise ValueError(f"std_floor must be > 0, got {std_floor}")
        if min_pred_std < 0:
            raise ValueError(f"min_pred_std must be >= 0, got {min_pred_std}")
        if label_range is not None:
            label_range = (float(label_range[0]), float(label_range[1]))
            if not label_range[0] < label_range[1]:
                raise ValueError(f"label_range must be (low, high), got {label_range}")
        self.mode = mode
        self.ccc_loss = CCCLoss(weights=weights, dimensions=dimensions, eps=eps)
        self.dimensions = self.ccc_loss.dimensions
        self.aux_weight = float(aux_weight)
        self.kl_weight = float(kl_weight)
        self.std_floor = float(std_floor)
        self.min_pred_std = float(min_pred_std)
        self.label_range = label_range

    @property
    def num_dimensions(self):
        """Number of target columns (``len(weights)``)."""
        return len(self.dimensions)

    def spread_to_std(self, pred_spread):
        """Predicted std from the raw spread output (see :func:`spread_to_std`).

        Arguments
        ---------
        pred_spread : torch.Tensor
            Raw spread output of the model.

        Returns
        -------
        torch.Tensor
            ``softplus(pred_spread) + min_pred_std``.
        """
        return spread_to_std(pred_spread, self.min_pred_std)

    def _prepare(self, x, name, required_by=None):
        num = self.num_dimensions
        if x is None:
            if required_by is not None:
                what = (
                    "raw model output for the spread"
                    if name == "pred_spread"
                    else "raters' standard deviation"
                )
                raise ValueError(
                    f"mode {required_by!r} needs {name} ({what}, [B, {num}]); got None"
                )
            return None
        return _check_columns(_as_float(x), num, name)

    def compute_parts(self, pred_mean, target_mean, pred_spread=None, target_spread=None):
        """Computes the loss and its parts (for logging).

        Arguments
        ---------
        pred_mean : torch.Tensor
            [B, K] predicted means (K = len(weights), order :data:`DIMENSIONS`).
        target_mean : torch.Tensor
            [B, K] raters' means.
        pred_spread : torch.Tensor, optional
            [B, K] **raw** spread output of the model (mapped by
            ``softplus + min_pred_std``). Needed by ``aux`` and ``kl_gauss``.
        target_spread : torch.Tensor, optional
            [B, K] raters' population standard deviation (>= 0, same scale
            as the means). Needed by ``aux``, ``kl_gauss`` and by ``sample``
            in training.

        Returns
        -------
        dict
            ``"loss"`` (scalar, with grad), ``"ccc_loss"`` and ``"ccc_<dim>"``
            (CCC of the means against the targets used), plus ``"aux_loss"``
            and ``"aux_ccc_<dim>"`` (mode ``aux``, unweighted) or ``"kl"``
            (mode ``kl_gauss``, unweighted mean KL in nats). All but
            ``"loss"`` are detached.
        """
        mode = self.mode
        needs_pred = mode in ("aux", "kl_gauss")
        needs_target = needs_pred or (mode == "sample" and self.training)
        pred_mean = self._prepare(pred_mean, "pred_mean")
        target_mean = self._prepare(target_mean, "target_mean")
        if pred_mean.shape != target_mean.shape:
            raise ValueError(
                f"pred_mean {tuple(pred_mean.shape)} and target_mean "
                f"{tuple(target_mean.shape)} must have the same shape"
            )
        pred_spread = self._prepare(
            pred_spread if needs_pred else None, "pred_spread", mode if needs_pred else None
        )
        target_spread = self._prepare(
            target_spread if needs_target else None,
            "target_spread",
            mode if needs_target else None,
        )
        for name, x in (("pred_spread", pred_spread), ("target_spread", target_spread)):
            if x is not None and x.shape != pred_mean.shape:
                raise ValueError(
                    f"{name} {tuple(x.shape)} must have the shape of pred_mean "
                    f"{tuple(pred_mean.shape)}"
                )
        if target_spread is not None and bool((target_spread < 0).any()):
            raise ValueError("target_spread must be >= 0 (a standard deviation)")

        targets = target_mean
        if mode == "sample" and self.training:
            targets = sample_targets(target_mean, target_spread, self.label_range)

        values = self.ccc_loss.per_dimension(pred_mean, targets)
        weights = self.ccc_loss.weights.to(values)
        ccc_term = -(weights * values).sum()
        parts = {"ccc_loss": ccc_term.detach()}
        for name, value in zip(self.dimensions, values.detach()):
            parts[f"ccc_{name}"] = value
        loss = ccc_term

        if mode == "aux":
            pred_std = self.spread_to_std(pred_spread)
            aux_values = self.ccc_loss.per_dimension(pred_std, target_spread)
            aux_term = -(weights * aux_values).sum()
            loss = loss + self.aux_weight * aux_term
            parts["aux_loss"] = aux_term.detach()
            for name, value in zip(self.dimensions, aux_values.detach()):
                parts[f"aux_ccc_{name}"] = value
        elif mode == "kl_gauss":
            pred_std = self.spread_to_std(pred_spread)
            target_std = target_spread.clamp(min=self.std_floor)
            kl = gaussian_kl(target_mean, target_std, pred_mean, pred_std)  # [B, K]
            kl_term = (kl * weights.to(kl)).sum(1).mean()
            loss = loss + self.kl_weight * kl_term
            parts["kl"] = kl_term.detach()

        parts["loss"] = loss
        return parts

    def forward(self, pred_mean, target_mean, pred_spread=None, target_spread=None):
        """Computes the scalar loss (see :meth:`compute_parts` for the arguments).

        Arguments
        ---------
        pred_mean : torch.Tensor
            [B, K] predicted means.
        target_mean : torch.Tensor
            [B, K] raters' means.
        pred_spread : torch.Tensor, optional
            [B, K] raw spread output of the model.
        target_spread : torch.Tensor, optional
            [B, K] raters' standard deviation.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        return self.compute_parts(pred_mean, target_mean, pred_spread, target_spread)["loss"]

    def extra_repr(self):
        """Summary shown by ``print(module)``."""
        return (
            f"mode={self.mode!r}, dimensions={self.dimensions}, aux_weight={self.aux_weight}, "
            f"kl_weight={self.kl_weight}, std_floor={self.std_floor}, "
            f"label_range={self.label_range}"
        )


# --------------------------------------------------------------------------
# Categorical
# --------------------------------------------------------------------------


def class_counts(labels, num_classes):
    """Number of examples of each class.

    Arguments
    ---------
    labels : sequence of int, numpy.ndarray or torch.Tensor
        Integer class indices in ``[0, num_classes)``.
    num_classes : int
        Number of classes.

    Returns
    -------
    numpy.ndarray
        int64 array of shape [num_classes].

    Example
    -------
    >>> class_counts([0, 2, 2, 1, 2], 4)
    array([1, 1, 3, 0])
    """
    if torch.is_tensor(labels):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}), got range [{labels.min()}, {labels.max()}]"
        )
    return np.bincount(labels.astype(np.int64), minlength=num_classes).astype(np.int64)


def inverse_frequency_weights(counts, power=1.0):
    """Inverse-frequency class weights, ``w_c = (N / (C * n_c)) ** power``.

    ``N`` = total count, ``n_c`` = count of class c, ``C`` = number of classes
    with a non-zero count.

    With ``power=1`` this is scikit-learn's ``"balanced"`` heuristic: every
    class gets the same total weight, and the count-weighted mean weight is 1.
    ``power=0.5`` gives the milder inverse-square-root weighting. Classes with
    zero count get weight 0 (they cannot occur in the training targets).
    :class:`EmotionCrossEntropy` normalises by the sum of weights, so the
    overall scale of the weights does not matter.

    Arguments
    ---------
    counts : sequence of int
        Training examples per class (e.g. from :func:`class_counts`).
    power : float
        Exponent applied to the inverse frequency.

    Returns
    -------
    torch.Tensor
        float32 tensor of shape [C].

    Example
    -------
    >>> inverse_frequency_weights([10, 30, 60])
    tensor([3.3333, 1.1111, 0.5556])
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if counts.size == 0 or (counts < 0).any():
        raise ValueError(f"counts must be a non-empty list of non-negative numbers, got {counts}")
    total = counts.sum()
    if total <= 0:
        raise ValueError("counts sum to zero")
    weights = np.zeros_like(counts)
    present = counts > 0
    weights[present] = (total / (present.sum() * counts[present])) ** power
    return torch.tensor(weights, dtype=torch.float32)


class EmotionCrossEntropy(torch.nn.Module):
    """Cross-entropy for emotion classes: label smoothing, soft targets, class weights.

    **Inputs** are logits *or* log-probabilities, [B, C] (or SpeechBrain's
    [B, 1, C]): ``log_softmax`` is applied internally, and it leaves
    log-probabilities unchanged, so the output of
    ``speechbrain.nnet.activations.Softmax(apply_log=True)`` works as well.
    Do not pass probabilities.

    **Targets** are either integer class indices [B] (or [B, 1], as from
    ``CategoricalEncoder``), or float soft targets [B, C] whose rows sum to 1
    (e.g. the annotators' vote distribution).

    With ``q = (1 - eps) * t + eps / C`` (``t`` = one-hot or soft target,
    ``eps`` = ``label_smoothing``, PyTorch's convention), the per-example loss
    is ``l_i = -sum_c w_c q_ic log p_ic`` and the ``"mean"`` reduction is
    ``sum_i l_i / sum_i sum_c w_c t_ic``, i.e. normalised by the sum of the
    weights of the targets. For hard targets this equals
    ``torch.nn.functional.cross_entropy(weight=w, label_smoothing=eps)``;
    without weights it is the plain mean. (SpeechBrain's ``nll_loss(weight=)``
    divides by the batch size instead, so it is only used without weights.)
    One-hot soft targets give exactly the hard-target loss.

    Arguments
    ---------
    label_smoothing : float
        ``eps`` in [0, 1).
    class_weights : sequence of float or torch.Tensor, optional
        One non-negative weight per class (e.g. :func:`inverse_frequency_weights`).
    reduction : str
        ``"mean"`` (weight-normalised, see above), ``"sum"``, or ``"batch"``
        (per-example losses ``l_i``, shape [B]).

    Example
    -------
    >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    >>> hard = torch.tensor([0, 1])
    >>> ce = EmotionCrossEntropy(label_smoothing=0.1, class_weights=[1.0, 2.0, 1.0])
    >>> ref = F.cross_entropy(
    ...     logits, hard, weight=torch.tensor([1.0, 2.0, 1.0]), label_smoothing=0.1
    ... )
    >>> bool(torch.isclose(ce(logits, hard), ref))
    True
    >>> soft = torch.tensor([[0.6, 0.4, 0.0], [0.0, 1.0, 0.0]])
    >>> ce(logits, soft).shape
    torch.Size([])
    """

    def __init__(self, label_smoothing=0.0, class_weights=None, reduction="mean"):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if reduction not in ("mean", "sum", "batch"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'batch', got {reduction!r}")
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction
        if class_weights is not None:
            class_weights = torch.as_tensor(class_weights, dtype=torch.float32).detach().clone()
            if class_weights.dim() != 1 or (class_weights < 0).any():
                raise ValueError("class_weights must be a 1-D sequence of non-negative numbers")
        self.register_buffer("class_weights", class_weights, persistent=False)

    def forward(self, predictions, targets):
        """Computes the loss.

        Arguments
        ---------
        predictions : torch.Tensor
            Logits or log-probabilities, [B, C] or [B, 1, C].
        targets : torch.Tensor
            Integer indices [B] / [B, 1], or soft targets [B, C] (rows sum to 1).

        Returns
        -------
        torch.Tensor
            Scalar loss (``"mean"`` / ``"sum"``) or [B] (``"batch"``).
        """
        if predictions.dim() == 3 and predictions.shape[1] == 1:
            predictions = predictions.squeeze(1)
        if predictions.dim() != 2:
            raise ValueError(
                f"predictions must be [B, C] or [B, 1, C], got {tuple(predictions.shape)}"
            )
        batch, num_classes = predictions.shape
        log_probs = F.log_softmax(_as_float(predictions), dim=-1)
        weights = self.class_weights
        if weights is not None and weights.numel() != num_classes:
            raise ValueError(
                f"class_weights has {weights.numel()} entries but predictions have "
                f"{num_classes} classes"
            )

        if targets.is_floating_point():
            if targets.dim() == 3 and targets.shape[1] == 1:
                targets = targets.squeeze(1)
            if tuple(targets.shape) != (batch, num_classes):
                raise ValueError(
                    f"soft targets must be [B, C] = {(batch, num_classes)}, got "
                    f"{tuple(targets.shape)} (integer class indices must have an integer dtype)"
                )
            dist = targets.to(log_probs.dtype)
            if bool((dist < 0).any()) or not torch.allclose(
                dist.sum(-1), torch.ones_like(dist[:, 0]), atol=1e-3
            ):
                raise ValueError("soft targets must be non-negative with rows summing to 1")
        else:
            if targets.dim() == 2 and targets.shape[1] == 1:
                targets = targets.squeeze(1)
            if tuple(targets.shape) != (batch,):
                raise ValueError(
                    f"integer targets must be [B] or [B, 1] with B={batch}, got "
                    f"{tuple(targets.shape)}"
                )
            targets = targets.long()
            if batch and (targets.min() < 0 or targets.max() >= num_classes):
                raise ValueError(f"target indices must lie in [0, {num_classes})")
            if weights is None and self.reduction == "mean":
                # SpeechBrain's NLL (2-D input: length must be None). Imported
                # here so that importing this module stays light.
                from speechbrain.nnet.losses import nll_loss

                return nll_loss(
                    log_probs, targets, length=None, label_smoothing=self.label_smoothing
                )
            dist = F.one_hot(targets, num_classes).to(log_probs.dtype)

        eps = self.label_smoothing
        smoothed = (1.0 - eps) * dist + eps / num_classes if eps > 0 else dist
        w = (
            weights.to(log_probs)
            if weights is not None
            else torch.ones(num_classes, dtype=log_probs.dtype, device=log_probs.device)
        )
        per_example = -(smoothed * log_probs * w).sum(-1)
        if self.reduction == "batch":
            return per_example
        if self.reduction == "sum":
            return per_example.sum()
        return per_example.sum() / (dist * w).sum()

    def extra_repr(self):
        """Summary shown by ``print(module)``."""
        return (
            f"label_smoothing={self.label_smoothing}, "
            f"weighted={self.class_weights is not None}, reduction={self.reduction!r}"
        )


__all__ = [
    "DIMENSIONS",
    "CCC_EPS",
    "VARIANCE_MODES",
    "ccc",
    "CCCLoss",
    "gaussian_kl",
    "spread_to_std",
    "sample_targets",
    "VarianceAwareCCCLoss",
    "class_counts",
    "inverse_frequency_weights",
    "EmotionCrossEntropy",
]
