"""Acoustic streams: one cached hidden state per frozen encoder, joined channel-wise per file.

A recipe that trains on the frames of one hidden state of a frozen upstream (``ssl`` and
``ssl_layer``), or on those of several upstreams joined channel-wise (the yaml's
``acoustic_streams``: entries with ``encoder``, ``layer`` and ``name``, as the multimodal
model of Mitra et al., ICASSP 2024), extracts them once into the feature cache
(:func:`extract_features`) and reads them back per audio file (:class:`CachedFrames`).

Authors
 * ser-recipes contributors 2026
"""

from ser_modules.nn.multimodal import join_frames
from ser_modules.training.feature_cache import build_feature_cache


class CachedFrames:
    """The frames ``[frames, channels]`` of an audio file: one cached hidden state per acoustic
    stream, joined channel-wise in the order of the streams (one stream: that hidden state).

    Arguments
    ---------
    streams : list of tuple
        ``(cache, index of the hidden state in its entries)`` per stream; ``cache.load(wav)``
        gives ``[frames, hidden states, channels]`` (a ``FeatureCache``).

    Example
    -------
    >>> import torch
    >>> from types import SimpleNamespace
    >>> cache = SimpleNamespace(load=lambda wav: torch.arange(12.0).view(2, 3, 2))
    >>> CachedFrames([(cache, 0), (cache, 2)]).load("a.wav").tolist()
    [[0.0, 1.0, 4.0, 5.0], [6.0, 7.0, 10.0, 11.0]]
    """

    def __init__(self, streams):
        self.streams = list(streams)

    def load(self, wav):
        """The (float16) frames of ``wav``."""
        return join_frames([cache.load(wav)[:, index] for cache, index in self.streams], where=wav)


def acoustic_streams(hparams):
    """``[(encoder, layer, name, layer key)]``: the yaml's ``acoustic_streams`` (entries with
    ``encoder``, ``layer``, ``name``), or the one stream ``ssl`` / ``ssl_layer``.

    Arguments
    ---------
    hparams : dict
        Reads ``acoustic_streams``, or ``ssl``, ``ssl_layer`` and ``ssl_hub``.

    Returns
    -------
    list of tuple
        The layer key names the option to change in an error message.

    Example
    -------
    >>> acoustic_streams({"ssl": "enc", "ssl_layer": "2", "ssl_hub": "org/model"})
    [('enc', 2, 'org/model', 'ssl_layer')]
    """
    if hparams.get("acoustic_streams"):
        return [
            (s["encoder"], int(s["layer"]), s["name"], "acoustic_streams layer")
            for s in hparams["acoustic_streams"]
        ]
    return [(hparams["ssl"], int(hparams["ssl_layer"]), hparams["ssl_hub"], "ssl_layer")]


def extract_features(hparams, manifest_paths):
    """Extracts (once) the selected hidden state of every acoustic stream and utterance.

    Only that hidden state is cached, unless ``cache_all_hidden_states`` (then all of them);
    each encoder goes back to the CPU once its frames are cached.

    Arguments
    ---------
    hparams : dict
        Reads ``cache_all_hidden_states``, those of :func:`acoustic_streams` and of
        ``build_feature_cache``.
    manifest_paths : list of str
        The manifests whose audio files are extracted.

    Returns
    -------
    CachedFrames
        The frames of every audio file of the manifests.
    """
    all_layers = hparams["cache_all_hidden_states"]
    streams = []
    for ssl, layer, name, key in acoustic_streams(hparams):
        if not 0 <= layer < ssl.num_hidden_states:
            raise ValueError(f"{key}={layer}, but {name} has {ssl.num_hidden_states} hidden states")
        cache = build_feature_cache(
            hparams, ssl, manifest_paths, layers=None if all_layers else [layer]
        )
        ssl.to("cpu")
        streams.append((cache, layer if all_layers else 0))
    return CachedFrames(streams)
