"""The shared part of the IEMOCAP recipes (``ser_modules.training.classification``): labels and
vote distributions, datasets, manifests and label encoder, the ClassificationBrain's loss,
metrics and hooks (alone and through a real fit / evaluate), and the test outputs."""

import csv
import json
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch
import torch.nn.functional as F

from ser_modules.data.checks import UnknownLabelError
from ser_modules.objectives.losses import EmotionCrossEntropy
from ser_modules.objectives.metrics import ClassificationMetrics
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.training.classification import (
    LABEL_KEYS,
    SPLITS,
    ClassificationBrain,
    classification_datasets,
    classification_results,
    label_pipeline,
    save_label_encoder,
    vote_distribution,
    write_test_outputs,
)
from ser_modules.training.preparation import prepare_manifests
from ser_modules.utils.files import write_json_atomic

EMOTIONS = ["neu", "hap", "ang", "sad"]


# --------------------------------------------------------------------------------------------
# Labels and data
# --------------------------------------------------------------------------------------------
def test_vote_distribution_normalises_the_votes_of_the_classes():
    votes = {"neu": 1, "hap": 2, "exc": 5, "ang": 1}  # "exc" is not a class: ignored
    assert vote_distribution(votes, EMOTIONS, 1).tolist() == pytest.approx([0.25, 0.5, 0.25, 0.0])
    # nobody voted one of the classes: one-hot on the label
    assert vote_distribution({"fru": 3}, EMOTIONS, 3).tolist() == [0.0, 0.0, 0.0, 1.0]
    assert vote_distribution({}, EMOTIONS, 0).tolist() == [1.0, 0.0, 0.0, 0.0]


def write_manifest(path, entries):
    write_json_atomic(entries, path)
    return str(path)


def test_label_pipeline_gives_the_class_index_and_the_vote_distribution(tmp_path):
    entries = {
        "u1": {"emo": "ang", "votes": {"ang": 2, "sad": 1, "fru": 1}},
        "u2": {"emo": "neu", "votes": {"xxx": 2}},
    }
    data = sb.dataio.dataset.DynamicItemDataset(
        entries, dynamic_items=[label_pipeline(EMOTIONS)], output_keys=["id", *LABEL_KEYS]
    )
    first, second = data[0], data[1]
    assert first["emo_encoded"].tolist() == [2]
    assert first["vote_distribution"].tolist() == pytest.approx([0.0, 0.0, 2 / 3, 1 / 3])
    assert second["emo_encoded"].tolist() == [0] and second["vote_distribution"].tolist() == [
        1.0,
        0,
        0,
        0,
    ]


def test_datasets_hold_inputs_and_labels_and_reject_unknown_labels(tmp_path):
    good = write_manifest(
        tmp_path / "train.json", {"u1": {"emo": "sad", "votes": {"sad": 1}, "x": 2.0}}
    )
    double = sb.utils.data_pipeline.takes("x")(
        sb.utils.data_pipeline.provides("double")(lambda x: 2 * x)
    )
    datasets = classification_datasets({"train": good}, EMOTIONS, [double], ["double"])
    item = datasets["train"][0]
    assert list(item) == ["id", "double", "emo_encoded", "vote_distribution"]
    assert item["double"] == 4.0 and item["emo_encoded"].tolist() == [3]
    bad = write_manifest(tmp_path / "valid.json", {"u2": {"emo": "fru", "votes": {}}})
    with pytest.raises(UnknownLabelError, match=rf"{bad}: utterance u2 has emo 'fru'"):
        classification_datasets({"train": good, "valid": bad}, EMOTIONS, [], [])


def test_the_fold_is_prepared_and_the_label_encoder_saved_as_the_iemocap_scripts_do(tmp_path):
    calls = []

    def prepare_fold(**kwargs):
        calls.append(kwargs)
        for split in ("train", "valid", "test"):
            entries = {
                f"{split}_short": {"emo": "neu", "duration": 2.0},
                f"{split}_long": {"emo": "hap", "duration": 9.0},
            }
            write_manifest(tmp_path / "manifests" / f"{split}.json", entries)

    hparams = {
        "skip_prep": False,
        "data_folder": "corpus",
        "manifest_folder": str(tmp_path / "manifests"),
        "test_session": 3,
        "valid_ratio": 0.2,
        "dev_split": "speaker",
        "seed": 7,
        "max_duration": 5.0,
        "long_utterance": "skip",
        "emotions": EMOTIONS,
        "save_folder": str(tmp_path / "save"),
        "label_encoder": sb.dataio.encoder.CategoricalEncoder(),
        "noprogressbar": True,
    }
    options = ("data_folder", "test_session", "valid_ratio", "dev_split", "seed")
    manifests = prepare_manifests(hparams, prepare_fold, options, splits=SPLITS)
    save_label_encoder(hparams)
    assert calls == [
        {
            "save_folder": hparams["manifest_folder"],
            "data_folder": "corpus",
            "test_session": 3,
            "valid_ratio": 0.2,
            "dev_split": "speaker",
            "seed": 7,
            "progressbar": False,
        }
    ]
    assert manifests["train"].endswith("train_max5s.json")
    assert list(json.loads(open(manifests["train"]).read())) == ["train_short"]
    assert manifests["test"].endswith(
        "test.json"
    )  # evaluation utterances are cropped, never dropped
    assert hparams["label_encoder"].decode_ndim([0, 1, 2, 3]) == EMOTIONS
    assert (tmp_path / "save" / "label_encoder.txt").exists()
    hparams["skip_prep"] = True  # the manifests are there: not prepared again
    prepare_manifests(hparams, prepare_fold, options, splits=SPLITS)
    assert len(calls) == 1


# --------------------------------------------------------------------------------------------
# ClassificationBrain
# --------------------------------------------------------------------------------------------
class LinearBrain(ClassificationBrain):
    """The smallest recipe: features = the batch's vectors, head = one linear layer. Records
    the calls of its hooks."""

    def compute_forward(self, batch, stage):
        return self.modules.classifier(self.compute_features(batch.to(self.device)))

    def compute_features(self, batch):
        return batch.feats.data

    def keep_checkpoint(self, epoch, stats):
        self.calls.append(("keep_checkpoint", epoch, sorted(stats)))
        super().keep_checkpoint(epoch, stats)

    def on_test_end(self, stats):
        self.calls.append(("on_test_end", sorted(stats)))
        results = {"test_session": 1, **classification_results(self.metrics, stats["loss"])}
        write_test_outputs(self.hparams.output_folder, self.metrics, results)


def linear_brain(tmp_path, soft_labels=False, checkpointer=None):
    hparams = {
        "emotions": EMOTIONS,
        "soft_labels": soft_labels,
        "compute_cost": EmotionCrossEntropy(label_smoothing=0.1),
        "output_folder": str(tmp_path),
        "lr": 0.5,
        "checkpoint_key": "UA",
        "keep_checkpoints": 1,
        "epoch_counter": sb.utils.epoch_loop.EpochCounter(3),
        "train_logger": sb.utils.train_logger.FileTrainLogger(str(tmp_path / "train_log.txt")),
    }
    torch.manual_seed(0)
    brain = LinearBrain(
        modules={"classifier": torch.nn.Linear(3, 4)},
        opt_class=lambda params: torch.optim.SGD(params, lr=0.5),
        hparams=hparams,
        checkpointer=checkpointer,
        run_opts={"device": "cpu"},
    )
    brain.calls = []
    return brain


def toy_batch(targets, votes):
    return SimpleNamespace(
        id=[f"u{i}" for i in range(len(targets))],
        feats=SimpleNamespace(data=torch.randn(len(targets), 3)),
        emo_encoded=SimpleNamespace(data=torch.tensor(targets)[:, None]),
        vote_distribution=SimpleNamespace(data=torch.tensor(votes)),
    )


@pytest.mark.parametrize("soft_labels", [False, True])
def test_loss_targets_are_the_classes_or_the_vote_distributions(tmp_path, soft_labels):
    brain = linear_brain(tmp_path, soft_labels=soft_labels)
    votes = [[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75]]
    batch = toy_batch([0, 3], votes)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 1.0, 3.0]])
    loss = brain.compute_objectives(logits, batch, sb.Stage.TRAIN)
    smoothed = (
        0.9 * (torch.tensor(votes) if soft_labels else F.one_hot(torch.tensor([0, 3]), 4)) + 0.1 / 4
    )
    expected = -(smoothed * logits.log_softmax(-1)).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert not hasattr(brain, "metrics")  # training batches are not scored


def test_validation_batches_are_scored_with_their_probabilities(tmp_path):
    brain = linear_brain(tmp_path)
    brain.on_stage_start(sb.Stage.VALID)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 1.0, 3.0], [0.0, 4.0, 1.0, 0.0]])
    brain.compute_objectives(logits, toy_batch([0, 2, 1], [[1.0, 0, 0, 0]] * 3), sb.Stage.VALID)
    summary = brain.summary()
    assert summary["WA"] == pytest.approx(200 / 3) and summary["UA"] == pytest.approx(200 / 3)
    path = tmp_path / "p.csv"
    brain.metrics.write_predictions(str(path))
    rows = list(csv.DictReader(open(path)))
    assert [row["prediction"] for row in rows] == ["neu", "sad", "hap"]
    assert float(rows[1]["p_sad"]) == pytest.approx(logits[1].softmax(-1)[3].item(), abs=1e-6)


def test_stage_end_logs_records_history_and_calls_the_hooks(tmp_path):
    brain = linear_brain(tmp_path, checkpointer=AtomicCheckpointer(tmp_path / "save"))
    brain.on_stage_end(sb.Stage.TRAIN, 1.5, epoch=1)
    brain.on_stage_start(sb.Stage.VALID)
    brain.compute_objectives(
        torch.eye(4)[[0, 1]], toy_batch([0, 2], [[1.0, 0, 0, 0]] * 2), sb.Stage.VALID
    )
    brain.on_stage_end(sb.Stage.VALID, 1.25, epoch=1)
    assert brain.calls == [("keep_checkpoint", 1, ["F1", "UA", "WA", "loss"])]
    log = (tmp_path / "train_log.txt").read_text()
    assert "epoch: 1, lr: 5.00e-01 - train loss: 1.50 - valid loss: 1.25, valid WA: 50.00" in log
    history = json.loads((tmp_path / "history.json").read_text())
    assert history[0]["train"] == {"loss": 1.5} and history[0]["valid"]["WA"] == 50.0
    assert (tmp_path / "training_curves.png").stat().st_size > 0
    assert len(brain.checkpointer.list_checkpoints()) == 1


def test_hooks_without_a_definition_name_the_recipe_class(tmp_path):
    class Unfinished(ClassificationBrain):
        pass

    brain = Unfinished(modules={}, hparams={"emotions": EMOTIONS}, run_opts={"device": "cpu"})
    with pytest.raises(NotImplementedError, match="Unfinished must define compute_features"):
        brain.compute_features(None)
    with pytest.raises(NotImplementedError, match="Unfinished must define on_test_end"):
        brain.on_test_end({})


def test_fit_then_evaluate_writes_the_test_outputs(tmp_path):
    torch.manual_seed(1)
    centres = torch.eye(4, 3) * 3
    entries = {
        f"u{i}": {
            "emo": EMOTIONS[i % 4],
            "votes": {EMOTIONS[i % 4]: 2},
            "x": (centres[i % 4] + 0.1 * torch.randn(3)).tolist(),
        }
        for i in range(24)
    }
    entries["u23"]["emo"] = "neu"  # "sad" has 5 training utterances, the test set none
    manifest = write_manifest(tmp_path / "data.json", entries)
    features = sb.utils.data_pipeline.takes("x")(
        sb.utils.data_pipeline.provides("feats")(torch.tensor)
    )
    datasets = classification_datasets({"train": manifest}, EMOTIONS, [features], ["feats"])
    test_set = classification_datasets(
        {
            "test": write_manifest(
                tmp_path / "test.json", {k: v for k, v in entries.items() if v["emo"] != "sad"}
            )
        },
        EMOTIONS,
        [features],
        ["feats"],
    )["test"]
    brain = linear_brain(tmp_path, checkpointer=AtomicCheckpointer(tmp_path / "save"))
    brain.checkpointer.add_recoverable("classifier", brain.modules.classifier)
    loader = {"batch_size": 8}
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["train"],
        train_loader_kwargs=loader,
        valid_loader_kwargs=loader,
    )
    brain.evaluate(test_set, max_key="UA", test_loader_kwargs=loader)
    assert [call[0] for call in brain.calls] == ["keep_checkpoint"] * 3 + ["on_test_end"]
    results = json.loads((tmp_path / "test_results.json").read_text())
    assert results["num_samples"] == 19 and results["WA"] > 90.0
    assert results["recall"]["sad"] is None  # NaN: no test utterance of the class
    rows = list(csv.DictReader(open(tmp_path / "predictions.csv")))
    assert len(rows) == 19 and {"p_neu", "p_hap", "p_ang", "p_sad"} <= set(rows[0])
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0


def test_results_are_json_safe_and_written_last(tmp_path):
    metrics = ClassificationMetrics(EMOTIONS)
    metrics.append(["a", "b"], torch.tensor([0, 1]), torch.tensor([0, 0]))
    results = classification_results(metrics, float("nan"))
    assert list(results) == [
        "loss",
        "WA",
        "UA",
        "F1",
        "recall",
        "labels",
        "confusion_matrix",
        "num_samples",
    ]
    write_test_outputs(tmp_path, metrics, {"test_session": 2, **results})
    written = json.loads((tmp_path / "test_results.json").read_text())
    assert written["loss"] is None and written["recall"] == {
        "neu": 50.0,
        "hap": None,
        "ang": None,
        "sad": None,
    }
    assert written["confusion_matrix"][0] == [1, 1, 0, 0]
    assert (tmp_path / "predictions.csv").read_text().splitlines()[0] == "id,target,prediction"
