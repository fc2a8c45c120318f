#!/usr/bin/env python3
"""Recipe: speech emotion recognition on IEMOCAP with a frozen SSL upstream and
(attentive) channel-wise correlation pooling (Kakouros et al., ICASSP 2023).

Frozen wav2vec 2.0 / HuBERT / WavLM (all hidden states) -> softmax-weighted layer sum ->
Linear projector -> mean / mean+std / correlation / attentive correlation pooling ->
Linear classifier, trained with label-smoothed cross-entropy. One run = one fold of the
5-fold leave-one-session-out protocol; ``cross_validate.py`` runs the 5 folds.

To run this recipe:
> python train.py hparams/wavlm_corr_att.yaml --data_folder=/path/IEMOCAP_full_release --test_session=3

Outputs (in ``output_folder``): ``train_log.txt``, ``test_results.json`` (WA, UA, macro-F1,
recall per class, confusion matrix, layer weights), ``predictions.csv``,
``confusion_matrix.png``, ``training_curves.png``, ``layer_weights.png``.

Authors
 * ser-recipes contributors 2026
"""

import logging
import math
import os
import sys

import speechbrain as sb
import torch
from speechbrain.utils.distributed import main_process_only, run_on_main

from ser_modules.data.audio import load_audio
from ser_modules.data.checks import (
    apply_duration_limit,
    check_finite,
    check_labels,
    crop,
    max_frames,
    max_samples,
)
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.feature_cache import FeatureCache, module_fingerprint
from ser_modules.utils.files import atomic_path, read_json, write_json_atomic
from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.plots import plot_layer_weights, record_epoch

logger = logging.getLogger(__name__)


class EmotionBrain(sb.Brain):
    """Trains the head on top of a frozen (or cached) SSL upstream."""

    def compute_forward(self, batch, stage):
        """Hidden states -> weighted sum -> projector -> pooling -> class logits."""
        batch = batch.to(self.device)
        hiddens, lengths = self.hidden_states(batch)
        frames = self.modules.projector(self.modules.layer_sum(hiddens))
        return self.modules.classifier(self.modules.pooling_layer(frames, lengths))

    def hidden_states(self, batch):
        """All hidden states ``[layers, batch, frames, channels]`` and relative frame lengths.

        Non-finite hidden states of the upstream are an error naming the batch's utterances
        (cached ones are checked when loaded).
        """
        if self.hparams.use_feature_cache:
            feats, lengths = batch.feats
            return feats.float().permute(2, 0, 1, 3), lengths
        wavs, wav_lens = batch.sig
        hiddens = check_finite(self.modules.ssl(wavs, wav_lens), f"Hidden states of {', '.join(batch.id)}")
        return hiddens, self.modules.ssl.frame_lengths(wav_lens, wavs.shape[1], hiddens.shape[2])

    def compute_objectives(self, predictions, batch, stage):
        """Label-smoothed (optionally soft-target) cross-entropy; metrics outside training."""
        targets = batch.emo_encoded.data.squeeze(1)
        loss_targets = batch.vote_distribution.data if self.hparams.soft_labels else targets
        loss = self.hparams.compute_cost(predictions, loss_targets)
        if stage != sb.Stage.TRAIN:
            self.metrics.append(batch.id, predictions.detach(), targets, probabilities=predictions.detach().softmax(-1))
        return loss

    def on_fit_batch_start(self, batch, should_step):
        """With ``record_seen_ids`` (debugging), appends ``<epoch> <id>`` lines of the batch to
        ``seen_ids_rank<rank>.txt``: under DDP each process writes the ids of its shard."""
        if getattr(self.hparams, "record_seen_ids", False):
            rank = sb.utils.distributed.get_rank() or 0
            epoch = self.hparams.epoch_counter.current
            path = os.path.join(self.hparams.output_folder, f"seen_ids_rank{rank}.txt")
            with open(path, "a", encoding="utf-8") as handle:
                handle.writelines(f"{epoch} {uid}\n" for uid in batch.id)

    def on_stage_start(self, stage, epoch=None):
        """Creates a fresh accumulator of the split's predictions."""
        if stage != sb.Stage.TRAIN:
            self.metrics = ClassificationMetrics(self.hparams.emotions)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs, checkpoints on valid UA, writes the test outputs."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, **self.summary()}
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.hparams.lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.record_history(epoch, stats)
            self.checkpointer.save_and_keep_only(meta=stats, max_keys=["UA"])
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            self.write_test_outputs(stats)

    def summary(self):
        """WA, UA and macro-F1 (percent) of the split."""
        return {key: self.metrics.summarize(key) for key in ("WA", "UA", "F1")}

    @main_process_only
    def record_history(self, epoch, valid_stats):
        """Appends the epoch to ``history.json`` and redraws ``training_curves.png``."""
        record_epoch(self.hparams.output_folder, epoch, self.train_stats, valid_stats, ("loss", "UA", "WA"))

    @main_process_only
    def write_test_outputs(self, stats):
        """Writes results JSON, predictions CSV, confusion matrix and layer weight plots."""
        out = self.hparams.output_folder
        full = self.metrics.summarize()
        weights = [float(w) for w in self.hparams.layer_sum.layer_weights()]  # not DDP-wrapped
        results = {
            "test_session": self.hparams.test_session,
            "loss": stats["loss"],
            "WA": full["WA"],
            "UA": full["UA"],
            "F1": full["F1"],
            # Recall of a class without test utterances is NaN in the metrics, null in JSON.
            "recall": {label: None if math.isnan(value) else value for label, value in full["recall"].items()},
            "labels": full["labels"],
            "confusion_matrix": full["confusion_matrix"].tolist(),
            "num_samples": full["num_samples"],
            "layer_weights": weights,
        }
        self.metrics.write_predictions(os.path.join(out, "predictions.csv"))
        self.metrics.plot_confusion_matrix(os.path.join(out, "confusion_matrix.png"))
        plot_layer_weights(weights, os.path.join(out, "layer_weights.png"))
        write_json_atomic(results, os.path.join(out, "test_results.json"))  # last: marks the fold done


def build_feature_cache(hparams, manifests):
    """Extracts the frozen upstream's hidden states of every manifest utterance once.

    Under DDP every process extracts its own shard of the files, then all wait for the others.
    """
    ssl = hparams["ssl"]
    cache = FeatureCache(hparams["feature_cache_folder"], module_fingerprint(ssl))
    wavs = [entry["wav"] for path in manifests for entry in read_json(path).values()]
    ssl.to(hparams["device"])
    cache.build_distributed(
        ssl,
        wavs,
        batch_size=hparams["extraction_batch_size"],
        device=hparams["device"],
        progressbar=not hparams["noprogressbar"],
    )
    return cache


def vote_distribution(votes, emotions, label_index):
    """The evaluators' 4-class vote distribution (one-hot on the label if nobody voted one)."""
    counts = torch.tensor([float(votes.get(label, 0)) for label in emotions])
    if counts.sum() == 0:
        counts[label_index] = 1.0
    return counts / counts.sum()


def dataio_prepare(hparams, manifests, cache):
    """Builds the train, valid and test datasets with their audio or feature pipelines.

    Utterances longer than ``max_duration`` are cropped to their first ``max_duration``
    seconds: the audio without the cache, the cached frames with it (the encoder saw the
    whole utterance once). Labels outside ``emotions`` are an error naming the manifest.
    """
    emotions = hparams["emotions"]
    for path in manifests.values():
        check_labels(path, "emo", emotions)

    @sb.utils.data_pipeline.takes("emo", "votes")
    @sb.utils.data_pipeline.provides("emo_encoded", "vote_distribution")
    def label_pipeline(emo, votes):
        index = emotions.index(emo)
        yield torch.tensor([index])
        yield vote_distribution(votes, emotions, index)

    frame_limit = max_frames(hparams["max_duration"], hparams["ssl"]) if cache is not None else None
    sample_limit = max_samples(hparams["max_duration"])

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("feats")
    def feature_pipeline(wav):
        return crop(cache.load(wav), frame_limit)

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return crop(load_audio(wav), sample_limit)

    input_pipeline, input_key = (feature_pipeline, "feats") if cache is not None else (audio_pipeline, "sig")

    datasets = {}
    for split, path in manifests.items():
        datasets[split] = sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path,
            dynamic_items=[input_pipeline, label_pipeline],
            output_keys=["id", input_key, "emo_encoded", "vote_distribution"],
        )
    return datasets


def save_label_encoder(hparams):
    """Writes ``label_encoder.txt`` with the fixed class order of the hparams (atomically: an
    interrupted run leaves no partial file)."""
    encoder = hparams["label_encoder"]
    path = os.path.join(hparams["save_folder"], "label_encoder.txt")
    if not encoder.load_if_possible(path):
        encoder.update_from_iterable(hparams["emotions"])
        with atomic_path(path) as tmp:
            encoder.save(tmp)
    encoder.expect_len(len(hparams["emotions"]))


def prepare_manifests(hparams):
    """Writes the fold's manifests (unless ``skip_prep``) and returns their paths.

    With ``max_duration``, the long utterances are listed and logged per manifest; with
    ``long_utterance: skip`` the training manifest without them is returned.
    """
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from iemocap_prepare import prepare_iemocap  # noqa: E402

    if not hparams["skip_prep"]:
        run_on_main(
            prepare_iemocap,
            kwargs={
                "data_folder": hparams["data_folder"],
                "save_folder": hparams["manifest_folder"],
                "test_session": hparams["test_session"],
                "valid_ratio": hparams["valid_ratio"],
                "dev_split": hparams["dev_split"],
                "seed": hparams["seed"],
            },
        )
    manifests = {split: os.path.join(hparams["manifest_folder"], f"{split}.json") for split in ("train", "valid", "test")}
    # .get: train_upstream_downstream.py reuses this function with hparams files without a limit
    return apply_duration_limit(manifests, hparams.get("max_duration"), hparams.get("long_utterance", "crop"))


def build_brain(hparams, run_opts):
    """The Brain of the recipe, with the label encoder written beside the checkpoints."""
    run_on_main(save_label_encoder, args=[hparams])
    return EmotionBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )


def main(argv):
    """Prepares the fold, builds the cache, trains, evaluates the best valid-UA checkpoint."""
    hparams, run_opts = load_experiment(argv, script=__file__)
    manifests = prepare_manifests(hparams)
    cache = build_feature_cache(hparams, manifests.values()) if hparams["use_feature_cache"] else None
    datasets = dataio_prepare(hparams, manifests, cache)
    brain = build_brain(hparams, run_opts)
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate(
        datasets["test"],
        max_key="UA",
        test_loader_kwargs=hparams["test_dataloader_opts"],
    )
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
