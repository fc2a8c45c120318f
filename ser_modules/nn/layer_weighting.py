"""Learnable weighted sum of the hidden layers of an SSL model.

SpeechBrain's Hugging Face wrappers (``Wav2Vec2``, ``HuBERT``, ``WavLM``)
return all the hidden states stacked as ``[layers, batch, time, channels]``
when built with ``output_all_hiddens=True`` (for a large model: the CNN
feature projection plus 24 transformer layers = 25 layers).
:class:`WeightedLayerSum` combines them with softmax-normalised learnable
weights, as the SUPERB "featurizer" (weights initialised to zero, so the
initial combination is the plain average).

YAML example::

    weighted_layers: !new:ser_modules.nn.layer_weighting.WeightedLayerSum
        num_layers: 25
        layer_norm: False

The last hidden state of :class:`ser_modules.nn.ssl_encoder.SSLEncoder` is the encoder's
output after its final LayerNorm (for the large "stable layer norm" models transformers 5
returns it without that LayerNorm in ``hidden_states``; the encoder puts it back).

Note: with transformers 5.x, LayerDrop may skip layers in training mode, so
the number of hidden states changes; set ``ssl.model.config.layerdrop = 0.0``.
:class:`WeightedLayerSum` raises a clear error when the count does not match.

Authors
 * ser-recipes contributors
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["WeightedLayerSum"]


class WeightedLayerSum(nn.Module):
    """Softmax-weighted sum over stacked hidden layers.

    ``out = sum_l softmax(a)_l * f(h_l)`` with ``a`` a learnable
    ``[num_layers]`` vector initialised to zeros (uniform weights) and ``f``
    the identity or, with ``layer_norm=True``, a per-layer, per-frame layer
    normalisation over the channels without affine parameters
    (``F.layer_norm(h_l, [channels])``; it acts on each frame separately, so
    padded frames do not affect valid ones).

    The softmax is computed in float32; the sum is done in the dtype of the
    hidden states (float64 inputs give float64 outputs; under autocast the
    usual autocast rules apply).

    Arguments
    ---------
    num_layers : int
        Number of stacked hidden states (e.g. 25 for large models, 13 for
        base models with SpeechBrain's wrappers).
    layer_norm : bool
        Apply ``F.layer_norm`` over the channels to each layer before the sum.
    eps : float
        Epsilon of the layer normalisation.

    Example
    -------
    >>> layers = WeightedLayerSum(num_layers=3)
    >>> hidden = torch.stack([torch.full((2, 5, 4), float(v)) for v in (1, 2, 6)])
    >>> layers(hidden).shape
    torch.Size([2, 5, 4])
    >>> torch.allclose(layers(hidden), torch.full((2, 5, 4), 3.0))  # uniform at init
    True
    >>> layers.layer_weights(as_list=True)
    [0.333..., 0.333..., 0.333...]
    """

    def __init__(self, num_layers, layer_norm=False, eps=1e-5):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        self.eps = eps
        self.weights = nn.Parameter(torch.zeros(num_layers))

    def normalized_weights(self):
        """Softmax of the learnable weights (differentiable, float32 or float64).

        Returns
        -------
        torch.Tensor
            ``[num_layers]``, summing to 1.
        """
        weights = self.weights
        if weights.dtype not in (torch.float32, torch.float64):
            weights = weights.float()
        return torch.softmax(weights, dim=0)

    def layer_weights(self, as_list=False):
        """Current normalised layer weights, for logging and plotting.

        Arguments
        ---------
        as_list : bool
            Return a list of Python floats instead of a tensor.

        Returns
        -------
        torch.Tensor or list of float
            Detached CPU float32 tensor ``[num_layers]`` (or a list).

        Example
        -------
        >>> WeightedLayerSum(4).layer_weights()
        tensor([0.2500, 0.2500, 0.2500, 0.2500])
        """
        with torch.no_grad():
            weights = self.normalized_weights().detach().float().cpu()
        return weights.tolist() if as_list else weights

    def forward(self, hidden_states):
        """Combine the layers.

        Arguments
        ---------
        hidden_states : torch.Tensor or sequence of torch.Tensor
            Stacked hidden states ``[layers, batch, time, channels]`` (any
            shape with the layers first), or a list/tuple of ``layers``
            tensors of identical shape (they are stacked).

        Returns
        -------
        torch.Tensor
            ``hidden_states`` without the layer dimension, e.g.
            ``[batch, time, channels]``.
        """
        if isinstance(hidden_states, (list, tuple)):
            if len(hidden_states) != self.num_layers:
                raise ValueError(self._mismatch_message(len(hidden_states)))
            hidden_states = torch.stack(list(hidden_states))
        if hidden_states.dim() < 2:
            raise ValueError(
                "Expected hidden states [layers, batch, time, channels] (layers first), "
                f"got shape {tuple(hidden_states.shape)}"
            )
        if hidden_states.shape[0] != self.num_layers:
            raise ValueError(self._mismatch_message(hidden_states.shape[0], hidden_states.shape))
        if self.layer_norm:
            hidden_states = F.layer_norm(hidden_states, hidden_states.shape[-1:], eps=self.eps)
        weights = self.normalized_weights().to(hidden_states.dtype)
        # Contract the layer dimension without materialising weights * hidden.
        return torch.tensordot(weights, hidden_states, dims=1)

    def _mismatch_message(self, got, shape=None):
        shape_msg = "" if shape is None else f" (input shape {tuple(shape)})"
        return (
            f"WeightedLayerSum expects {self.num_layers} stacked hidden layers "
            f"(first dimension of [layers, batch, time, channels]) but got {got}{shape_msg}. "
            "Check num_layers against the SSL model (hidden layers + 1 with "
            "output_all_hiddens=True) and disable LayerDrop "
            "(ssl.model.config.layerdrop = 0.0), which drops layers in training mode."
        )

    def extra_repr(self):
        """Summary for ``print(module)``."""
        return f"num_layers={self.num_layers}, layer_norm={self.layer_norm}"
