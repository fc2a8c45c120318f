"""Tests of ser_modules.objectives.metrics (WA / UA / F1 / confusion, CCC accumulator, plots)."""

import csv
import io
import math

import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from matplotlib.image import imread

from ser_modules.objectives.losses import DIMENSIONS
from ser_modules.objectives.metrics import (
    CCCMetrics,
    ClassificationMetrics,
    confusion_matrix,
    macro_f1,
    per_class_recall,
    unweighted_accuracy,
    weighted_accuracy,
)


def numpy_ccc(pred, target):
    """Reference CCC per column (population moments, no eps)."""
    out = []
    for k in range(pred.shape[1]):
        p, t = pred[:, k], target[:, k]
        cov = np.mean((p - p.mean()) * (t - t.mean()))
        out.append(2 * cov / (p.var() + t.var() + (p.mean() - t.mean()) ** 2))
    return np.array(out)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def labels_pair(rng):
    targets = rng.choice(5, size=200, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    predictions = np.where(rng.random(200) < 0.6, targets, rng.integers(0, 5, size=200))
    return predictions, targets


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize("kind", ["numpy", "torch", "list"])
def test_functions_match_sklearn(labels_pair, kind):
    predictions, targets = labels_pair
    convert = {"numpy": lambda x: x, "torch": torch.tensor, "list": lambda x: x.tolist()}[kind]
    p, t = convert(predictions), convert(targets)
    assert weighted_accuracy(p, t) == pytest.approx(skm.accuracy_score(targets, predictions))
    assert unweighted_accuracy(p, t) == pytest.approx(
        skm.balanced_accuracy_score(targets, predictions)
    )
    assert unweighted_accuracy(p, t) == pytest.approx(
        skm.recall_score(targets, predictions, average="macro", zero_division=0)
    )
    assert macro_f1(p, t) == pytest.approx(
        skm.f1_score(targets, predictions, average="macro", zero_division=0)
    )
    np.testing.assert_array_equal(
        confusion_matrix(p, t, 5), skm.confusion_matrix(targets, predictions, labels=range(5))
    )
    np.testing.assert_allclose(
        per_class_recall(p, t, 5),
        skm.recall_score(targets, predictions, average=None, labels=range(5), zero_division=0),
    )


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_ua_only_counts_classes_present_in_targets():
    targets = [0, 0, 1, 1]
    predictions = [0, 3, 1, 1]  # class 3 predicted, never a target
    assert unweighted_accuracy(predictions, targets) == pytest.approx(0.75)
    assert unweighted_accuracy(predictions, targets) == pytest.approx(
        skm.balanced_accuracy_score(targets, predictions)
    )
    recall = per_class_recall(predictions, targets, 5)
    assert recall[:2].tolist() == [0.5, 1.0] and np.isnan(recall[2:]).all()
    # macro F1 counts the predicted-only class (sklearn default); labels= overrides.
    assert macro_f1(predictions, targets) == pytest.approx(
        skm.f1_score(targets, predictions, average="macro", zero_division=0)
    )
    assert macro_f1(predictions, targets, labels=range(5)) == pytest.approx(
        skm.f1_score(targets, predictions, average="macro", labels=range(5), zero_division=0)
    )


def test_unweighted_differs_from_weighted_on_imbalance():
    targets = [0] * 9 + [1]
    predictions = [0] * 10
    assert weighted_accuracy(predictions, targets) == pytest.approx(0.9)
    assert unweighted_accuracy(predictions, targets) == pytest.approx(0.5)


def test_function_errors():
    with pytest.raises(ValueError, match="same length"):
        weighted_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        unweighted_accuracy([], [])
    with pytest.raises(ValueError, match="out of range"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="integer class indices"):
        macro_f1([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        weighted_accuracy(np.zeros((3, 4)), [0, 1, 2])
    with pytest.raises(ValueError, match="negative"):
        weighted_accuracy([-1, 0], [0, 0])
    # Float arrays of integral values and [N, 1] are accepted.
    assert weighted_accuracy(np.array([[1.0], [2.0]]), torch.tensor([[1], [0]])) == 0.5


def _missing_classes_case(seed):
    """6 classes: 3 is predicted but never a target, 4 never predicted, 5 appears nowhere."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 80))
    targets = rng.choice([0, 1, 2, 4], size=n)
    predictions = np.where(rng.random(n) < 0.5, targets, rng.choice([0, 1, 3], size=n))
    predictions[predictions == 4] = 0
    return predictions, targets


# Computed by the hand-written WA / UA / F1 / recall / confusion code that preceded
# sklearn.metrics (commit 0ce5eb0): (WA, UA, F1, F1 over range(6)), recall, confusion.
NAN = float("nan")
BEFORE_SKLEARN = {
    0: (
        (0.4788732394366197, 0.4916666666666667, 0.36335447498238194, 0.3027953958186516),
        [0.8666666666666667, 0.6, 0.5, NAN, 0.0, NAN],
        [
            [13, 0, 0, 2, 0, 0],
            [2, 9, 0, 4, 0, 0],
            [5, 2, 12, 5, 0, 0],
            [0] * 6,
            [8, 7, 0, 2, 0, 0],
            [0] * 6,
        ],
    ),
    1: (
        (0.2916666666666667, 0.26666666666666666, 0.17983193277310922, 0.14985994397759103),
        [0.6666666666666666, 0.4, 0.0, NAN, 0.0, NAN],
        [
            [8, 4, 0, 0, 0, 0],
            [4, 6, 0, 5, 0, 0],
            [2, 2, 0, 2, 0, 0],
            [0] * 6,
            [8, 1, 0, 6, 0, 0],
            [0] * 6,
        ],
    ),
    2: (
        (0.4142857142857143, 0.3961538461538462, 0.31979906173454564, 0.26649921811212135),
        [0.38461538461538464, 0.65, 0.55, NAN, 0.0, NAN],
        [
            [5, 6, 0, 2, 0, 0],
            [3, 13, 0, 4, 0, 0],
            [2, 1, 11, 6, 0, 0],
            [0] * 6,
            [14, 2, 0, 1, 0, 0],
            [0] * 6,
        ],
    ),
    3: (
        (0.47058823529411764, 0.4444444444444444, 0.3477676825761932, 0.2898064021468277),
        [0.8333333333333334, 0.5555555555555556, 0.3888888888888889, NAN, 0.0, NAN],
        [
            [15, 2, 0, 1, 0, 0],
            [2, 10, 0, 6, 0, 0],
            [3, 4, 7, 4, 0, 0],
            [0] * 6,
            [9, 3, 0, 2, 0, 0],
            [0] * 6,
        ],
    ),
}
# ClassificationMetrics.summarize() of the same cases: (WA, UA, F1) in percent.
BEFORE_SKLEARN_PERCENT = {
    0: (47.88732394366197, 49.16666666666667, 36.335447498238196),
    1: (29.166666666666668, 26.666666666666668, 17.98319327731092),
    2: (41.42857142857143, 39.61538461538462, 31.979906173454566),
    3: (47.05882352941176, 44.44444444444444, 34.776768257619324),
}


@pytest.mark.parametrize("seed", sorted(BEFORE_SKLEARN))
def test_same_numbers_as_the_hand_written_metrics(seed):
    predictions, targets = _missing_classes_case(seed)
    scores, recall, confusion = BEFORE_SKLEARN[seed]
    got = (
        weighted_accuracy(predictions, targets),
        unweighted_accuracy(predictions, targets),
        macro_f1(predictions, targets),
        macro_f1(predictions, targets, labels=range(6)),
    )
    assert got == scores  # bit-identical, not approximately equal
    np.testing.assert_array_equal(per_class_recall(predictions, targets, 6), recall)
    np.testing.assert_array_equal(confusion_matrix(predictions, targets, 6), confusion)
    assert confusion_matrix(predictions, targets, 6).dtype == np.int64
    metrics = ClassificationMetrics(6)
    metrics.append([str(i) for i in range(len(targets))], predictions, targets)
    stats = metrics.summarize()
    assert (stats["WA"], stats["UA"], stats["F1"]) == BEFORE_SKLEARN_PERCENT[seed]
    np.testing.assert_array_equal(list(stats["recall"].values()), [100.0 * r for r in recall])


def test_metrics_raise_no_warning_on_missing_classes():
    import warnings

    predictions, targets = _missing_classes_case(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unweighted_accuracy(predictions, targets)
        macro_f1(predictions, targets, labels=range(6))
        per_class_recall(predictions, targets, 6)


# ---------------------------------------------------------------- ClassificationMetrics

LABELS = ["neu", "hap", "sad", "ang", "exc"]


def test_classification_accumulator_matches_sklearn(labels_pair, rng):
    predictions, targets = labels_pair
    metrics = ClassificationMetrics(LABELS)
    # Mix input kinds: logits [B, C], log-probs [B, 1, C], indices [B, 1], lists.
    for start in range(0, 200, 50):
        sl = slice(start, start + 50)
        ids = [f"utt{i}" for i in range(start, start + 50)]
        scores = rng.normal(size=(50, 5))
        scores[np.arange(50), predictions[sl]] += 20.0  # argmax = prediction
        kind = start // 50
        if kind == 0:
            metrics.append(ids, torch.tensor(scores), torch.tensor(targets[sl]))
        elif kind == 1:
            log_probs = torch.log_softmax(torch.tensor(scores), -1).unsqueeze(1)
            metrics.append(ids, log_probs, torch.tensor(targets[sl]).unsqueeze(1))
        elif kind == 2:
            metrics.append(ids, torch.tensor(predictions[sl]).unsqueeze(1), targets[sl])
        else:
            metrics.append(ids, predictions[sl].tolist(), targets[sl].tolist())
    stats = metrics.summarize()
    assert stats["num_samples"] == 200 and len(metrics) == 200
    assert stats["WA"] == pytest.approx(100 * skm.accuracy_score(targets, predictions))
    assert stats["UA"] == pytest.approx(100 * skm.balanced_accuracy_score(targets, predictions))
    assert stats["F1"] == pytest.approx(
        100 * skm.f1_score(targets, predictions, average="macro", zero_division=0)
    )
    ref_recall = skm.recall_score(targets, predictions, average=None, labels=range(5))
    assert list(stats["recall"]) == LABELS
    np.testing.assert_allclose(list(stats["recall"].values()), 100 * ref_recall)
    np.testing.assert_array_equal(
        stats["confusion_matrix"], skm.confusion_matrix(targets, predictions, labels=range(5))
    )
    assert metrics.summarize("UA") == stats["UA"]
    assert stats["labels"] == LABELS


def test_classification_soft_targets_and_absent_class():
    metrics = ClassificationMetrics(3)
    soft = torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0]])
    metrics.append(["a", "b"], torch.tensor([0, 0]), soft)
    stats = metrics.summarize()
    assert metrics.labels == ["0", "1", "2"]
    assert stats["WA"] == pytest.approx(50.0)
    assert stats["UA"] == pytest.approx(50.0)  # classes 0 (100%) and 1 (0%)
    assert math.isnan(stats["recall"]["2"])


def test_classification_errors():
    metrics = ClassificationMetrics(LABELS)
    with pytest.raises(ValueError, match="nothing appended"):
        metrics.summarize()
    with pytest.raises(ValueError, match="same length"):
        metrics.append(["a", "b"], torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="same length"):
        metrics.append(["a"], torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match=">= 5 classes"):
        metrics.append(["a"], torch.tensor([5]), torch.tensor([0]))
    metrics.append(["a"], [1], [1])
    metrics.clear()
    assert len(metrics) == 0


def test_predictions_csv_has_probability_columns_when_given(tmp_path):
    metrics = ClassificationMetrics(["a", "b"])
    metrics.append(
        ["u1"],
        torch.tensor([[2.0, 1.0]]),
        torch.tensor([0]),
        probabilities=torch.tensor([[0.7, 0.3]]),
    )
    metrics.append(
        ["u2"],
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([0]),
        probabilities=torch.tensor([[0.25, 0.75]]),
    )
    metrics.write_predictions(str(tmp_path / "p.csv"))
    with open(tmp_path / "p.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["id", "target", "prediction", "p_a", "p_b"],
        ["u1", "a", "a", "0.700000", "0.300000"],
        ["u2", "a", "b", "0.250000", "0.750000"],
    ]
    metrics.append(["u3"], torch.tensor([1]), torch.tensor([1]))  # one batch without: no columns
    metrics.write_predictions(str(tmp_path / "q.csv"))
    assert (tmp_path / "q.csv").read_text().splitlines()[0] == "id,target,prediction"


def test_classification_outputs(tmp_path):
    metrics = ClassificationMetrics(LABELS)
    metrics.append(["u1", "u2", "u3", "u4"], torch.tensor([0, 1, 1, 4]), torch.tensor([0, 1, 2, 4]))
    csv_path = tmp_path / "sub" / "predictions.csv"
    metrics.write_predictions(str(csv_path))
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "target", "prediction"]
    assert rows[1:] == [
        ["u1", "neu", "neu"],
        ["u2", "hap", "hap"],
        ["u3", "sad", "hap"],
        ["u4", "exc", "exc"],
    ]
    for normalize in (True, False):
        png = tmp_path / f"cm_{normalize}.png"
        metrics.plot_confusion_matrix(str(png), normalize=normalize)
        assert png.exists() and png.stat().st_size > 0
        image = imread(str(png))
        assert image.ndim == 3 and image.shape[0] > 100
    stream = io.StringIO()
    metrics.write_stats(stream)
    text = stream.getvalue()
    assert "WA = 75.00%" in text and "Confusion matrix" in text


# ---------------------------------------------------------------- CCCMetrics


def test_ccc_metrics_whole_split_matches_numpy(rng):
    target = rng.uniform(1, 7, size=(300, 3))
    pred = 0.7 * target + rng.normal(1.0, 0.6, size=(300, 3))
    metrics = CCCMetrics()
    for start in range(0, 300, 64):  # uneven last batch
        sl = slice(start, start + 64)
        metrics.append(
            [f"u{i}" for i in range(start, min(start + 64, 300))],
            torch.tensor(pred[sl], dtype=torch.float32),
            torch.tensor(target[sl], dtype=torch.float32),
        )
    stats = metrics.summarize()
    ref = numpy_ccc(
        pred.astype(np.float32).astype(np.float64), target.astype(np.float32).astype(np.float64)
    )
    for k, dim in enumerate(DIMENSIONS):
        assert stats[f"ccc_{dim}"] == pytest.approx(ref[k], rel=1e-6)
    assert stats["ccc_mean"] == pytest.approx(ref.mean(), rel=1e-6)
    assert stats["num_samples"] == 300
    assert metrics.summarize("ccc_mean") == stats["ccc_mean"]


def test_ccc_metrics_not_average_of_batches(rng):
    """Each batch is internally perfect up to a per-batch offset; the split is not."""
    metrics = CCCMetrics(dimensions=("valence",))
    per_batch = []
    all_p, all_t = [], []
    for b, shift in enumerate([-2.0, 0.0, 2.0]):
        target = rng.uniform(3, 5, size=(32, 1)) + shift
        pred = target - shift  # removes the between-batch variation
        metrics.append([f"b{b}_{i}" for i in range(32)], pred, target)
        per_batch.append(numpy_ccc(pred, target)[0])
        all_p.append(pred)
        all_t.append(target)
    whole = numpy_ccc(np.concatenate(all_p), np.concatenate(all_t))[0]
    got = metrics.summarize()["ccc_valence"]
    assert got == pytest.approx(whole, rel=1e-6)
    assert abs(got - np.mean(per_batch)) > 0.1


def test_ccc_metrics_shapes_and_errors():
    metrics = CCCMetrics()
    with pytest.raises(ValueError, match="nothing appended"):
        metrics.summarize()
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        metrics.append(["a", "b"], torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="same length"):
        metrics.append(["a"], torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same length"):
        metrics.append(["a", "b"], torch.zeros(2, 3), torch.zeros(3, 3))
    single = CCCMetrics(dimensions=("arousal",))
    single.append(["a", "b", "c"], [1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0]))
    assert single.summarize()["ccc_arousal"] == pytest.approx(1.0)
    # Constant predictions: finite 0.
    const = CCCMetrics()
    const.append(["a", "b"], torch.full((2, 3), 4.0), torch.tensor([[1.0, 2, 3], [4, 5, 6]]))
    assert const.summarize()["ccc_mean"] == 0.0


def _naive_mse_bins(pred, target, bins=range(1, 8)):
    bins = list(bins)
    mse, count = [], []
    for b in bins:
        errs = []
        for p, t in zip(pred, target):
            r = int(math.floor(t + 0.5))
            r = min(max(r, bins[0]), bins[-1])
            if r == b:
                errs.append((p - t) ** 2)
        count.append(len(errs))
        mse.append(sum(errs) / len(errs) if errs else float("nan"))
    return np.array(mse), np.array(count)


def test_mse_per_label_bin(rng):
    target = np.concatenate(
        [rng.uniform(0.5, 7.4, size=(80, 3)), np.array([[4.5, 1.5, 0.2], [2.5, 7.0, 7.6]])]
    )
    target[:, 0] = np.clip(target[:, 0], 1.0, 4.9)  # arousal: bins 6 and 7 empty
    pred = target + rng.normal(scale=0.5, size=target.shape)
    metrics = CCCMetrics()
    metrics.append([str(i) for i in range(len(target))], pred, target)
    result = metrics.mse_per_label_bin()
    assert result["bins"].tolist() == list(range(1, 8))
    for k, dim in enumerate(DIMENSIONS):
        mse, count = _naive_mse_bins(pred[:, k], target[:, k])
        np.testing.assert_allclose(result["mse"][dim], mse, rtol=1e-10)  # NaN == NaN here
        np.testing.assert_array_equal(result["count"][dim], count)
        assert result["count"][dim].sum() == len(target)
    assert np.isnan(result["mse"]["arousal"][5:]).all()
    # Half rounds up: 4.5 -> bin 5, 1.5 -> bin 2, 2.5 -> bin 3.
    one = CCCMetrics(dimensions=("a",))
    one.append(["x", "y", "z"], [4.5, 1.5, 2.5], [4.5, 1.5, 2.5])
    assert one.mse_per_label_bin()["count"]["a"].tolist() == [0, 1, 1, 0, 1, 0, 0]
    # Normalised targets (y - 1) / 6 mapped back with scale/offset.
    norm = CCCMetrics()
    norm.append([str(i) for i in range(len(target))], (pred - 1) / 6, (target - 1) / 6)
    back = norm.mse_per_label_bin(scale=6.0, offset=1.0)
    for dim in DIMENSIONS:
        np.testing.assert_allclose(back["mse"][dim], result["mse"][dim], rtol=1e-9)
    with pytest.raises(ValueError, match="consecutive"):
        metrics.mse_per_label_bin(bins=(1, 3, 5))


def test_ccc_outputs(tmp_path, rng):
    target = rng.uniform(1, 7, size=(40, 3))
    pred = target + rng.normal(scale=0.3, size=(40, 3))
    metrics = CCCMetrics()
    ids = [f"utt{i}" for i in range(40)]
    metrics.append(ids[:20], pred[:20], target[:20])
    metrics.append(ids[20:], pred[20:], target[20:])
    png = tmp_path / "plots" / "mse_per_bin.png"
    metrics.plot_mse_per_bin(str(png))
    assert png.exists() and png.stat().st_size > 0
    assert imread(str(png)).ndim == 3
    csv_path = tmp_path / "dim_predictions.csv"
    metrics.write_predictions(str(csv_path))
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "id",
        "pred_arousal",
        "pred_valence",
        "pred_dominance",
        "target_arousal",
        "target_valence",
        "target_dominance",
    ]
    assert len(rows) == 41 and rows[1][0] == "utt0"
    np.testing.assert_allclose(
        [float(v) for v in rows[5][1:]], np.concatenate([pred[4], target[4]])
    )
    stream = io.StringIO()
    metrics.write_stats(stream)
    assert "CCC mean" in stream.getvalue() and "MSE per target bin" in stream.getvalue()
    metrics.clear()
    assert len(metrics) == 0
