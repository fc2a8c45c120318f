"""Evaluation metrics for speech emotion recognition.

Categorical (functions return **fractions in [0, 1]**, like scikit-learn):

* :func:`weighted_accuracy` -- overall accuracy ("WA").
* :func:`unweighted_accuracy` -- mean per-class recall over the classes
  present in the targets ("UA", a.k.a. UAR / balanced accuracy).
* :func:`macro_f1`, :func:`per_class_recall`, :func:`confusion_matrix`.
* :class:`ClassificationMetrics` -- accumulator over a whole split; its
  ``summarize()`` reports **percent** (0-100), as in the papers' tables.

Dimensional:

* :class:`CCCMetrics` -- accumulates predictions and targets of a whole split
  and computes CCC per dimension **once** over all of them (never an average
  of per-batch CCCs), plus the MSE per 1..7 label bin (Fig. 4 of Mitra et al.
  2024). CCC values are in [-1, 1] (not percent).

Inputs may be torch tensors, numpy arrays or lists; the categorical scores are
those of ``sklearn.metrics``. Plots are written with matplotlib's object-oriented
API and the Agg canvas (:func:`ser_modules.utils.plotting.new_figure`: no screen,
no change to the global pyplot backend).

Authors
 * ser-recipes contributors 2025
"""

import csv

import numpy as np
import sklearn.metrics
import torch

from ser_modules.objectives.losses import CCC_EPS, ccc
from ser_modules.utils.constants import DIMENSIONS, RATING_BINS
from ser_modules.utils.files import open_atomic
from ser_modules.utils.plotting import new_figure, save_figure

# --------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------


def _to_numpy(x):
    """Tensor / array / list -> numpy array (no copy where possible)."""
    if torch.is_tensor(x):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _as_indices(x, name):
    """Integer class indices as a 1-D int64 array ([B] or [B, 1] accepted)."""
    arr = _to_numpy(x)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must contain integer class indices")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must contain integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError(f"{name} contains negative class indices")
    return arr


def _scores_or_indices(x, name):
    """Indices [B] / [B, 1], or scores [B, C] / [B, 1, C] (argmax) -> int64 [B]."""
    arr = _to_numpy(x)
    if arr.ndim == 3 and arr.shape[1] == 1:
        arr = arr[:, 0, :]
    if arr.ndim == 2 and arr.shape[1] > 1:
        return np.argmax(arr, axis=1).astype(np.int64)
    return _as_indices(arr, name)


def _check_pair(predictions, targets):
    predictions = _as_indices(predictions, "predictions")
    targets = _as_indices(targets, "targets")
    if predictions.shape != targets.shape:
        raise ValueError(
            "predictions and targets must have the same length, got "
            f"{predictions.shape[0]} and {targets.shape[0]}"
        )
    if predictions.size == 0:
        raise ValueError("predictions and targets are empty")
    return predictions, targets


def _check_range(predictions, targets, num_classes):
    """:func:`_check_pair`, and every class index below ``num_classes``."""
    predictions, targets = _check_pair(predictions, targets)
    top = max(predictions.max(), targets.max())
    if top >= num_classes:
        raise ValueError(f"class index {top} out of range for num_classes={num_classes}")
    return predictions, targets


# --------------------------------------------------------------------------
# Categorical metrics (fractions)
# --------------------------------------------------------------------------


def weighted_accuracy(predictions, targets):
    """Overall accuracy ("WA"): fraction of correctly classified examples.

    Arguments
    ---------
    predictions : sequence of int, numpy.ndarray or torch.Tensor
        Predicted class indices, [N] (or [N, 1]).
    targets : sequence of int, numpy.ndarray or torch.Tensor
        True class indices, [N].

    Returns
    -------
    float
        Accuracy in [0, 1].

    Example
    -------
    >>> weighted_accuracy([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    predictions, targets = _check_pair(predictions, targets)
    return float(sklearn.metrics.accuracy_score(targets, predictions))


def per_class_recall(predictions, targets, num_classes):
    """Recall of each class (correct / number of targets of that class).

    Arguments
    ---------
    predictions : sequence of int, numpy.ndarray or torch.Tensor
        Predicted class indices, [N].
    targets : sequence of int, numpy.ndarray or torch.Tensor
        True class indices, [N].
    num_classes : int
        Number of classes C.

    Returns
    -------
    numpy.ndarray
        float64 [C], in [0, 1]; NaN for classes absent from the targets.

    Example
    -------
    >>> per_class_recall([0, 0, 1, 1], [0, 1, 1, 1], 3)
    array([1.        , 0.66666667,        nan])
    """
    predictions, targets = _check_range(predictions, targets, num_classes)
    recall = sklearn.metrics.recall_score(
        targets, predictions, labels=range(num_classes), average=None, zero_division=np.nan
    )
    return recall.astype(np.float64)


def unweighted_accuracy(predictions, targets):
    """Unweighted accuracy ("UA"): mean per-class recall.

    Averaged over the classes present in ``targets`` (so it equals
    ``sklearn.metrics.balanced_accuracy_score``); a class that is only
    predicted, never a target, does not enter the mean.

    Arguments
    ---------
    predictions : sequence of int, numpy.ndarray or torch.Tensor
        Predicted class indices, [N].
    targets : sequence of int, numpy.ndarray or torch.Tensor
        True class indices, [N].

    Returns
    -------
    float
        UA in [0, 1].

    Example
    -------
    >>> unweighted_accuracy([0, 0, 0, 1], [0, 0, 0, 0])  # one class present
    0.75
    >>> unweighted_accuracy([0, 1, 1, 1], [0, 0, 1, 1])  # (1/2 + 2/2) / 2
    0.75
    """
    predictions, targets = _check_pair(predictions, targets)
    # balanced_accuracy_score gives the same value but warns when a class is only predicted.
    present = np.unique(targets)
    return float(
        sklearn.metrics.recall_score(targets, predictions, labels=present, average="macro")
    )


def macro_f1(predictions, targets, labels=None):
    """Macro-averaged F1 score.

    ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)`` (0 when the denominator is 0),
    averaged over ``labels``: by default the classes present in the targets
    or the predictions, as ``sklearn.metrics.f1_score(average="macro",
    zero_division=0)``.

    Arguments
    ---------
    predictions : sequence of int, numpy.ndarray or torch.Tensor
        Predicted class indices, [N].
    targets : sequence of int, numpy.ndarray or torch.Tensor
        True class indices, [N].
    labels : sequence of int, optional
        Classes to average over (e.g. ``range(C)`` to count every class).

    Returns
    -------
    float
        Macro F1 in [0, 1].

    Example
    -------
    >>> round(macro_f1([0, 1, 1, 2], [0, 1, 2, 2]), 4)  # (1 + 2/3 + 2/3) / 3
    0.7778
    """
    predictions, targets = _check_pair(predictions, targets)
    return float(
        sklearn.metrics.f1_score(
            targets, predictions, labels=labels, average="macro", zero_division=0
        )
    )


def confusion_matrix(predictions, targets, num_classes):
    """Confusion matrix, rows = targets, columns = predictions.

    Same convention as ``sklearn.metrics.confusion_matrix(targets,
    predictions, labels=range(num_classes))``.

    Arguments
    ---------
    predictions : sequence of int, numpy.ndarray or torch.Tensor
        Predicted class indices, [N].
    targets : sequence of int, numpy.ndarray or torch.Tensor
        True class indices, [N].
    num_classes : int
        Number of classes C; every index must be < C.

    Returns
    -------
    numpy.ndarray
        int64 [C, C] counts; ``cm[t, p]`` = examples of class t predicted as p.

    Example
    -------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    array([[1, 0, 0],
           [0, 1, 0],
           [0, 1, 1]])
    """
    predictions, targets = _check_range(predictions, targets, num_classes)
    cm = sklearn.metrics.confusion_matrix(targets, predictions, labels=range(num_classes))
    return cm.astype(np.int64)


class _SplitMetrics:
    """Base of the accumulators over a whole split: utterance ids, one prediction and one
    target per id, and statistics computed once over everything appended.

    A subclass converts and appends batches and computes its statistics in ``_stats()``."""

    def clear(self):
        """Removes every appended example."""
        self.ids = []
        self._predictions = []
        self._targets = []

    def __len__(self):
        return len(self.ids)

    @staticmethod
    def _check_lengths(ids, predictions, targets):
        if not len(ids) == predictions.shape[0] == targets.shape[0]:
            raise ValueError(
                "ids, predictions and targets must have the same length, got "
                f"{len(ids)}, {predictions.shape[0]} and {targets.shape[0]}"
            )

    def _check_nonempty(self):
        if not self.ids:
            raise ValueError(f"{type(self).__name__}: nothing appended")

    def summarize(self, field=None):
        """Statistics over everything appended (see the class's ``_stats``).

        Arguments
        ---------
        field : str, optional
            Return only this entry (e.g. ``"UA"`` or ``"ccc_mean"``).

        Returns
        -------
        dict or value
            The statistics, or the one of ``field``.
        """
        self._check_nonempty()
        stats = self._stats()
        if field is not None:
            return stats[field]
        return stats


class ClassificationMetrics(_SplitMetrics):
    """Accumulates class predictions over a whole split: WA, UA, F1, confusion.

    Arguments
    ---------
    labels : sequence of str or int
        Class names in index order (index ``i`` <-> ``labels[i]``, e.g. from
        ``CategoricalEncoder``), or the number of classes (names ``"0"``,
        ``"1"``, ...).

    Example
    -------
    >>> metrics = ClassificationMetrics(["neu", "hap", "sad", "ang"])
    >>> scores = torch.tensor([[2.0, 0.1, 0.0, 0.0], [0.0, 1.0, 0.0, 3.0]])  # argmax 0, 3
    >>> metrics.append(["u1", "u2"], scores, torch.tensor([0, 1]))
    >>> metrics.append(["u3"], torch.tensor([2]), torch.tensor([[2]]))
    >>> stats = metrics.summarize()
    >>> round(stats["WA"], 2), round(stats["UA"], 2), stats["num_samples"]
    (66.67, 66.67, 3)
    >>> metrics.summarize("UA") == stats["UA"]
    True
    """

    def __init__(self, labels):
        if isinstance(labels, int):
            labels = [str(i) for i in range(labels)]
        self.labels = [str(label) for label in labels]
        if not self.labels:
            raise ValueError("labels must not be empty")
        self.clear()

    @property
    def num_classes(self):
        """Number of classes C."""
        return len(self.labels)

    def clear(self):
        """Removes every appended example."""
        super().clear()
        self._probabilities = []

    def append(self, ids, predictions, targets, probabilities=None):
        """Adds one batch.

        Arguments
        ---------
        ids : sequence of str
            Utterance ids, length B.
        predictions : torch.Tensor, numpy.ndarray or list
            Class indices [B] / [B, 1], or scores / logits / log-probabilities
            [B, C] / [B, 1, C] (argmax is taken).
        targets : torch.Tensor, numpy.ndarray or list
            Class indices [B] / [B, 1], or a target distribution [B, C]
            (argmax, first class on ties).
        probabilities : torch.Tensor, optional
            [B, C] class probabilities, written by :meth:`write_predictions` (as
            ``p_<label>`` columns) when every batch gave them.
        """
        ids = [str(i) for i in ids]
        if probabilities is not None:
            self._probabilities.extend(_to_numpy(probabilities).reshape(len(ids), -1).tolist())
        predictions = _scores_or_indices(predictions, "predictions")
        targets = _scores_or_indices(targets, "targets")
        self._check_lengths(ids, predictions, targets)
        for name, arr in (("predictions", predictions), ("targets", targets)):
            if arr.size and arr.max() >= self.num_classes:
                raise ValueError(
                    f"{name} contains class index {arr.max()} >= {self.num_classes} classes"
                )
        self.ids.extend(ids)
        self._predictions.extend(predictions.tolist())
        self._targets.extend(targets.tolist())

    @property
    def predictions(self):
        """All predicted indices, int64 [N]."""
        return np.asarray(self._predictions, dtype=np.int64)

    @property
    def targets(self):
        """All target indices, int64 [N]."""
        return np.asarray(self._targets, dtype=np.int64)

    def _stats(self):
        """Metrics over everything appended, in **percent** (see :meth:`summarize`).

        Returns
        -------
        dict
            ``"WA"`` (accuracy, %), ``"UA"`` (mean recall over the classes
            present in the targets, %), ``"F1"`` (macro F1 over the classes
            present in targets or predictions, %), ``"recall"`` (dict label ->
            recall %, NaN for classes without targets), ``"confusion_matrix"``
            (int64 [C, C], rows = targets), ``"labels"``, ``"num_samples"``.
        """
        preds, targets = self.predictions, self.targets
        recall = per_class_recall(preds, targets, self.num_classes)
        stats = {
            "WA": 100.0 * weighted_accuracy(preds, targets),
            "UA": 100.0 * unweighted_accuracy(preds, targets),
            "F1": 100.0 * macro_f1(preds, targets),
            "recall": {label: 100.0 * float(r) for label, r in zip(self.labels, recall)},
            "confusion_matrix": confusion_matrix(preds, targets, self.num_classes),
            "labels": list(self.labels),
            "num_samples": len(self.ids),
        }
        return stats

    def write_stats(self, filestream):
        """Writes a human-readable summary (metrics, recalls, confusion matrix).

        Arguments
        ---------
        filestream : file-like
            Open text stream (e.g. ``sys.stdout`` or a file).
        """
        stats = self.summarize()
        filestream.write(
            f"N = {stats['num_samples']}  WA = {stats['WA']:.2f}%  "
            f"UA = {stats['UA']:.2f}%  macro-F1 = {stats['F1']:.2f}%\n"
        )
        filestream.write("Recall per class (%):\n")
        for label, value in stats["recall"].items():
            filestream.write(f"  {label}: {value:.2f}\n")
        width = max(len(label) for label in self.labels) + 1
        filestream.write("Confusion matrix (rows = target, columns = prediction):\n")
        filestream.write(
            " " * width + " " + " ".join(f"{name:>{width}}" for name in self.labels) + "\n"
        )
        for label, row in zip(self.labels, stats["confusion_matrix"]):
            filestream.write(f"{label:>{width}} " + " ".join(f"{v:>{width}d}" for v in row) + "\n")

    def write_predictions(self, path):
        """Writes one CSV row per utterance: ``id,target,prediction`` (class names), then
        ``p_<label>`` probability columns if every batch was appended with probabilities.

        Arguments
        ---------
        path : str
            Output CSV file (parent folders are created).
        """
        with open_atomic(path) as handle:
            writer = csv.writer(handle)
            with_probabilities = len(self._probabilities) == len(self.ids) > 0
            probability_columns = (
                [f"p_{label}" for label in self.labels] if with_probabilities else []
            )
            writer.writerow(["id", "target", "prediction", *probability_columns])
            for row, (uid, target, pred) in enumerate(
                zip(self.ids, self._targets, self._predictions)
            ):
                extra = [f"{p:.6f}" for p in self._probabilities[row]] if with_probabilities else []
                writer.writerow([uid, self.labels[target], self.labels[pred], *extra])

    def plot_confusion_matrix(self, path, normalize=True, title=None):
        """Saves the confusion matrix as a PNG, with class labels and cell values.

        Arguments
        ---------
        path : str
            Output image file (PNG; parent folders are created).
        normalize : bool
            If True, each row is divided by its number of targets and shown
            in percent (the diagonal is the per-class recall); otherwise counts.
        title : str, optional
            Figure title; default shows N, WA and UA.
        """
        stats = self.summarize()
        cm = stats["confusion_matrix"].astype(np.float64)
        if normalize:
            support = cm.sum(axis=1, keepdims=True)
            values = 100.0 * cm / np.maximum(support, 1)
        else:
            values = cm
        num = self.num_classes
        size = max(4.0, 0.7 * num + 2.0)
        fig = new_figure((size + 1.0, size))
        ax = fig.add_subplot(1, 1, 1)
        image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=100.0 if normalize else None)
        fig.colorbar(image, ax=ax, label="% of target row" if normalize else "count")
        ax.set_xticks(range(num))
        ax.set_yticks(range(num))
        ax.set_xticklabels(self.labels, rotation=45, ha="right")
        ax.set_yticklabels(self.labels)
        ax.set_xlabel("Prediction")
        ax.set_ylabel("Target")
        threshold = (100.0 if normalize else max(values.max(), 1.0)) / 2.0
        for i in range(num):
            for j in range(num):
                text = f"{values[i, j]:.1f}" if normalize else f"{int(values[i, j])}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if values[i, j] > threshold else "black",
                )
        if title is None:
            title = f"N={stats['num_samples']}  WA={stats['WA']:.1f}%  UA={stats['UA']:.1f}%"
        ax.set_title(title)
        fig.tight_layout()
        save_figure(fig, path)


# --------------------------------------------------------------------------
# Dimensional metrics
# --------------------------------------------------------------------------


def _round_half_up(x):
    return np.floor(x + 0.5)


class CCCMetrics(_SplitMetrics):
    """Accumulates dimensional predictions of a whole split; CCC computed once.

    ``summarize()`` concatenates every appended batch and computes the CCC
    (:func:`ser_modules.objectives.losses.ccc`, population moments, float64) per
    dimension over the whole split, plus their mean. Averaging per-batch CCCs
    would be biased and depend on the batching, so it is never done.

    Arguments
    ---------
    dimensions : sequence of str
        Column names, in column order (default :data:`DIMENSIONS` =
        arousal, valence, dominance).

    Example
    -------
    >>> metrics = CCCMetrics()
    >>> target = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 5.0, 2.0]])
    >>> metrics.append(["a", "b"], target[:2], target[:2])
    >>> metrics.append(["c"], target[2:], target[2:])
    >>> stats = metrics.summarize()
    >>> round(stats["ccc_arousal"], 6), round(stats["ccc_mean"], 6)
    (1.0, 1.0)
    >>> metrics.mse_per_label_bin()["mse"]["arousal"]
    array([ 0., nan, nan,  0., nan, nan,  0.])
    """

    def __init__(self, dimensions=DIMENSIONS):
        self.dimensions = tuple(str(d) for d in dimensions)
        if not self.dimensions:
            raise ValueError("dimensions must not be empty")
        self.clear()

    def _as_matrix(self, x, name):
        arr = _to_numpy(x).astype(np.float64)
        num = len(self.dimensions)
        if arr.ndim == 1 and num == 1:
            arr = arr[:, None]
        if arr.ndim == 3 and arr.shape[1] == 1:
            arr = arr[:, 0, :]
        if arr.ndim != 2 or arr.shape[1] != num:
            raise ValueError(
                f"{name} must have shape [batch, {num}] (columns {self.dimensions}), "
                f"got {arr.shape}"
            )
        return arr

    def append(self, ids, predictions, targets):
        """Adds one batch.

        Arguments
        ---------
        ids : sequence of str
            Utterance ids, length B.
        predictions : torch.Tensor, numpy.ndarray or list
            [B, K] predicted values (K = len(dimensions); [B, 1, K] accepted).
        targets : torch.Tensor, numpy.ndarray or list
            [B, K] targets on the same scale.
        """
        ids = [str(i) for i in ids]
        predictions = self._as_matrix(predictions, "predictions")
        targets = self._as_matrix(targets, "targets")
        self._check_lengths(ids, predictions, targets)
        self.ids.extend(ids)
        self._predictions.append(predictions)
        self._targets.append(targets)

    @property
    def predictions(self):
        """All predictions, float64 [N, K]."""
        if not self._predictions:
            return np.zeros((0, len(self.dimensions)))
        return np.concatenate(self._predictions, axis=0)

    @property
    def targets(self):
        """All targets, float64 [N, K]."""
        if not self._targets:
            return np.zeros((0, len(self.dimensions)))
        return np.concatenate(self._targets, axis=0)

    def _stats(self):
        """CCC per dimension and their mean, over the whole split (see :meth:`summarize`).

        Returns
        -------
        dict
            ``"ccc_<dim>"`` for each dimension, ``"ccc_mean"`` (unweighted
            mean over dimensions), all in [-1, 1]; ``"num_samples"``.
        """
        values = ccc(
            torch.from_numpy(self.predictions), torch.from_numpy(self.targets), eps=CCC_EPS
        ).numpy()
        stats = {f"ccc_{d}": float(v) for d, v in zip(self.dimensions, values)}
        stats["ccc_mean"] = float(np.mean(values))
        stats["num_samples"] = len(self.ids)
        return stats

    def mse_per_label_bin(self, bins=RATING_BINS, scale=1.0, offset=0.0):
        """MSE of each dimension per label bin (Fig. 4 of Mitra et al. 2024).

        Predictions and targets are first mapped to the rating scale with
        ``y * scale + offset`` (use ``scale=6, offset=1`` for ``(y - 1) / 6``
        targets). Each example goes to the bin of its target rounded to the
        nearest integer (halves round up: 4.5 -> 5), clipped to
        ``[min(bins), max(bins)]``. The MSE is computed in the rating scale.

        Arguments
        ---------
        bins : sequence of int
            Consecutive integer bin centres (default 1..7).
        scale, offset : float
            Affine map to the rating scale.

        Returns
        -------
        dict
            ``"bins"``: int array [n_bins]; ``"mse"``: dict dim -> float array
            [n_bins] (NaN for empty bins); ``"count"``: dict dim -> int array
            [n_bins] (examples per bin).
        """
        self._check_nonempty()
        bins = np.asarray(list(bins), dtype=np.int64)
        if bins.size == 0 or np.any(np.diff(bins) != 1):
            raise ValueError(f"bins must be consecutive integers, got {bins.tolist()}")
        preds = self.predictions * scale + offset
        targets = self.targets * scale + offset
        index = np.clip(_round_half_up(targets), bins[0], bins[-1]).astype(np.int64) - bins[0]
        sq_err = (preds - targets) ** 2
        result = {"bins": bins, "mse": {}, "count": {}}
        for k, dim in enumerate(self.dimensions):
            count = np.bincount(index[:, k], minlength=bins.size)
            total = np.bincount(index[:, k], weights=sq_err[:, k], minlength=bins.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                mse = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            result["mse"][dim] = mse
            result["count"][dim] = count.astype(np.int64)
        return result

    def plot_mse_per_bin(self, path, bins=RATING_BINS, scale=1.0, offset=0.0, title=None):
        """Saves a PNG of the MSE per label bin (grouped bars, one per dimension).

        Bars are annotated with the number of examples in the bin; empty bins
        have no bar.

        Arguments
        ---------
        path : str
            Output image file (PNG; parent folders are created).
        bins, scale, offset
            As in :meth:`mse_per_label_bin`.
        title : str, optional
            Figure title.
        """
        result = self.mse_per_label_bin(bins=bins, scale=scale, offset=offset)
        centres = result["bins"]
        num = len(self.dimensions)
        width = 0.8 / num
        fig = new_figure((8.0, 4.5))
        ax = fig.add_subplot(1, 1, 1)
        for k, dim in enumerate(self.dimensions):
            mse = result["mse"][dim]
            x = centres + (k - (num - 1) / 2.0) * width
            shown = ~np.isnan(mse)
            bars = ax.bar(x[shown], mse[shown], width=width, label=dim)
            for bar, n in zip(bars, result["count"][dim][shown]):
                ax.annotate(
                    str(int(n)),
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax.set_xticks(centres)
        ax.set_xlabel("Target bin (rounded rating)")
        ax.set_ylabel("MSE")
        ax.legend()
        ax.set_title(title or f"MSE per label bin (N={len(self.ids)}; numbers = examples)")
        fig.tight_layout()
        save_figure(fig, path)

    def write_stats(self, filestream):
        """Writes a human-readable summary (CCC per dimension, MSE per 1..7 bin).

        The bins assume targets on the 1..7 rating scale (see
        :meth:`mse_per_label_bin`).

        Arguments
        ---------
        filestream : file-like
            Open text stream.
        """
        stats = self.summarize()
        filestream.write(f"N = {stats['num_samples']}\n")
        for dim in self.dimensions:
            filestream.write(f"CCC {dim}: {stats['ccc_' + dim]:.4f}\n")
        filestream.write(f"CCC mean: {stats['ccc_mean']:.4f}\n")
        result = self.mse_per_label_bin()
        filestream.write("MSE per target bin (count), bins " + str(result["bins"].tolist()) + ":\n")
        for dim in self.dimensions:
            cells = [
                f"{m:.3f} ({n})" if n else "- (0)"
                for m, n in zip(result["mse"][dim], result["count"][dim])
            ]
            filestream.write(f"  {dim}: " + ", ".join(cells) + "\n")

    def write_predictions(self, path):
        """Writes one CSV row per utterance: ``id, pred_<dim>..., target_<dim>...``.

        Arguments
        ---------
        path : str
            Output CSV file (parent folders are created).
        """
        preds, targets = self.predictions, self.targets
        with open_atomic(path) as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["id"]
                + [f"pred_{d}" for d in self.dimensions]
                + [f"target_{d}" for d in self.dimensions]
            )
            for uid, p, t in zip(self.ids, preds, targets):
                writer.writerow([uid] + [repr(float(v)) for v in p] + [repr(float(v)) for v in t])


__all__ = [
    "weighted_accuracy",
    "unweighted_accuracy",
    "macro_f1",
    "per_class_recall",
    "confusion_matrix",
    "ClassificationMetrics",
    "CCCMetrics",
]
