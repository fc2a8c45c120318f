"""Utterance-level pooling layers for speech emotion recognition.

Every pooling is a :class:`torch.nn.Module` with ``forward(x, lengths=None)``:

* ``x``: frame-level features ``[batch, time, channels]``;
* ``lengths``: SpeechBrain relative lengths in (0, 1] (``None`` means that
  every frame is valid). Utterance ``i`` has ``round(lengths[i] * time)``
  valid frames, clamped to ``[1, time]`` (the rounding of SpeechBrain's
  ``StatisticsPooling``; see :func:`ser_modules.nn.masking.length_mask`);
* output: ``[batch, output_size]``.

Design rules shared by all the poolings:

* **Padding never enters a statistic.** Padded frames are replaced by exact
  zeros with :func:`torch.where` before anything else (so even ``inf``/``NaN``
  garbage cannot leak, neither into the outputs nor into the gradients), and
  every statistic is normalised by the number of valid frames (or by
  attention weights that are exactly zero on padding).
* **Dtype policy.** The statistics are computed with autocast disabled, in
  ``torch.promote_types(x.dtype, torch.float32)``: float32 for float16 /
  bfloat16 / float32 inputs (also under ``torch.autocast``), float64 for
  float64 inputs (what ``torch.autograd.gradcheck`` needs). The output has
  that dtype. Learnable weights (attention MLP) are cast to it on the fly.
* **Numerical safety.** Data are centred before any second-order statistic
  (never ``E[xx'] - mu mu'``), and standard deviations are ``sqrt(var + eps)``,
  so constant channels (e.g. dropped ones) and single-frame inputs give
  finite values and gradients. Default ``eps = 1e-6`` (``STD_EPS``,
  ``CORR_EPS``), added to the biased (divide-by-n, or attention-weighted)
  variances; it assumes features of order 0.1-1 (e.g. after a projector).
* No Python loop over frames or batch items.

Output sizes are exposed as an ``output_size`` attribute of each module and
by :func:`pooling_output_size`, so YAML files need no hand arithmetic::

    pooling: !new:ser_modules.nn.pooling.AttentiveCorrelationPooling
        input_size: !ref <proj_dim>
        num_heads: 4
        channel_dropout: 0.25
    classifier: !new:speechbrain.nnet.linear.Linear
        input_size: !ref <pooling.output_size>   # attribute reference
        n_neurons: 4

    # or, without an object:
    pool_dim: !apply:ser_modules.nn.pooling.pooling_output_size
        name: correlation
        channels: !ref <proj_dim>

Authors
 * ser-recipes contributors
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ser_modules.nn.masking import length_mask
from ser_modules.nn.precision import no_autocast

__all__ = [
    "pooling_output_size",
    "build_pooling",
    "canonical_pooling_name",
    "MeanPooling",
    "MeanStdPooling",
    "CorrelationPooling",
    "AttentiveCorrelationPooling",
]

# Default epsilons (added to variances, never to standard deviations).
STD_EPS = 1e-6
CORR_EPS = 1e-6


# ----------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------
POOLING_NAMES = ("mean", "mean_std", "corr", "corr_att")

_ALIASES = {
    "mean": "mean",
    "meanstd": "mean_std",
    "correlation": "corr",
    "corr": "corr",
    "attentivecorrelation": "corr_att",
    "corrattentive": "corr_att",
    "attentivecorr": "corr_att",
    "corratt": "corr_att",
}


def canonical_pooling_name(name):
    """Canonical name (one of ``POOLING_NAMES``) of a pooling name or alias.

    Arguments
    ---------
    name : str
        ``"mean"``, ``"mean_std"`` (``"meanstd"``), ``"corr"`` (``"correlation"``),
        ``"corr_att"`` (``"attentive_correlation"``, ``"corr_attentive"``); class names
        (``"CorrelationPooling"``...) and any case or ``-``/``_`` spelling are accepted.

    Returns
    -------
    str
        The canonical name.

    Example
    -------
    >>> canonical_pooling_name("AttentiveCorrelationPooling"), canonical_pooling_name("mean-std")
    ('corr_att', 'mean_std')
    """
    key = str(name).lower().replace("-", "").replace("_", "").replace("pooling", "")
    if key not in _ALIASES:
        raise ValueError(f"Unknown pooling name: {name!r}; expected one of {POOLING_NAMES}")
    return _ALIASES[key]


def pooling_output_size(name, channels, num_heads=4, per_head=False):
    """Output size of a pooling of this module, for YAML files.

    Arguments
    ---------
    name : str
        A pooling name (see :func:`canonical_pooling_name`).
    channels : int
        Number of input channels ``C``.
    num_heads : int
        Number of attention heads (attentive correlation, ``per_head`` only).
    per_head : bool
        Per-head variant of attentive correlation pooling.

    Returns
    -------
    int
        ``C``, ``2C``, ``C(C-1)/2`` or ``heads * C(C-1)/2``.

    Example
    -------
    >>> pooling_output_size("correlation", 256)
    32640
    >>> pooling_output_size("meanstd", 256)
    512
    >>> pooling_output_size("attentive_correlation", 8, num_heads=4, per_head=True)
    112
    """
    n_pairs = channels * (channels - 1) // 2
    sizes = {
        "mean": channels,
        "mean_std": 2 * channels,
        "corr": n_pairs,
        "corr_att": num_heads * n_pairs if per_head else n_pairs,
    }
    return sizes[canonical_pooling_name(name)]


def build_pooling(name, input_size, channel_dropout=0.0, num_heads=4, per_head=False):
    """Builds a pooling from its name, so that one hparam switches the pooling.

    Arguments
    ---------
    name : str
        A pooling name (see :func:`canonical_pooling_name`).
    input_size : int
        Number of input channels ``C``.
    channel_dropout : float
        p_d of the correlation poolings (ignored by mean and mean+std pooling).
    num_heads : int
        Attention heads (attentive correlation pooling).
    per_head : bool
        Per-head statistics (attentive correlation pooling).

    Returns
    -------
    torch.nn.Module
        The pooling, with its ``output_size``.

    Example
    -------
    >>> build_pooling("corr", 256, channel_dropout=0.25).output_size
    32640
    >>> type(build_pooling("mean_std", 8)).__name__
    'MeanStdPooling'
    """
    name = canonical_pooling_name(name)
    if name == "mean":
        return MeanPooling(input_size)
    if name == "mean_std":
        return MeanStdPooling(input_size)
    if name == "corr":
        return CorrelationPooling(input_size, channel_dropout=channel_dropout)
    return AttentiveCorrelationPooling(
        input_size, num_heads=num_heads, channel_dropout=channel_dropout, per_head=per_head
    )


def _compute_dtype(x):
    """float32 for half / single precision inputs, float64 for double."""
    if not x.is_floating_point():
        return torch.float32
    return torch.promote_types(x.dtype, torch.float32)


def _check_input(x, input_size=None):
    if x.dim() != 3:
        raise ValueError(f"Expected x of shape [batch, time, channels], got {tuple(x.shape)}")
    if x.shape[1] < 1:
        raise ValueError("x must have at least one frame")
    if input_size is not None and x.shape[2] != input_size:
        raise ValueError(f"Expected {input_size} channels, got {x.shape[2]}")


def _prepare(x, lengths):
    """Cast to the compute dtype and zero the padded frames.

    Returns ``(x0, mask, counts)`` with ``x0`` of the compute dtype, exact
    zeros on padded frames, ``mask`` ``[batch, time]`` and ``counts``
    ``[batch]`` in the compute dtype.
    """
    dtype = _compute_dtype(x)
    x = x.to(dtype)
    mask, counts = length_mask(lengths, x.shape[1], batch_size=x.shape[0], device=x.device)
    if lengths is not None:
        x = torch.where(mask.unsqueeze(-1), x, x.new_zeros(()))
    return x, mask, counts.to(dtype)


def _masked_centre(x0, mask, counts, masked=True):
    """Centre ``x0`` (zeros on padding) over the valid frames; padding stays 0.

    The mean is **detached**: the (co)variance is stationary in the mean at
    the sample mean (``d/dmu sum_t (x_t - mu)^2 = 0``), so the gradient path
    through the mean is exactly zero and need not be computed (exact to first
    order; the correlation backward is ``once_differentiable`` anyway).

    Arguments
    ---------
    x0 : torch.Tensor
        ``[B, T, C]`` with exact zeros on padded frames.
    mask : torch.Tensor
        Boolean ``[B, T]``.
    counts : torch.Tensor
        ``[B, 1]`` numbers of valid frames (compute dtype).
    masked : bool
        False when every frame is valid (skips the masking).

    Returns
    -------
    torch.Tensor
        ``[B, T, C]`` centred frames, exact zeros on padding.
    """
    mean = (x0.sum(1) / counts).detach().unsqueeze(1)
    if not masked:
        return x0 - mean
    # x0 - mask * mean in one fused op (padding: 0 - 0 * mean = 0).
    return torch.addcmul(x0, mask.unsqueeze(-1).to(x0.dtype), mean, value=-1.0)


def _channel_dropout(x, p, training):
    """Zero whole channels per utterance (``[B, 1, C]`` Bernoulli mask).

    Survivors are scaled by ``1 / (1 - p)`` (as ``nn.Dropout2d``); the scale
    cancels in correlations but is seen by the attention network.
    """
    if not training or p == 0.0:
        return x
    keep = torch.empty(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)
    keep.bernoulli_(1.0 - p).div_(1.0 - p)
    return x * keep


def _upper_triangle_buffers(module, channels):
    """Register the strict-upper-triangle index buffers (non-persistent, once).

    * ``triu_rows``, ``triu_cols``: ``torch.triu_indices(C, C, offset=1)``;
    * ``triu_flat``: their flat row-major indices into a ``[C * C]`` matrix;
    * ``diag_flat``: flat indices of the diagonal;
    * ``sym_perm``: permutation such that
      ``cat([upper, upper, diag], 1)[:, sym_perm]`` is the full symmetric
      matrix (row-major), used by the backward pass.
    """
    rows, cols = torch.triu_indices(channels, channels, offset=1)
    n_pairs = rows.numel()
    triu_flat = rows * channels + cols
    diag_flat = torch.arange(channels) * (channels + 1)
    sym_perm = torch.empty(channels * channels, dtype=torch.long)
    sym_perm[triu_flat] = torch.arange(n_pairs)
    sym_perm[cols * channels + rows] = n_pairs + torch.arange(n_pairs)
    sym_perm[diag_flat] = 2 * n_pairs + torch.arange(channels)
    module.register_buffer("triu_rows", rows, persistent=False)
    module.register_buffer("triu_cols", cols, persistent=False)
    module.register_buffer("triu_flat", triu_flat, persistent=False)
    module.register_buffer("diag_flat", diag_flat, persistent=False)
    module.register_buffer("sym_perm", sym_perm, persistent=False)


class _UpperCorrelation(torch.autograd.Function):
    """Strict upper triangle of the correlation of centred, weighted frames.

    ``apply(z, w, eps, rows, cols, triu_flat, diag_flat, sym_perm)``:

    * ``z``: centred frames ``[N, T, C]``;
    * ``w``: frame weights ``[N, T]``, or ``None`` for unit weights;
    * ``eps``: ``[N, 1]`` (or scalar) tensor added to the diagonal of
      ``S = sum_t w_t z_t z_t'``;

    returns ``R_k = S_rc / sqrt((S_rr + eps)(S_cc + eps))`` for the pairs
    ``(r, c)`` of the strict upper triangle, ``[N, C(C-1)/2]``.

    The forward is a single ``bmm`` and gathers. The backward exploits the
    symmetry of ``S``: with ``G`` the (symmetrised) gradient w.r.t. ``S``,
    ``dz = w * (z G)`` is a single ``bmm`` (autograd would need two, plus
    scatters for the gathers), and ``dw_t = 0.5 * sum_c z_tc (z G)_tc``.
    The backward is marked ``once_differentiable`` (double backward raises an
    error; callers also detach the mean, which is exact to first order only).
    """

    @staticmethod
    def forward(ctx, z, w, eps, rows, cols, triu_flat, diag_flat, sym_perm):
        with no_autocast(z.device.type):
            a = z if w is None else z * w.unsqueeze(-1)
            gram = torch.bmm(a.transpose(1, 2), z).flatten(1)  # [N, C*C]
            inv_std = torch.rsqrt(gram.index_select(1, diag_flat) + eps)  # [N, C]
            scale = inv_std.index_select(1, rows) * inv_std.index_select(1, cols)
            out = gram.index_select(1, triu_flat) * scale
        ctx.save_for_backward(z, w, out, scale, inv_std, sym_perm)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        z, w, out, scale, inv_std, sym_perm = ctx.saved_tensors
        n, _, c = z.shape
        with no_autocast(z.device.type):
            # Through the normalisation: out_k = S_k * a_r * a_c, a = rsqrt(diag + eps).
            prod = grad_out * out
            # q_i = sum over the pairs k containing channel i of prod_k (symmetric row sums)
            zeros_c = prod.new_zeros(n, c)
            q = torch.cat([prod, prod, zeros_c], 1).index_select(1, sym_perm).view(n, c, c).sum(-1)
            grad_diag = -0.5 * q * inv_std.square()
            grad_upper = grad_out * scale
            # Symmetrised gradient G + G' w.r.t. S (diagonal counted twice).
            sym = torch.cat([grad_upper, grad_upper, 2.0 * grad_diag], 1).index_select(1, sym_perm)
            zg = torch.bmm(z, sym.view(n, c, c))  # [N, T, C]
            grad_z = grad_w = None
            if ctx.needs_input_grad[0]:
                grad_z = zg if w is None else zg * w.unsqueeze(-1)
            if w is not None and ctx.needs_input_grad[1]:
                grad_w = 0.5 * (zg * z).sum(-1)
        return grad_z, grad_w, None, None, None, None, None, None


def _upper_correlation(module, z, w, eps):
    return _UpperCorrelation.apply(
        z,
        w,
        eps,
        module.triu_rows,
        module.triu_cols,
        module.triu_flat,
        module.diag_flat,
        module.sym_perm,
    )


# ----------------------------------------------------------------------------
# Poolings
# ----------------------------------------------------------------------------
class MeanPooling(nn.Module):
    """Masked temporal mean.

    Arguments
    ---------
    input_size : int, optional
        Number of channels; only used to set ``output_size`` (and to check
        the input when given).

    Example
    -------
    >>> pool = MeanPooling(input_size=3)
    >>> x = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 4.0, 5.0], [1e9, 1e9, 1e9]]])
    >>> pool(x, torch.tensor([0.67]))
    tensor([[2., 3., 4.]])
    >>> pool.output_size
    3
    """

    def __init__(self, input_size=None):
        super().__init__()
        self.input_size = input_size
        self.output_size = input_size

    def forward(self, x, lengths=None):
        """Pool ``x`` ``[batch, time, channels]`` -> ``[batch, channels]``.

        Arguments
        ---------
        x : torch.Tensor
            Frame-level features ``[batch, time, channels]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            ``[batch, channels]``.
        """
        _check_input(x, self.input_size)
        with no_autocast(x.device.type):
            x0, _, counts = _prepare(x, lengths)
            return x0.sum(1) / counts.unsqueeze(1)


class MeanStdPooling(nn.Module):
    """Masked temporal mean and standard deviation, concatenated (``2C``).

    The standard deviation is the **population** (biased, divide by ``n``)
    one, computed as ``sqrt(var + eps)`` on centred data, so it is finite,
    with finite gradients, for constant channels and single-frame inputs
    (then it equals ``sqrt(eps)``).

    Arguments
    ---------
    input_size : int, optional
        Number of channels; sets ``output_size = 2 * input_size``.
    eps : float
        Added to the variance before the square root.

    Example
    -------
    >>> pool = MeanStdPooling(input_size=2, eps=0.0)
    >>> x = torch.tensor([[[1.0, 5.0], [3.0, 5.0], [float("nan"), 0.0]]])
    >>> pool(x, torch.tensor([0.67]))
    tensor([[2., 5., 1., 0.]])
    >>> pool.output_size
    4
    """

    def __init__(self, input_size=None, eps=STD_EPS):
        super().__init__()
        self.input_size = input_size
        self.eps = eps
        self.output_size = None if input_size is None else 2 * input_size

    def forward(self, x, lengths=None):
        """Pool ``x`` ``[batch, time, channels]`` -> ``[batch, 2 * channels]``.

        Arguments
        ---------
        x : torch.Tensor
            Frame-level features ``[batch, time, channels]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            ``[batch, 2 * channels]``: mean then standard deviation.
        """
        _check_input(x, self.input_size)
        with no_autocast(x.device.type):
            x0, mask, counts = _prepare(x, lengths)
            counts = counts.unsqueeze(1)
            mean = x0.sum(1) / counts
            centred = x0 - mean.unsqueeze(1)  # plain autograd (double backward works)
            if lengths is not None:
                centred = torch.where(mask.unsqueeze(-1), centred, x0.new_zeros(()))
            var = centred.square().sum(1) / counts
            std = torch.sqrt(var + self.eps)
            return torch.cat([mean, std], dim=1)


class CorrelationPooling(nn.Module):
    """Channel-wise correlation pooling (Stafylakis et al. 2021/2022).

    For each utterance, the (biased) covariance ``S`` of the channels over
    the valid frames is normalised to a correlation
    ``R_ij = S_ij / sqrt((S_ii + eps) (S_jj + eps))`` and its strict upper
    triangle (offset 1, row-major, as ``torch.triu_indices(C, C, 1)``) is
    returned: ``C(C-1)/2`` features (32640 for 256 channels).

    Implementation: one masked centring pass and a single batched matrix
    product; the upper triangle is gathered with precomputed index buffers,
    and a custom backward needs a single matrix product too (symmetry).

    Arguments
    ---------
    input_size : int
        Number of channels ``C``.
    channel_dropout : float
        Probability ``p_d`` of zeroing a whole channel of an utterance
        (independently per utterance, training mode only). The rows and
        columns of a dropped channel are 0 in the correlation matrix.
    eps : float
        Added to the variances (relative to the feature scale).

    Example
    -------
    >>> pool = CorrelationPooling(input_size=3)
    >>> x = torch.tensor([[[1.0, 2.0, 0.0], [2.0, 4.0, 1.0], [3.0, 6.0, 0.0], [9.0, 9.0, 9.0]]])
    >>> pool(x, torch.tensor([0.75]))  # pairs (0,1), (0,2), (1,2)
    tensor([[1.0000, 0.0000, 0.0000]])
    >>> pool.output_size
    3
    """

    def __init__(self, input_size, channel_dropout=0.0, eps=CORR_EPS):
        super().__init__()
        if input_size < 2:
            raise ValueError("CorrelationPooling needs at least 2 channels")
        if not 0.0 <= channel_dropout < 1.0:
            raise ValueError(f"channel_dropout must be in [0, 1), got {channel_dropout}")
        self.input_size = input_size
        self.channel_dropout = channel_dropout
        self.eps = eps
        self.output_size = input_size * (input_size - 1) // 2
        _upper_triangle_buffers(self, input_size)

    def forward(self, x, lengths=None):
        """Pool ``x`` ``[batch, time, channels]`` -> ``[batch, C(C-1)/2]``.

        Arguments
        ---------
        x : torch.Tensor
            Frame-level features ``[batch, time, channels]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            Strict upper triangle of the correlation matrices.
        """
        _check_input(x, self.input_size)
        with no_autocast(x.device.type):
            x0, mask, counts = _prepare(x, lengths)
            x0 = _channel_dropout(x0, self.channel_dropout, self.training)
            counts = counts.unsqueeze(1)
            centred = _masked_centre(x0, mask, counts, masked=lengths is not None)
            # Unnormalised Gram n*S: R = nS_ij / sqrt((nS_ii + n eps)(nS_jj + n eps)).
            return _upper_correlation(self, centred, None, counts * self.eps)


class AttentiveCorrelationPooling(nn.Module):
    """Attentive channel-wise correlation pooling (Kakouros et al., ICASSP 2023).

    A frame-level attention network ``h_t = ReLU(W_a v_t + b_a)``,
    ``A_t = W h_t + b`` (``[heads]`` logits per frame) gives, after merging
    the heads by log-sum-exp and one softmax over the valid frames, weights
    ``w_t`` (exactly 0 on padding). Then ``mu = sum_t w_t v_t``,
    ``S = sum_t w_t (v_t - mu)(v_t - mu)'`` and the output is the strict
    upper triangle of ``S_ij / sqrt((S_ii + eps)(S_jj + eps))``. With uniform
    attention it equals :class:`CorrelationPooling`.

    Channel dropout is applied before the attention network (as in the
    reference implementation, so the attention sees the 1/(1-p) rescaling).

    Arguments
    ---------
    input_size : int
        Number of channels ``C``.
    num_heads : int
        Number of attention heads.
    channel_dropout : float
        Probability of zeroing a whole channel of an utterance (training only).
    per_head : bool
        If True (not in the paper), each head gets its own softmax over time,
        statistics and correlation matrix; the ``heads`` upper triangles are
        concatenated (head-major): ``heads * C(C-1)/2`` features.
    eps : float
        Added to the variances.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> pool = AttentiveCorrelationPooling(input_size=4, num_heads=2)
    >>> x = torch.randn(3, 10, 4)
    >>> pool(x, torch.tensor([1.0, 0.5, 0.2])).shape
    torch.Size([3, 6])
    >>> pool.output_size
    6
    >>> AttentiveCorrelationPooling(4, num_heads=2, per_head=True).output_size
    12
    """

    def __init__(self, input_size, num_heads=4, channel_dropout=0.0, per_head=False, eps=CORR_EPS):
        super().__init__()
        if input_size < 2:
            raise ValueError("AttentiveCorrelationPooling needs at least 2 channels")
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        if not 0.0 <= channel_dropout < 1.0:
            raise ValueError(f"channel_dropout must be in [0, 1), got {channel_dropout}")
        self.input_size = input_size
        self.num_heads = num_heads
        self.channel_dropout = channel_dropout
        self.per_head = per_head
        self.eps = eps
        n_pairs = input_size * (input_size - 1) // 2
        self.output_size = num_heads * n_pairs if per_head else n_pairs
        self.attention_hidden = nn.Linear(input_size, input_size)
        self.attention_out = nn.Linear(input_size, num_heads)
        _upper_triangle_buffers(self, input_size)

    def attention_logits(self, x):
        """Per-frame, per-head attention logits ``[batch, time, heads]``.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, time, channels]`` (any floating dtype; the weights are
            cast to it).

        Returns
        -------
        torch.Tensor
            ``[batch, time, heads]``.
        """
        dtype = x.dtype
        hidden = self.attention_hidden
        out = self.attention_out
        h = F.relu(F.linear(x, hidden.weight.to(dtype), hidden.bias.to(dtype)))
        return F.linear(h, out.weight.to(dtype), out.bias.to(dtype))

    def attention_weights(self, x, lengths=None):
        """Normalised attention weights (for inspection / plotting).

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, time, channels]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            ``[batch, time]`` (or ``[batch, heads, time]`` if ``per_head``),
            summing to 1 over the valid frames and exactly 0 on padding.
        """
        _check_input(x, self.input_size)
        with no_autocast(x.device.type):
            x0, mask, _ = _prepare(x, lengths)
            x0 = _channel_dropout(x0, self.channel_dropout, self.training)
            return self._weights(x0, mask)

    def _weights(self, x0, mask):
        logits = self.attention_logits(x0)  # [B, T, H]
        if self.per_head:
            logits = logits.transpose(1, 2)  # [B, H, T]
            logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
        else:
            logits = torch.logsumexp(logits, dim=-1)  # [B, T]
            logits = logits.masked_fill(~mask, float("-inf"))
        return torch.softmax(logits, dim=-1)

    def forward(self, x, lengths=None):
        """Pool ``x`` ``[batch, time, channels]`` -> ``[batch, output_size]``.

        Arguments
        ---------
        x : torch.Tensor
            Frame-level features ``[batch, time, channels]``.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            Strict upper triangle(s) of the attentive correlation matrices.
        """
        _check_input(x, self.input_size)
        with no_autocast(x.device.type):
            x0, mask, _ = _prepare(x, lengths)
            x0 = _channel_dropout(x0, self.channel_dropout, self.training)
            w = self._weights(x0, mask)
            batch, time, channels = x0.shape
            if self.per_head:
                # The mean is detached: S is stationary in mu at the weighted
                # mean (d/dmu sum_t w_t (v_t - mu)(v_t - mu)' = 0), so its
                # gradient path is exactly zero and need not be computed.
                mean = torch.bmm(w, x0).detach()  # [B, H, C]
                centred = (x0.unsqueeze(1) - mean.unsqueeze(2)).reshape(-1, time, channels)
                w = w.reshape(-1, time)
            else:
                mean = torch.bmm(w.unsqueeze(1), x0).detach()  # [B, 1, C]
                centred = x0 - mean
            # Padded frames have w == 0 exactly, so they contribute exact zeros.
            out = _upper_correlation(self, centred, w, self.eps)
            return out.reshape(batch, -1)
