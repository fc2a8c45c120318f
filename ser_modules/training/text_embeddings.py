"""Utterance-level BERT embeddings of transcripts, cached on disk per encoder and text.

Mitra et al. (ICASSP 2024, section 3.2): "pre-trained BERT ... generates 768-dimensional
utterance-level embeddings from the 12th layer". The paper does not say how the tokens of the
12th (last) layer of ``bert-base-uncased`` become one utterance vector; here it is the **mean of
the last hidden state over all the tokens** of the utterance, ``[CLS]`` and ``[SEP]`` included
(:class:`ser_modules.nn.pooling.MeanPooling` on the attention mask of
:class:`ser_modules.nn.bert_encoder.BertEncoder`): with a frozen BERT that was not fine-tuned,
the ``[CLS]`` vector is not trained as a sentence summary (its next-sentence head is not kept).

:class:`TextEmbeddingCache` stores one float32 vector per distinct text (key: the text's SHA-1)
in a folder keyed by the encoder's weights and the pooling, written atomically: a repeated text
(the same transcript in several manifests, or a noisy copy whose release transcript is the
clean one) is embedded once, and an interrupted run resumes.

Authors
 * ser-recipes contributors 2026
"""

import hashlib
import logging
from pathlib import Path

import torch
from tqdm import tqdm

from ser_modules.nn.pooling import MeanPooling
from ser_modules.training.feature_cache import extraction_options, module_fingerprint
from ser_modules.utils.files import atomic_path, write_json_atomic

logger = logging.getLogger(__name__)

POOLING = "mean-of-last-hidden-state"


@torch.no_grad()
def utterance_embeddings(encoder, texts, device="cpu"):
    """Mean of the last hidden state over the tokens of each text: ``[len(texts), hidden]``.

    Arguments
    ---------
    encoder : ser_modules.nn.bert_encoder.BertEncoder
        The text encoder (``tokenize`` and ``forward(tokens, lengths)``).
    texts : list of str
        Texts of one batch.
    device : str
        Device of the encoder.

    Returns
    -------
    torch.Tensor
        float32 embeddings, on the CPU.

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.nn.bert_encoder import BertEncoder
    >>> from ser_modules.testing.tiny_bert import save_random_bert_model
    >>> bert_folder = save_random_bert_model(tempfile.mkdtemp(), ["a b c", "d"])
    >>> bert = BertEncoder(str(bert_folder), freeze=True)
    >>> batch = utterance_embeddings(bert, ["a b c", "d"])
    >>> batch.shape, torch.allclose(batch[1], utterance_embeddings(bert, ["d"])[0], atol=1e-5)
    (torch.Size([2, 32]), True)
    """
    tokens = [encoder.tokenize(text) for text in texts]
    counts = torch.tensor([len(t) for t in tokens])
    padded = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True).to(device)
    lengths = (counts.double() / padded.shape[1]).to(device)
    hidden = encoder(padded, lengths)
    return MeanPooling()(hidden, lengths).float().cpu()


class TextEmbeddingCache:
    """Utterance embeddings of a frozen text encoder, one file per distinct text.

    Arguments
    ---------
    folder : str or pathlib.Path
        Root folder of all text-embedding caches.
    encoder_fingerprint : str
        Identity of the encoder (e.g. ``module_fingerprint(bert)``).

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.nn.bert_encoder import BertEncoder
    >>> from ser_modules.testing.tiny_bert import save_random_bert_model
    >>> bert_folder = save_random_bert_model(tempfile.mkdtemp(), ["hello there", "hi"])
    >>> bert = BertEncoder(str(bert_folder), freeze=True)
    >>> cache = TextEmbeddingCache(tempfile.mkdtemp(), module_fingerprint(bert))
    >>> cache.build(bert, ["hello there", "hi", "hi"], progressbar=False)
    2
    >>> cache.load("hi").shape, cache.build(bert, ["hi"], progressbar=False)
    (torch.Size([32]), 0)
    """

    def __init__(self, folder, encoder_fingerprint):
        self.description = {"encoder": encoder_fingerprint, "pooling": POOLING}
        key = hashlib.sha1(f"{encoder_fingerprint}|{POOLING}".encode()).hexdigest()
        self.folder = Path(folder) / key[:16]
        info = self.folder / "cache_info.json"
        if not info.exists():
            write_json_atomic(self.description, info)

    def path_for(self, text):
        """Entry file of a text (may not exist yet)."""
        key = hashlib.sha1(str(text).encode("utf-8")).hexdigest()
        return self.folder / key[:2] / f"{key}.pt"

    def missing(self, texts):
        """The texts without an entry, in order, without repeats."""
        return [text for text in dict.fromkeys(map(str, texts)) if not self.path_for(text).exists()]

    def load(self, text):
        """The cached embedding ``[hidden]`` (float32) of a text."""
        path = self.path_for(text)
        if not path.exists():
            raise FileNotFoundError(
                f"No cached text embedding of {text!r} in {self.folder}: run"
                " TextEmbeddingCache.build first"
            )
        embedding = torch.load(path, map_location="cpu")
        if not torch.isfinite(embedding).all():
            raise FloatingPointError(
                f"Cached text embedding {path} of {text!r} is not finite: delete the file"
            )
        return embedding

    def build(self, encoder, texts, batch_size=32, device="cpu", progressbar=True):
        """Embeds and stores every text of ``texts`` without an entry; returns how many.

        Texts are sorted by length and batched (the embeddings do not depend on the batch,
        up to floating-point reassociation: the encoder uses the attention mask).

        Arguments
        ---------
        encoder : ser_modules.nn.bert_encoder.BertEncoder
            The text encoder.
        texts : iterable of str
            Texts.
        batch_size : int
            Texts per forward pass.
        device : str
            Device of the encoder.
        progressbar : bool
            Show a progress bar.

        Returns
        -------
        int
        """
        todo = sorted(self.missing(texts), key=len)
        if not todo:
            return 0
        logger.info("Embedding %d texts into %s", len(todo), self.folder)
        with tqdm(total=len(todo), desc="text embeddings", disable=not progressbar) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                for text, embedding in zip(batch, utterance_embeddings(encoder, batch, device)):
                    with atomic_path(self.path_for(text)) as tmp:
                        torch.save(embedding.clone(), tmp)
                bar.update(len(batch))
        return len(todo)


def build_text_embedding_cache(hparams, encoder, texts):
    """The text-embedding cache of a frozen encoder, with every text of ``texts`` embedded.

    Arguments
    ---------
    hparams : dict
        Reads ``text_embedding_cache_folder``, ``extraction_batch_size``, ``device`` and
        ``noprogressbar``.
    encoder : ser_modules.nn.bert_encoder.BertEncoder
        The text encoder (moved to ``hparams["device"]``, then back to the CPU).
    texts : iterable of str
        Texts (normalised already).

    Returns
    -------
    TextEmbeddingCache
    """
    cache = TextEmbeddingCache(hparams["text_embedding_cache_folder"], module_fingerprint(encoder))
    encoder.to(hparams["device"])
    cache.build(encoder, texts, **extraction_options(hparams))
    encoder.to("cpu")
    return cache
