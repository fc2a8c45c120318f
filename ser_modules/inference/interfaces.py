"""Inference interfaces of the exported models (``speechbrain.inference.Pretrained``).

``EmotionClassifier`` (categorical, IEMOCAP recipes) and ``DimensionalEmotionRegressor``
(arousal, valence and dominance on the 1-7 scale, MSP-Podcast recipe) run the upstream(s) on
padded batches with their relative lengths (``wav_lens`` reaches the upstream, so padding
does not change a prediction with a padding-invariant model) and then the trained head,
exactly as the recipes evaluate. Files are read with SpeechBrain's ``load_audio`` (resampled
to 16 kHz, downmixed to mono). Both split into ``encode_batch`` (the utterance embedding the
trained head predicts from) and ``predict_embeddings`` (the head), so that the embeddings come
with the predictions from one forward pass (``predict_signals(signals, embeddings=True)``).

The ``EmotionClassifier`` runs either model of the IEMOCAP recipes, as its ``hyperparams.yaml``
declares it:

* ``train.py``: the SSL upstream ``ssl`` (all hidden states) -> ``layer_sum`` -> ``projector``
  -> ``pooling_layer`` -> ``classifier``;
* ``train_upstream_downstream.py`` (Morais et al.): the upstreams named by ``upstreams`` (SSL
  encoders or filterbanks, in the fusion order) -> ``downstream`` (fusion + aggregator) ->
  ``classifier``.

``ser_modules.tools.publish export`` bundles this module with the ``ser_modules.nn`` layers its
``hyperparams.yaml`` names into one self-contained ``custom_interface.py``, loaded with plain
``speechbrain``::

    from speechbrain.inference.interfaces import foreign_class
    model = foreign_class(
        source="USER/NAME", pymodule_file="custom_interface.py", classname="EmotionClassifier"
    )
    probabilities, score, index, label = model.classify_file("speech.wav")

Authors
 * ser-recipes contributors 2026
"""

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right

from ser_modules.nn.masking import length_mask

#: Shortest input in samples (25 ms at 16 kHz): the recipes' ``load_audio`` zero-pads shorter
#: files to it, the receptive field of the wav2vec 2.0 / HuBERT / WavLM CNNs.
MIN_INPUT_SAMPLES = 400


class SERInterface(Pretrained):
    """What both interfaces share: the upstreams, batching, files, sliding windows.

    Subclasses implement ``predict_batch(wavs, wav_lens)``, returning one ``dict`` per
    utterance. The upstreams are the modules named by the hparams ``upstreams`` (default:
    ``ssl``); each reads the padded waveforms (:meth:`upstream_features`).
    """

    WINDOW_PADDING = "zeros"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_modules(self.upstream_names())

    def check_modules(self, names):
        """Fails, naming them, if modules of the model are not in ``hyperparams.yaml``."""
        missing = [name for name in names if name not in self.mods]
        if missing:
            raise ValueError(
                f"{type(self).__name__}: hyperparams.yaml has no module {', '.join(missing)} "
                f"(modules: {', '.join(self.mods.keys())})"
            )

    def upstream_names(self):
        """The modules that read the waveforms, in order: hparams ``upstreams``, else ``ssl``."""
        return list(getattr(self.hparams, "upstreams", None) or ["ssl"])

    @property
    def min_input_samples(self):
        """Shortest input of the upstreams (shorter utterances are zero-padded to it)."""
        fields = [
            getattr(self.mods[name], "min_input_samples", 0) for name in self.upstream_names()
        ]
        return max(MIN_INPUT_SAMPLES, *fields)

    def prepare_batch(self, wavs, wav_lens=None):
        """``[batch, samples]`` float waveforms and relative lengths on the model's device."""
        wavs = torch.as_tensor(wavs)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        wavs, wav_lens = pad_short_utterances(
            wavs, torch.as_tensor(wav_lens), self.min_input_samples
        )
        return wavs.float().to(self.device), wav_lens.float().to(self.device)

    def upstream_features(self, name, wavs, wav_lens):
        """Features of the upstream ``name`` and the relative number of valid frames.

        An SSL encoder (it has ``frame_lengths``) returns the features, whose lengths it
        computes; another upstream (filterbanks) returns both.
        """
        module = self.mods[name]
        if not hasattr(module, "frame_lengths"):
            return module(wavs, wav_lens)
        features = module(wavs, wav_lens)
        return features, module.frame_lengths(wav_lens, wavs.shape[1], features.shape[-2])

    def hidden_states(self, wavs, wav_lens):
        """The SSL upstream's hidden states and the relative number of valid frames."""
        return self.upstream_features("ssl", wavs, wav_lens)

    def encode_batch(self, wavs, wav_lens=None):
        """Utterance embeddings ``[batch, features]``: what the trained head predicts from."""
        raise NotImplementedError

    def predict_embeddings(self, embeddings):
        """One ``dict`` of predictions per utterance embedding (the head's part)."""
        raise NotImplementedError

    def predict_batch(self, wavs, wav_lens=None):
        """One ``dict`` of predictions per utterance of a padded batch."""
        with torch.no_grad():
            return self.predict_embeddings(self.encode_batch(wavs, wav_lens))

    def predict_signals(self, signals, embeddings=False):
        """``predict_batch`` on a list of waveforms of any lengths (padded into one batch).

        With ``embeddings=True`` each ``dict`` also holds ``"embedding"``, the utterance's
        ``encode_batch`` output (list of floats) from the same forward pass.
        """
        wavs, wav_lens = batch_pad_right([signal.cpu() for signal in signals])
        with torch.no_grad():
            encoded = self.encode_batch(wavs, wav_lens)
            results = self.predict_embeddings(encoded)
        if embeddings:
            for result, row in zip(results, encoded.float().cpu()):
                result["embedding"] = row.tolist()
        return results

    def predict_files(self, paths, batch_size=8):
        """Predictions for audio files (any rate and channel count), ``batch_size`` at a time.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Files per forward pass.

        Returns
        -------
        list of dict
            One ``dict`` per file, in the order given.
        """
        results = []
        for start in range(0, len(paths), batch_size):
            results.extend(
                self.predict_signals(
                    [self.load_audio(str(path)) for path in paths[start : start + batch_size]]
                )
            )
        return results

    def predict_timeline(self, wav, window, hop, batch_size=8):
        """Predictions on sliding windows of one long waveform (16 kHz).

        The last window ends at the end of the signal (it is shorter when the signal is
        shorter than ``window``); each result has ``start`` and ``end`` in seconds.

        Arguments
        ---------
        wav : torch.Tensor
            Waveform ``[samples]`` at the model's sample rate.
        window : float
            Window length in seconds.
        hop : float
            Hop between window starts in seconds.
        batch_size : int
            Windows per forward pass.

        Returns
        -------
        list of dict
        """
        rate = self.audio_normalizer.sample_rate
        bounds = window_bounds(len(wav), int(round(window * rate)), int(round(hop * rate)))
        results = []
        for start in range(0, len(bounds), batch_size):
            chunk = bounds[start : start + batch_size]
            for (begin, end), result in zip(
                chunk, self.predict_signals([wav[begin:end] for begin, end in chunk])
            ):
                results.append({"start": begin / rate, "end": end / rate, **result})
        return results


def pad_short_utterances(wavs, wav_lens, min_samples):
    """Zero-pads utterances shorter than ``min_samples`` (the SSL encoder's receptive field) to
    ``min_samples`` samples, as the recipes' ``load_audio`` does with short files.

    Example
    -------
    >>> wavs, lens = pad_short_utterances(torch.ones(2, 300), torch.tensor([1.0, 0.5]), 400)
    >>> wavs.shape, lens.tolist(), wavs.sum(dim=1).tolist()
    (torch.Size([2, 400]), [1.0, 1.0], [300.0, 150.0])
    >>> pad_short_utterances(torch.ones(1, 500), torch.ones(1), 400)[0].shape
    torch.Size([1, 500])
    """
    valid, samples = length_mask(wav_lens, wavs.shape[1], device=wavs.device)
    if samples.min() >= min_samples:
        return wavs, wav_lens
    wavs = torch.nn.functional.pad(wavs * valid, (0, max(0, min_samples - wavs.shape[1])))
    return wavs, samples.clamp(min=min_samples) / wavs.shape[1]


def window_bounds(num_samples, window, hop):
    """``(begin, end)`` sample bounds of sliding windows covering a signal.

    Example
    -------
    >>> window_bounds(10, 4, 3)
    [(0, 4), (3, 7), (6, 10)]
    >>> window_bounds(3, 4, 2)
    [(0, 3)]
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window} and {hop} samples")
    if num_samples <= window:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return [(begin, begin + window) for begin in starts]


class EmotionClassifier(SERInterface):
    """Categorical emotion recognition: upstream(s) -> head -> class probabilities.

    With a ``downstream`` module (``train_upstream_downstream.py``): the ``upstreams`` by name,
    then ``downstream`` and ``classifier``. Otherwise (``train.py``): ``ssl``, ``layer_sum``
    (weighted sum of the hidden states, optional), ``projector`` (optional), ``pooling_layer``
    and ``classifier`` (logits).

    Example
    -------
    >>> from speechbrain.inference.interfaces import foreign_class  # doctest: +SKIP
    >>> model = foreign_class(source="USER/NAME", pymodule_file="custom_interface.py",
    ...                       classname="EmotionClassifier")  # doctest: +SKIP
    >>> probabilities, score, index, label = model.classify_file("speech.wav")  # doctest: +SKIP
    """

    MODULES_NEEDED = ["classifier"]
    HPARAMS_NEEDED = ["label_encoder"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_modules(["downstream"] if "downstream" in self.mods else ["pooling_layer"])
        self.hparams.label_encoder.expect_len(self.mods.classifier.out_features)

    def encode_batch(self, wavs, wav_lens=None):
        """Utterance embeddings ``[batch, features]`` (the classifier's input)."""
        wavs, wav_lens = self.prepare_batch(wavs, wav_lens)
        if "downstream" in self.mods:
            features = [
                self.upstream_features(name, wavs, wav_lens) for name in self.upstream_names()
            ]
            return self.mods.downstream(features)
        frames, lengths = self.hidden_states(wavs, wav_lens)
        for name in ("layer_sum", "projector"):
            if name in self.mods:
                frames = self.mods[name](frames)
        return self.mods.pooling_layer(frames, lengths)

    def classify_batch(self, wavs, wav_lens=None):
        """Classifies a padded batch of 16 kHz waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` (or ``[samples]``).
        wav_lens : torch.Tensor, optional
            Relative lengths in (0, 1]; all 1 if not given.

        Returns
        -------
        probabilities : torch.Tensor
            ``[batch, classes]`` class probabilities (softmax of the logits).
        score : torch.Tensor
            ``[batch]`` probability of the predicted class.
        index : torch.Tensor
            ``[batch]`` index of the predicted class.
        labels : list of str
            Predicted class names.
        """
        with torch.no_grad():
            return self.classify_embeddings(self.encode_batch(wavs, wav_lens))

    def classify_embeddings(self, embeddings):
        """``classify_batch``'s outputs from utterance embeddings (``encode_batch``)."""
        with torch.no_grad():
            logits = self.mods.classifier(embeddings)
        probabilities = logits.float().softmax(dim=-1)
        score, index = probabilities.max(dim=-1)
        labels = self.hparams.label_encoder.decode_torch(index)
        return probabilities, score, index, labels

    def classify_file(self, path):
        """``classify_batch`` on one audio file (resampled and downmixed as needed)."""
        return self.classify_batch(self.load_audio(path).unsqueeze(0))

    def predict_embeddings(self, embeddings):
        """``{"label", "score", "probabilities": {class: p}}`` per utterance embedding."""
        probabilities, score, _, labels = self.classify_embeddings(embeddings)
        names = self.hparams.label_encoder.decode_torch(torch.arange(probabilities.shape[1]))
        return [
            {"label": label, "score": float(s), "probabilities": dict(zip(names, map(float, p)))}
            for label, s, p in zip(labels, score, probabilities)
        ]

    def forward(self, wavs, wav_lens=None):
        """Same as ``classify_batch``."""
        return self.classify_batch(wavs, wav_lens)


class DimensionalEmotionRegressor(SERInterface):
    """Arousal, valence and dominance on the 1-7 rating scale.

    SSL upstream -> hidden state ``ssl_layer`` -> ``standardizer`` -> ``selection`` (kept
    dimensions or PCA projection) -> ``head`` (TC-GRU), mapped back with
    ``label_scale * y + label_offset``.

    Example
    -------
    >>> from speechbrain.inference.interfaces import foreign_class  # doctest: +SKIP
    >>> model = foreign_class(source="USER/NAME", pymodule_file="custom_interface.py",
    ...                       classname="DimensionalEmotionRegressor")  # doctest: +SKIP
    >>> model.predict_file("speech.wav")  # doctest: +SKIP
    {'arousal': 4.1, 'valence': 3.9, 'dominance': 4.3}
    """

    MODULES_NEEDED = ["ssl", "standardizer", "selection", "head"]
    HPARAMS_NEEDED = ["ssl_layer", "dimensions", "label_offset", "label_scale"]

    def encode_batch(self, wavs, wav_lens=None):
        """Utterance embeddings ``[batch, embedding_size]``: the TC-GRU embedding that the
        head's output layer regresses from (``head.embed``)."""
        wavs, wav_lens = self.prepare_batch(wavs, wav_lens)
        with torch.no_grad():
            hiddens, lengths = self.hidden_states(wavs, wav_lens)
            frames = hiddens[self.hparams.ssl_layer] if hiddens.dim() == 4 else hiddens
            frames = self.mods.selection(self.mods.standardizer(frames.float()))
            return self.mods.head.embed(frames, lengths)

    def regress_embeddings(self, embeddings):
        """``[batch, 3]`` predictions on the 1-7 scale from ``encode_batch`` embeddings (the
        head's output layer; its dropout is off at inference). Not clipped to [1, 7]."""
        with torch.no_grad():
            means = self.mods.head.output(embeddings)
        return means.float() * self.hparams.label_scale + self.hparams.label_offset

    def regress_batch(self, wavs, wav_lens=None):
        """``[batch, 3]`` predictions (arousal, valence, dominance) on the 1-7 scale."""
        return self.regress_embeddings(self.encode_batch(wavs, wav_lens))

    def predict_embeddings(self, embeddings):
        """``{dimension: value}`` per utterance embedding."""
        values = self.regress_embeddings(embeddings)
        return [dict(zip(self.hparams.dimensions, map(float, row))) for row in values]

    def predict_file(self, path):
        """``{dimension: value}`` of one audio file (resampled and downmixed as needed)."""
        return self.predict_batch(self.load_audio(path).unsqueeze(0))[0]

    def forward(self, wavs, wav_lens=None):
        """Same as ``regress_batch``."""
        return self.regress_batch(wavs, wav_lens)
