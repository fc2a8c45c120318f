"""Randomly initialised WavLM / HuBERT / wav2vec 2.0 models saved as local Hugging Face folders.

Real experiments load pretrained upstreams from the Hub (``microsoft/wavlm-large``,
``facebook/hubert-large-ll60k``, ``facebook/wav2vec2-large-lv60``). Tests, the demo and the
benchmarks cannot download weights, so this module builds models of the same architecture
from a small ``transformers`` config (random weights, LayerDrop off), and saves them with
``save_pretrained`` plus the ``preprocessor_config.json`` of a ``Wav2Vec2FeatureExtractor``.
SpeechBrain's HF wrappers load such a folder with ``source=<folder>``.

Three sizes are available:

* ``tiny``: hidden size 32, 2 transformer layers, 7 convolution layers of 32 channels
  (same strides as the real models, so 50 frames per second), "layer" normalisation of the
  feature encoder as in the large checkpoints (used by the tests);
* ``small``: hidden size 64, 2 layers, 64-channel encoder with the "group" normalisation of
  the base checkpoints (used by the demos: with random weights, the group-normalised encoder
  keeps much more of the prosody than the layer-normalised one, whose per-frame
  normalisation removes the frame energy);
* ``base``: the geometry of the base models (768 hidden, 12 layers, 512-channel encoder),
  for benchmarks.

Command line::

    python -m ser_modules.testing.tiny_ssl wavlm --out data/tiny_wavlm \
        [--size tiny|small|base] [--seed 0]

Authors
 * ser-recipes contributors 2026
"""

import argparse
import json
import logging
from pathlib import Path

import torch

from ser_modules.utils.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

MODEL_KINDS = ("wavlm", "hubert", "wav2vec2")

# The geometry of each size: one row per size, one column per config field.
_GEOMETRY_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "conv_dim",
    "num_conv_pos_embeddings",
    "num_conv_pos_embedding_groups",
    "feat_extract_norm",
    "do_stable_layer_norm",
)
_GEOMETRIES = {
    "tiny": (32, 2, 2, 64, (32,) * 7, 16, 2, "layer", True),
    "small": (64, 2, 2, 128, (64,) * 7, 16, 2, "group", False),
    "base": (768, 12, 12, 3072, (512,) * 7, 128, 16, "group", False),
}
SIZES = {size: dict(zip(_GEOMETRY_FIELDS, row)) for size, row in _GEOMETRIES.items()}

_OPTIONS_FILE = "tiny_ssl_options.json"


def _model_classes(kind):
    """Returns the (config class, model class) of ``transformers`` for a model kind."""
    import transformers

    classes = {
        "wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
        "hubert": (transformers.HubertConfig, transformers.HubertModel),
        "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
    }
    if kind not in classes:
        raise ValueError(f"Unknown SSL model kind {kind!r}; expected one of {MODEL_KINDS}")
    return classes[kind]


def build_ssl_config(kind, size="tiny"):
    """Builds the ``transformers`` config of a random SSL model (LayerDrop and masking off).

    Arguments
    ---------
    kind : str
        One of ``"wavlm"``, ``"hubert"``, ``"wav2vec2"``.
    size : str
        ``"tiny"``, ``"small"`` or ``"base"``.

    Returns
    -------
    transformers.PretrainedConfig
        The configuration.

    Example
    -------
    >>> config = build_ssl_config("hubert")
    >>> config.hidden_size, config.num_hidden_layers, config.layerdrop
    (32, 2, 0.0)
    """
    if size not in SIZES:
        raise ValueError(f"Unknown size {size!r}; expected one of {tuple(SIZES)}")
    config_class, _ = _model_classes(kind)
    return config_class(
        **SIZES[size],
        layerdrop=0.0,
        mask_time_prob=0.0,
        mask_feature_prob=0.0,
        apply_spec_augment=False,
    )


def _feature_extractor(config):
    """The feature extractor of a model of ``config`` (its ``preprocessor_config.json`` is what
    SpeechBrain's wrappers read)."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=config.feat_extract_norm == "layer",
    )


def save_random_ssl_model(kind, out_dir, size="tiny", seed=0):
    """Builds a random SSL model and saves it as a local Hugging Face folder (idempotent).

    Arguments
    ---------
    kind : str
        One of ``"wavlm"``, ``"hubert"``, ``"wav2vec2"``.
    out_dir : str or pathlib.Path
        Folder to write (``config.json``, weights, ``preprocessor_config.json``).
    size : str
        ``"tiny"``, ``"small"`` or ``"base"``.
    seed : int
        Seed of the random initialisation.

    Returns
    -------
    pathlib.Path
        The folder, usable as ``source`` of SpeechBrain's HF wrappers.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.integrations.huggingface import WavLM
    >>> folder = save_random_ssl_model("wavlm", tempfile.mkdtemp())
    >>> ssl = WavLM(str(folder), save_path=tempfile.mkdtemp(), freeze=True, output_all_hiddens=True)
    >>> ssl(torch.randn(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([3, 2, 49, 32])
    """
    out_dir = Path(out_dir)
    options = {"kind": kind, "size": size, "seed": seed}
    options_file = out_dir / _OPTIONS_FILE
    if options_file.exists() and json.loads(options_file.read_text()) == options:
        logger.info("Random %s model already in %s", kind, out_dir)
        return out_dir
    config = build_ssl_config(kind, size)
    _, model_class = _model_classes(kind)
    torch.manual_seed(seed)
    model = model_class(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    _feature_extractor(config).save_pretrained(out_dir)
    options_file.write_text(json.dumps(options))
    logger.info("Saved a random %s-sized %s model to %s", size, kind, out_dir)
    return out_dir


def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=MODEL_KINDS)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", default="tiny", choices=tuple(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = save_random_ssl_model(args.kind, args.out, args.size, args.seed)
    print(folder)


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------------------------
# A tiny HubertForCTC with its processor (the ASR-fine-tuned HuBERT_A of the MSP recipe)
# --------------------------------------------------------------------------------------------
#: The character vocabulary of ``facebook/hubert-large-ls960-ft`` (CTC blank = ``<pad>``, id 0;
#: ``|`` is the word delimiter).
CTC_VOCABULARY = ("<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ")


def build_tiny_hubert_ctc(folder, size="tiny", seed=0):
    """Saves a random ``HubertForCTC`` and its ``Wav2Vec2Processor`` as a local folder (idempotent).

    The folder has the files of ``facebook/hubert-large-ls960-ft``: ``config.json`` and the
    weights (``AutoModelForCTC``, or ``AutoModel`` for the hidden states), ``vocab.json``,
    ``tokenizer_config.json`` and ``special_tokens_map.json`` of a ``Wav2Vec2CTCTokenizer`` (the
    upper-case letters, ``'`` and the word delimiter ``|``), and the ``preprocessor_config.json``
    of a ``Wav2Vec2FeatureExtractor``: ``AutoProcessor`` gives a ``Wav2Vec2Processor``. Random
    weights give random letters: enough to test the transcription plumbing.

    Arguments
    ---------
    folder : str or pathlib.Path
        Folder to write.
    size : str
        A size of :data:`SIZES` (``"tiny"``: 32 channels, 2 layers, layer-normalised encoder).
    seed : int
        Seed of the random initialisation.

    Returns
    -------
    pathlib.Path
        The folder, usable as ``source`` of ``AutoModelForCTC`` / ``AutoProcessor`` and of
        :class:`ser_modules.nn.ssl_encoder.SSLEncoder`.

    Example
    -------
    >>> import tempfile
    >>> from transformers import AutoModelForCTC, AutoProcessor
    >>> folder = build_tiny_hubert_ctc(tempfile.mkdtemp())
    >>> processor = AutoProcessor.from_pretrained(folder)
    >>> type(processor).__name__, type(AutoModelForCTC.from_pretrained(folder)).__name__
    ('Wav2Vec2Processor', 'HubertForCTC')
    >>> processor.batch_decode([[0, 7, 7, 0, 7, 4, 6]])  # blanks dropped, repeats merged
    ['AA T']
    """
    from transformers import HubertForCTC, Wav2Vec2CTCTokenizer, Wav2Vec2Processor

    folder = Path(folder)
    options = {"kind": "hubert_ctc", "size": size, "seed": seed, "vocabulary": list(CTC_VOCABULARY)}
    options_file = folder / _OPTIONS_FILE
    if options_file.exists() and json.loads(options_file.read_text()) == options:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({token: i for i, token in enumerate(CTC_VOCABULARY)}))
    tokenizer = Wav2Vec2CTCTokenizer(
        str(vocab_file),
        unk_token="<unk>",
        pad_token="<pad>",
        word_delimiter_token="|",
        do_lower_case=False,
    )
    config = build_ssl_config("hubert", size)
    config.vocab_size = len(CTC_VOCABULARY)
    config.pad_token_id = tokenizer.pad_token_id
    config.ctc_loss_reduction = "mean"
    extractor = _feature_extractor(config)
    torch.manual_seed(seed)
    HubertForCTC(config).save_pretrained(folder)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    options_file.write_text(json.dumps(options))
    logger.info("Saved a random %s-sized HubertForCTC with its processor to %s", size, folder)
    return folder
