"""Tests of ser_modules.testing.tiny_bert: vocabulary and tiny random BERT folder."""

import json

import pytest

from ser_modules.testing.tiny_bert import (
    build_vocabulary,
    iemocap_transcripts,
    main,
    save_random_bert_model,
)

TEXTS = ["Excuse me.", "Do you have your forms?", "I don't know... [LAUGHTER] Okay!"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_random_bert_model(tmp_path_factory.mktemp("tiny_bert"), TEXTS)


def test_vocabulary_holds_every_word_once():
    vocab = build_vocabulary(TEXTS + ["excuse ME"])
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == len(set(vocab))
    for word in ("excuse", "me", "don", "'", "t", "laughter", "[", "]", "."):
        assert word in vocab
    assert build_vocabulary(["a b b"], min_count=2)[5:] == ["b"]


def test_transcripts_of_a_release_folder(tmp_path):
    folder = tmp_path / "Session2" / "dialog" / "transcriptions"
    folder.mkdir(parents=True)
    (folder / "Ses02F_script01_1.txt").write_text(
        "Ses02F_script01_1_F000 [001.0000-002.5000]: What is it?\n"
        "M: [BREATHING]\n"  # no turn id: not a turn line
        "Ses02F_script01_1_M000 [002.6000-004.0000]: Nothing.\n"
    )
    (folder / "._Ses02F_script01_1.txt").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert iemocap_transcripts(tmp_path) == ["What is it?", "Nothing."]


def test_save_is_idempotent_and_redone_for_other_texts(tiny_bert):
    weights = next(tiny_bert.glob("*.safetensors"))
    stamp = weights.stat().st_mtime_ns
    save_random_bert_model(tiny_bert, TEXTS)
    assert weights.stat().st_mtime_ns == stamp
    options = json.loads((tiny_bert / "tiny_bert_options.json").read_text())
    assert options["config"]["hidden_size"] == 32


def test_command_line(tmp_path, capsys):
    folder = tmp_path / "Session1" / "dialog" / "transcriptions"
    folder.mkdir(parents=True)
    (folder / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.29-008.23]: Hello there.\n"
    )
    main(["--out", str(tmp_path / "bert"), "--iemocap", str(tmp_path)])
    assert "bert" in capsys.readouterr().out
    vocab = (tmp_path / "bert" / "vocab.txt").read_text().split()
    assert vocab[5:] == [".", "hello", "there"]
