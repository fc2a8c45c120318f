"""A self-supervised speech encoder (wav2vec 2.0 / HuBERT / WavLM) set up correctly for SER.

SpeechBrain's Hugging Face wrapper (``speechbrain.integrations.huggingface.wav2vec2.Wav2Vec2``,
SpeechBrain 1.1) has pitfalls that matter for utterance-level emotion recognition: LayerDrop
drops hidden states in train mode, ``Brain.fit`` puts every module, a frozen one included,
back in train mode each epoch, and the waveform normalisation (``F.layer_norm`` over each
padded row) counts the padding samples, so features depend on batch composition.
``SSLEncoder`` subclasses SpeechBrain's wrapper and fixes them:

* LayerDrop is forced to 0 (``override_config``) so ``output_all_hiddens`` is stable;
* a frozen encoder (and a frozen CNN feature encoder) stays in eval mode whatever ``train()``
  is called with;
* each waveform is normalised over its own valid samples and the padding is set to zero;
* the attention mask is passed for models whose feature encoder uses layer norm (the
  "large"/"layer" checkpoints), and omitted for group-norm ("base") models, as Hugging Face
  recommends;
* ``frame_lengths`` gives the exact relative number of valid frames of each utterance;
* the last of the hidden states is the encoder's output after its final LayerNorm
  (:func:`stack_hidden_states`), as with ``output_all_hiddens=False``;
* a ``source`` that looks like a local path but is no folder is an error naming it
  (``ser_modules.nn.model_source``), not a Hub look-up.

Authors
 * ser-recipes contributors 2026
"""

import warnings

import torch
from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2

from ser_modules.nn.masking import frame_counts, length_mask
from ser_modules.nn.model_source import check_model_source

WAVEFORM_EPS = 1e-7
MISMATCHED_MASKS_WARNING = "Support for mismatched key_padding_mask and attn_mask is deprecated"


def normalize_waveforms(wavs, mask):
    """Zero-mean unit-variance normalisation of each waveform over its valid samples only.

    Arguments
    ---------
    wavs : torch.Tensor
        Padded waveforms ``[batch, samples]``.
    mask : torch.Tensor
        Boolean mask of the valid samples.

    Returns
    -------
    torch.Tensor
        Normalised waveforms, zero on the padding.

    Example
    -------
    >>> wav = torch.tensor([[1.0, 3.0, 100.0]])
    >>> normalize_waveforms(wav, torch.tensor([[True, True, False]])).round(decimals=4)
    tensor([[-1.,  1.,  0.]])
    """
    weights = mask.to(wavs.dtype)
    counts = weights.sum(dim=1, keepdim=True)
    mean = (wavs * weights).sum(dim=1, keepdim=True) / counts
    centred = (wavs - mean) * weights
    var = centred.pow(2).sum(dim=1, keepdim=True) / counts
    return centred / torch.sqrt(var + WAVEFORM_EPS)


def stack_hidden_states(outputs):
    """All hidden states ``[layers + 1, batch, frames, channels]``, the last one being the
    encoder's output (``last_hidden_state``).

    With transformers 5, the "stable layer norm" models (the large wav2vec 2.0 / HuBERT /
    WavLM checkpoints) return as ``hidden_states[-1]`` the last layer's output *before* the
    encoder's final LayerNorm, while ``last_hidden_state`` is after it (transformers 4 and
    s3prl give the normalised one in both). The other models return the same tensor twice.
    Every consumer of the last hidden state (weighted layer sum, ``ssl_layer``, the
    ``output_all_hiddens=False`` upstreams) thus sees the normalised one.

    Arguments
    ---------
    outputs : transformers.modeling_outputs.BaseModelOutput
        Model outputs computed with ``output_hidden_states=True``.

    Returns
    -------
    torch.Tensor
        Stacked hidden states.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> layers = (torch.zeros(1, 2, 3), torch.ones(1, 2, 3))
    >>> out = SimpleNamespace(hidden_states=layers, last_hidden_state=torch.full((1, 2, 3), 5.0))
    >>> stack_hidden_states(out)[:, 0, 0, 0]
    tensor([0., 5.])
    """
    return torch.stack([*outputs.hidden_states[:-1], outputs.last_hidden_state], dim=0)


class SSLEncoder(Wav2Vec2):
    """Hugging Face wav2vec 2.0 / HuBERT / WavLM encoder for SER (any of them: AutoModel).

    Arguments
    ---------
    source : str
        Hub id (e.g. ``microsoft/wavlm-large``) or local folder.
    save_path : str
        Cache folder of the downloaded model.
    freeze : bool
        Frozen encoder (no gradients, always in eval mode).
    freeze_feature_extractor : bool
        When fine-tuning, keep the CNN feature encoder frozen (and in eval mode).
    output_all_hiddens : bool
        Return all hidden states ``[layers + 1, batch, frames, channels]`` (otherwise the last
        one, ``[batch, frames, channels]``); either way the last one is after the encoder's
        final LayerNorm (:func:`stack_hidden_states`).

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.testing.tiny_ssl import save_random_ssl_model
    >>> folder = save_random_ssl_model("hubert", tempfile.mkdtemp())
    >>> encoder = SSLEncoder(str(folder), save_path=tempfile.mkdtemp())
    >>> wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    >>> encoder(wavs, lens).shape
    torch.Size([3, 2, 49, 32])
    >>> encoder.frame_lengths(lens, 16000, 49)
    tensor([1.0000, 0.4898])
    >>> encoder.min_input_samples, encoder.num_frames(16000), encoder.num_frames(800)
    (400, 49, 2)
    >>> _ = encoder.train()
    >>> encoder.model.training
    False
    """

    def __init__(
        self,
        source,
        save_path,
        freeze=True,
        freeze_feature_extractor=True,
        output_all_hiddens=True,
    ):
        super().__init__(
            source=check_model_source(source, "SSL upstream"),
            save_path=save_path,
            output_norm=False,
            freeze=freeze,
            freeze_feature_extractor=freeze_feature_extractor,
            apply_spec_augment=False,
            output_all_hiddens=output_all_hiddens,
        )
        self.pass_attention_mask = self.model.config.feat_extract_norm == "layer"
        self.train(False)

    @property
    def padding_invariant(self):
        """Whether an utterance's features are the same alone and padded in a batch.

        True for models that take an attention mask (layer-normalised feature encoder, as
        the large checkpoints); group-normalised ("base") models see the zero padding.
        """
        return self.pass_attention_mask

    @property
    def num_hidden_states(self):
        """Number of hidden states returned with ``output_all_hiddens`` (layers + 1)."""
        return self.model.config.num_hidden_layers + 1

    @property
    def hidden_size(self):
        """Number of channels of each hidden state."""
        return self.model.config.hidden_size

    @property
    def min_input_samples(self):
        """Fewest input samples giving one frame: the receptive field of the CNN feature encoder.

        400 samples (25 ms at 16 kHz) for the released wav2vec 2.0 / HuBERT / WavLM models;
        ``ser_modules.data.audio.load_audio`` zero-pads shorter files.
        """
        field, jump = 1, 1
        for kernel, stride in zip(self.model.config.conv_kernel, self.model.config.conv_stride):
            field += (kernel - 1) * jump
            jump *= stride
        return field

    def num_frames(self, num_samples):
        """Number of output frames of an input of ``num_samples`` samples (int)."""
        return int(self.model._get_feat_extract_output_lengths(torch.tensor(int(num_samples))))

    def override_config(self, config):
        """Turns LayerDrop and SpecAugment masking off before the model is built."""
        config.layerdrop = 0.0
        config.mask_time_prob = 0.0
        config.mask_feature_prob = 0.0
        return config

    def train(self, mode=True):
        """Sets the train mode, keeping the frozen parts in eval mode."""
        super().train(mode and not self.freeze)
        if self.freeze_feature_extractor:
            self.model.feature_extractor.eval()
        return self

    def extract_features(self, wav, wav_lens=None):
        """Encodes a padded batch of waveforms (see the class docstring).

        Arguments
        ---------
        wav : torch.Tensor
            Padded waveforms ``[batch, samples]``.
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        torch.Tensor
            Hidden states.
        """
        if wav.shape[1] < self.min_input_samples:
            raise ValueError(
                f"Input of {wav.shape[1]} samples: the CNN feature encoder needs at least"
                f" {self.min_input_samples} (ser_modules.data.audio.load_audio zero-pads shorter"
                " files)"
            )
        mask, _ = length_mask(wav_lens, wav.shape[1], batch_size=wav.shape[0], device=wav.device)
        if self.normalize_wav:
            wav = normalize_waveforms(wav, mask)
        else:
            wav = wav * mask
        with warnings.catch_warnings():
            # transformers' WavLM attention gives torch a boolean key_padding_mask (from the
            # attention mask) and a float attn_mask (its relative position bias); torch turns
            # the boolean one into -inf and adds them, but warns that mixing the types is
            # deprecated. The padding invariance test (tests/test_ssl_encoder.py) checks the
            # result, so only this message is silenced, and only here.
            warnings.filterwarnings("ignore", MISMATCHED_MASKS_WARNING, UserWarning)
            out = self.model(
                wav,
                attention_mask=mask.long() if self.pass_attention_mask else None,
                output_hidden_states=self.output_all_hiddens,
            )
        if self.output_all_hiddens:
            return stack_hidden_states(out)
        return out.last_hidden_state

    def frame_lengths(self, wav_lens, num_samples, num_frames):
        """Exact relative number of valid frames of each utterance.

        Arguments
        ---------
        wav_lens : torch.Tensor
            Relative lengths of the waveforms.
        num_samples : int
            Padded number of samples of the batch.
        num_frames : int
            Number of frames of the encoder output.

        Returns
        -------
        torch.Tensor
            Relative frame lengths in (0, 1].
        """
        samples = frame_counts(wav_lens, num_samples, dtype=torch.float32)
        frames = self.model._get_feat_extract_output_lengths(samples)
        return frames.clamp(1, num_frames).float() / num_frames
