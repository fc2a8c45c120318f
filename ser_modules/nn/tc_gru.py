"""Time-convolutional GRU (TC-GRU) head for dimensional speech emotion recognition.

The downstream model of Mitra, Nie and Azemi (2024), "Investigating salient representations
and label variance in dimensional speech emotion analysis" (section 3.4): frame-level
features of a frozen upstream (e.g. HuBERT-large layer 24, possibly reduced to the salient
dimensions) go through

1. a time convolution (``Conv1d``, kernel 3, ``conv_channels`` filters, ReLU);
2. a 2-layer unidirectional GRU of 256 units (packed sequences: padded frames are never seen);
3. a readout of the GRU outputs (``"mean"``: the mean of the top layer's outputs over the
   valid frames, default; ``"last"``: the top layer's state at the last valid frame);
4. a 128-d embedding layer (``Linear`` + ReLU), on the readout alone or, with
   ``utterance_size > 0``, on the readout joined with utterance-level features (the BERT
   embeddings of the multimodal model, :class:`ser_modules.nn.multimodal.MultimodalTCGRU`);
5. a linear layer with one output per emotion dimension (3: arousal, valence, dominance, in the
   column order of :data:`ser_modules.objectives.losses.DIMENSIONS`);
6. optionally (``predict_spread=True``) a second linear layer on the same embedding with the
   raw spread outputs used by the variance-aware losses (``aux`` and ``kl_gauss`` modes of
   :class:`ser_modules.objectives.losses.VarianceAwareCCCLoss`, which map them to a standard
   deviation with ``softplus``). It is a separate layer, so a model trained without it has the same
   parameter names for everything else.

The paper gives the kernel size (3), the GRU (2 layers of 256), the embedding size (128) and
the 3 outputs; the number of convolution filters, the activation, the readout and dropout
are not given and are options here (the mean readout gave a higher test CCC
than the last state on the generated MSP-Podcast corpus of ``ser_modules.testing.synthetic``).

Outputs are on the scale of the targets the model is trained on (the MSP-Podcast recipe
trains on ``(y - 1) / 6`` in ``[0, 1]`` and maps predictions back with ``6 p + 1``).

Padding
-------
The head is exactly invariant to padding: frames beyond each utterance's length are set to
zero before the convolution (so the last valid frames see the same zero padding as an
utterance processed alone), the GRU runs on packed sequences, and both readouts use the valid
frames only. An utterance gives the same output alone or padded in a batch with arbitrary
(even non-finite) values in its padding, up to floating-point reassociation in batched
matrix products.

:class:`InputStandardizer` is a fixed per-channel standardisation (training-set frame mean
and standard deviation) applied to the upstream features before feature selection.

Authors
 * ser-recipes contributors 2026
"""

import torch

from ser_modules.nn.masking import frame_counts, mask_from_counts

READOUTS = ("last", "mean")


class TCGRU(torch.nn.Module):
    """TC-GRU regression head: Conv1d -> GRU -> readout -> embedding -> outputs.

    Arguments
    ---------
    input_size : int
        Channels of the input frames (e.g. 1024 for HuBERT-large, fewer after saliency
        selection).
    conv_channels : int
        Filters of the time convolution.
    kernel_size : int
        Kernel of the time convolution (odd; 3 in the paper).
    conv_stride : int
        Stride of the time convolution (1 in the paper; larger values shorten the sequence
        the GRU runs on).
    gru_size : int
        Units per GRU layer (256 in the paper).
    gru_layers : int
        GRU layers (2 in the paper).
    embedding_size : int
        Size of the embedding layer (128 in the paper).
    num_outputs : int
        Regression outputs (3: arousal, valence, dominance).
    predict_spread : bool
        Also return ``num_outputs`` raw spread outputs (for variance-aware losses).
    dropout : float
        Dropout between GRU layers and before the embedding and output layers.
    readout : str
        ``"mean"`` (mean of the GRU outputs over the valid frames) or ``"last"`` (GRU state
        at the last valid frame).
    utterance_size : int
        Size of utterance-level features (e.g. text embeddings) joined to the GRU readout
        before the embedding layer (``forward(x, lengths, utterance)``); 0: none, the
        embedding layer sees the readout only.

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> head = TCGRU(input_size=20, conv_channels=16, gru_size=8, embedding_size=4)
    >>> x, lengths = torch.randn(2, 50, 20), torch.tensor([1.0, 0.6])
    >>> head(x, lengths).shape
    torch.Size([2, 3])
    >>> alone = head(x[1:, :30], torch.ones(1))
    >>> torch.allclose(alone, head(x, lengths)[1:], atol=1e-6)
    True
    >>> spread_head = TCGRU(20, 16, gru_size=8, embedding_size=4, predict_spread=True)
    >>> means, spreads = spread_head(x, lengths)
    >>> means.shape, spreads.shape
    (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(
        self,
        input_size,
        conv_channels=1024,
        kernel_size=3,
        conv_stride=1,
        gru_size=256,
        gru_layers=2,
        embedding_size=128,
        num_outputs=3,
        predict_spread=False,
        dropout=0.0,
        readout="mean",
        utterance_size=0,
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        if conv_stride < 1:
            raise ValueError(f"conv_stride must be >= 1, got {conv_stride}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if utterance_size < 0:
            raise ValueError(f"utterance_size must be >= 0, got {utterance_size}")
        self.input_size = int(input_size)
        self.utterance_size = int(utterance_size)
        self.kernel_size = int(kernel_size)
        self.conv_stride = int(conv_stride)
        self.readout = readout
        self.predict_spread = bool(predict_spread)
        self.conv = torch.nn.Conv1d(
            self.input_size,
            conv_channels,
            kernel_size,
            stride=self.conv_stride,
            padding=self.kernel_size // 2,
        )
        self.gru = torch.nn.GRU(
            conv_channels,
            gru_size,
            num_layers=gru_layers,
            batch_first=True,
            dropout=dropout if gru_layers > 1 else 0.0,
        )
        self.dropout = torch.nn.Dropout(dropout)
        self.embedding = torch.nn.Linear(gru_size + self.utterance_size, embedding_size)
        self.output = torch.nn.Linear(embedding_size, num_outputs)
        self.spread_output = (
            torch.nn.Linear(embedding_size, num_outputs) if self.predict_spread else None
        )

    def output_frame_counts(self, counts):
        """Valid frames after the time convolution for ``counts`` valid input frames.

        Arguments
        ---------
        counts : torch.Tensor
            int64 valid input frames.

        Returns
        -------
        torch.Tensor
            int64 valid output frames (``ceil(counts / conv_stride)`` for an odd kernel).
        """
        pad = self.kernel_size // 2
        return (
            torch.div(counts + 2 * pad - self.kernel_size, self.conv_stride, rounding_mode="floor")
            + 1
        )

    def summarize(self, x, lengths):
        """The GRU readout of the convolved frames, ``[batch, gru_size]``.

        Arguments
        ---------
        x : torch.Tensor
            Frames ``[batch, frames, input_size]``.
        lengths : torch.Tensor
            Relative lengths in (0, 1] (SpeechBrain convention).

        Returns
        -------
        torch.Tensor
            The readout (mean of the top layer's outputs, or its last state).
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"expected input [batch, frames, {self.input_size}], got {tuple(x.shape)}"
            )
        if lengths is None:
            raise ValueError("lengths must be given (use torch.ones(batch) for unpadded input)")
        counts = frame_counts(lengths, x.shape[1], device=x.device, dtype=torch.float64)
        valid = mask_from_counts(counts, x.shape[1])
        x = torch.where(valid[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
        frames = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        out_counts = self.output_frame_counts(counts).clamp(min=1, max=frames.shape[1])
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            frames, out_counts.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, last_state = self.gru(packed)
        if self.readout == "last":
            return last_state[-1]
        outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
            outputs, batch_first=True, total_length=frames.shape[1]
        )
        return outputs.sum(dim=1) / out_counts.to(outputs.dtype)[:, None]

    def embed(self, x, lengths, utterance=None):
        """The 128-d utterance embedding (after ReLU), ``[batch, embedding_size]``.

        Arguments
        ---------
        x, lengths
            As in :meth:`summarize`.
        utterance : torch.Tensor, optional
            Utterance-level features ``[batch, utterance_size]`` (required when
            ``utterance_size > 0``), joined to the readout.

        Returns
        -------
        torch.Tensor
            Embeddings.
        """
        summary = self.summarize(x, lengths)
        if self.utterance_size:
            if utterance is None or tuple(utterance.shape) != (x.shape[0], self.utterance_size):
                shape = None if utterance is None else tuple(utterance.shape)
                raise ValueError(
                    f"expected utterance features [{x.shape[0]}, {self.utterance_size}], got"
                    f" {shape}"
                )
            summary = torch.cat([summary, utterance.to(summary.dtype)], dim=-1)
        elif utterance is not None:
            raise ValueError("utterance features given to a TCGRU built with utterance_size=0")
        return torch.relu(self.embedding(self.dropout(summary)))

    def forward(self, x, lengths, utterance=None):
        """Predicted means ``[batch, num_outputs]`` (and raw spreads when ``predict_spread``).

        Arguments
        ---------
        x, lengths, utterance
            As in :meth:`embed`.

        Returns
        -------
        torch.Tensor or tuple
            ``means`` or ``(means, raw_spreads)``.
        """
        embedding = self.dropout(self.embed(x, lengths, utterance))
        means = self.output(embedding)
        if self.spread_output is None:
            return means
        return means, self.spread_output(embedding)


class InputStandardizer(torch.nn.Module):
    """Fixed per-channel standardisation ``(x - mean) / std`` of the last axis.

    The statistics (frame mean and standard deviation of the training set) are set once
    with :meth:`set_statistics` and kept in buffers, so they are saved in ``state_dict`` and
    can be loaded into a fresh (unset) instance. Before the statistics are set the module is
    the identity.

    Arguments
    ---------
    min_std : float
        Lower bound of the standard deviation (constant channels).

    Example
    -------
    >>> norm = InputStandardizer()
    >>> norm.set_statistics(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))
    >>> norm(torch.tensor([[3.0, 2.0]]))
    tensor([[1., 0.]])
    >>> again = InputStandardizer()
    >>> _ = again.load_state_dict(norm.state_dict())
    >>> again.mean.tolist(), again.size
    ([1.0, 2.0], 2)
    """

    def __init__(self, min_std=1e-5):
        super().__init__()
        self.min_std = float(min_std)
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.ones(0))

    @property
    def size(self):
        """Number of channels (``None`` before the statistics are set)."""
        return int(self.mean.numel()) or None

    def set_statistics(self, mean, std):
        """Sets the statistics.

        Arguments
        ---------
        mean : torch.Tensor
            Per-channel mean ``[channels]``.
        std : torch.Tensor
            Per-channel standard deviation ``[channels]`` (clamped to ``min_std``).
        """
        mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean.shape != std.shape:
            raise ValueError(f"mean {tuple(mean.shape)} and std {tuple(std.shape)} differ in shape")
        self.mean = mean.to(self.mean.device)
        self.std = std.clamp(min=self.min_std).to(self.std.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Resize the buffers to the saved shapes so a fresh instance can load a state.
        for name in ("mean", "std"):
            if prefix + name in state_dict:
                self._buffers[name] = torch.empty_like(
                    state_dict[prefix + name], device=self._buffers[name].device
                )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x):
        """Standardises the last axis of ``x`` (identity before the statistics are set).

        Arguments
        ---------
        x : torch.Tensor
            Features ``[..., channels]``.

        Returns
        -------
        torch.Tensor
            Standardised features, dtype of ``x``.
        """
        if self.size is None:
            return x
        if x.shape[-1] != self.size:
            raise ValueError(f"expected [..., {self.size}] features, got {tuple(x.shape)}")
        return (x - self.mean.to(x)) / self.std.to(x)


def count_parameters(module):
    """Number of parameters of a module (all of them, trainable or not).

    Arguments
    ---------
    module : torch.nn.Module
        The model.

    Returns
    -------
    int
        Parameter count.

    Example
    -------
    >>> count_parameters(torch.nn.Linear(4, 2))
    10
    """
    return sum(parameter.numel() for parameter in module.parameters())
