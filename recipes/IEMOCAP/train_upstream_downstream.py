#!/usr/bin/env python3
"""Recipe: upstream + downstream speech emotion recognition on IEMOCAP (Morais et al.,
"Speech emotion recognition using self-supervised features", ICASSP 2022, Tables 1-2).

One script for the 11 experiments of the paper's Table 1, each a file
``hparams/morais_*.yaml`` (the README of this folder lists one command per experiment):

* **stage 1** (their Figure 2, ``morais_ft_*.yaml``): an upstream (wav2vec 2.0, HuBERT or
  BERT) is fine-tuned jointly with mean pooling and a linear classifier (CNN feature encoder
  frozen; separate optimisers and learning rates for the upstream and the head, each with a
  linear warm-up and linear decay, all checkpointed). Experiments 1-2 are these runs,
  evaluated with their best checkpoint;
* **checkpoint averaging**: every run keeps the N best checkpoints on validation accuracy
  (``--num_checkpoints_to_average``, 5) and evaluates both the best single checkpoint and the
  parameter average of the N best (upstream and downstream), computed with SpeechBrain's
  ``average_checkpoints`` inside ``on_evaluate_start``. The averaged modules are saved as
  ``save/averaged_<name>.ckpt``; stage 1's ``save/averaged_upstream.ckpt`` is the fine-tuned
  and averaged upstream of the fold;
* **stage 2** (experiments 3-8, 10-11): the averaged upstream(s) of stage 1 of the same fold
  (``pretrained_upstreams``) -> a downstream: mean pooling or ECAPA-TDNN, early fusion
  (frame features concatenated) or late fusion (utterance embeddings concatenated) of two
  upstreams -> linear classifier; upstreams frozen (features cached) or fine-tuned further;
* experiment 9: 80 filterbanks -> ECAPA-TDNN -> linear classifier, trained from scratch.

One run = one fold of the 5-fold leave-one-session-out protocol; ``cross_validate.py
--train_script=train_upstream_downstream.py`` runs the 5 folds and summarises the model of
``reported_model`` (``best`` for stage 1 = experiments 1-2, ``average`` elsewhere).

To run one fold:
> python train_upstream_downstream.py hparams/morais_ft_wav2vec2.yaml --data_folder=/path/IEMOCAP_full_release --test_session=1

Outputs (in ``output_folder``): ``train_log.txt``, ``history.json``,
``training_curves.png``, ``test_results.json`` (WA, UA, macro-F1 of the reported model, plus
both the best single checkpoint's and the average's metrics and the averaged checkpoints),
``predictions.csv``, ``confusion_matrix.png`` (reported model), ``test_scores_best.csv`` and
``test_scores_average.csv`` (log-probabilities of every test utterance), and
``save/averaged_*.ckpt``, ``save/averaged_checkpoints.json``.

Authors
 * ser-recipes contributors 2026
"""

import csv
import importlib.util
import logging
import math
import os
import sys

import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import LinearWarmupScheduler
from speechbrain.utils.distributed import if_main_process, main_process_only

from ser_modules.data.audio import load_audio
from ser_modules.training.checkpoint_averaging import (
    best_checkpoints,
    checkpoint_summary,
    load_average,
    save_and_keep_best,
)
from ser_modules.training.experiment import finish_experiment, load_experiment, process_group
from ser_modules.training.feature_cache import FeatureCache, module_fingerprint
from ser_modules.utils.files import atomic_path, read_json, write_json_atomic
from ser_modules.training.plots import plot_training_curves, record_epoch
from ser_modules.nn.ssl_encoder import SSLEncoder
from ser_modules.nn.bert_encoder import BertEncoder

HERE = os.path.dirname(os.path.abspath(__file__))


def _import_iemocap_train():
    """This folder's ``train.py`` as module ``iemocap_train`` (by path: the name ``train`` may
    already be another recipe's in the same process)."""
    name = "iemocap_train"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "train.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_train = _import_iemocap_train()
EmotionBrain = _train.EmotionBrain
prepare_manifests = _train.prepare_manifests
save_label_encoder = _train.save_label_encoder
vote_distribution = _train.vote_distribution

logger = logging.getLogger(__name__)

TEST_MODELS = ("best", "average")


class UpstreamDownstreamBrain(EmotionBrain):
    """Upstream(s) -> downstream (fusion + aggregator) -> linear classifier.

    Reuses from ``train.EmotionBrain`` the loss and metrics (``compute_objectives``,
    ``on_stage_start``, ``summary``); from ``train``, the data preparation
    (``prepare_manifests``) and the label pipeline.
    """

    def compute_forward(self, batch, stage):
        """Features of every upstream -> downstream embedding -> class logits."""
        batch = batch.to(self.device)
        features = [self.upstream_features(name, batch) for name in self.hparams.upstreams]
        return self.modules.classifier(self.modules.downstream(features))

    def upstream_features(self, name, batch):
        """Frame features ``[batch, frames, channels]`` of one upstream and their lengths."""
        if name in self.feature_caches:
            feats, lengths = getattr(batch, f"feats_{name}")
            return feats[:, :, 0].float(), lengths
        upstream, module = self.upstream_modules[name], self.modules[name]
        if isinstance(upstream, BertEncoder):
            tokens, lengths = batch.tokens
            return module(tokens, lengths), lengths
        wavs, wav_lens = batch.sig
        if isinstance(upstream, SSLEncoder):
            feats = module(wavs, wav_lens)
            return feats, upstream.frame_lengths(wav_lens, wavs.shape[1], feats.shape[1])
        return module(wavs, wav_lens)

    def compute_objectives(self, predictions, batch, stage):
        """The loss of ``EmotionBrain``; keeps the test log-probabilities."""
        loss = super().compute_objectives(predictions, batch, stage)
        if stage == sb.Stage.TEST:
            log_probs = torch.log_softmax(predictions.detach().float(), dim=-1).cpu()
            self.test_log_probs.extend(zip(batch.id, log_probs.tolist()))
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Metrics accumulator (and test log-probabilities) of the split."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TEST:
            self.test_log_probs = []

    def init_optimizers(self):
        """Two optimisers (upstream, head), each with a warm-up scheduler; all checkpointed.

        The head optimiser trains ``model`` (downstream + classifier); the upstream one the
        trainable parameters of the trainable upstreams (none when they are all frozen).
        """
        groups = {"model": [p for p in self.hparams.model.parameters() if p.requires_grad]}
        upstream_params = [
            param
            for name in self.trainable_upstreams
            for param in self.modules[name].parameters()
            if param.requires_grad
        ]
        if upstream_params:
            groups["upstream"] = upstream_params
        total = self.total_optimizer_steps
        warmup = int(round(self.hparams.warmup_fraction * total))
        self.optimizers_dict, self.lr_schedulers = {}, {}
        for group, params in groups.items():
            optimizer = getattr(self.hparams, f"{group}_opt_class")(params)
            # Called before each step: step k uses lr0 * k / warmup, then the linear decay
            # (to 0 one step after the last one).
            scheduler = LinearWarmupScheduler(
                initial_value=optimizer.param_groups[0]["lr"],
                num_warmup_steps=warmup,
                num_training_steps=total + 1,
            )
            self.optimizers_dict[group] = optimizer
            self.lr_schedulers[group] = scheduler
            if self.checkpointer is not None:
                self.checkpointer.add_recoverable(f"{group}_optimizer", optimizer)
                self.checkpointer.add_recoverable(f"{group}_scheduler", scheduler)
        logger.info(
            "Optimisers: %s; %d optimiser steps, %d of warm-up",
            ", ".join(f"{g} (lr {o.param_groups[0]['lr']:g})" for g, o in self.optimizers_dict.items()),
            total,
            warmup,
        )

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rates of the coming optimiser step (warm-up, then linear decay)."""
        super().on_fit_batch_start(batch, should_step)
        if should_step:
            for group, optimizer in self.optimizers_dict.items():
                self.lr_schedulers[group](optimizer)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs; keeps the N best checkpoints on validation accuracy; stores test results."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, **self.summary()}
        if stage == sb.Stage.VALID:
            learning_rates = {
                f"lr_{group}": optimizer.param_groups[0]["lr"]
                for group, optimizer in self.optimizers_dict.items()
            }
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, **learning_rates},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.record_history(epoch, stats)
            save_and_keep_best(
                self.checkpointer,
                meta={**stats, "epoch": epoch},
                key=self.hparams.checkpoint_key,
                num_to_keep=max(self.hparams.num_checkpoints_to_average, 1),
                name=f"epoch-{epoch:03d}",
            )
            return
        self.hparams.train_logger.log_stats(
            stats_meta={"evaluated": self.evaluated_description()}, test_stats=stats
        )
        full = self.metrics.summarize()
        self.test_runs[self.test_model] = {
            "evaluated": self.evaluated_description(),
            "checkpoints": self.evaluated_checkpoints,
            "loss": stats["loss"],
            "WA": full["WA"],
            "UA": full["UA"],
            "F1": full["F1"],
            "recall": full["recall"],
            "labels": full["labels"],
            "confusion_matrix": full["confusion_matrix"].tolist(),
            "num_samples": full["num_samples"],
            "metrics": self.metrics,
            "log_probs": self.test_log_probs,
        }

    @main_process_only
    def record_history(self, epoch, valid_stats):
        """Appends the epoch to ``history.json`` (the curves are drawn after training)."""
        record_epoch(self.hparams.output_folder, epoch, self.train_stats, valid_stats)

    def evaluated_description(self):
        """``"best checkpoint (epoch 7)"`` or ``"average of 5 checkpoints"``."""
        if self.test_model == "best":
            return f"best checkpoint (epoch {self.evaluated_checkpoints[0]['epoch']})"
        return f"average of {len(self.evaluated_checkpoints)} checkpoints"

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Loads the best checkpoint, then (``test_model == "average"``) the average of the N
        best on validation accuracy into the trained modules, where ``evaluate()`` cannot
        overwrite it; saves the averaged modules and the list of averaged checkpoints."""
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        key = self.hparams.checkpoint_key
        num = 1 if self.test_model == "best" else self.hparams.num_checkpoints_to_average
        checkpoints = best_checkpoints(self.checkpointer, key, num)
        if not checkpoints:
            raise RuntimeError(
                f"No checkpoint with a validation {key} in {self.checkpointer.checkpoints_dir}: "
                "train the model first"
            )
        self.evaluated_checkpoints = checkpoint_summary(checkpoints, key, prefix="valid_")
        if self.test_model != "average":
            return
        states = load_average(self.checkpointer, checkpoints, self.averaged_recoverables)
        if if_main_process():
            save_folder = self.hparams.save_folder
            for name, state in states.items():
                with atomic_path(os.path.join(save_folder, f"averaged_{name}.ckpt")) as tmp:
                    torch.save(state, tmp)
            record = {
                "selection_key": f"valid {key}",
                "averaged_modules": list(self.averaged_recoverables),
                "checkpoints": self.evaluated_checkpoints,
            }
            write_json_atomic(record, os.path.join(save_folder, "averaged_checkpoints.json"))
        logger.info(
            "Averaged %s over %s",
            ", ".join(self.averaged_recoverables),
            ", ".join(c["checkpoint"] for c in self.evaluated_checkpoints),
        )

    def evaluate_best_and_average(self, test_set, test_loader_kwargs):
        """Evaluates the best single checkpoint, then the average of the N best; writes outputs."""
        self.test_runs = {}
        for test_model in TEST_MODELS:
            self.test_model = test_model
            self.evaluate(
                test_set,
                max_key=self.hparams.checkpoint_key,
                test_loader_kwargs=dict(test_loader_kwargs),
            )
        self.write_test_outputs()

    @main_process_only
    def write_test_outputs(self):
        """``test_results.json`` (reported model at the top level, written last: it marks the
        fold done), predictions, scores, plots."""
        out = self.hparams.output_folder
        reported = self.hparams.reported_model
        if reported not in TEST_MODELS:
            raise ValueError(f"reported_model must be one of {TEST_MODELS}, got {reported!r}")
        public = {
            model: {k: v for k, v in run.items() if k not in ("metrics", "log_probs")}
            for model, run in self.test_runs.items()
        }
        results = {
            "test_session": self.hparams.test_session,
            "experiment": self.hparams.experiment_name,
            "reported_model": reported,
            **public[reported],
            "best_single": public["best"],
            "average": public["average"],
            "averaged_checkpoints": public["average"]["checkpoints"],
            "checkpoint_selection": f"valid {self.hparams.checkpoint_key}",
            "pretrained_upstreams": dict(self.hparams.pretrained_upstreams or {}),
        }
        history_file = os.path.join(out, "history.json")
        if os.path.exists(history_file):
            history = read_json(history_file)
            plot_training_curves(history, os.path.join(out, "training_curves.png"), ("loss", "WA", "UA"))
        metrics = self.test_runs[reported]["metrics"]
        metrics.write_predictions(os.path.join(out, "predictions.csv"))
        metrics.plot_confusion_matrix(os.path.join(out, "confusion_matrix.png"))
        labels = list(self.hparams.emotions)
        for model, run in self.test_runs.items():
            with atomic_path(os.path.join(out, f"test_scores_{model}.csv")) as tmp:
                with open(tmp, "w", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(["id", *(f"logp_{label}" for label in labels)])
                    for uid, log_probs in run["log_probs"]:
                        writer.writerow([uid, *(f"{value:.6f}" for value in log_probs)])
        write_json_atomic(_finite_or_none(results), os.path.join(out, "test_results.json"))


def _finite_or_none(value):
    """A copy of a JSON-like value with NaN / infinite floats (e.g. the recall of a class
    without test utterances) replaced by ``None``."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _LastHiddenState(torch.nn.Module):
    """Adapter giving ``FeatureCache`` the last hidden state of an ``SSLEncoder`` as one
    "hidden state" (``[1, batch, frames, channels]``).

    With transformers 5, ``hidden_states[-1]`` of the "stable layer norm" (large) models
    lacks the final layer norm, so the cache stores ``last_hidden_state`` itself: the
    representation the upstream was fine-tuned with in stage 1.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, wavs, wav_lens):
        """``[1, batch, frames, channels]``."""
        return self.encoder(wavs, wav_lens).unsqueeze(0)

    def frame_lengths(self, wav_lens, num_samples, num_frames):
        """Relative frame lengths (see ``SSLEncoder.frame_lengths``)."""
        return self.encoder.frame_lengths(wav_lens, num_samples, num_frames)


def check_upstreams(hparams):
    """Checks the ``upstreams`` list against ``modules``; returns ``{name: module}``."""
    names = list(hparams["upstreams"])
    if not names:
        raise ValueError("upstreams must list at least one module name")
    upstreams = {}
    for name in names:
        if name not in hparams["modules"]:
            raise ValueError(f"Upstream {name!r} is not a key of modules")
        module = hparams["modules"][name]
        if isinstance(module, SSLEncoder) and module.output_all_hiddens:
            raise ValueError(f"Upstream {name!r}: set output_all_hiddens: False (last hidden state)")
        upstreams[name] = module
    return upstreams


def load_pretrained_upstreams(hparams, upstreams):
    """Loads stage 1's averaged upstream weights (strict ``load_state_dict``) of the fold."""
    for name, path in (hparams.get("pretrained_upstreams") or {}).items():
        if name not in upstreams:
            raise ValueError(f"pretrained_upstreams: {name!r} is not an upstream")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} does not exist: run stage 1 (hparams/morais_ft_*.yaml) on this fold "
                "first, with the same results_folder and seed"
            )
        upstreams[name].load_state_dict(torch.load(path, map_location="cpu"), strict=True)
        logger.info("Upstream %s: loaded %s", name, path)


def is_trainable(module):
    """Whether a module has parameters to train."""
    return any(param.requires_grad for param in module.parameters())


def build_feature_caches(hparams, upstreams, trainable, manifests):
    """Caches the last hidden state of every frozen SSL upstream (``use_feature_cache``).

    Under DDP every process extracts its own shard of the files, then all wait for the others
    (``FeatureCache.build_distributed``).
    """
    caches = {}
    if not hparams.get("use_feature_cache", False):
        return caches
    wavs = [entry["wav"] for path in manifests for entry in read_json(path).values()]
    for name, upstream in upstreams.items():
        if not isinstance(upstream, SSLEncoder) or name in trainable:
            continue
        fingerprint = f"{module_fingerprint(upstream)}:last_hidden_state"
        cache = FeatureCache(hparams["feature_cache_folder"], fingerprint)
        upstream.to(hparams["device"])
        cache.build_distributed(
            _LastHiddenState(upstream),
            wavs,
            batch_size=hparams["extraction_batch_size"],
            device=hparams["device"],
            progressbar=not hparams["noprogressbar"],
        )
        caches[name] = cache
    return caches


def dataio_prepare(hparams, manifests, upstreams, caches):
    """Train, valid and test datasets: labels, and the audio, cached features or tokens the
    upstreams need."""
    emotions = hparams["emotions"]

    @sb.utils.data_pipeline.takes("emo", "votes")
    @sb.utils.data_pipeline.provides("emo_encoded", "vote_distribution")
    def label_pipeline(emo, votes):
        index = emotions.index(emo)
        yield torch.tensor([index])
        yield vote_distribution(votes, emotions, index)

    pipelines = [label_pipeline]
    keys = ["id", "emo_encoded", "vote_distribution"]
    if any(name not in caches and not isinstance(up, BertEncoder) for name, up in upstreams.items()):
        pipelines.append(sb.utils.data_pipeline.takes("wav")(sb.utils.data_pipeline.provides("sig")(load_audio)))
        keys.append("sig")
    for name, cache in caches.items():
        pipelines.append(
            sb.utils.data_pipeline.takes("wav")(sb.utils.data_pipeline.provides(f"feats_{name}")(cache.load))
        )
        keys.append(f"feats_{name}")
    text_encoders = [up for up in upstreams.values() if isinstance(up, BertEncoder)]
    if text_encoders:
        pipelines.append(
            sb.utils.data_pipeline.takes("transcript")(
                sb.utils.data_pipeline.provides("tokens")(text_encoders[0].tokenize)
            )
        )
        keys.append("tokens")

    return {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, dynamic_items=pipelines, output_keys=keys
        )
        for split, path in manifests.items()
    }


def optimizer_steps(hparams, num_train, grad_accumulation_factor, world_size=1):
    """Number of optimiser steps of the whole run (for the learning-rate schedules); under DDP
    each of the ``world_size`` processes steps on its shard (``DistributedSampler``)."""
    options = hparams["train_dataloader_opts"]
    batch_size = options.get("batch_size", 1)
    if options.get("drop_last"):
        batches = (num_train // world_size) // batch_size
    else:
        batches = math.ceil(math.ceil(num_train / world_size) / batch_size)
    return hparams["number_of_epochs"] * max(1, batches // int(grad_accumulation_factor))


def main(argv):
    """Prepares the fold, loads stage 1's upstreams, trains, evaluates best and average."""
    hparams, run_opts = load_experiment(argv, script=__file__)
    manifests = prepare_manifests(hparams)

    upstreams = check_upstreams(hparams)
    load_pretrained_upstreams(hparams, upstreams)
    trainable = [name for name, module in upstreams.items() if is_trainable(module)]
    for name in trainable:
        hparams["checkpointer"].add_recoverable(name, upstreams[name])
    caches = build_feature_caches(hparams, upstreams, trainable, manifests.values())
    datasets = dataio_prepare(hparams, manifests, upstreams, caches)
    sb.utils.distributed.run_on_main(save_label_encoder, args=[hparams])

    brain = UpstreamDownstreamBrain(
        modules=hparams["modules"],
        opt_class=None,
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.upstream_modules = upstreams
    brain.trainable_upstreams = trainable
    brain.averaged_recoverables = [*trainable, "model"]
    brain.feature_caches = caches
    _, world_size = process_group()
    brain.total_optimizer_steps = optimizer_steps(
        hparams, len(datasets["train"]), brain.grad_accumulation_factor, world_size
    )
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    brain.evaluate_best_and_average(datasets["test"], hparams["test_dataloader_opts"])
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
