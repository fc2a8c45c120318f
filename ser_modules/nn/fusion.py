"""Building blocks of the upstream + downstream recipe (Morais et al., ICASSP 2022).

An *upstream* turns an input (waveform or text) into frame-level features ``[batch, frames,
channels]`` with SpeechBrain relative lengths; the *downstream* aggregates the frames of one
or several upstreams into an utterance embedding ``[batch, dim]`` that a linear classifier
scores. This module holds:

* :class:`FbankUpstream`: 80 log Mel filterbanks with per-utterance mean normalisation
  (SpeechBrain's ``Fbank`` + ``InputNormalization(norm_type="sentence", std_norm=False)``,
  as in SpeechBrain's IEMOCAP ECAPA recipe), the hand-crafted baseline upstream;
* :class:`EcapaAggregator`: SpeechBrain's ``ECAPA_TDNN`` used as an aggregator of any
  frame features (SSL, Fbank, BERT tokens), ``[B, T, C] -> [B, lin_neurons]``;
* :func:`build_aggregator`: ``"ecapa"`` or any pooling of :mod:`ser_modules.nn.pooling`
  (``"mean"``, ``"mean_std"``, ``"corr"``, ``"corr_att"``) from one name;
* :func:`align_frame_counts`: brings the frame sequences of several upstreams to common frame
  counts (``"truncate"`` to the shorter one, for upstreams of the same frame rate, or
  ``"interpolate"`` linearly, for different rates);
* :class:`EarlyFusion`: aligned features concatenated channel-wise, then one aggregator
  (with a single upstream it is just the aggregator);
* :class:`LateFusion`: one aggregator per upstream, utterance embeddings concatenated.

Both fusions take a list of ``(features, lengths)`` pairs, one per upstream, and expose
``output_size`` for the classifier. Aggregators are given as *factories* (called with
``input_size=...``), so a YAML file can write::

    downstream: !new:ser_modules.nn.fusion.EarlyFusion
        input_sizes: [1024, 1024]
        aggregator: !name:ser_modules.nn.fusion.build_aggregator
            name: ecapa

Authors
 * ser-recipes contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from ser_modules.nn.masking import frame_counts, mask_from_counts
from ser_modules.nn.pooling import build_pooling
from ser_modules.nn.precision import no_autocast
from ser_modules.utils.constants import SAMPLE_RATE

__all__ = [
    "FbankUpstream",
    "EcapaAggregator",
    "build_aggregator",
    "align_frame_counts",
    "EarlyFusion",
    "LateFusion",
]

ALIGN_MODES = ("truncate", "interpolate")


# ----------------------------------------------------------------------------
# Upstream: filterbanks
# ----------------------------------------------------------------------------
class FbankUpstream(nn.Module):
    """Log Mel filterbanks, mean-normalised per utterance (the Fbank baseline upstream).

    The features are computed in float32 with autocast disabled (under bf16/fp16 mixed
    precision the filterbank would otherwise be computed in half precision). The returned
    relative lengths are those of the frames: an utterance of ``n`` samples has exactly
    ``n // hop + 1`` frames (centred STFT, hop of 10 ms); the padded frames are excluded from
    the normalisation statistics.

    Arguments
    ---------
    n_mels : int
        Number of Mel filters. The recipe uses 80, our choice (as SpeechBrain's IEMOCAP
        ECAPA recipe): the paper's baseline says "standard Filter-Bank features" only.
    sample_rate : int
        Sample rate of the waveforms.
    std_norm : bool
        Also divide by the per-utterance standard deviation (SpeechBrain's IEMOCAP ECAPA
        recipe, which we follow, does not).

    Example
    -------
    >>> fbank = FbankUpstream(n_mels=80)
    >>> feats, lengths = fbank(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> feats.shape, fbank.hidden_size, (lengths * 101).round().tolist()  # 8000 samples: 51 frames
    (torch.Size([2, 101, 80]), 80, [101.0, 51.0])
    """

    def __init__(self, n_mels=80, sample_rate=SAMPLE_RATE, std_norm=False):
        super().__init__()
        from speechbrain.lobes.features import Fbank
        from speechbrain.processing.features import InputNormalization

        self.fbank = Fbank(n_mels=n_mels, sample_rate=sample_rate)
        self.norm = InputNormalization(norm_type="sentence", std_norm=std_norm)
        self.hidden_size = n_mels
        self.hop_samples = int(round(sample_rate / 1000 * 10))  # Fbank's hop of 10 ms

    def forward(self, wavs, wav_lens):
        """Waveforms ``[batch, samples]`` -> features ``[batch, frames, n_mels]``, lengths.

        Arguments
        ---------
        wavs : torch.Tensor
            Padded waveforms.
        wav_lens : torch.Tensor
            Relative lengths of the waveforms.

        Returns
        -------
        tuple
            ``(features, relative frame lengths)``.
        """
        with no_autocast(wavs.device.type):
            feats = self.fbank(wavs.float())
            num_frames = feats.shape[1]
            samples = frame_counts(wav_lens, wavs.shape[1], dtype=torch.float32)
            frames = (
                (torch.div(samples, self.hop_samples, rounding_mode="floor") + 1)
                .clamp(1, num_frames)
                .float()
            )
            # (n - 0.5) / T: SpeechBrain's padding mask (lengths * T - 1e-6, a ceiling) then
            # keeps exactly n frames despite float32 rounding.
            feats = self.norm(feats, (frames - 0.5) / num_frames)
        return feats, frames / num_frames


# ----------------------------------------------------------------------------
# Aggregators
# ----------------------------------------------------------------------------
class EcapaAggregator(nn.Module):
    """SpeechBrain's ECAPA-TDNN as an aggregator: ``[B, T, C]`` frames -> ``[B, lin_neurons]``.

    Two details of ``ECAPA_TDNN`` are taken care of:

    * its attentive statistics pooling builds the mask with ``length_to_mask(lengths * T)``,
      which counts one padded frame as valid when ``lengths * T`` is not exactly an integer;
      the relative lengths are therefore snapped to ``(round(lengths * T) - 0.5) / T``, so
      that exactly ``round(lengths * T)`` frames are used (the rounding of
      :func:`ser_modules.nn.masking.frame_counts`);
    * its convolutions pad by reflection, which needs more frames than the widest padding;
      shorter inputs (e.g. BERT token sequences) are zero-padded to ``min_frames`` and the
      relative lengths rescaled, so that the padding frames stay masked in the pooling.

    The convolutions themselves see the padded frames of a batch, as in SpeechBrain.

    Arguments
    ---------
    input_size : int
        Channels of the frame features.
    lin_neurons : int
        Size of the embedding.
    channels, kernel_sizes, dilations : list of int
        TDNN / SE-Res2Net layers (SpeechBrain's defaults).
    attention_channels : int
        Channels of the attentive statistics pooling.
    res2net_scale : int
        Scale of the Res2Net blocks (must divide the channels).
    se_channels : int
        Channels of the squeeze-excitation blocks.

    Example
    -------
    >>> ecapa = EcapaAggregator(input_size=20, lin_neurons=16, channels=[16, 16, 16, 16, 48],
    ...                         attention_channels=8, res2net_scale=2, se_channels=8)
    >>> ecapa(torch.randn(3, 50, 20), torch.tensor([1.0, 0.6, 0.05])).shape
    torch.Size([3, 16])
    >>> ecapa(torch.randn(2, 3, 20)).shape  # 3 frames only: zero-padded to min_frames
    torch.Size([2, 16])
    >>> ecapa.output_size, ecapa.min_frames
    (16, 5)
    """

    def __init__(
        self,
        input_size,
        lin_neurons=192,
        channels=(512, 512, 512, 512, 1536),
        kernel_sizes=(5, 3, 3, 3, 1),
        dilations=(1, 2, 3, 4, 1),
        attention_channels=128,
        res2net_scale=8,
        se_channels=128,
    ):
        super().__init__()
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        self.input_size = int(input_size)
        self.output_size = int(lin_neurons)
        self.ecapa = ECAPA_TDNN(
            self.input_size,
            lin_neurons=self.output_size,
            channels=list(channels),
            kernel_sizes=list(kernel_sizes),
            dilations=list(dilations),
            attention_channels=attention_channels,
            res2net_scale=res2net_scale,
            se_channels=se_channels,
        )
        widest_padding = max(d * (k - 1) // 2 for k, d in zip(kernel_sizes, dilations))
        self.min_frames = widest_padding + 1

    def forward(self, x, lengths=None):
        """Embeds ``x`` ``[batch, time, channels]`` -> ``[batch, lin_neurons]``.

        Arguments
        ---------
        x : torch.Tensor
            Frame features.
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``.

        Returns
        -------
        torch.Tensor
            Utterance embeddings.
        """
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(
                f"Expected x of shape [batch, time, {self.input_size}], got {tuple(x.shape)}"
            )
        counts = frame_counts(lengths, x.shape[1], batch_size=x.shape[0], device=x.device)
        if x.shape[1] < self.min_frames:
            x = F.pad(x, (0, 0, 0, self.min_frames - x.shape[1]))
        num_frames = x.shape[1]
        snapped = (counts.to(torch.float32) - 0.5) / num_frames
        return self.ecapa(x, snapped).squeeze(1)


def build_aggregator(name, input_size, **options):
    """Builds an aggregator by name: ``"ecapa"`` or a pooling of :mod:`ser_modules.nn.pooling`.

    Arguments
    ---------
    name : str
        ``"ecapa"``, or ``"mean"``, ``"mean_std"``, ``"corr"``, ``"corr_att"`` (and their
        aliases, see :func:`ser_modules.nn.pooling.build_pooling`).
    input_size : int
        Channels of the frame features.
    **options
        ``ecapa_<option>``: an option of :class:`EcapaAggregator` (``ecapa_lin_neurons``,
        ``ecapa_channels``, ``ecapa_kernel_sizes``, ``ecapa_dilations``,
        ``ecapa_attention_channels``, ``ecapa_res2net_scale``, ``ecapa_se_channels``; its
        defaults), ignored by the poolings. The others are passed to
        :func:`ser_modules.nn.pooling.build_pooling` (``channel_dropout``, ``num_heads``,
        ``per_head``), ignored by ECAPA.

    Returns
    -------
    torch.nn.Module
        ``forward(x, lengths) -> [batch, output_size]``, with an ``output_size`` attribute.

    Example
    -------
    >>> build_aggregator("mean", 32).output_size
    32
    >>> build_aggregator("ecapa", 32, ecapa_lin_neurons=8, ecapa_channels=[8, 8, 8, 8, 24],
    ...                  ecapa_attention_channels=4, ecapa_res2net_scale=2).output_size
    8
    """
    ecapa, pooling = {}, {}
    for key, value in options.items():
        if key.startswith("ecapa_"):
            ecapa[key[len("ecapa_") :]] = value
        else:
            pooling[key] = value
    if str(name).lower().replace("-", "_") in ("ecapa", "ecapa_tdnn"):
        return EcapaAggregator(input_size, **ecapa)
    return build_pooling(name, input_size, **pooling)


# ----------------------------------------------------------------------------
# Frame alignment
# ----------------------------------------------------------------------------
def _interpolate_frames(x, counts, target_counts, num_frames):
    """Linear interpolation of each utterance's valid frames to ``target_counts`` frames.

    ``x`` ``[B, T, C]``; utterance ``b`` has ``counts[b]`` valid frames, resampled to
    ``target_counts[b]`` frames (half-pixel centres, as ``align_corners=False``; identical
    when the counts are equal); the output ``[B, num_frames, C]`` is zero beyond them.
    """
    batch, _, channels = x.shape
    source = counts.to(x.device, torch.float32).unsqueeze(1)  # [B, 1]
    target = target_counts.to(x.device, torch.float32).unsqueeze(1)
    frames = torch.arange(num_frames, device=x.device, dtype=torch.float32).unsqueeze(0)
    position = ((frames + 0.5) * source / target - 0.5).clamp(min=0.0)
    position = torch.minimum(position, source - 1.0)  # [B, T_out]
    low = position.floor()
    weight = (position - low).unsqueeze(-1).to(x.dtype)
    low = low.long()
    high = torch.minimum(low + 1, (source - 1.0).long())
    gather = lambda index: x.gather(1, index.unsqueeze(-1).expand(batch, num_frames, channels))  # noqa: E731
    out = gather(low) * (1 - weight) + gather(high) * weight
    valid = mask_from_counts(target_counts.to(x.device), num_frames)
    return out * valid.unsqueeze(-1).to(out.dtype)


def align_frame_counts(features, mode="truncate", max_truncation=0.1):
    """Brings several upstreams' frame sequences to common frame counts.

    Arguments
    ---------
    features : list of tuple
        ``(x, lengths)`` per upstream: ``x`` ``[batch, T_i, C_i]``, ``lengths`` relative
        ``[batch]`` (or ``None``). Utterance ``b`` of upstream ``i`` has
        ``n_ib = round(lengths[b] * T_i)`` valid frames.
    mode : str
        * ``"truncate"``: every upstream keeps the first ``min_i n_ib`` frames of utterance
          ``b`` (for upstreams of the same frame rate, e.g. wav2vec 2.0 and HuBERT, whose
          counts differ by at most a frame or two). If an upstream would lose more than
          ``max_truncation`` of an utterance's frames, the rates differ and a ``ValueError``
          is raised;
        * ``"interpolate"``: each upstream's valid frames are linearly interpolated to
          ``max_i n_ib`` frames (any frame rates).
    max_truncation : float
        Largest fraction of an utterance's frames that ``"truncate"`` may drop.

    Returns
    -------
    xs : list of torch.Tensor
        ``[batch, T, C_i]`` per upstream, same ``T``.
    lengths : torch.Tensor
        Common relative lengths ``[batch]`` (``n_b / T``).

    Example
    -------
    >>> a, b = torch.randn(2, 50, 3), torch.randn(2, 49, 4)
    >>> lens = torch.tensor([1.0, 0.5])
    >>> (xa, xb), common = align_frame_counts([(a, lens), (b, lens)])
    >>> xa.shape, xb.shape, (common * 49).round().tolist()  # 25 and 24 frames -> 24
    (torch.Size([2, 49, 3]), torch.Size([2, 49, 4]), [49.0, 24.0])
    >>> slow = torch.randn(2, 25, 4)  # half the frame rate
    >>> (xa, xs), common = align_frame_counts([(a, lens), (slow, lens)], mode="interpolate")
    >>> xa.shape, xs.shape, common.tolist()
    (torch.Size([2, 50, 3]), torch.Size([2, 50, 4]), [1.0, 0.5])
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"Unknown alignment mode {mode!r}; expected one of {ALIGN_MODES}")
    if not features:
        raise ValueError("align_frame_counts needs at least one (features, lengths) pair")
    batch = features[0][0].shape[0]
    for x, _ in features:
        if x.dim() != 3 or x.shape[0] != batch:
            raise ValueError(
                f"Every upstream must give [batch={batch}, frames, channels], got {tuple(x.shape)}"
            )
    counts = [frame_counts(lens, x.shape[1], batch, device=x.device) for x, lens in features]
    stacked = torch.stack([c.to(counts[0].device) for c in counts])  # [U, B]
    if mode == "truncate":
        common = stacked.min(dim=0).values
        lost = 1.0 - common.unsqueeze(0).float() / stacked.float()
        if float(lost.max()) > max_truncation:
            raise ValueError(
                f"Truncation would drop {100 * float(lost.max()):.0f}% of an utterance's frames "
                f"(frame counts {stacked.tolist()}): the upstreams have different frame rates, "
                "use mode='interpolate'"
            )
        num_frames = int(common.max())
        xs = [x[:, :num_frames] for x, _ in features]
    else:
        common = stacked.max(dim=0).values
        num_frames = int(common.max())
        xs = [
            _interpolate_frames(x, count, common.to(x.device), num_frames)
            for (x, _), count in zip(features, counts)
        ]
    return xs, common.float() / num_frames


# ----------------------------------------------------------------------------
# Fusion
# ----------------------------------------------------------------------------
def _make_aggregator(aggregator, input_size):
    """An aggregator module from a module (used as is) or a factory (``input_size=``)."""
    if isinstance(aggregator, nn.Module):
        return aggregator
    module = aggregator(input_size=input_size)
    if not hasattr(module, "output_size"):
        raise TypeError(f"The aggregator {type(module).__name__} has no output_size attribute")
    return module


def _concat(tensors):
    """Concatenates along the last dimension in the widest dtype of the inputs."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return torch.cat([tensor.to(dtype) for tensor in tensors], dim=-1)


def _check_features(features, input_sizes):
    """Checks the list of ``(x, lengths)`` pairs against the declared channel sizes."""
    if len(features) != len(input_sizes):
        raise ValueError(f"Expected {len(input_sizes)} upstream outputs, got {len(features)}")
    for i, ((x, _), size) in enumerate(zip(features, input_sizes)):
        if x.dim() != 3 or x.shape[2] != size:
            raise ValueError(
                f"Upstream {i}: expected [batch, frames, {size}], got {tuple(x.shape)}"
            )


class EarlyFusion(nn.Module):
    """Early fusion: frame-aligned upstream features concatenated channel-wise, one aggregator.

    With a single upstream this is just the aggregator (no alignment, no concatenation).

    Arguments
    ---------
    input_sizes : list of int
        Channels of each upstream's features, in the order of the inputs.
    aggregator : callable or torch.nn.Module
        Factory called as ``aggregator(input_size=sum(input_sizes))`` (e.g.
        :func:`build_aggregator` with its name bound), or a ready module.
    align : str
        Frame alignment of several upstreams (see :func:`align_frame_counts`).
    max_truncation : float
        See :func:`align_frame_counts`.

    Example
    -------
    >>> from functools import partial
    >>> fusion = EarlyFusion([3, 4], partial(build_aggregator, "mean"))
    >>> a, b = torch.randn(2, 50, 3), torch.randn(2, 49, 4)
    >>> lens = torch.tensor([1.0, 0.5])
    >>> fusion([(a, lens), (b, lens)]).shape, fusion.output_size
    (torch.Size([2, 7]), 7)
    """

    def __init__(self, input_sizes, aggregator, align="truncate", max_truncation=0.1):
        super().__init__()
        if align not in ALIGN_MODES:
            raise ValueError(f"Unknown alignment mode {align!r}; expected one of {ALIGN_MODES}")
        self.input_sizes = [int(size) for size in input_sizes]
        self.align = align
        self.max_truncation = max_truncation
        self.aggregator = _make_aggregator(aggregator, sum(self.input_sizes))
        self.output_size = self.aggregator.output_size

    def forward(self, features):
        """Fuses and aggregates.

        Arguments
        ---------
        features : list of tuple
            ``(x [batch, T_i, C_i], relative lengths [batch])`` per upstream.

        Returns
        -------
        torch.Tensor
            ``[batch, output_size]``.
        """
        _check_features(features, self.input_sizes)
        if len(features) == 1:
            x, lengths = features[0]
            return self.aggregator(x, lengths)
        xs, lengths = align_frame_counts(features, self.align, self.max_truncation)
        return self.aggregator(_concat(xs), lengths)


class LateFusion(nn.Module):
    """Late fusion: one aggregator per upstream, utterance embeddings concatenated.

    Arguments
    ---------
    input_sizes : list of int
        Channels of each upstream's features, in the order of the inputs.
    aggregator : callable or list of torch.nn.Module
        Factory called once per upstream as ``aggregator(input_size=C_i)``, or one ready
        module per upstream.

    Example
    -------
    >>> from functools import partial
    >>> fusion = LateFusion([3, 4], partial(build_aggregator, "mean_std"))
    >>> a, b = torch.randn(2, 50, 3), torch.randn(2, 7, 4)  # any frame counts
    >>> fusion([(a, torch.tensor([1.0, 0.5])), (b, None)]).shape, fusion.output_size
    (torch.Size([2, 14]), 14)
    """

    def __init__(self, input_sizes, aggregator):
        super().__init__()
        self.input_sizes = [int(size) for size in input_sizes]
        if isinstance(aggregator, (list, tuple, nn.ModuleList)):
            if len(aggregator) != len(self.input_sizes):
                raise ValueError("Give one aggregator per upstream")
            modules = list(aggregator)
        else:
            modules = [_make_aggregator(aggregator, size) for size in self.input_sizes]
        self.aggregators = nn.ModuleList(modules)
        self.output_size = sum(module.output_size for module in self.aggregators)

    def forward(self, features):
        """Aggregates each upstream and concatenates the embeddings (the inputs and output of
        :meth:`EarlyFusion.forward`)."""
        _check_features(features, self.input_sizes)
        embeddings = [agg(x, lengths) for agg, (x, lengths) in zip(self.aggregators, features)]
        return _concat(embeddings)
