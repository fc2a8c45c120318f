"""BERT as a text upstream: token ids -> hidden states.

:class:`BertEncoder` wraps a Hugging Face BERT-like model (``bert-base-uncased`` in the
recipe) and its tokenizer as an upstream of the upstream + downstream recipe (Morais et
al., ICASSP 2022, experiments 10-11): token ids ``[batch, tokens]`` -> last hidden state
``[batch, tokens, hidden]``, with the attention mask built from SpeechBrain relative lengths.
Like :class:`ser_modules.nn.ssl_encoder.SSLEncoder`, a frozen encoder stays in eval mode
whatever ``train()`` is called with.

Authors
 * ser-recipes contributors 2026
"""

import torch

from ser_modules.nn.masking import length_mask
from ser_modules.nn.model_source import check_model_source


class BertEncoder(torch.nn.Module):
    """A BERT-like text encoder (Hugging Face) used as an upstream: token ids -> hidden states.

    Arguments
    ---------
    source : str
        Hub id (e.g. ``bert-base-uncased``) or local folder.
    save_path : str, optional
        Cache folder of the downloaded model and tokenizer.
    freeze : bool
        Frozen encoder (no gradients, always in eval mode).
    max_tokens : int
        Token sequences are truncated to this length (``[CLS]`` and ``[SEP]`` included).

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.testing.tiny_bert import save_random_bert_model
    >>> folder = save_random_bert_model(tempfile.mkdtemp(), ["hello there", "hi"])
    >>> encoder = BertEncoder(str(folder), freeze=True)
    >>> _ = encoder.train()
    >>> encoder.model.training, encoder.hidden_size
    (False, 32)
    >>> tokens = torch.nn.utils.rnn.pad_sequence(
    ...     [encoder.tokenize("hello there"), encoder.tokenize("hi")], batch_first=True)
    >>> lengths = torch.tensor([1.0, 0.75])
    >>> out = encoder(tokens, lengths)
    >>> torch.allclose(out[1, :3], encoder(tokens[1:, :3], torch.tensor([1.0]))[0], atol=1e-5)
    True
    """

    def __init__(self, source, save_path=None, freeze=False, max_tokens=128):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        source = check_model_source(source, "BERT upstream")
        self.tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=save_path)
        try:
            self.model = AutoModel.from_pretrained(
                source, cache_dir=save_path, add_pooling_layer=False
            )
        except TypeError:  # a model class without a pooler argument
            self.model = AutoModel.from_pretrained(source, cache_dir=save_path)
        self.freeze = freeze
        self.max_tokens = int(max_tokens)
        if freeze:
            for param in self.model.parameters():
                param.requires_grad = False
        self.train(False)

    @property
    def hidden_size(self):
        """Number of channels of the hidden states."""
        return self.model.config.hidden_size

    def train(self, mode=True):
        """Sets the train mode (a frozen encoder stays in eval mode)."""
        return super().train(mode and not self.freeze)

    def tokenize(self, text):
        """Token ids of one text, ``[CLS] ... [SEP]``, truncated to ``max_tokens``.

        Arguments
        ---------
        text : str
            The transcript.

        Returns
        -------
        torch.Tensor
            int64 ``[tokens]``.
        """
        ids = self.tokenizer(str(text), truncation=True, max_length=self.max_tokens)["input_ids"]
        return torch.tensor(ids, dtype=torch.long)

    def forward(self, tokens, lengths=None):
        """Last hidden state of a padded batch of token ids.

        Arguments
        ---------
        tokens : torch.Tensor
            int64 ``[batch, tokens]`` (any padding value).
        lengths : torch.Tensor, optional
            Relative lengths ``[batch]``; the attention mask keeps ``round(lengths * tokens)``
            tokens.

        Returns
        -------
        torch.Tensor
            ``[batch, tokens, hidden]``.
        """
        mask, _ = length_mask(
            lengths, tokens.shape[1], tokens.shape[0], device=tokens.device, dtype=torch.float32
        )
        pad_id = self.tokenizer.pad_token_id or 0
        tokens = tokens.masked_fill(~mask, pad_id)
        context = torch.no_grad() if self.freeze else torch.enable_grad()
        with context:
            out = self.model(input_ids=tokens, attention_mask=mask.long())
        return out.last_hidden_state
