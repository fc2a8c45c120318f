#!/usr/bin/env python3
"""Recipe: upstream + downstream speech emotion recognition on IEMOCAP (Morais et al.,
"Speech emotion recognition using self-supervised features", ICASSP 2022, Tables 1-2).

One script for the 11 experiments of the paper's Table 1, each a file ``hparams/morais_*.yaml``
or, for the mean-pooling and ECAPA-TDNN heads of one stage 1 upstream, a file with an override
(``morais_<upstream>_downstream.yaml [--pooling=ecapa]``); the README of this folder lists one
command per experiment:

* **stage 1** (their Figure 2, ``morais_ft_*.yaml``): an upstream (wav2vec 2.0, HuBERT or
  BERT) is fine-tuned jointly with mean pooling and a linear classifier (CNN feature encoder
  frozen; separate optimisers and learning rates for the upstream and the head, each with a
  linear warm-up and linear decay, all checkpointed). Experiments 1-2 are these runs,
  evaluated with their best checkpoint;
* **checkpoint averaging**: every run keeps the N best checkpoints on validation accuracy
  (``--keep_checkpoints``, 5) and evaluates both the best single checkpoint and the
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
Utterances longer than ``max_duration`` seconds are cropped (or, with
``long_utterance: skip``, left out of training), as in ``train.py``.

To run one fold:
> python train_upstream_downstream.py hparams/morais_ft_wav2vec2.yaml \\
>     --data_folder=/path/IEMOCAP_full_release --test_session=1

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
import logging
import math
import os
import sys

import speechbrain as sb
import torch
from speechbrain.nnet.schedulers import LinearWarmupScheduler
from speechbrain.utils.distributed import if_main_process, main_process_only, run_on_main

from ser_modules.data.checks import max_frames
from ser_modules.data.pipelines import audio_pipeline, cached_feature_pipeline
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.ssl_encoder import SSLEncoder
from ser_modules.training.brain import brain_arguments, evaluate_best, fit_brain
from ser_modules.training.checkpoint_averaging import (
    best_checkpoints,
    checkpoint_summary,
    keep_best_checkpoints,
    load_average,
)
from ser_modules.training.classification import (
    SPLITS,
    ClassificationBrain,
    classification_datasets,
    classification_results,
    save_label_encoder,
    write_test_outputs,
)
from ser_modules.training.distributed import process_group
from ser_modules.training.experiment import finish_experiment, load_experiment
from ser_modules.training.feature_cache import build_feature_cache, module_fingerprint
from ser_modules.training.identity import record_evaluation, record_inputs, record_training
from ser_modules.training.preparation import prepare_manifests
from ser_modules.training.run_scope import debug_manifests, splits_to_extract
from ser_modules.utils.files import open_atomic, torch_save_atomic, write_json_atomic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path
from iemocap_prepare import FOLD_OPTIONS, prepare_iemocap  # noqa: E402 (this folder's preparation)

logger = logging.getLogger(__name__)

TEST_MODELS = ("best", "average")


class UpstreamDownstreamBrain(ClassificationBrain):
    """Upstream(s) -> downstream (fusion + aggregator) -> linear classifier.

    Arguments
    ---------
    upstreams : dict
        Name -> upstream module, in the fusion order (:func:`check_upstreams`). The
        trainable ones are fine-tuned: checkpointed, and averaged with ``model``.
    feature_caches : dict
        Name -> ``FeatureCache`` of the frozen SSL upstreams read from the cache.
    train_size : int
        Number of training utterances (for the learning-rate schedules).
    hparams : dict
        The loaded hyperparameters.
    run_opts : dict
        SpeechBrain's run options.
    """

    def __init__(self, upstreams, feature_caches, train_size, hparams, run_opts):
        self.upstreams = upstreams
        self.feature_caches = feature_caches
        self.trainable_upstreams = [
            name for name, module in upstreams.items() if is_trainable(module)
        ]
        self.averaged_recoverables = [*self.trainable_upstreams, "model"]
        for name in self.trainable_upstreams:
            hparams["checkpointer"].add_recoverable(name, upstreams[name])
        super().__init__(**brain_arguments(hparams, run_opts))
        _, world_size = process_group()
        self.total_optimizer_steps = optimizer_steps(
            hparams, train_size, self.grad_accumulation_factor, world_size
        )

    def compute_forward(self, batch, stage):
        """Features of every upstream -> downstream embedding -> class logits."""
        features = self.compute_features(batch.to(self.device))
        return self.modules.classifier(self.modules.downstream(features))

    def compute_features(self, batch):
        """``[(features [batch, frames, channels], relative lengths)]``, one per upstream."""
        return [self.upstream_features(name, batch) for name in self.upstreams]

    def upstream_features(self, name, batch):
        """Frame features ``[batch, frames, channels]`` of one upstream and their lengths."""
        if name in self.feature_caches:
            feats, lengths = getattr(batch, f"feats_{name}")
            return feats[:, :, 0].float(), lengths
        upstream, module = self.upstreams[name], self.modules[name]
        if isinstance(upstream, BertEncoder):
            tokens, lengths = batch.tokens
            return module(tokens, lengths), lengths
        wavs, wav_lens = batch.sig
        if isinstance(upstream, SSLEncoder):
            feats = module(wavs, wav_lens)
            return feats, upstream.frame_lengths(wav_lens, wavs.shape[1], feats.shape[1])
        return module(wavs, wav_lens)

    def compute_objectives(self, predictions, batch, stage):
        """The classification loss; keeps the test log-probabilities."""
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

        The head optimiser (``opt_class``) trains ``model`` (downstream + classifier); the
        upstream one (``upstream_opt_class``) the trainable parameters of the trainable
        upstreams (none when they are all frozen).
        """
        groups = {
            "model": (
                self.opt_class,
                [p for p in self.hparams.model.parameters() if p.requires_grad],
            )
        }
        upstream_params = [
            param
            for name in self.trainable_upstreams
            for param in self.modules[name].parameters()
            if param.requires_grad
        ]
        if upstream_params:
            groups["upstream"] = (self.hparams.upstream_opt_class, upstream_params)
        total = self.total_optimizer_steps
        warmup = int(round(self.hparams.warmup_fraction * total))
        self.optimizers_dict, self.lr_schedulers = {}, {}
        for group, (opt_class, params) in groups.items():
            optimizer = opt_class(params)
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
            ", ".join(
                f"{g} (lr {o.param_groups[0]['lr']:g})" for g, o in self.optimizers_dict.items()
            ),
            total,
            warmup,
        )

    def on_fit_batch_start(self, batch, should_step):
        """Sets the learning rates of the coming optimiser step (warm-up, then linear decay)."""
        if should_step:
            for group, optimizer in self.optimizers_dict.items():
                self.lr_schedulers[group](optimizer)

    def stats_meta(self, stage, epoch):
        """The epoch and the current learning rate of each optimiser, or what was evaluated."""
        if stage == sb.Stage.VALID:
            rates = {
                f"lr_{group}": opt.param_groups[0]["lr"]
                for group, opt in self.optimizers_dict.items()
            }
            return {"epoch": epoch, **rates}
        return {"evaluated": self.evaluated_description()}

    def keep_checkpoint(self, epoch, stats):
        """Keeps the ``keep_checkpoints`` best checkpoints on validation ``checkpoint_key``
        (and the newest), named by their epoch."""
        keep_best_checkpoints(
            self.checkpointer,
            {**stats, "epoch": epoch},
            self.hparams.checkpoint_key,
            self.hparams.keep_checkpoints,
            name=f"epoch-{epoch:03d}",
        )

    def on_test_end(self, stats):
        """Stores the evaluation of the current ``test_model`` (written once both are done)."""
        self.test_runs[self.test_model] = {
            "evaluated": self.evaluated_description(),
            "checkpoints": self.evaluated_checkpoints,
            **classification_results(self.metrics, stats["loss"]),
            "metrics": self.metrics,
            "log_probs": self.test_log_probs,
        }

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
        num = 1 if self.test_model == "best" else self.hparams.keep_checkpoints
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
                torch_save_atomic(state, os.path.join(save_folder, f"averaged_{name}.ckpt"))
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
            evaluate_best(self, test_set, test_loader_kwargs)
        self.write_test_outputs()

    @main_process_only
    def write_test_outputs(self):
        """Scores of both evaluations, then the predictions, confusion matrix and
        ``test_results.json`` of the reported model (top level; written last)."""
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
            "pretrained_upstreams": dict(self.hparams.pretrained_upstreams),
        }
        for model, run in self.test_runs.items():
            write_scores(
                run["log_probs"],
                self.hparams.emotions,
                os.path.join(out, f"test_scores_{model}.csv"),
            )
        write_test_outputs(out, self.test_runs[reported]["metrics"], results)


def write_scores(log_probs, labels, path):
    """Writes ``id,logp_<label>...`` rows (6 decimals) of ``(id, log-probabilities)`` pairs."""
    with open_atomic(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(f"logp_{label}" for label in labels)])
        for uid, values in log_probs:
            writer.writerow([uid, *(f"{value:.6f}" for value in values)])


class LastHiddenState(torch.nn.Module):
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
            raise ValueError(
                f"Upstream {name!r}: set output_all_hiddens: False (last hidden state)"
            )
        upstreams[name] = module
    return upstreams


def load_pretrained_upstreams(hparams, upstreams):
    """Loads stage 1's averaged upstream weights (strict ``load_state_dict``) of the fold."""
    for name, path in hparams["pretrained_upstreams"].items():
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


def build_feature_caches(hparams, upstreams, manifests):
    """Caches the last hidden state of every frozen SSL upstream (``use_feature_cache``)."""
    frozen = {
        name: up
        for name, up in upstreams.items()
        if isinstance(up, SSLEncoder) and not is_trainable(up)
    }
    if not frozen or not hparams["use_feature_cache"]:
        return {}
    return {
        name: build_feature_cache(
            hparams,
            LastHiddenState(upstream),
            manifests,
            fingerprint=f"{module_fingerprint(upstream)}:last_hidden_state",
        )
        for name, upstream in frozen.items()
    }


def dataio_prepare(hparams, manifests, upstreams, caches):
    """Train, valid and test datasets: labels, and the audio, cached features or tokens the
    upstreams need (audio and cached frames cropped to ``max_duration``)."""
    pipelines, keys = [], []
    if any(
        name not in caches and not isinstance(up, BertEncoder) for name, up in upstreams.items()
    ):
        pipelines.append(audio_pipeline(hparams["max_duration"]))
        keys.append("sig")
    for name, cache in caches.items():
        frame_limit = max_frames(hparams["max_duration"], upstreams[name])
        pipelines.append(cached_feature_pipeline(cache, frame_limit, provides=f"feats_{name}"))
        keys.append(f"feats_{name}")
    text_encoders = [up for up in upstreams.values() if isinstance(up, BertEncoder)]
    if text_encoders:
        tokenize = sb.utils.data_pipeline.provides("tokens")(text_encoders[0].tokenize)
        pipelines.append(sb.utils.data_pipeline.takes("transcript")(tokenize))
        keys.append("tokens")
    return classification_datasets(manifests, hparams["emotions"], pipelines, keys)


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
    manifests = prepare_manifests(hparams, prepare_iemocap, FOLD_OPTIONS, splits=SPLITS)
    run_on_main(save_label_encoder, args=[hparams])
    upstreams = check_upstreams(hparams)
    load_pretrained_upstreams(hparams, upstreams)
    # The inputs: the manifests, and the weights of stage 1's upstreams (a rerun stage 1 is
    # noticed).
    pretrained = {
        f"pretrained_{name}": module_fingerprint(upstreams[name])
        for name in hparams["pretrained_upstreams"]
    }
    record_inputs(hparams, manifests, pretrained)
    manifests = debug_manifests(hparams, run_opts, manifests)
    caches = build_feature_caches(
        hparams, upstreams, splits_to_extract(manifests, run_opts).values()
    )
    datasets = dataio_prepare(hparams, manifests, upstreams, caches)

    brain = UpstreamDownstreamBrain(upstreams, caches, len(datasets["train"]), hparams, run_opts)
    fit_brain(brain, datasets)
    record_training(hparams, brain)
    brain.evaluate_best_and_average(datasets["test"], hparams["test_dataloader_opts"])
    record_evaluation(hparams, brain, ["test_results.json"])
    finish_experiment()


if __name__ == "__main__":
    main(sys.argv[1:])
