"""Tests of ser_modules.training.update_budget: a run resumed after its optimizer_step_limit
updates trains no further (empty) epoch."""

import speechbrain as sb
import torch
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.epoch_loop import EpochCounter

from ser_modules.training.update_budget import end_epochs_if_budget_spent


class TinyBrain(sb.Brain):
    def compute_forward(self, batch, stage):
        return self.modules.linear(batch)

    def compute_objectives(self, predictions, batch, stage):
        return predictions.pow(2).mean()

    def on_fit_start(self):
        super().on_fit_start()
        self.budget_spent = end_epochs_if_budget_spent(self, self.hparams.epoch_counter)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self.hparams.trained_epochs.append(epoch)
        if stage == sb.Stage.VALID:
            self.checkpointer.save_and_keep_only(meta={"loss": stage_loss}, min_keys=["loss"])


def run(folder, limit):
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 1)
    counter = EpochCounter(10)
    checkpointer = Checkpointer(folder, {"linear": linear, "counter": counter})
    hparams = {"epoch_counter": counter, "trained_epochs": [], "optimizer_step_limit": limit}
    brain = TinyBrain(
        {"linear": linear},
        lambda params: torch.optim.SGD(params, lr=0.1),
        hparams,
        run_opts={"device": "cpu", "noprogressbar": True},
        checkpointer=checkpointer,
    )
    data = [torch.randn(2, 3) for _ in range(4)]  # 4 updates per epoch
    brain.fit(
        counter,
        data,
        data[:1],
        train_loader_kwargs={"batch_size": None},
        valid_loader_kwargs={"batch_size": None},
    )
    return brain, counter


def test_resumed_run_after_the_limit_trains_no_epoch(tmp_path):
    first, counter = run(tmp_path, limit=6)
    assert (first.optimizer_step, counter.current, first.hparams.trained_epochs) == (6, 2, [1, 2])
    assert not first.budget_spent
    again, counter = run(tmp_path, limit=6)
    assert again.budget_spent and again.hparams.trained_epochs == [] and counter.current == 2
    assert again.optimizer_step == 6


def test_a_larger_limit_resumes_training(tmp_path):
    run(tmp_path, limit=6)
    more, counter = run(tmp_path, limit=10)
    assert not more.budget_spent
    assert (more.optimizer_step, counter.current, more.hparams.trained_epochs) == (10, 3, [3])
