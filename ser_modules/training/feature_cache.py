"""On-disk cache of the hidden states of a frozen SSL encoder, one float16 file per audio file.

A frozen upstream gives the same features at every epoch, fold and pooling, so they are
extracted once and the head is trained from the cache. Entries are keyed by:

* the encoder: a fingerprint of its class and of every parameter and buffer (so another
  checkpoint, or the same hub id after an update, never reuses stale features);
* the extraction options (which hidden states are kept, sample rate, cache format version);
* the audio file: absolute path, size and modification time.

Any change gives other keys, so stale entries are never read. Each entry is written to a
temporary file and renamed, so an interrupted extraction leaves no half-written file and
``build`` resumes where it stopped. Entries are ``[frames, hidden_states, channels]``
tensors (``torch.save``), float16.

Disk use is ``frames x hidden_states x channels x 2`` bytes per utterance: about 2.5 MB per
second of audio for a large model with all 25 hidden states (IEMOCAP's 5531 utterances,
7 hours: ~60 GB), 0.1 MB per second with one hidden state.

Authors
 * ser-recipes contributors 2026
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from tqdm import tqdm

from ser_modules.data.audio import load_audio
from ser_modules.data.checks import check_finite
from ser_modules.nn.masking import frame_counts
from ser_modules.training.distributed import process_group
from ser_modules.utils.constants import SAMPLE_RATE
from ser_modules.utils.files import atomic_path, read_json, write_json_atomic

logger = logging.getLogger(__name__)

#: Part of the cache key. 2: the last hidden state of a stable-layer-norm upstream is taken
#: after the encoder's final LayerNorm (``nn.ssl_encoder``); caches of version 1 are not reused.
CACHE_FORMAT_VERSION = 2


def module_fingerprint(module):
    """SHA-1 of a module's class and of all its parameters and buffers.

    Arguments
    ---------
    module : torch.nn.Module
        The encoder.

    Returns
    -------
    str
        Hex digest.

    Example
    -------
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> fingerprint = module_fingerprint(a)
    >>> fingerprint == module_fingerprint(a), fingerprint == module_fingerprint(b)
    (True, False)
    """
    digest = hashlib.sha1(type(module).__name__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Hidden states of a frozen encoder, cached on disk per audio file.

    Arguments
    ---------
    folder : str or pathlib.Path
        Root folder of all caches (one sub-folder per encoder and options).
    encoder_fingerprint : str
        Identity of the encoder (see ``module_fingerprint``).
    layers : list of int, optional
        Hidden states to keep (indices in the stacked ``[layers + 1]`` output); ``None``
        keeps all.
    sample_rate : int
        Sample rate the audio is read at.

    Example
    -------
    >>> import tempfile
    >>> class ToyEncoder(torch.nn.Module):
    ...     def forward(self, wavs, lens):  # [batch, samples] -> [2 states, batch, frames, 3]
    ...         frames = wavs.unfold(1, 320, 320).mean(-1)
    ...         return torch.stack([frames, -frames])[..., None].expand(-1, -1, -1, 3)
    ...     def frame_lengths(self, lens, num_samples, num_frames):
    ...         return lens
    >>> cache = FeatureCache(tempfile.mkdtemp(), "toy-encoder")
    >>> wav = _write_example_wav(seconds=1.0)
    >>> cache.build(ToyEncoder(), [wav], progressbar=False)
    1
    >>> cache.load(wav).shape, cache.load(wav).dtype
    (torch.Size([50, 2, 3]), torch.float16)
    >>> cache.build(ToyEncoder(), [wav], progressbar=False)  # already cached
    0
    """

    #: Description of the cache in the progress bar and the log, and of its entries in errors.
    progress_label = "feature cache"
    entry_description = "cached features"

    def __init__(self, folder, encoder_fingerprint, layers=None, sample_rate=SAMPLE_RATE):
        self.layers = None if layers is None else [int(layer) for layer in layers]
        self.sample_rate = sample_rate
        self.description = {
            "encoder": encoder_fingerprint,
            "layers": self.layers,
            "sample_rate": sample_rate,
            "format_version": CACHE_FORMAT_VERSION,
        }
        key = hashlib.sha1(json.dumps(self.description, sort_keys=True).encode()).hexdigest()
        self.folder = Path(folder) / key[:16]
        self._write_description()

    def _write_description(self):
        """Writes ``cache_info.json`` (what the cache holds) once."""
        info = self.folder / "cache_info.json"
        if not info.exists():
            write_json_atomic(self.description, info)

    def path_for(self, wav_path):
        """Cache file of an audio file (depends on its path, size and modification time).

        Arguments
        ---------
        wav_path : str or pathlib.Path
            Audio file.

        Returns
        -------
        pathlib.Path
            The cache entry path (may not exist yet).
        """
        wav_path = os.path.abspath(wav_path)
        try:
            stat = os.stat(wav_path)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"Audio file {wav_path} does not exist") from error
        key = hashlib.sha1(f"{wav_path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.pt"

    def missing(self, wav_paths):
        """The audio files of ``wav_paths`` without a cache entry, in order, without repeats."""
        unique = dict.fromkeys(str(path) for path in wav_paths)
        return [path for path in unique if not self.path_for(path).exists()]

    def load(self, wav_path):
        """Cached hidden states ``[frames, hidden_states, channels]`` (float16) of a file.

        Arguments
        ---------
        wav_path : str or pathlib.Path
            Audio file.

        Returns
        -------
        torch.Tensor
            The cached features.

        Raises
        ------
        ser_modules.data.checks.NonFiniteError
            When the entry holds NaN or infinite values (naming the entry and the audio file).
        """
        path = self.path_for(wav_path)
        if not path.exists():
            raise FileNotFoundError(
                f"No cached features for {wav_path} in {self.folder}: run FeatureCache.build first"
            )
        features = torch.load(path, map_location="cpu")
        where = f"Cached features {path} of {wav_path} (delete the file to extract them again)"
        return check_finite(features, where)

    @torch.no_grad()
    def build(self, encoder, wav_paths, batch_size=8, device="cpu", progressbar=True, shard=(0, 1)):
        """Extracts and stores the features of every file of ``wav_paths`` not cached yet.

        Files are sorted by length and batched to limit padding; an encoder whose
        ``padding_invariant`` attribute is False gets one file per batch. Resumable: the
        batches are made from all the files (of the shard), cached or not, and a batch with
        a missing entry is extracted again as a whole (only its missing entries are
        written), so an entry never depends on what an interrupted run had cached: the
        resumed cache is byte for byte the uninterrupted one.

        Arguments
        ---------
        encoder : torch.nn.Module
            Called as ``encoder(wavs, wav_lens)`` -> ``[hidden_states, batch, frames, channels]``,
            with a ``frame_lengths(wav_lens, num_samples, num_frames)`` method (``SSLEncoder``).
        wav_paths : list
            Audio files.
        batch_size : int
            Files per forward pass.
        device : str
            Device of the encoder.
        progressbar : bool
            Show a progress bar.
        shard : tuple
            ``(index, count)``: this process handles every ``count``-th file of
            ``wav_paths``, starting at ``index`` (for distributed extraction).

        Returns
        -------
        int
            Number of files extracted by this call.
        """
        index, count = shard
        files = list(dict.fromkeys(map(str, wav_paths)))[index::count]
        todo = self.missing(files)
        if not todo:
            return 0
        if not getattr(encoder, "padding_invariant", True):
            logger.info("The encoder sees padding: extracting one file at a time")
            batch_size = 1
        logger.info("%s: extracting %d files into %s", self.progress_label, len(todo), self.folder)
        with tqdm(total=len(todo), desc=self.progress_label, disable=not progressbar) as bar:
            for batch_paths in self._length_sorted_batches(files, batch_size):
                missing = self.missing(batch_paths)
                if missing:
                    wavs = [load_audio(path, self.sample_rate) for path in batch_paths]
                    self._encode_and_store(encoder, batch_paths, wavs, device, store=missing)
                    bar.update(len(missing))
        return len(todo)

    def build_distributed(self, encoder, wav_paths, batch_size=8, device="cpu", progressbar=True):
        """``build`` sharded over the processes of a DDP run (``torchrun``), then checked.

        Process ``rank`` of ``world_size`` extracts every ``world_size``-th file; all wait
        for the others, then every process checks that each file has an entry. Without a
        process group (a plain ``python train.py`` run) the one process extracts all files.
        The main process logs how many files each process extracted.

        Arguments
        ---------
        encoder : torch.nn.Module
            The encoder (see ``build``).
        wav_paths : list
            Audio files.
        batch_size : int
            Files per forward pass.
        device : str
            Device of the encoder (this process's device under DDP).
        progressbar : bool
            Show a progress bar (on the main process only).

        Returns
        -------
        list of int
            Number of files extracted by each process, in rank order.

        Raises
        ------
        RuntimeError
            If a file still has no entry once all processes are done (naming one).

        Example
        -------
        >>> import tempfile
        >>> cache = FeatureCache(tempfile.mkdtemp(), "toy-encoder")
        >>> wavs = [_write_example_wav(seconds=0.5), _write_example_wav(seconds=0.3)]
        >>> cache.build_distributed(_ExampleEncoder(), wavs, progressbar=False)
        [2]
        >>> cache.build_distributed(_ExampleEncoder(), wavs, progressbar=False)
        [0]
        """
        rank, world_size = process_group()
        done = self.build(
            encoder,
            wav_paths,
            batch_size=batch_size,
            device=device,
            progressbar=progressbar and rank == 0,
            shard=(rank, world_size),
        )
        counts = [done]
        if world_size > 1:  # also waits for every process to be done
            counts = [None] * world_size
            torch.distributed.all_gather_object(counts, done)
        missing = self.missing(wav_paths)
        if missing:
            raise RuntimeError(
                f"{len(missing)} audio files have no {self.entry_description} in {self.folder}"
                f" after extraction, e.g. {missing[0]}"
            )
        if rank == 0 and world_size > 1:
            logger.info(
                "%s: files extracted per process (rank order): %s", self.progress_label, counts
            )
        return counts

    def _length_sorted_batches(self, paths, batch_size):
        """Batches of paths sorted by file size (a proxy of the duration)."""
        ordered = sorted(paths, key=lambda path: os.path.getsize(path))
        return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]

    def _encode_and_store(self, encoder, paths, wavs, device, store):
        """Runs the encoder on one batch and writes the entries of the files of ``store``."""
        lengths = torch.tensor([len(wav) for wav in wavs])
        padded = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True).to(device)
        rel_lens = (lengths.float() / padded.shape[1]).to(device)
        hiddens = encoder(padded, rel_lens)
        if self.layers is not None:
            hiddens = hiddens[self.layers]
        frames = frame_counts(
            encoder.frame_lengths(rel_lens, padded.shape[1], hiddens.shape[2]), hiddens.shape[2]
        )
        for i, path in enumerate(paths):
            if path not in store:
                continue
            entry = hiddens[:, i, : int(frames[i])].transpose(0, 1).to(torch.float16).cpu().clone()
            if not torch.isfinite(entry).all():
                raise FloatingPointError(f"Non-finite features extracted from {path}")
            with atomic_path(self.path_for(path)) as tmp:
                torch.save(entry, tmp)


def build_feature_cache(hparams, encoder, manifests, fingerprint=None, layers=None):
    """The feature cache of a frozen encoder, with every utterance of ``manifests`` extracted.

    The one set-up of the training scripts: the encoder is moved to ``hparams["device"]``
    (the caller moves it back if it must), and under DDP every process extracts its own shard
    of the files, then all wait for the others (:meth:`FeatureCache.build_distributed`).
    Files cached by an earlier run (same encoder weights, options and audio) are not
    extracted again.

    Arguments
    ---------
    hparams : dict
        Reads ``feature_cache_folder``, ``extraction_batch_size``, ``device`` and
        ``noprogressbar`` (the last two filled by ``load_experiment``).
    encoder : torch.nn.Module
        Called as ``encoder(wavs, wav_lens)`` -> ``[hidden_states, batch, frames, channels]``,
        with a ``frame_lengths`` method (``SSLEncoder``, or an adapter of it).
    manifests : iterable
        Manifest files (JSON ``{utterance: {"wav": path, ...}}``) whose audio is extracted.
    fingerprint : str, optional
        Identity of the features (default: ``module_fingerprint(encoder)``); give one when
        ``encoder`` is an adapter whose identity is that of the module it wraps.
    layers : list of int, optional
        Hidden states kept (None: all).

    Returns
    -------
    FeatureCache

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = os.path.join(folder, "train.json")
    >>> write_json_atomic({"a": {"wav": _write_example_wav(seconds=0.5)}}, manifest)
    >>> hparams = {"feature_cache_folder": os.path.join(folder, "cache"),
    ...            "extraction_batch_size": 4, "device": "cpu", "noprogressbar": True}
    >>> cache = build_feature_cache(hparams, _ExampleEncoder(), [manifest], layers=[1])
    >>> entry = cache.load(read_json(manifest)["a"]["wav"])
    >>> entry.shape
    torch.Size([25, 1, 3])
    """
    cache = FeatureCache(
        hparams["feature_cache_folder"], fingerprint or module_fingerprint(encoder), layers=layers
    )
    return fill_from_manifests(cache, hparams, encoder, manifests)


def fill_from_manifests(cache, hparams, model, manifests):
    """Fills ``cache`` (a :class:`FeatureCache` or subclass) with every audio file of
    ``manifests``: ``model`` is moved to ``hparams["device"]`` and each DDP process computes
    its shard (:meth:`FeatureCache.build_distributed`, ``extraction_batch_size``,
    ``noprogressbar``). Returns ``cache``."""
    wavs = [entry["wav"] for path in manifests for entry in read_json(path).values()]
    model.to(hparams["device"])
    cache.build_distributed(model, wavs, **extraction_options(hparams))
    return cache


def extraction_options(hparams):
    """The options of a cache's build read from the hparams: ``batch_size``
    (``extraction_batch_size``), ``device`` and ``progressbar`` (not ``noprogressbar``).

    Example
    -------
    >>> extraction_options({"extraction_batch_size": 4, "device": "cpu", "noprogressbar": True})
    {'batch_size': 4, 'device': 'cpu', 'progressbar': False}
    """
    return {
        "batch_size": hparams["extraction_batch_size"],
        "device": hparams["device"],
        "progressbar": not hparams["noprogressbar"],
    }


class _ExampleEncoder(torch.nn.Module):
    """Two constant "hidden states" of 3 channels per 320 samples (for docstring examples)."""

    def forward(self, wavs, lens):
        """``[2, batch, frames, 3]``."""
        frames = wavs.unfold(1, 320, 320).mean(-1)
        return torch.stack([frames, -frames])[..., None].expand(-1, -1, -1, 3)

    def frame_lengths(self, lens, num_samples, num_frames):
        """Relative frame lengths (those of the audio)."""
        return lens


def _write_example_wav(seconds):
    """Writes a short random wav to a temporary folder (for docstring examples)."""
    import tempfile

    import soundfile

    path = os.path.join(tempfile.mkdtemp(), "example.wav")
    soundfile.write(path, torch.randn(int(SAMPLE_RATE * seconds)).numpy() * 0.1, SAMPLE_RATE)
    return path
