"""Valid-frame counts and masks from SpeechBrain relative lengths (one implementation).

A padded batch of ``num_frames`` frames comes with relative lengths in (0, 1]; utterance
``i`` has ``round(lengths[i] * num_frames)`` valid frames, clamped to ``[1, num_frames]`` (the
rounding of SpeechBrain's ``StatisticsPooling``; ``speechbrain.dataio.dataio.length_to_mask(
lengths * num_frames)`` is a ceiling and may count one padded frame as valid). Every layer of
``ser_modules.nn`` turns lengths into counts and masks with :func:`frame_counts`,
:func:`mask_from_counts` and :func:`length_mask`.

The product ``lengths * num_frames`` is rounded in a floating dtype that each caller keeps as
it always was (``dtype`` argument), because an exact half can round differently in float32
and float64:

* ``dtype=None`` (the lengths' own dtype, float32 for integer lengths): poolings, fusion
  alignment, the ECAPA aggregator, the SSL encoder's sample mask;
* ``dtype=torch.float32``: the Fbank upstream and the SSL encoder's frame lengths (sample
  counts);
* ``dtype=torch.float64``: the TC-GRU head.

For the float32 lengths that SpeechBrain's ``PaddedBatch`` gives, ``None`` and float32 are the
same.

Authors
 * ser-recipes contributors 2026
"""

import torch

__all__ = ["frame_counts", "mask_from_counts", "length_mask"]


def frame_counts(lengths, num_frames, batch_size=None, device=None, dtype=None):
    """Numbers of valid frames ``round(lengths * num_frames)``, clamped to ``[1, num_frames]``.

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths ``[batch]`` in (0, 1]; ``None`` means every frame is valid.
    num_frames : int
        Number of frames of the padded batch.
    batch_size : int, optional
        Batch size of the counts when ``lengths`` is ``None`` (default 1, which broadcasts).
    device : torch.device, optional
        Device of the counts (default: that of ``lengths``).
    dtype : torch.dtype, optional
        Floating dtype in which ``lengths * num_frames`` is computed and rounded (default:
        the dtype of ``lengths``, float32 for integer lengths; see the module docstring).

    Returns
    -------
    torch.Tensor
        int64 ``[batch]``.

    Example
    -------
    >>> frame_counts(torch.tensor([1.0, 0.5, 0.001, 1.5]), 10)
    tensor([10,  5,  1, 10])
    >>> frame_counts(None, 7, batch_size=3)
    tensor([7, 7, 7])
    >>> sixth = torch.tensor([1 / 6])  # float32: 15 / 6 is 2.5 in float32, above it in float64
    >>> frame_counts(sixth, 15), frame_counts(sixth, 15, dtype=torch.float64)
    (tensor([2]), tensor([3]))
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if lengths is None:
        return torch.full((batch_size or 1,), num_frames, dtype=torch.long, device=device)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D [batch], got shape {tuple(lengths.shape)}")
    relative = lengths.detach().to(device=device)
    if dtype is None:
        dtype = relative.dtype if relative.is_floating_point() else torch.float32
    return torch.round(relative.to(dtype) * num_frames).long().clamp_(1, num_frames)


def mask_from_counts(counts, num_frames):
    """Boolean mask ``[batch, num_frames]``, ``True`` on the first ``counts[i]`` frames of row i.

    Arguments
    ---------
    counts : torch.Tensor
        Numbers of valid frames ``[batch]``.
    num_frames : int
        Number of frames of the padded batch.

    Returns
    -------
    torch.Tensor
        Boolean mask, on the device of ``counts``.

    Example
    -------
    >>> mask_from_counts(torch.tensor([3, 1]), 4).int()
    tensor([[1, 1, 1, 0],
            [1, 0, 0, 0]], dtype=torch.int32)
    """
    frames = torch.arange(num_frames, device=counts.device)
    return frames.unsqueeze(0) < counts.unsqueeze(1)


def length_mask(lengths, num_frames, batch_size=None, device=None, dtype=None):
    """Valid-frame mask and counts from relative lengths (see :func:`frame_counts`).

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths ``[batch]`` in (0, 1]; ``None`` means every frame is valid (then the
        batch dimension is ``batch_size``, default 1, which broadcasts).
    num_frames : int
        Number of frames of the padded batch.
    batch_size : int, optional
        Batch size when ``lengths`` is ``None``.
    device : torch.device, optional
        Device of the outputs (default: that of ``lengths``).
    dtype : torch.dtype, optional
        Rounding dtype (see :func:`frame_counts`).

    Returns
    -------
    mask : torch.Tensor
        Boolean ``[batch, num_frames]``, ``True`` on valid frames.
    counts : torch.Tensor
        int64 ``[batch]``, at least 1.

    Example
    -------
    >>> mask, counts = length_mask(torch.tensor([1.0, 0.6, 0.01]), 5)
    >>> counts
    tensor([5, 3, 1])
    >>> mask.int()
    tensor([[1, 1, 1, 1, 1],
            [1, 1, 1, 0, 0],
            [1, 0, 0, 0, 0]], dtype=torch.int32)
    >>> length_mask(None, 3)[0]
    tensor([[True, True, True]])
    """
    counts = frame_counts(lengths, num_frames, batch_size, device=device, dtype=dtype)
    return mask_from_counts(counts, num_frames), counts
