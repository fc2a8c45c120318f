"""Lexical streams: one BERT utterance embedding per transcript source, joined per audio file.

The multimodal model of Mitra et al. (ICASSP 2024) joins BERT embeddings of several
transcripts of an utterance to its acoustic readout. A recipe names its streams in the yaml
(``lexical_streams``), in order; each is

* ``release`` (:data:`RELEASE_TRANSCRIPTS`): the manifests' ``transcript`` field (the
  corpus' own transcripts, written by its preparation), or
* a CTC model (Hub id or folder) whose greedy transcripts are cached
  (:mod:`ser_modules.training.transcription`).

:func:`lexical_features` normalises every stream's transcripts
(:func:`ser_modules.data.text.normalize_text`), embeds each distinct text once with a frozen
BERT (:mod:`ser_modules.training.text_embeddings`) and joins the embeddings of the streams;
:func:`lexical_statistics` gives the training split's statistics of the lexical standardiser
and :func:`lexical_identity` what the vectors are made of (recorded with them, checked on
resume by :mod:`ser_modules.training.input_transforms`).

Authors
 * ser-recipes contributors 2026
"""

import logging

import torch
from speechbrain.utils.distributed import run_on_main

from ser_modules.data.text import normalize_text
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.ctc_asr import CTCTranscriber
from ser_modules.training.text_embeddings import build_text_embedding_cache
from ser_modules.training.transcription import build_transcript_cache
from ser_modules.utils.files import read_json

logger = logging.getLogger(__name__)

RELEASE_TRANSCRIPTS = "release"
DEFAULT_REMEDY = (
    f"Give a CTC model (Hub id or folder) instead of {RELEASE_TRANSCRIPTS!r} in lexical_streams"
)


def release_transcripts(manifest_paths, allow_empty=False, remedy=DEFAULT_REMEDY):
    """``{wav: transcript}`` of the manifests' ``transcript`` field (not normalised).

    An entry without the field, or (unless ``allow_empty``) with an empty one, is an error
    naming the manifest, an example entry and ``remedy``.

    Arguments
    ---------
    manifest_paths : list of str
        SpeechBrain JSON manifests (entries with ``wav`` and ``transcript``).
    allow_empty : bool
        Accept empty transcripts (``allow_empty_transcripts``).
    remedy : str
        What the user can do instead (the recipe's option), in the error messages.

    Returns
    -------
    dict
        Audio path -> transcript.

    Example
    -------
    >>> import os, tempfile
    >>> from ser_modules.utils.files import write_json_atomic
    >>> path = os.path.join(tempfile.mkdtemp(), "test.json")
    >>> write_json_atomic({"u1": {"wav": "a.wav", "transcript": "Hi!"}}, path)
    >>> release_transcripts([path])
    {'a.wav': 'Hi!'}
    >>> write_json_atomic({"u1": {"wav": "a.wav", "transcript": " "}}, path)
    >>> release_transcripts([path])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...test.json: 1 entries (e.g. u1) have an empty transcript. Give a CTC model...
    """
    texts = {}
    for path in manifest_paths:
        entries = read_json(path)
        without = [utt for utt, entry in entries.items() if "transcript" not in entry]
        empty = [
            utt for utt, entry in entries.items() if not str(entry.get("transcript", "x")).strip()
        ]
        if without:
            raise ValueError(
                f"{path}: {len(without)} entries (e.g. {without[0]}) have no transcript field."
                f" {remedy}"
            )
        if empty and not allow_empty:
            raise ValueError(
                f"{path}: {len(empty)} entries (e.g. {empty[0]}) have an empty transcript."
                f" {remedy}, or accept empty texts with --allow_empty_transcripts=True"
            )
        texts.update({entry["wav"]: entry["transcript"] for entry in entries.values()})
    return texts


def stream_transcripts(hparams, source, manifest_paths, remedy=DEFAULT_REMEDY):
    """``{wav: transcript}`` of one lexical stream over the manifests (not normalised).

    ``source`` is ``release`` (:func:`release_transcripts`; a noisy copy of a test set keeps
    its clean utterance's transcript) or a CTC model (Hub id or folder) whose greedy
    transcripts are cached (:func:`~ser_modules.training.transcription.build_transcript_cache`:
    ``transcript_cache_folder``).

    Arguments
    ---------
    hparams : dict
        Reads ``allow_empty_transcripts``, ``ssl_folder`` (the CTC model's download folder)
        and those of ``build_transcript_cache``.
    source : str
        ``release`` or a CTC model.
    manifest_paths : list of str
        The manifests whose audio files are transcribed.
    remedy : str
        See :func:`release_transcripts`.

    Returns
    -------
    dict
        Audio path -> transcript.
    """
    if str(source) == RELEASE_TRANSCRIPTS:
        return release_transcripts(manifest_paths, hparams["allow_empty_transcripts"], remedy)
    transcriber = CTCTranscriber(str(source), save_path=hparams["ssl_folder"])
    cache = build_transcript_cache(hparams, transcriber, manifest_paths)
    wavs = [entry["wav"] for path in manifest_paths for entry in read_json(path).values()]
    return {wav: cache.load(wav) for wav in wavs}


def lexical_features(hparams, manifest_paths, remedy=DEFAULT_REMEDY):
    """``{wav: joined lexical embeddings}`` of the yaml's ``lexical_streams`` (None without).

    Every stream's transcripts are normalised (lower case, no punctuation), embedded once by
    the frozen BERT (mean of its last hidden state over the tokens, cached in
    ``text_embedding_cache_folder``) and joined in the order of the streams. The release's
    transcripts are read first: a missing one is an error before any transcription. Under DDP
    every process transcribes its share of the files; the main process embeds the texts, the
    others then read the cache.

    Arguments
    ---------
    hparams : dict
        Reads ``lexical_streams``, ``bert_hub``, ``bert_folder``, ``bert_layer`` (must be the
        BERT's last layer), ``lexical_size`` (must be its hidden size), and those of
        :func:`stream_transcripts` and ``build_text_embedding_cache``.
    manifest_paths : iterable of str
        The manifests of the splits used.
    remedy : str
        See :func:`release_transcripts`.

    Returns
    -------
    dict or None
        Audio path -> ``[streams * lexical_size]`` vector; None without ``lexical_streams``.

    Example
    -------
    >>> lexical_features({"lexical_streams": None}, []) is None
    True
    """
    sources = hparams.get("lexical_streams")
    if not sources:
        return None
    manifest_paths = list(manifest_paths)
    bert = BertEncoder(hparams["bert_hub"], save_path=hparams["bert_folder"], freeze=True)
    layers = bert.model.config.num_hidden_layers
    if int(hparams["bert_layer"]) != layers:
        raise ValueError(
            f"bert_layer={hparams['bert_layer']}, but the utterance embeddings are taken from the"
            f" last layer, and {hparams['bert_hub']} has {layers}: set --bert_layer={layers} or use"
            " a BERT with that many layers"
        )
    if bert.hidden_size != int(hparams["lexical_size"]):
        raise ValueError(
            f"lexical_size={hparams['lexical_size']}, but {hparams['bert_hub']} gives"
            f" {bert.hidden_size}-d embeddings"
        )
    order = sorted(range(len(sources)), key=lambda i: str(sources[i]) != RELEASE_TRANSCRIPTS)
    transcripts = {
        i: stream_transcripts(hparams, sources[i], manifest_paths, remedy) for i in order
    }
    streams = [
        {wav: normalize_text(text) for wav, text in transcripts[i].items()}
        for i in range(len(sources))
    ]
    for source, texts in zip(sources, streams):
        logger.info(
            "Lexical stream %s: %d files, %d empty after normalisation",
            source,
            len(texts),
            sum(not text for text in texts.values()),
        )
    texts = sorted({text for texts in streams for text in texts.values()})
    run_on_main(build_text_embedding_cache, args=[hparams, bert, texts])
    cache = build_text_embedding_cache(hparams, bert, texts)  # every text is cached now: reads only
    return {wav: torch.cat([cache.load(texts[wav]) for texts in streams]) for wav in streams[0]}


def lexical_identity(hparams):
    """What the lexical vectors are made of: the transcript sources (in order) and the BERT.

    Arguments
    ---------
    hparams : dict
        Reads ``lexical_streams`` and ``bert_hub``.

    Returns
    -------
    dict
        ``lexical_streams`` (list of str) and ``bert_hub`` (str).

    Example
    -------
    >>> lexical_identity({"lexical_streams": ["asr", "release"], "bert_hub": "bert-base-uncased"})
    {'lexical_streams': ['asr', 'release'], 'bert_hub': 'bert-base-uncased'}
    """
    return {
        "lexical_streams": [str(source) for source in hparams["lexical_streams"]],
        "bert_hub": str(hparams["bert_hub"]),
    }


def lexical_statistics(lexical, train_manifest):
    """Mean and (population) standard deviation of the lexical vectors of the training split.

    Arguments
    ---------
    lexical : dict
        Audio path -> lexical vector (:func:`lexical_features`).
    train_manifest : str
        The training manifest (entries with ``wav``).

    Returns
    -------
    dict
        ``lexical_mean`` and ``lexical_std``: float64 numpy arrays.

    Example
    -------
    >>> import os, tempfile
    >>> from ser_modules.utils.files import write_json_atomic
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> write_json_atomic({"u1": {"wav": "a.wav"}, "u2": {"wav": "b.wav"}}, path)
    >>> stats = lexical_statistics({"a.wav": torch.tensor([1.0, 2.0]),
    ...                             "b.wav": torch.tensor([3.0, 2.0])}, path)
    >>> stats["lexical_mean"].tolist(), stats["lexical_std"].tolist()
    ([2.0, 2.0], [1.0, 0.0])
    """
    vectors = torch.stack(
        [lexical[entry["wav"]] for entry in read_json(train_manifest).values()]
    ).double()
    return {
        "lexical_mean": vectors.mean(dim=0).numpy(),
        "lexical_std": vectors.std(dim=0, unbiased=False).numpy(),
    }
