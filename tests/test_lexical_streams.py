"""The lexical streams (training.lexical_streams): the release's transcripts checked, every
stream normalised, embedded once by a frozen BERT and joined in order, the training split's
statistics and the identity of the vectors."""

import pytest
import torch

from ser_modules.data.text import normalize_text
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.testing.tiny_bert import save_random_bert_model
from ser_modules.training.feature_cache import module_fingerprint
from ser_modules.training.lexical_streams import (
    lexical_features,
    lexical_identity,
    lexical_statistics,
    release_transcripts,
    stream_transcripts,
)
from ser_modules.training.text_embeddings import TextEmbeddingCache
from ser_modules.utils.files import write_json_atomic

TEXTS = {"a.wav": "Hello, there!", "b.wav": "Fine THANKS.", "c.wav": "hello"}


def write_manifest(path, texts=TEXTS):
    entries = {
        f"u{i}": {"wav": wav, "transcript": text} for i, (wav, text) in enumerate(texts.items())
    }
    write_json_atomic(entries, path)
    return str(path)


def test_release_transcripts_name_the_manifest_and_the_way_out(tmp_path):
    path = write_manifest(tmp_path / "test1.json")
    assert release_transcripts([path]) == TEXTS
    write_json_atomic({"u1": {"wav": "a.wav"}}, tmp_path / "v16.json")
    with pytest.raises(
        ValueError, match=r"v16.json: 1 entries \(e.g. u1\) have no transcript field. Use X"
    ):
        release_transcripts([path, str(tmp_path / "v16.json")], remedy="Use X")
    empty = write_manifest(tmp_path / "empty.json", {"a.wav": "  "})
    with pytest.raises(ValueError, match="have an empty transcript. Use X, or accept empty texts"):
        release_transcripts([empty], remedy="Use X")
    assert release_transcripts([empty], allow_empty=True) == {"a.wav": "  "}
    # the release stream of the recipe's hparams
    hparams = {"allow_empty_transcripts": False, "ssl_folder": None}
    assert stream_transcripts(hparams, "release", [path]) == TEXTS


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return save_random_bert_model(tmp_path_factory.mktemp("bert"), TEXTS.values())


def lexical_hparams(tmp_path, bert, **changes):
    hparams = {
        "lexical_streams": ["release", "release"],
        "bert_hub": str(bert),
        "bert_folder": None,
        "bert_layer": 2,
        "lexical_size": 32,
        "allow_empty_transcripts": False,
        "ssl_folder": None,
        "text_embedding_cache_folder": str(tmp_path / "text_cache"),
        "extraction_batch_size": 2,
        "device": "cpu",
        "noprogressbar": True,
    }
    return {**hparams, **changes}


def test_lexical_features_join_the_embeddings_of_the_normalised_transcripts(tmp_path, bert):
    path = write_manifest(tmp_path / "train.json")
    assert lexical_features({"lexical_streams": []}, [path]) is None
    hparams = lexical_hparams(tmp_path, bert)
    features = lexical_features(hparams, [path])
    encoder = BertEncoder(str(bert), freeze=True)
    cache = TextEmbeddingCache(tmp_path / "text_cache", module_fingerprint(encoder))
    for wav, text in TEXTS.items():
        one = cache.load(normalize_text(text))
        assert torch.equal(features[wav], torch.cat([one, one]))
    # "Hello, there!" and "hello there" are one text; "hello" another
    assert torch.equal(features["a.wav"][:32], cache.load("hello there"))
    stats = lexical_statistics(features, path)
    every = torch.stack([features[wav] for wav in TEXTS]).double()
    assert torch.allclose(torch.from_numpy(stats["lexical_mean"]), every.mean(0))
    assert torch.allclose(torch.from_numpy(stats["lexical_std"]), every.std(0, unbiased=False))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"bert_layer": 12}, "bert_layer=12, but the utterance embeddings are taken from the last"),
        ({"lexical_size": 768}, "lexical_size=768, but .* gives 32-d embeddings"),
    ],
)
def test_the_bert_must_match_the_hparams(tmp_path, bert, change, message):
    path = write_manifest(tmp_path / "train.json")
    with pytest.raises(ValueError, match=message):
        lexical_features(lexical_hparams(tmp_path, bert, **change), [path])


def test_lexical_identity_names_the_streams_in_order_and_the_bert():
    hparams = {"lexical_streams": ["org/asr", "release"], "bert_hub": "bert-base-uncased"}
    assert lexical_identity(hparams) == {
        "lexical_streams": ["org/asr", "release"],
        "bert_hub": "bert-base-uncased",
    }
    assert lexical_identity({**hparams, "lexical_streams": ["release", "org/asr"]}) != (
        lexical_identity(hparams)
    )
