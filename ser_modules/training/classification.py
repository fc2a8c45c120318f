"""What the emotion classification recipes share: labels, datasets, a Brain and test outputs.

``recipes/IEMOCAP/train.py`` (frozen upstream + pooling head) and
``recipes/IEMOCAP/train_upstream_downstream.py`` (fine-tuned upstreams + downstream) differ
in how they compute the features of a batch and in what they write at test end; the rest
lives here:

* labels: :func:`vote_distribution`, :func:`label_pipeline` (class index and the
  evaluators' vote distribution, the targets of ``soft_labels``);
* data: :func:`save_label_encoder`, :func:`classification_datasets` (the manifests come
  from :func:`ser_modules.training.preparation.prepare_manifests`);
* :class:`ClassificationBrain`: loss (label-smoothed or soft-target cross-entropy), WA / UA /
  macro-F1 of every split; logging, ``history.json``, training curves and checkpoints come
  from :class:`ser_modules.training.brain.RecordingBrain`, with hook methods the recipes
  override;
* test outputs: :func:`classification_results`, :func:`write_test_outputs`
  (``predictions.csv`` with ``p_<label>`` columns, ``confusion_matrix.png``,
  ``test_results.json`` with NaN written as null).

Authors
 * ser-recipes contributors 2026
"""

import os

import speechbrain as sb
import torch

from ser_modules.data.checks import check_labels
from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.brain import RecordingBrain
from ser_modules.training.update_budget import end_epochs_if_budget_spent
from ser_modules.utils.files import atomic_path, json_safe, write_json_atomic

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
    ...     entries, dynamic_items=[label_pipeline(["neu", "hap"])],
    ...     output_keys=["id", *LABEL_KEYS])
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
    >>> takes, provides = sb.utils.data_pipeline.takes, sb.utils.data_pipeline.provides
    >>> text = provides("words")(takes("text")(str.split))
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
    >>> scores = torch.tensor([[0.2, 0.8]])
    >>> metrics.append(["u1"], scores, torch.tensor([1]), probabilities=scores)
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
class ClassificationBrain(RecordingBrain):
    """A Brain that classifies utterances into ``emotions``; the recipes subclass it.

    Shared here: the loss (``compute_cost`` on the class indices, or on the vote
    distributions with ``soft_labels``), the WA / UA / macro-F1 of the validation and test
    splits (:meth:`summary`). The stage end (log lines, ``history.json`` and
    ``training_curves.png`` every epoch, checkpoints) is :class:`RecordingBrain`'s.

    Hooks a recipe overrides:

    * :meth:`compute_features`: how the features of a batch are computed (the recipe's
      ``compute_forward`` feeds them to its head);
    * :meth:`on_test_end`: what is written at test end (e.g. with :func:`write_test_outputs`);
    * :meth:`keep_checkpoint`: which checkpoints are kept after a validation (default: the
      ``keep_checkpoints`` best on validation ``checkpoint_key``);
    * :meth:`stats_meta`: what the log line of a validation or test names besides the metrics.

    Reads the hparams ``emotions``, ``soft_labels``, ``compute_cost``, and those of
    :class:`RecordingBrain`.

    Example
    -------
    >>> class LinearBrain(ClassificationBrain):
    ...     def compute_features(self, batch):
    ...         return batch.x
    ...     def compute_forward(self, batch, stage):
    ...         return self.modules.classifier(self.compute_features(batch))
    >>> from types import SimpleNamespace
    >>> from ser_modules.objectives.losses import EmotionCrossEntropy
    >>> hparams = {"emotions": ["neu", "hap"], "soft_labels": False,
    ...            "compute_cost": EmotionCrossEntropy()}
    >>> brain = LinearBrain(modules={"classifier": torch.nn.Linear(3, 2)}, hparams=hparams)
    >>> brain.on_stage_start(sb.Stage.VALID)
    >>> batch = SimpleNamespace(id=["a", "b"], x=torch.randn(2, 3),
    ...     emo_encoded=SimpleNamespace(data=torch.tensor([[0], [1]])), vote_distribution=None)
    >>> predictions = brain.compute_forward(batch, sb.Stage.VALID)
    >>> loss = brain.compute_objectives(predictions, batch, sb.Stage.VALID)
    >>> sorted(brain.summary()), len(brain.metrics)
    (['F1', 'UA', 'WA'], 2)
    """

    def on_fit_start(self):
        """Recovers the last checkpoint; a run resumed after its ``optimizer_step_limit``
        updates runs no further epoch
        (:func:`~ser_modules.training.update_budget.end_epochs_if_budget_spent`).
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

    def compute_objectives(self, predictions, batch, stage):
        """Label-smoothed (optionally soft-target) cross-entropy; metrics outside training."""
        targets = batch.emo_encoded.data.squeeze(1)
        loss_targets = batch.vote_distribution.data if self.hparams.soft_labels else targets
        loss = self.hparams.compute_cost(predictions, loss_targets)
        if stage != sb.Stage.TRAIN:
            scores = predictions.detach()
            self.metrics.append(batch.id, scores, targets, probabilities=scores.softmax(-1))
        return loss

    curve_metrics = CURVE_METRICS

    def on_stage_start(self, stage, epoch=None):
        """Creates a fresh accumulator of the split's predictions."""
        if stage != sb.Stage.TRAIN:
            self.metrics = ClassificationMetrics(self.hparams.emotions)

    def summary(self, stage=None):
        """WA, UA and macro-F1 (percent) of the split (none after training: the training
        predictions are not kept)."""
        if stage == sb.Stage.TRAIN:
            return {}
        return {key: self.metrics.summarize(key) for key in ("WA", "UA", "F1")}
