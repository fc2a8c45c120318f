"""Tests of ser_modules.nn.bert_encoder.BertEncoder on a tiny random BERT."""

import pytest
import torch

from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.testing.tiny_bert import save_random_bert_model

TEXTS = ["Excuse me.", "Do you have your forms?", "I don't know... [LAUGHTER] Okay!"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return save_random_bert_model(tmp_path_factory.mktemp("tiny_bert"), TEXTS)


def test_saved_folder_loads_and_knows_every_word(tiny_bert):
    encoder = BertEncoder(str(tiny_bert))
    for text in TEXTS:
        tokens = encoder.tokenize(text)
        assert (
            tokens[0] == encoder.tokenizer.cls_token_id
            and tokens[-1] == encoder.tokenizer.sep_token_id
        )
        assert encoder.tokenizer.unk_token_id not in tokens.tolist()
    assert encoder.tokenizer.pad_token_id == 0
    assert encoder.hidden_size == 32


def test_truncation(tiny_bert):
    encoder = BertEncoder(str(tiny_bert), max_tokens=4)
    assert len(encoder.tokenize("do you have your forms")) == 4


def test_padding_is_masked_and_frozen_encoder_stays_in_eval(tiny_bert):
    encoder = BertEncoder(str(tiny_bert), freeze=True)
    encoder.train()
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
    short, long = encoder.tokenize("okay"), encoder.tokenize("do you have your forms")
    tokens = torch.nn.utils.rnn.pad_sequence([long, short], batch_first=True, padding_value=7)
    lengths = torch.tensor([1.0, len(short) / len(long)])
    batched = encoder(tokens, lengths)
    alone = encoder(short[None], torch.tensor([1.0]))
    assert torch.allclose(batched[1, : len(short)], alone[0], atol=1e-5)


def test_trainable_encoder_gets_gradients_and_round_trips(tiny_bert, tmp_path):
    encoder = BertEncoder(str(tiny_bert), freeze=False)
    encoder.train()
    assert encoder.model.training
    out = encoder(encoder.tokenize("excuse me")[None])
    out.pow(2).mean().backward()
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    torch.save(encoder.state_dict(), tmp_path / "bert.ckpt")
    other = BertEncoder(str(tiny_bert))
    other.load_state_dict(torch.load(tmp_path / "bert.ckpt"), strict=True)
    for (name, a), (_, b) in zip(encoder.state_dict().items(), other.state_dict().items()):
        assert torch.equal(a, b), name
