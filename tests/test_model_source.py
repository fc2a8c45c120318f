"""Tests of ser_modules.nn.model_source: a missing local upstream folder is named, a Hub id is
left alone."""

import pytest

from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.model_source import check_model_source, looks_like_local_path


@pytest.mark.parametrize(
    "source", ["microsoft/wavlm-large", "facebook/hubert-large-ll60k", "bert-base-uncased"]
)
def test_hub_ids_are_not_local(tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_local_path(source)
    assert check_model_source(source) == source


def test_two_component_path_is_local_when_its_parent_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_local_path("models/wavlm")
    (tmp_path / "models" / "wavlm").mkdir(parents=True)
    assert looks_like_local_path("models/wavlm")
    assert check_model_source("models/wavlm") == "models/wavlm"


def test_home_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "wavlm").mkdir()
    assert check_model_source("~/wavlm") == str(tmp_path / "wavlm")
    with pytest.raises(
        FileNotFoundError, match=f"~/hubert: no such folder \\({tmp_path / 'hubert'}\\)"
    ):
        check_model_source("~/hubert")


def test_missing_bert_folder_is_named(tmp_path):
    missing = tmp_path / "no_bert"
    with pytest.raises(FileNotFoundError, match=f"BERT upstream {missing}: no such folder"):
        BertEncoder(str(missing))
