"""What the emotion classification recipes share: labels, datasets, a Brain and test outputs.

``recipes/IEMOCAP/train.py`` (frozen upstream + pooling head) and
``recipes/IEMOCAP/train_upstream_downstream.py`` (fine-tuned upstreams + downstream) differ
in how they compute the features of a batch and in what they write at test end; the rest
lives here:

* labels: :func:`vote_distribution`, :func:`label_pipeline` (class index and the
  evaluators' vote distribution, the targets of ``soft_labels``);
* data: :func:`prepare_manifests` (fold manifests, ``max_duration`` limit, label encoder),
  :func:`classification_datasets`;
* :class:`ClassificationBrain`: loss (label-smoothed or soft-target cross-entropy), WA / UA /
  macro-F1 of every split, logging, ``history.json`` and training curves, with hook methods
  the recipes override;
* test outputs: :func:`classification_results`, :func:`write_test_outputs`
  (``predictions.csv`` with ``p_<label>`` columns, ``confusion_matrix.png``,
  ``test_results.json`` with NaN written as null).

Authors
 * ser-recipes contributors 2026
"""

import os

import speechbrain as sb
import torch
from speechbrain.utils.distributed import main_process_only, run_on_main

from ser_modules.data.checks import apply_duration_limit, check_labels
from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.plots import record_epoch
from ser_modules.training.update_budget import end_epochs_if_budget_spent
from ser_modules.utils.files import atomic_path, json_safe, write_json_atomic
from ser_modules.utils.values import is_whole_number

SPLITS = ("train", "valid", "test")
LABEL_KEYS = ("emo_encoded", "vote_distribution")
CURVE_METRICS = ("loss", "UA", "WA")


# ----------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------
def vote_distribution(votes, emotions, label_index):
    """The evaluators' vote distribution over ``emotions`` (one-hot on the label if nobody
    voted one of them).

    Arguments
    ---------
    votes : dict
        Label -> number of evaluators who chose it (labels outside ``emotions`` are ignored).
    emotions : list of str
        The classes, in index order.
    label_index : int
        Index of the utterance's label (used when no vote is for one of ``emotions``).

    Returns
    -------
    torch.Tensor
        ``[classes]`` probabilities.

    Example
    -------
    >>> vote_distribution({"hap": 2, "neu": 1, "fru": 1}, ["neu", "hap", "ang", "sad"], 1)
    tensor([0.3333, 0.6667, 0.0000, 0.0000])
    >>> vote_distribution({"fru": 3}, ["neu", "hap", "ang", "sad"], 2)
    tensor([0., 0., 1., 0.])
    """
    counts = torch.tensor([float(votes.get(label, 0)) for label in emotions])
    if counts.sum() == 0:
        counts[label_index] = 1.0
    return counts / counts.sum()


def label_pipeline(emotions):
    """A dynamic item giving an entry's class index and vote distribution.

    Arguments
    ---------
    emotions : list of str
        The classes, in index order.

    Returns
    -------
    speechbrain.utils.data_pipeline.GeneratorDynamicItem
        Takes ``emo`` and ``votes``; provides ``emo_encoded`` (``[1]`` class index) and
        ``vote_distribution`` (``[classes]``).

    Example
    -------
    >>> entries = {"u1": {"emo": "hap", "votes": {"hap": 3, "neu": 1}}}
    >>> data = sb.dataio.dataset.DynamicItemDataset(
    ...     entries, dynamic_items=[label_pipeline(["neu", "hap"])], output_keys=["id", *LABEL_KEYS])
    >>> item = data[0]
    >>> item["id"], item["emo_encoded"].tolist(), item["vote_distribution"].tolist()
    ('u1', [1], [0.25, 0.75])
    """

    @sb.utils.data_pipeline.takes("emo", "votes")
    @sb.utils.data_pipeline.provides(*LABEL_KEYS)
    def pipeline(emo, votes):
        index = emotions.index(emo)
        yield torch.tensor([index])
        yield vote_distribution(votes, emotions, index)

    return pipeline


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def prepare_manifests(hparams, prepare_fold):
    """Writes the fold's manifests and the label encoder; returns the manifests to use.

    ``prepare_fold`` runs on the main process (unless ``skip_prep``). With ``max_duration``,
    the long utterances are listed and logged per manifest; with ``long_utterance: skip`` the
    training manifest without them is returned (``apply_duration_limit``). The label encoder
    is saved beside the checkpoints (:func:`save_label_encoder`).

    Arguments
    ---------
    hparams : dict
        Reads ``skip_prep``, ``data_folder``, ``manifest_folder``, ``test_session``,
        ``valid_ratio``, ``dev_split``, ``seed``, ``max_duration``, ``long_utterance``, and
        those of :func:`save_label_encoder`.
    prepare_fold : callable
        Writes ``train.json``, ``valid.json``, ``test.json`` of a fold into ``save_folder``;
        called with the keyword arguments ``data_folder``, ``save_folder``,
        ``test_session``, ``valid_ratio``, ``dev_split``, ``seed`` and ``progressbar`` (False
        with ``--noprogressbar``) (``recipes/IEMOCAP/iemocap_prepare.prepare_iemocap``).

    Returns
    -------
    dict
        Split -> manifest path.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> def prepare_fold(save_folder, **options):
    ...     for split in SPLITS:
    ...         write_json_atomic({f"{split}1": {"emo": "neu", "duration": 2.0}}, f"{save_folder}/{split}.json")
    >>> hparams = {"skip_prep": False, "data_folder": "corpus", "manifest_folder": folder, "test_session": 1,
    ...            "valid_ratio": 0.2, "dev_split": "random", "seed": 1, "max_duration": None,
    ...            "long_utterance": "crop", "emotions": ["neu", "hap"], "save_folder": folder,
    ...            "label_encoder": sb.dataio.encoder.CategoricalEncoder()}
    >>> [os.path.basename(path) for path in prepare_manifests(hparams, prepare_fold).values()]
    ['train.json', 'valid.json', 'test.json']
    >>> open(os.path.join(folder, "label_encoder.txt")).read().splitlines()[:2]
    ["'neu' => 0", "'hap' => 1"]
    """
    if not hparams["skip_prep"]:
        options = ("data_folder", "test_session", "valid_ratio", "dev_split", "seed")
        kwargs = {
            "save_folder": hparams["manifest_folder"],
            **{key: hparams[key] for key in options},
        }
        kwargs["progressbar"] = not hparams.get("noprogressbar", False)
        run_on_main(prepare_fold, kwargs=kwargs)
    manifests = {
        split: os.path.join(hparams["manifest_folder"], f"{split}.json") for split in SPLITS
    }
    manifests = apply_duration_limit(manifests, hparams["max_duration"], hparams["long_utterance"])
    run_on_main(save_label_encoder, args=[hparams])
    return manifests


def save_label_encoder(hparams):
    """Writes ``<save_folder>/label_encoder.txt`` with the class order of ``emotions``.

    Written atomically (an interrupted run leaves no partial file); an existing one is
    loaded and must hold as many classes as ``emotions``.

    Arguments
    ---------
    hparams : dict
        Reads ``label_encoder`` (a ``CategoricalEncoder``), ``save_folder`` and ``emotions``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> hparams = {"label_encoder": sb.dataio.encoder.CategoricalEncoder(), "save_folder": folder,
    ...            "emotions": ["neu", "hap", "ang", "sad"]}
    >>> save_label_encoder(hparams)
    >>> hparams["label_encoder"].encode_label("ang")
    2
    """
    encoder = hparams["label_encoder"]
    path = os.path.join(hparams["save_folder"], "label_encoder.txt")
    if not encoder.load_if_possible(path):
        encoder.update_from_iterable(hparams["emotions"])
        with atomic_path(path) as tmp:
            encoder.save(tmp)
    encoder.expect_len(len(hparams["emotions"]))


def classification_datasets(manifests, emotions, input_pipelines, input_keys):
    """One dataset per manifest: the recipe's inputs and the labels (:func:`label_pipeline`).

    Labels outside ``emotions`` are an error naming the manifest and the utterance.

    Arguments
    ---------
    manifests : dict
        Split -> manifest path.
    emotions : list of str
        The classes, in index order.
    input_pipelines : list
        Dynamic items of the inputs (e.g. ``ser_modules.data.pipelines.audio_pipeline``).
    input_keys : list of str
        The items they provide (output keys of the datasets, after ``id``).

    Returns
    -------
    dict
        Split -> ``DynamicItemDataset`` with the keys ``id``, ``input_keys``,
        ``emo_encoded``, ``vote_distribution``.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "test.json")
    >>> write_json_atomic({"u1": {"emo": "sad", "votes": {"sad": 2}, "text": "hi"}}, path)
    >>> text = sb.utils.data_pipeline.provides("words")(sb.utils.data_pipeline.takes("text")(str.split))
    >>> data = classification_datasets({"test": path}, ["neu", "sad"], [text], ["words"])
    >>> data["test"][0]["words"], data["test"][0]["emo_encoded"].tolist()
    (['hi'], [1])
    """
    for path in manifests.values():
        check_labels(path, "emo", emotions)
    items = [*input_pipelines, label_pipeline(emotions)]
    keys = ["id", *input_keys, *LABEL_KEYS]
    return {
        split: sb.dataio.dataset.DynamicItemDataset.from_json(
            json_path=path, dynamic_items=items, output_keys=keys
        )
        for split, path in manifests.items()
    }


# ----------------------------------------------------------------------------------------------
# Test outputs
# ----------------------------------------------------------------------------------------------
def classification_results(metrics, loss):
    """The metrics of a split for ``test_results.json`` (NaN kept: see :func:`write_test_outputs`).

    Arguments
    ---------
    metrics : ser_modules.objectives.metrics.ClassificationMetrics
        The split's predictions.
    loss : float
        The split's mean loss.

    Returns
    -------
    dict
        ``loss``, ``WA``, ``UA``, ``F1`` (percent), ``recall`` per class (NaN for a class
        without utterances), ``labels``, ``confusion_matrix`` (rows = targets),
        ``num_samples``.

    Example
    -------
    >>> metrics = ClassificationMetrics(["neu", "hap"])
    >>> metrics.append(["u1", "u2"], torch.tensor([0, 0]), torch.tensor([0, 0]))
    >>> results = classification_results(metrics, 0.5)
    >>> results["WA"], results["recall"], results["confusion_matrix"]
    (100.0, {'neu': 100.0, 'hap': nan}, [[2, 0], [0, 0]])
    """
    full = metrics.summarize()
    return {
        "loss": loss,
        "WA": full["WA"],
        "UA": full["UA"],
        "F1": full["F1"],
        "recall": full["recall"],
        "labels": full["labels"],
        "confusion_matrix": full["confusion_matrix"].tolist(),
        "num_samples": full["num_samples"],
    }


def write_test_outputs(folder, metrics, results):
    """Writes ``predictions.csv``, ``confusion_matrix.png``, then ``test_results.json``.

    ``test_results.json`` is written last, with NaN and infinities as null (``json_safe``).
    (A fold is done for ``cross_validate.py`` when ``experiment.json`` says so, recorded after
    this by ``training.identity.record_evaluation``.)

    Arguments
    ---------
    folder : str
        The output folder.
    metrics : ser_modules.objectives.metrics.ClassificationMetrics
        The test predictions (with probabilities: ``p_<label>`` columns in the CSV).
    results : dict
        The content of ``test_results.json``.

    Example
    -------
    >>> import json, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> metrics = ClassificationMetrics(["neu", "hap"])
    >>> metrics.append(["u1"], torch.tensor([[0.2, 0.8]]), torch.tensor([1]), probabilities=torch.tensor([[0.2, 0.8]]))
    >>> write_test_outputs(folder, metrics, {"recall": {"neu": float("nan"), "hap": 100.0}})
    >>> json.load(open(os.path.join(folder, "test_results.json")))
    {'recall': {'neu': None, 'hap': 100.0}}
    >>> open(os.path.join(folder, "predictions.csv")).read().splitlines()
    ['id,target,prediction,p_neu,p_hap', 'u1,hap,hap,0.200000,0.800000']
    """
    metrics.write_predictions(os.path.join(folder, "predictions.csv"))
    metrics.plot_confusion_matrix(os.path.join(folder, "confusion_matrix.png"))
    write_json_atomic(json_safe(results), os.path.join(folder, "test_results.json"))


# ----------------------------------------------------------------------------------------------
# Brain
# ----------------------------------------------------------------------------------------------
class ClassificationBrain(sb.Brain):
    """A Brain that classifies utterances into ``emotions``; the recipes subclass it.

    Shared here: the loss (``compute_cost`` on the class indices, or on the vote
    distributions with ``soft_labels``), the WA / UA / macro-F1 of the validation and test
    splits, the log lines, ``history.json`` and ``training_curves.png`` (every epoch).

    Hooks a recipe overrides:

    * :meth:`compute_features`: how the features of a batch are computed (the recipe's
      ``compute_forward`` feeds them to its head);
    * :meth:`on_test_end`: what is written at test end (e.g. with :func:`write_test_outputs`);
    * :meth:`keep_checkpoint`: which checkpoints are kept after a validation (default: the
      best on validation UA);
    * :meth:`stats_meta`: what the log line of a validation or test names besides the metrics.

    Reads the hparams ``emotions``, ``soft_labels``, ``compute_cost``, ``train_logger``,
    ``output_folder``, and (default hooks) ``lr`` and ``epoch_counter``.

    Example
    -------
    >>> class LinearBrain(ClassificationBrain):
    ...     def compute_features(self, batch):
    ...         return batch.x
    ...     def compute_forward(self, batch, stage):
    ...         return self.modules.classifier(self.compute_features(batch))
    >>> from types import SimpleNamespace
    >>> from ser_modules.objectives.losses import EmotionCrossEntropy
    >>> hparams = {"emotions": ["neu", "hap"], "soft_labels": False, "compute_cost": EmotionCrossEntropy()}
    >>> brain = LinearBrain(modules={"classifier": torch.nn.Linear(3, 2)}, hparams=hparams)
    >>> brain.on_stage_start(sb.Stage.VALID)
    >>> batch = SimpleNamespace(id=["a", "b"], x=torch.randn(2, 3),
    ...     emo_encoded=SimpleNamespace(data=torch.tensor([[0], [1]])), vote_distribution=None)
    >>> loss = brain.compute_objectives(brain.compute_forward(batch, sb.Stage.VALID), batch, sb.Stage.VALID)
    >>> sorted(brain.summary()), len(brain.metrics)
    (['F1', 'UA', 'WA'], 2)
    """

    def on_fit_start(self):
        """Recovers the last checkpoint; a run resumed after its ``optimizer_step_limit``
        updates runs no further epoch (:func:`~ser_modules.training.update_budget.end_epochs_if_budget_spent`).
        """
        super().on_fit_start()
        end_epochs_if_budget_spent(self, self.hparams.epoch_counter)

    def compute_features(self, batch):
        """Hook: the features of a batch (already on the device) that the head takes.

        Arguments
        ---------
        batch : speechbrain.dataio.batch.PaddedBatch
            The batch.
        """
        raise NotImplementedError(f"{type(self).__name__} must define compute_features(batch)")

    def on_test_end(self, stats):
        """Hook: writes the test outputs (called on every process after the test stage).

        Arguments
        ---------
        stats : dict
            ``loss`` and :meth:`summary` of the test split; ``self.metrics`` holds its
            predictions.
        """
        raise NotImplementedError(f"{type(self).__name__} must define on_test_end(stats)")

    def keep_checkpoint(self, epoch, stats):
        """Hook: saves the epoch's checkpoint, keeping the best one on validation UA (and the
        newest), or the ``keep_checkpoints`` best ones when the hparams set more than 1 (so
        that an export can average them: ``ser-publish export ... --average N``).

        Arguments
        ---------
        epoch : int
            The epoch just validated.
        stats : dict
            ``loss`` and :meth:`summary` of the validation split (the checkpoint's meta).
        """
        from ser_modules.training.checkpoint_averaging import save_and_keep_best

        keep = getattr(self.hparams, "keep_checkpoints", 1)
        if not is_whole_number(keep) or keep < 1:
            raise ValueError(
                f"keep_checkpoints must be a whole number of checkpoints, 1 or more (got {keep!r}):"
                " set --keep_checkpoints=N"
            )
        if keep == 1:
            self.checkpointer.save_and_keep_only(meta=stats, max_keys=["UA"])
        else:
            save_and_keep_best(self.checkpointer, meta=stats, key="UA", num_to_keep=keep)

    def stats_meta(self, stage, epoch):
        """Hook: the non-metric fields of a log line: the epoch and the head's learning rate
        after a validation, the loaded epoch after a test.

        Arguments
        ---------
        stage : speechbrain.Stage
            ``VALID`` or ``TEST``.
        epoch : int
            The epoch (validation).
        """
        if stage == sb.Stage.VALID:
            return {"epoch": epoch, "lr": self.hparams.lr}
        return {"Epoch loaded": self.hparams.epoch_counter.current}

    def compute_objectives(self, predictions, batch, stage):
        """Label-smoothed (optionally soft-target) cross-entropy; metrics outside training."""
        targets = batch.emo_encoded.data.squeeze(1)
        loss_targets = batch.vote_distribution.data if self.hparams.soft_labels else targets
        loss = self.hparams.compute_cost(predictions, loss_targets)
        if stage != sb.Stage.TRAIN:
            scores = predictions.detach()
            self.metrics.append(batch.id, scores, targets, probabilities=scores.softmax(-1))
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Creates a fresh accumulator of the split's predictions."""
        if stage != sb.Stage.TRAIN:
            self.metrics = ClassificationMetrics(self.hparams.emotions)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs; records the history and keeps checkpoints after a validation; writes the
        test outputs after a test."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            return
        stats = {"loss": stage_loss, **self.summary()}
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta=self.stats_meta(stage, epoch),
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.record_history(epoch, stats)
            self.keep_checkpoint(epoch, stats)
        else:
            self.hparams.train_logger.log_stats(
                stats_meta=self.stats_meta(stage, epoch), test_stats=stats
            )
            self.on_test_end(stats)

    def summary(self):
        """WA, UA and macro-F1 (percent) of the split."""
        return {key: self.metrics.summarize(key) for key in ("WA", "UA", "F1")}

    @main_process_only
    def record_history(self, epoch, valid_stats):
        """Appends the epoch to ``history.json`` and redraws ``training_curves.png``."""
        record_epoch(
            self.hparams.output_folder, epoch, self.train_stats, valid_stats, CURVE_METRICS
        )
