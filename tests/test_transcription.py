"""The lexical inputs of the multimodal MSP-Podcast model: greedy CTC transcription with a tiny
random HubertForCTC and its processor (nn.ctc_asr), the resumable, sharded transcript cache
(training.transcription), text normalisation (data.text) and the cached BERT utterance
embeddings (training.text_embeddings)."""

import re

import numpy as np
import pytest
import soundfile
import torch

from ser_modules.data.text import normalize_text
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.ctc_asr import CTCTranscriber
from ser_modules.testing.tiny_bert import save_random_bert_model
from ser_modules.testing.tiny_ssl import CTC_VOCABULARY, build_tiny_hubert_ctc
from ser_modules.training.feature_cache import module_fingerprint
from ser_modules.training.text_embeddings import TextEmbeddingCache
from ser_modules.training.transcription import TranscriptCache, transcriber_fingerprint


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    return CTCTranscriber(str(build_tiny_hubert_ctc(tmp_path_factory.mktemp("ctc"))))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate((1.0, 0.6, 0.8, 0.3, 1.2)):
        path = folder / f"utt{i}.wav"
        soundfile.write(
            path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000
        )
        paths.append(str(path))
    return paths


def reference_transcript(asr, wav):
    """Greedy CTC written out: argmax per frame, repeats merged, blank and other special
    tokens dropped, ``|`` as the word separator."""
    inputs = asr.processor.feature_extractor(wav.numpy(), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        ids = asr.model(inputs["input_values"]).logits[0].argmax(-1).tolist()
    merged = [token for i, token in enumerate(ids) if i == 0 or token != ids[i - 1]]
    letters = [
        CTC_VOCABULARY[token]
        for token in merged
        if CTC_VOCABULARY[token] not in ("<pad>", "<s>", "</s>", "<unk>")
    ]
    return " ".join("".join(letters).replace("|", " ").split())


def test_greedy_ctc_transcripts_alone_and_in_a_batch(asr):
    torch.manual_seed(0)
    batch = 0.1 * torch.randn(3, 16000)
    lengths = torch.tensor([1.0, 0.55, 0.8])
    texts = asr.transcribe(batch, lengths)
    for i, text in enumerate(texts):
        alone = batch[i, : int(round(float(lengths[i]) * 16000))]
        assert text == reference_transcript(asr, alone)
        assert text == asr.transcribe(alone[None], torch.ones(1))[0]
    assert all(
        re.fullmatch(r"[A-Z' ]+", text) for text in texts
    )  # random weights: letters, no specials


def test_both_transcript_sources_are_normalised_alike():
    assert (
        normalize_text("WELL I DIDN'T KNOW")
        == normalize_text("Well, I didn't know...")
        == "well i didn't know"
    )
    assert normalize_text("“Hello” — she said; ‘bye’") == "hello she said bye"


def test_transcript_cache_is_keyed_resumable_and_sharded(asr, wavs, tmp_path):
    class Counting:
        """The recogniser, counting the files it transcribes."""

        def __init__(self):
            self.files = 0
            self.padding_invariant = True

        def transcribe(self, batch, lengths):
            self.files += len(batch)
            return asr.transcribe(batch, lengths)

    fingerprint = transcriber_fingerprint(asr)
    full = TranscriptCache(tmp_path / "full", fingerprint)
    assert full.build(Counting(), wavs, batch_size=2, progressbar=False) == len(wavs)
    expected = {wav: full.load(wav) for wav in wavs}
    # Interrupted: an entry is lost; the resumed run transcribes it (in its batch) and gives the
    # same text.
    full.path_for(wavs[2]).unlink()
    counting = Counting()
    assert full.build(counting, wavs, batch_size=2, progressbar=False) == 1
    assert counting.files == 2 and {wav: full.load(wav) for wav in wavs} == expected
    # Two DDP shards write disjoint halves of the same entries.
    sharded = TranscriptCache(tmp_path / "shards", fingerprint)
    done = [
        sharded.build(Counting(), wavs, batch_size=2, progressbar=False, shard=(rank, 2))
        for rank in (0, 1)
    ]
    assert done == [3, 2] and {wav: sharded.load(wav) for wav in wavs} == expected
    # Another model (or vocabulary) is another cache; a rewritten audio file is a new entry.
    other = CTCTranscriber(asr.source)
    with torch.no_grad():
        other.model.lm_head.bias[5] += 1.0
    assert transcriber_fingerprint(other) != fingerprint
    assert TranscriptCache(tmp_path / "full", transcriber_fingerprint(other)).missing(wavs) == wavs
    soundfile.write(wavs[0], np.zeros(8000, dtype=np.float32), 16000)
    assert full.missing(wavs) == [wavs[0]]


def test_text_embeddings_are_token_means_cached_once(tmp_path):
    texts = ["well i didn't know", "hello there", "hi"]
    bert = BertEncoder(str(save_random_bert_model(tmp_path / "bert", texts)), freeze=True)
    cache = TextEmbeddingCache(tmp_path / "cache", module_fingerprint(bert))
    assert cache.build(bert, texts + ["hi"], batch_size=2, progressbar=False) == 3
    for text in texts:
        tokens = bert.tokenize(text)[None]
        expected = bert(tokens, torch.ones(1))[0].mean(
            dim=0
        )  # every token, [CLS] and [SEP] included
        assert torch.allclose(cache.load(text), expected, atol=1e-5)
    assert cache.build(bert, texts, progressbar=False) == 0
    assert not torch.allclose(cache.load("hi"), cache.load("hello there"))
