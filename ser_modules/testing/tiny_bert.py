"""A tiny random BERT with a vocabulary made from transcripts (test and demo fixture).

Tests and the demo cannot download weights, so :func:`save_random_bert_model` builds a
randomly initialised BERT from a small ``transformers`` config, with a WordPiece vocabulary
made of the words of the given transcripts (e.g. :func:`iemocap_transcripts` of a generated
corpus), and saves it as a local Hugging Face folder (``config.json``, weights, ``vocab.txt``,
``tokenizer_config.json``) that ``ser_modules.nn.bert_encoder.BertEncoder(source=<folder>)`` loads.

Command line::

    python -m ser_modules.testing.tiny_bert --out data/tiny_bert --iemocap data/IEMOCAP_full_release

Authors
 * ser-recipes contributors 2026
"""

import argparse
import hashlib
import json
import logging
import re
from collections import Counter
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# BERT's basic tokenizer: lower case, words and single punctuation marks.
WORD_PATTERN = re.compile(r"\w+|[^\w\s]", flags=re.UNICODE)
TRANSCRIPT_LINE = re.compile(r"^(?P<utt>\S+)\s+\[[^\]]*\]:\s?(?P<text>.*)$")
TINY_CONFIG = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=128,
)
_OPTIONS_FILE = "tiny_bert_options.json"


def iemocap_transcripts(data_folder):
    """All turn transcripts of an ``IEMOCAP_full_release`` folder (``dialog/transcriptions``).

    Arguments
    ---------
    data_folder : str or pathlib.Path
        The release folder (holding ``Session1`` .. ``Session5``).

    Returns
    -------
    list of str
        The transcripts, in file order (hidden files such as AppleDouble ``._*`` skipped).

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> folder = root / "Session1" / "dialog" / "transcriptions"
    >>> folder.mkdir(parents=True)
    >>> _ = (folder / "Ses01F_impro01.txt").write_text(
    ...     "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\\n"
    ...     "Ses01F_impro01_M000 [007.5712-010.4750]: Do you have your forms?\\n")
    >>> iemocap_transcripts(root)
    ['Excuse me.', 'Do you have your forms?']
    """
    texts = []
    for path in sorted(Path(data_folder).glob("Session*/dialog/transcriptions/*.txt")):
        if path.name.startswith("."):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = TRANSCRIPT_LINE.match(line.strip())
            if match:
                texts.append(match["text"].strip())
    return texts


def build_vocabulary(texts, min_count=1):
    """WordPiece vocabulary of whole words: the special tokens, then the sorted words.

    Words are lower-cased and split as BERT's basic tokenizer does (punctuation marks are
    tokens of their own), so every word of ``texts`` is one token of the vocabulary.

    Arguments
    ---------
    texts : iterable of str
        Transcripts.
    min_count : int
        Words seen fewer times are left out (they become ``[UNK]``).

    Returns
    -------
    list of str
        The tokens, ``[PAD]`` first (id 0, the padding id of ``PaddedBatch``).

    Example
    -------
    >>> build_vocabulary(["Excuse me.", "Excuse ME!"])
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '!', '.', 'excuse', 'me']
    """
    counts = Counter(word for text in texts for word in WORD_PATTERN.findall(str(text).lower()))
    words = sorted(word for word, count in counts.items() if count >= min_count)
    return list(SPECIAL_TOKENS) + [word for word in words if word not in SPECIAL_TOKENS]


def save_random_bert_model(out_dir, texts, seed=0, **config_overrides):
    """Builds a random tiny BERT with a vocabulary from ``texts`` and saves it (idempotent).

    Arguments
    ---------
    out_dir : str or pathlib.Path
        Folder to write (``config.json``, weights, ``vocab.txt``, ``tokenizer_config.json``).
    texts : iterable of str
        Transcripts the vocabulary is made from.
    seed : int
        Seed of the random initialisation.
    **config_overrides
        Changes to the tiny config (``hidden_size=32``, ``num_hidden_layers=2``,
        ``num_attention_heads=2``, ``intermediate_size=64``, ``max_position_embeddings=128``).

    Returns
    -------
    pathlib.Path
        The folder, usable as ``source`` of :class:`ser_modules.nn.bert_encoder.BertEncoder`
        (or ``AutoModel``).

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.nn.bert_encoder import BertEncoder
    >>> sentences = ["Excuse me.", "Do you have your forms?"]
    >>> folder = save_random_bert_model(tempfile.mkdtemp(), sentences)
    >>> encoder = BertEncoder(str(folder))
    >>> tokens = encoder.tokenize("Do you have forms, please?")  # "," and "please" are unknown
    >>> encoder.tokenizer.convert_ids_to_tokens(tokens.tolist())
    ['[CLS]', 'do', 'you', 'have', 'forms', '[UNK]', '[UNK]', '?', '[SEP]']
    >>> encoder(tokens[None], torch.tensor([1.0])).shape
    torch.Size([1, 9, 32])
    """
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    vocab = build_vocabulary(texts)
    config_options = {**TINY_CONFIG, **config_overrides}
    options = {
        "seed": seed,
        "config": config_options,
        "vocab_sha1": hashlib.sha1("\n".join(vocab).encode()).hexdigest(),
    }
    options_file = out_dir / _OPTIONS_FILE
    if options_file.exists() and json.loads(options_file.read_text()) == options:
        logger.info("Random BERT already in %s", out_dir)
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    config = BertConfig(vocab_size=len(vocab), **config_options)
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(out_dir)
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": config.max_position_embeddings,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    options_file.write_text(json.dumps(options))
    logger.info("Saved a random BERT (vocabulary of %d tokens) to %s", len(vocab), out_dir)
    return out_dir


def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--iemocap", required=True, help="IEMOCAP_full_release folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(save_random_bert_model(args.out, iemocap_transcripts(args.iemocap), seed=args.seed))


if __name__ == "__main__":
    main()
