"""Transcripts of a frozen CTC recogniser, cached on disk per model and audio file.

The lexical streams of Mitra et al. (ICASSP 2024) are BERT embeddings of ASR transcripts.
:class:`TranscriptCache` is the :class:`ser_modules.training.feature_cache.FeatureCache` of
transcripts: the same keys (the recogniser's weights and vocabulary, the decoding, the audio
file's path, size and modification time), the same length-sorted batches, the same resumable
and atomic writes (an interrupted run resumes where it stopped, and gives the same entries),
the same DDP sharding (every process transcribes its share, then all check that every file has
an entry) and progress bar. An entry is a UTF-8 text file holding the recogniser's greedy CTC
output as its tokenizer spells it (normalisation comes later,
:func:`ser_modules.data.text.normalize_text`).

Authors
 * ser-recipes contributors 2026
"""

import hashlib
import json
import logging

import torch

from ser_modules.training.feature_cache import FeatureCache, fill_from_manifests, module_fingerprint
from ser_modules.utils.constants import SAMPLE_RATE
from ser_modules.utils.files import atomic_path

logger = logging.getLogger(__name__)

DECODING = "greedy-ctc"
TRANSCRIPT_FORMAT_VERSION = 1


def transcriber_fingerprint(transcriber):
    """Identity of a recogniser's transcripts: weights, vocabulary and decoding.

    Arguments
    ---------
    transcriber : ser_modules.nn.ctc_asr.CTCTranscriber
        The recogniser (anything with ``vocabulary()`` and a ``state_dict``).

    Returns
    -------
    str
        Hex digest.
    """
    vocabulary = json.dumps(transcriber.vocabulary(), sort_keys=True)
    key = f"{DECODING}|v{TRANSCRIPT_FORMAT_VERSION}|{module_fingerprint(transcriber)}|{vocabulary}"
    return hashlib.sha1(key.encode()).hexdigest()


class TranscriptCache(FeatureCache):
    """Greedy CTC transcripts of a frozen recogniser, one text file per audio file.

    Arguments
    ---------
    folder : str or pathlib.Path
        Root folder of all transcript caches (one sub-folder per recogniser).
    fingerprint : str
        Identity of the recogniser (see :func:`transcriber_fingerprint`).
    sample_rate : int
        Sample rate the audio is read at.

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.training.feature_cache import _write_example_wav
    >>> class Counter:  # "transcribes" the number of samples
    ...     padding_invariant = True
    ...     def transcribe(self, wavs, lens):
    ...         return [str(int(round(float(n) * wavs.shape[1]))) for n in lens]
    >>> cache = TranscriptCache(tempfile.mkdtemp(), "toy")
    >>> wavs = [_write_example_wav(seconds=0.5), _write_example_wav(seconds=0.25)]
    >>> cache.build(Counter(), wavs, progressbar=False), [cache.load(wav) for wav in wavs]
    (2, ['8000', '4000'])
    >>> cache.build(Counter(), wavs, progressbar=False)  # already there
    0
    """

    progress_label = "transcripts"
    entry_description = "cached transcript"

    def __init__(self, folder, fingerprint, sample_rate=SAMPLE_RATE):
        super().__init__(folder, f"{DECODING}:{fingerprint}", layers=None, sample_rate=sample_rate)

    def path_for(self, wav_path):
        """Text file of an audio file's transcript (may not exist yet)."""
        return super().path_for(wav_path).with_suffix(".txt")

    def load(self, wav_path):
        """The cached transcript of an audio file.

        Arguments
        ---------
        wav_path : str or pathlib.Path
            Audio file.

        Returns
        -------
        str
            The recogniser's output.
        """
        path = self.path_for(wav_path)
        if not path.exists():
            raise FileNotFoundError(
                f"No cached transcript of {wav_path} in {self.folder}: run TranscriptCache.build"
                " first"
            )
        return path.read_text(encoding="utf-8")

    def _encode_and_store(self, transcriber, paths, wavs, device, store):
        """Transcribes one batch and writes the entries of the files of ``store``."""
        lengths = torch.tensor([len(wav) for wav in wavs])
        padded = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True).to(device)
        texts = transcriber.transcribe(padded, (lengths.float() / padded.shape[1]).to(device))
        for path, text in zip(paths, texts):
            if path in store:
                with atomic_path(self.path_for(path)) as tmp:
                    tmp.write_text(text, encoding="utf-8")


def build_transcript_cache(hparams, transcriber, manifests):
    """The transcript cache of a recogniser, with every audio file of ``manifests`` transcribed.

    As :func:`ser_modules.training.feature_cache.build_feature_cache`: the recogniser is moved
    to ``hparams["device"]`` (and back to the CPU at the end), under DDP every process
    transcribes its shard, and files transcribed by an earlier run are not transcribed again.

    Arguments
    ---------
    hparams : dict
        Reads ``transcript_cache_folder``, ``extraction_batch_size``, ``device`` and
        ``noprogressbar``.
    transcriber : ser_modules.nn.ctc_asr.CTCTranscriber
        The recogniser.
    manifests : iterable
        Manifest files (JSON ``{utterance: {"wav": path, ...}}``).

    Returns
    -------
    TranscriptCache
    """
    cache = TranscriptCache(
        hparams["transcript_cache_folder"],
        transcriber_fingerprint(transcriber),
        sample_rate=transcriber.sample_rate,
    )
    fill_from_manifests(cache, hparams, transcriber, manifests)
    transcriber.to("cpu")
    return cache
