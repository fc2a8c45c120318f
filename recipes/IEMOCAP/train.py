#!/usr/bin/env python3
"""Recipe: speech emotion recognition on IEMOCAP with a frozen SSL upstream and
(attentive) channel-wise correlation pooling (Kakouros et al., ICASSP 2023).

Frozen wav2vec 2.0 / HuBERT / WavLM (all hidden states) -> softmax-weighted layer sum ->
Linear projector -> mean / mean+std / correlation / attentive correlation pooling ->
Linear classifier, trained with label-smoothed cross-entropy. One run = one fold of the
5-fold leave-one-session-out protocol; ``cross_validate.py`` runs the 5 folds.

To run this recipe:
> python train.py hparams/wavlm_corr_att.yaml --data_folder=/path/IEMOCAP_full_release \\
      --test_session=3

Outputs (in ``output_folder``): ``train_log.txt``, ``test_results.json`` (WA, UA, macro-F1,
recall per class, confusion matrix, layer weights), ``predictions.csv``,
``confusion_matrix.png``, ``training_curves.png``, ``layer_weights.png``.

Authors
 * ser-recipes contributors 2026
"""

import os
import sys

import speechbrain as sb
from speechbrain.utils.distributed import main_process_only, run_on_main

from ser_modules.data.checks import check_finite, max_frames
from ser_modules.data.pipelines import audio_pipeline, cached_feature_pipeline
from ser_modules.training.brain import brain_arguments, evaluate_best, fit_brain
from ser_modules.training.classification import (
    SPLITS,
    ClassificationBrain,
    classification_datasets,
    classification_results,
    save_label_encoder,
    write_test_outputs,
)
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.feature_cache import build_feature_cache
from ser_modules.training.identity import record_evaluation, record_inputs, record_training
from ser_modules.training.plots import plot_layer_weights
from ser_modules.training.preparation import prepare_manifests
from ser_modules.training.run_scope import debug_manifests, splits_to_extract

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path
from iemocap_prepare import FOLD_OPTIONS, prepare_iemocap  # noqa: E402 (this folder's preparation)


class EmotionBrain(ClassificationBrain):
    """Trains the head on top of a frozen (or cached) SSL upstream."""

    def compute_forward(self, batch, stage):
        """Hidden states -> weighted sum -> projector -> pooling -> class logits."""
        hiddens, lengths = self.compute_features(batch.to(self.device))
        frames = self.modules.projector(self.modules.layer_sum(hiddens))
        return self.modules.classifier(self.modules.pooling_layer(frames, lengths))

    def compute_features(self, batch):
        """All hidden states ``[layers, batch, frames, channels]`` and relative frame lengths.

        Non-finite hidden states of the upstream are an error naming the batch's utterances
        (cached ones are checked when loaded).
        """
        if self.hparams.use_feature_cache:
            feats, lengths = batch.feats
            return feats.float().permute(2, 0, 1, 3), lengths
        wavs, wav_lens = batch.sig
        hiddens = check_finite(
            self.modules.ssl(wavs, wav_lens), f"Hidden states of {', '.join(batch.id)}"
        )
        return hiddens, self.modules.ssl.frame_lengths(wav_lens, wavs.shape[1], hiddens.shape[2])

    def on_fit_batch_start(self, batch, should_step):
        """With ``record_seen_ids`` (debugging), appends ``<epoch> <id>`` lines of the batch to
        ``seen_ids_rank<rank>.txt``: under DDP each process writes the ids of its shard."""
        if self.hparams.record_seen_ids:
            rank = sb.utils.distributed.get_rank() or 0
            epoch = self.hparams.epoch_counter.current
            path = os.path.join(self.hparams.output_folder, f"seen_ids_rank{rank}.txt")
            with open(path, "a", encoding="utf-8") as handle:
                handle.writelines(f"{epoch} {uid}\n" for uid in batch.id)

    @main_process_only
    def on_test_end(self, stats):
        """Writes the results JSON (with the layer weights), predictions, confusion matrix and
        layer weight plot."""
        out = self.hparams.output_folder
        weights = [float(w) for w in self.hparams.layer_sum.layer_weights()]  # not DDP-wrapped
        plot_layer_weights(weights, os.path.join(out, "layer_weights.png"))
        results = {
            "test_session": self.hparams.test_session,
            **classification_results(self.metrics, stats["loss"]),
            "layer_weights": weights,
        }
        write_test_outputs(out, self.metrics, results)


def dataio_prepare(hparams, manifests, cache):
    """Builds the train, valid and test datasets with their audio or feature pipelines.

    Utterances longer than ``max_duration`` are cropped to their first ``max_duration``
    seconds: the audio without the cache, the cached frames with it (the encoder saw the
    whole utterance once). Labels outside ``emotions`` are an error naming the manifest.
    """
    if cache is None:
        inputs, key = audio_pipeline(hparams["max_duration"]), "sig"
    else:
        inputs, key = (
            cached_feature_pipeline(cache, max_frames(hparams["max_duration"], hparams["ssl"])),
            "feats",
        )
    return classification_datasets(manifests, hparams["emotions"], [inputs], [key])


def main(argv):
    """Prepares the fold, builds the cache, trains, evaluates the best valid-UA checkpoint
    (``experiment.json`` records the inputs, the end of training and of the evaluation)."""
    hparams, run_opts = load_experiment(argv, script=__file__)
    manifests = prepare_manifests(hparams, prepare_iemocap, FOLD_OPTIONS, splits=SPLITS)
    run_on_main(save_label_encoder, args=[hparams])
    record_inputs(hparams, manifests)
    manifests = debug_manifests(hparams, run_opts, manifests)
    cache = None
    if hparams["use_feature_cache"]:  # the frozen upstream's hidden states, extracted once
        cache = build_feature_cache(
            hparams, hparams["ssl"], splits_to_extract(manifests, run_opts).values()
        )
    datasets = dataio_prepare(hparams, manifests, cache)

    brain = EmotionBrain(**brain_arguments(hparams, run_opts))
    fit_brain(brain, datasets)
    record_training(hparams, brain)
    evaluate_best(brain, datasets["test"])
    record_evaluation(hparams, brain, ["test_results.json"])
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
