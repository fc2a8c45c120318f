"""A frozen CTC speech recogniser (Hugging Face ``*ForCTC`` + its processor), greedy decoding.

Mitra et al. (ICASSP 2024) feed BERT with the transcripts of HuBERT_A, HuBERT-large fine-tuned
for ASR (the public ``facebook/hubert-large-ls960-ft``). :class:`CTCTranscriber` loads such a
model with ``AutoModelForCTC`` and its ``Wav2Vec2Processor`` with ``AutoProcessor`` and
transcribes a padded batch of waveforms:

1. each waveform goes through the processor's feature extractor on its own valid samples
   (zero mean, unit variance, as the model was fine-tuned), padded, with the attention mask
   when the processor returns one (the layer-normalised "large" checkpoints);
2. greedy CTC: the most likely token of every valid frame; frames beyond an utterance's
   length, and frames whose most likely token is another special token of the tokenizer
   (``<s>``, ``</s>``, ``<unk>``: they are no characters), are set to the blank (``<pad>``);
3. the tokenizer's ``batch_decode`` merges repeated tokens, drops blanks and turns the word
   delimiter ``|`` into spaces.

Models without an attention mask (group-normalised "base" checkpoints) see the zero padding:
:attr:`CTCTranscriber.padding_invariant` is then False and the transcript cache transcribes
one file at a time.

Authors
 * ser-recipes contributors 2026
"""

import torch

from ser_modules.nn.masking import frame_counts


class CTCTranscriber(torch.nn.Module):
    """Frozen ``AutoModelForCTC`` + ``AutoProcessor``: waveforms -> greedy CTC transcripts.

    Arguments
    ---------
    source : str
        Hub id (e.g. ``facebook/hubert-large-ls960-ft``) or local folder holding the model and
        its processor.
    save_path : str, optional
        Download cache folder.

    Example
    -------
    >>> import tempfile
    >>> from ser_modules.testing.tiny_ssl import build_tiny_hubert_ctc
    >>> asr = CTCTranscriber(str(build_tiny_hubert_ctc(tempfile.mkdtemp())))
    >>> wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.5])
    >>> ids = asr(wavs, lens)
    >>> ids.shape, bool((ids[1, 25:] == asr.blank_id).all())
    (torch.Size([2, 49]), True)
    >>> asr.processor.tokenizer.convert_ids_to_tokens(asr.no_character_ids.tolist())
    ['<pad>', '<s>', '</s>', '<unk>']
    >>> texts = asr.transcribe(wavs, lens)
    >>> texts[1] == asr.transcribe(wavs[1:, :8000], torch.ones(1))[0]
    True
    >>> asr.padding_invariant, asr.sample_rate
    (True, 16000)
    """

    def __init__(self, source, save_path=None):
        super().__init__()
        from transformers import AutoModelForCTC, AutoProcessor

        self.source = str(source)
        self.processor = AutoProcessor.from_pretrained(source, cache_dir=save_path)
        if not hasattr(self.processor, "batch_decode") or not hasattr(
            self.processor, "feature_extractor"
        ):
            raise TypeError(
                f"{source}: AutoProcessor gave a {type(self.processor).__name__}, not a processor"
                " with a feature extractor and a CTC tokenizer (e.g. Wav2Vec2Processor): is it a"
                " CTC model?"
            )
        self.model = AutoModelForCTC.from_pretrained(source, cache_dir=save_path)
        for param in self.model.parameters():
            param.requires_grad = False
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)
        tokenizer = self.processor.tokenizer
        self.blank_id = int(tokenizer.pad_token_id)
        delimiter = tokenizer.convert_tokens_to_ids(
            getattr(tokenizer, "word_delimiter_token", None) or "|"
        )
        no_character = sorted(set(tokenizer.all_special_ids) - {delimiter})
        self.register_buffer(
            "no_character_ids", torch.tensor(no_character, dtype=torch.long), persistent=False
        )
        self.train(False)

    @property
    def padding_invariant(self):
        """Whether an utterance gets the same transcript alone and padded in a batch."""
        return bool(getattr(self.processor.feature_extractor, "return_attention_mask", False))

    def train(self, mode=True):
        """Always in eval mode (frozen)."""
        return super().train(False)

    def vocabulary(self):
        """The tokenizer's ``{token: id}`` (part of the identity of the transcripts)."""
        return dict(self.processor.tokenizer.get_vocab())

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None):
        """Greedy CTC token ids ``[batch, frames]`` (blank beyond each utterance's frames).

        Arguments
        ---------
        wavs : torch.Tensor
            Padded waveforms ``[batch, samples]`` at :attr:`sample_rate`.
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        torch.Tensor
            int64 token ids.
        """
        counts = frame_counts(wav_lens, wavs.shape[1], batch_size=wavs.shape[0])
        arrays = [wav[: int(n)].detach().float().cpu().numpy() for wav, n in zip(wavs, counts)]
        inputs = self.processor.feature_extractor(
            arrays, sampling_rate=self.sample_rate, return_tensors="pt", padding=True
        )
        device = next(self.model.parameters()).device
        mask = inputs.get("attention_mask")
        logits = self.model(
            inputs["input_values"].to(device),
            attention_mask=None if mask is None else mask.to(device),
        ).logits
        valid_frames = self.model._get_feat_extract_output_lengths(counts.to(device))
        valid = torch.arange(logits.shape[1], device=device)[None, :] < valid_frames[:, None]
        ids = logits.argmax(dim=-1)
        character = ~torch.isin(ids, self.no_character_ids.to(device))
        return ids.masked_fill(~(valid & character), self.blank_id)

    def transcribe(self, wavs, wav_lens=None):
        """Greedy CTC transcripts of a padded batch (the tokenizer's spelling, e.g. upper case).

        Arguments
        ---------
        wavs : torch.Tensor
            Padded waveforms ``[batch, samples]``.
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        list of str
            One transcript per waveform.
        """
        ids = self.forward(wavs, wav_lens)
        return [" ".join(text.split()) for text in self.processor.batch_decode(ids.cpu())]
