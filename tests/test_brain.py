"""The one stage end of the recipes' Brains (training.brain.RecordingBrain): training stats
kept, early stopping on the validation checkpoint_key, log lines, history, the best
checkpoints kept, test outputs."""

import json

import pytest
import speechbrain as sb
import torch
from speechbrain.utils.epoch_loop import EpochCounter, EpochCounterWithStopper

from ser_modules.training.brain import RecordingBrain
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.training.loggers import TrainLoggers


class ScoreBrain(RecordingBrain):
    """Its summary is the next of ``scores``; records its test stats."""

    curve_metrics = ("loss", "score")

    def summary(self, stage):
        return {} if stage == sb.Stage.TRAIN else {"score": self.scores.pop(0)}

    def on_test_end(self, stats):
        self.tested = stats


def make_brain(tmp_path, scores, counter, keep=1):
    model = torch.nn.Linear(1, 1)
    hparams = {
        "train_logger": TrainLoggers(str(tmp_path / "train_log.txt")),
        "output_folder": str(tmp_path),
        "epoch_counter": counter,
        "checkpoint_key": "score",
        "keep_checkpoints": keep,
        "lr": 0.5,
    }
    checkpointer = AtomicCheckpointer(tmp_path / "save", recoverables={"model": model})
    brain = ScoreBrain(modules={"model": model}, hparams=hparams, checkpointer=checkpointer)
    brain.scores = list(scores)
    return brain


def run_epochs(brain):
    for epoch in brain.hparams.epoch_counter:
        brain.on_stage_end(sb.Stage.TRAIN, 1.0 / epoch, epoch)
        brain.on_stage_end(sb.Stage.VALID, 2.0 / epoch, epoch)


def test_every_validation_is_logged_recorded_and_the_best_checkpoints_kept(tmp_path):
    brain = make_brain(tmp_path, [0.2, 0.6, 0.4, 0.1, 0.3], EpochCounter(4), keep=2)
    run_epochs(brain)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == [1, 2, 3, 4]
    assert (tmp_path / "training_curves.png").exists()
    log = (tmp_path / "train_log.txt").read_text().splitlines()
    assert len(log) == 4 and log[1].startswith("epoch: 2, lr: 5.00e-01 - train loss: 5.00e-01")
    kept = sorted(c.meta["score"] for c in brain.checkpointer.list_checkpoints())
    assert kept == [0.1, 0.4, 0.6]  # the two best and the newest
    brain.on_stage_end(sb.Stage.TEST, 3.0)
    assert brain.tested == {"loss": 3.0, "score": 0.3}
    assert "Epoch loaded: 4" in (tmp_path / "train_log.txt").read_text().splitlines()[-1]


def test_early_stopping_follows_the_validation_checkpoint_key(tmp_path):
    counter = EpochCounterWithStopper(10, limit_to_stop=2, limit_warmup=0, direction="max")
    brain = make_brain(tmp_path, [0.5, 0.7, 0.6, 0.6, 0.9, 0.9], counter)
    run_epochs(brain)
    assert counter.current == 4  # two epochs without a better score after epoch 2


def test_a_brain_without_test_outputs_says_so(tmp_path):
    brain = make_brain(tmp_path, [], EpochCounter(1))
    with pytest.raises(NotImplementedError, match="ScoreBrain must define on_test_end"):
        RecordingBrain.on_test_end(brain, {})
