"""SpeechBrain dynamic items of the recipes' inputs: waveforms and cached features.

Both crop an utterance to its first ``max_duration`` seconds (``max_duration`` /
``long_utterance: crop`` of the hparams files, see :mod:`ser_modules.data.checks`).

Authors
 * ser-recipes contributors 2026
"""

import speechbrain as sb

from ser_modules.data.audio import load_audio
from ser_modules.data.checks import crop, max_samples


def audio_pipeline(max_duration=None, provides="sig"):
    """A dynamic item reading an entry's ``wav`` (16 kHz mono), cropped to ``max_duration``.

    Arguments
    ---------
    max_duration : float, optional
        Seconds kept from the start of the utterance (None: all of it).
    provides : str
        Name of the provided item.

    Returns
    -------
    speechbrain.utils.data_pipeline.DynamicItem
        Takes ``wav``, provides ``[samples]`` float waveforms.

    Example
    -------
    >>> import tempfile, os, torch, soundfile
    >>> wav = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(wav, 0.1 * torch.randn(32000).numpy(), 16000)
    >>> data = sb.dataio.dataset.DynamicItemDataset(
    ...     {"a": {"wav": wav}},
    ...     dynamic_items=[audio_pipeline(max_duration=1.5)],
    ...     output_keys=["sig"],
    ... )
    >>> data[0]["sig"].shape
    torch.Size([24000])
    """
    limit = max_samples(max_duration)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides(provides)
    def pipeline(wav):
        return crop(load_audio(wav), limit)

    return pipeline


def cached_feature_pipeline(cache, max_frames=None, provides="feats"):
    """A dynamic item loading an entry's cached features ``[frames, ...]``, cut to ``max_frames``.

    Arguments
    ---------
    cache : ser_modules.training.feature_cache.FeatureCache
        Any object with a ``load(wav_path)`` method.
    max_frames : int, optional
        Frames kept from the start (None: all; see ``ser_modules.data.checks.max_frames``).
    provides : str
        Name of the provided item.

    Returns
    -------
    speechbrain.utils.data_pipeline.DynamicItem
        Takes ``wav``, provides the cached tensor.

    Example
    -------
    >>> import torch
    >>> class Cache:
    ...     def load(self, wav):
    ...         return torch.zeros(50, 2, 3)
    >>> data = sb.dataio.dataset.DynamicItemDataset(
    ...     {"a": {"wav": "a.wav"}},
    ...     dynamic_items=[cached_feature_pipeline(Cache(), 20, "feats_up")],
    ...     output_keys=["feats_up"],
    ... )
    >>> data[0]["feats_up"].shape
    torch.Size([20, 2, 3])
    """

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides(provides)
    def pipeline(wav):
        return crop(cache.load(wav), max_frames)

    return pipeline
