"""Feature selection at run time: keep the salient channels, or project on principal components.

The selection is fitted once, on the training split's utterance means, by
``ser_modules.objectives.saliency.fit_selection`` (CCS or MIS saliency scores -> kept
indices; PCA -> mean and components). :class:`FeatureSelection` only applies that result to
the last dimension of every frame. Its buffers are sized at construction from the input size,
the method and the keep fraction, so a fitted state (a checkpoint, an export's ``model.ckpt``)
loads into a freshly built module with a plain strict ``load_state_dict``.

Authors
 * ser-recipes contributors 2026
"""

import torch

from ser_modules.utils.values import is_finite_number

#: The feature-selection methods: ``ccs`` / ``mis`` keep indices, ``pca`` projects, ``none``
#: keeps all.
SELECTION_METHODS = ("ccs", "mis", "pca", "none")
INDEX_METHODS = ("ccs", "mis")


def kept_size(input_size, keep_fraction):
    """Number of dimensions (or principal components) kept: ``max(1, round(keep_fraction * D))``.

    Python's ``round`` rounds half to even (``round(2.5) == 2``).

    Arguments
    ---------
    input_size : int
        Number of input dimensions ``D``.
    keep_fraction : float
        Fraction kept, in ``(0, 1]``.

    Returns
    -------
    int

    Example
    -------
    >>> kept_size(1024, 0.8), kept_size(5, 0.5), kept_size(10, 0.01)
    (819, 2, 1)
    >>> kept_size(10, 0.0)
    Traceback (most recent call last):
    ...
    ValueError: keep_fraction must be a number in (0, 1], got 0.0
    """
    if not (is_finite_number(keep_fraction) and 0.0 < float(keep_fraction) <= 1.0):
        raise ValueError(f"keep_fraction must be a number in (0, 1], got {keep_fraction!r}")
    return max(1, int(round(float(keep_fraction) * int(input_size))))


def selection_method(method):
    """The canonical (lower-case) name of a selection method; ``None`` means ``"none"``.

    Example
    -------
    >>> selection_method("CCS"), selection_method(None)
    ('ccs', 'none')
    >>> selection_method("lda")
    Traceback (most recent call last):
    ...
    ValueError: unknown feature-selection method 'lda'; expected one of
    ('ccs', 'mis', 'pca', 'none')
    """
    name = "none" if method is None else str(method).lower()
    if name not in SELECTION_METHODS:
        raise ValueError(
            f"unknown feature-selection method {method!r}; expected one of {SELECTION_METHODS}"
        )
    return name


class FeatureSelection(torch.nn.Module):
    """Applies a fitted feature selection to the last dimension: ``[..., D] -> [..., D']``.

    * ``ccs`` / ``mis``: keeps the channels of the buffer ``indices`` (int64 ``[D']``, ascending
      order, so the kept channels keep their order);
    * ``pca``: ``(x - mean) @ components.T`` with the buffers ``mean`` (float64 ``[D]``) and
      ``components`` (float64 ``[D', D]``), computed in the dtype of ``x``;
    * ``none``: the identity (``D' = D``, no buffer).

    ``D' = kept_size(D, keep_fraction)``. The buffers hold placeholders (the first ``D'``
    indices, zero components) until a fitted state is loaded with ``load_state_dict``.

    Arguments
    ---------
    input_size : int
        Number of input channels ``D``.
    method : str
        ``"ccs"``, ``"mis"``, ``"pca"`` or ``"none"`` (case-insensitive).
    keep_fraction : float
        Fraction of the channels (or components) kept, in ``(0, 1]``.

    Example
    -------
    >>> selection = FeatureSelection(5, method="ccs", keep_fraction=0.4)
    >>> _ = selection.load_state_dict({"indices": torch.tensor([0, 4])})
    >>> selection(torch.arange(10.0).reshape(2, 5))
    tensor([[0., 4.],
            [5., 9.]])
    >>> pca = FeatureSelection(3, method="pca", keep_fraction=0.34)
    >>> _ = pca.load_state_dict({
    ...     "mean": torch.ones(3, dtype=torch.float64),
    ...     "components": torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64),
    ... })
    >>> pca(torch.tensor([[1.0, 2.0, 5.0]])), pca.output_size
    (tensor([[4.]]), 1)
    >>> FeatureSelection(4)(torch.ones(2, 7, 4)).shape
    torch.Size([2, 7, 4])
    """

    def __init__(self, input_size, method="none", keep_fraction=1.0):
        super().__init__()
        self.method = selection_method(method)
        self.input_size = int(input_size)
        kept = kept_size(self.input_size, keep_fraction)
        self.output_size = self.input_size if self.method == "none" else kept
        if self.method in INDEX_METHODS:
            self.register_buffer("indices", torch.arange(self.output_size, dtype=torch.int64))
        elif self.method == "pca":
            self.register_buffer("mean", torch.zeros(self.input_size, dtype=torch.float64))
            self.register_buffer(
                "components", torch.zeros(self.output_size, self.input_size, dtype=torch.float64)
            )

    def forward(self, x):
        """Selects or projects the last dimension of ``x``.

        Arguments
        ---------
        x : torch.Tensor
            Features ``[..., input_size]`` (e.g. frames ``[batch, frames, channels]``).

        Returns
        -------
        torch.Tensor
            ``[..., output_size]``, with the dtype and device of ``x``.
        """
        if x.dim() == 0 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"FeatureSelection expects features [..., {self.input_size}], got {tuple(x.shape)}"
            )
        if self.method in INDEX_METHODS:
            return x.index_select(-1, self.indices.to(x.device))
        if self.method == "pca":
            if not torch.is_floating_point(x):
                raise TypeError(f"PCA projection expects floating-point features, got {x.dtype}")
            return torch.matmul(x - self.mean.to(x), self.components.to(x).T)
        return x

    def extra_repr(self):
        return (
            f"method={self.method!r}, input_size={self.input_size}, output_size={self.output_size}"
        )
