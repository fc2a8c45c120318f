"""The multimodal model of Mitra, Nie and Azemi (ICASSP 2024, Fig. 3, Tables 2-3).

Four inputs: (i) HuBERT_L, hidden state 24 of ``facebook/hubert-large-ll60k``; (ii) HuBERT_A,
hidden state 24 of HuBERT-large fine-tuned for ASR; (iii) the BERT utterance embedding of
HuBERT_A's transcripts; (iv) the BERT utterance embedding of a second ASR's transcripts. What
the paper's text says, and how each open point is settled here:

* **Acoustic streams joined frame by frame.** "both HUBERT_L and HUBERT_A have 1024 dimensions
  each, and when combined they result in a large input dimensional representation for the
  downstream emotion models" (section 3.3): the two hidden states of each frame are
  concatenated channel-wise (:func:`join_frames`; both models have the same CNN, so the same
  frames), 2048 channels, standardised, then reduced by one saliency selection over the 2048
  acoustic dimensions (CCS, MIS or PCA, fitted jointly on the concatenated utterance means;
  the paper does not say whether each stream is reduced on its own). The lexical embeddings are
  not reduced ("salient representations from the HUBERT_L and HUBERT_A representations").
* **TC-GRU over the acoustic frames** (section 3.4): ``Conv1d`` (kernel 3) + ReLU -> 2-layer
  GRU of 256 -> readout (:class:`ser_modules.nn.tc_gru.TCGRU`, the same blocks and options as
  the audio-only recipe; the number of filters, the readout and dropout are not given).
* **Lexical embeddings joined at the utterance-embedding level**: BERT gives "utterance-level
  embeddings" (section 3.2), which cannot enter a frame-level convolution; they are
  concatenated with the GRU readout, in the order of the streams, and the 128-d embedding
  layer (Linear + ReLU) sees the concatenation (``TCGRU(utterance_size=...)``). Whether the
  paper projects each modality first is not said; no per-modality projection here.
* **One head** on the 128-d embedding: 3 linear outputs (arousal, valence, dominance), trained
  with the CCC loss of eq. 4 (or its variance-aware forms), plus the optional spread outputs.

Padding: the TC-GRU part is exactly invariant to padding (see :mod:`ser_modules.nn.tc_gru`) and
the lexical inputs are one vector per utterance, so the model is too.

Authors
 * ser-recipes contributors 2026
"""

import torch

from ser_modules.nn.tc_gru import TCGRU

#: Largest difference of frame counts :func:`join_frames` accepts between acoustic streams.
MAX_FRAME_MISMATCH = 2


def join_frames(parts, max_mismatch=MAX_FRAME_MISMATCH, where="utterance"):
    """Joins the frames of one utterance from several acoustic streams channel-wise.

    Arguments
    ---------
    parts : list of torch.Tensor
        ``[frames_i, channels_i]`` per stream, in the order of the streams.
    max_mismatch : int
        Streams may differ by this many frames (the shortest count is kept); more means the
        streams do not have the same frame rate (an error).
    where : str
        What the frames belong to (for the error message, e.g. the audio file).

    Returns
    -------
    torch.Tensor
        ``[min_i frames_i, sum_i channels_i]``; one stream is returned as it is.

    Example
    -------
    >>> join_frames([torch.zeros(50, 3), torch.ones(49, 2)]).shape
    torch.Size([49, 5])
    >>> join_frames([torch.zeros(50, 3), torch.ones(25, 2)], where="a.wav")
    Traceback (most recent call last):
    ...
    ValueError: a.wav: the acoustic streams have 50 and 25 frames (more than 2 apart): they must
    have the same frame rate
    """
    if len(parts) == 1:
        return parts[0]
    counts = [int(part.shape[0]) for part in parts]
    if max(counts) - min(counts) > max_mismatch:
        listed = " and ".join(str(c) for c in counts)
        raise ValueError(
            f"{where}: the acoustic streams have {listed} frames (more than {max_mismatch} apart): "
            "they must have the same frame rate"
        )
    common = min(counts)
    return torch.cat([part[:common] for part in parts], dim=-1)


class MultimodalTCGRU(TCGRU):
    """TC-GRU over the (selected) acoustic frames, lexical utterance embeddings joined before
    the embedding layer, one regression head (Fig. 3 of Mitra et al., see the module docstring).

    Arguments
    ---------
    input_size : int
        Channels of the acoustic frames (after the saliency selection).
    lexical_sizes : list of int
        Size of each lexical embedding (768 per BERT-base stream), in the order they are given.
    **tcgru_options
        The options of :class:`ser_modules.nn.tc_gru.TCGRU` (``conv_channels``, ``kernel_size``,
        ``conv_stride``, ``gru_size``, ``gru_layers``, ``embedding_size``, ``num_outputs``,
        ``predict_spread``, ``dropout``, ``readout``).

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> model = MultimodalTCGRU(
    ...     20, lexical_sizes=[6, 4], conv_channels=16, gru_size=8, embedding_size=4
    ... )
    >>> x, lengths = torch.randn(2, 50, 20), torch.tensor([1.0, 0.6])
    >>> text = [torch.randn(2, 6), torch.randn(2, 4)]
    >>> model(x, lengths, text).shape, model.lexical_size
    (torch.Size([2, 3]), 10)
    >>> alone = model(x[1:, :30], torch.ones(1), [t[1:] for t in text])
    >>> torch.allclose(alone, model(x, lengths, text)[1:], atol=1e-6)
    True
    """

    def __init__(self, input_size, lexical_sizes, **tcgru_options):
        self.lexical_sizes = [int(size) for size in lexical_sizes]
        if not self.lexical_sizes or min(self.lexical_sizes) < 1:
            raise ValueError(
                f"lexical_sizes must be a non-empty list of positive sizes, got {lexical_sizes}"
            )
        super().__init__(input_size, utterance_size=sum(self.lexical_sizes), **tcgru_options)

    @property
    def lexical_size(self):
        """Size of the joined lexical embeddings."""
        return self.utterance_size

    def join_lexical(self, lexical):
        """The lexical embeddings as one ``[batch, lexical_size]`` tensor.

        Arguments
        ---------
        lexical : torch.Tensor or list of torch.Tensor
            ``[batch, lexical_size]`` (already joined) or ``[batch, size_i]`` per stream.

        Returns
        -------
        torch.Tensor
        """
        if isinstance(lexical, torch.Tensor):
            return lexical
        if len(lexical) != len(self.lexical_sizes):
            raise ValueError(
                f"expected {len(self.lexical_sizes)} lexical embeddings, got {len(lexical)}"
            )
        for i, (embedding, size) in enumerate(zip(lexical, self.lexical_sizes)):
            if embedding.dim() != 2 or embedding.shape[1] != size:
                raise ValueError(
                    f"lexical stream {i}: expected [batch, {size}], got {tuple(embedding.shape)}"
                )
        return torch.cat(list(lexical), dim=-1)

    def forward(self, x, lengths, lexical):
        """Predicted means ``[batch, num_outputs]`` (and raw spreads when ``predict_spread``).

        Arguments
        ---------
        x : torch.Tensor
            Acoustic frames ``[batch, frames, input_size]``.
        lengths : torch.Tensor
            Relative lengths of the frames.
        lexical : torch.Tensor or list of torch.Tensor
            Lexical utterance embeddings (see :meth:`join_lexical`).

        Returns
        -------
        torch.Tensor or tuple
            ``means`` or ``(means, raw_spreads)``.
        """
        return super().forward(x, lengths, self.join_lexical(lexical))
