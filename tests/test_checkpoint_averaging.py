"""Tests of ser_modules.training.checkpoint_averaging: retention, selection, averaging, and that an
average loaded in on_evaluate_start is the model evaluate() uses."""

import pytest
import speechbrain as sb
import torch
from speechbrain.core import INTRA_EPOCH_CKPT_FLAG
from speechbrain.utils.checkpoints import Checkpointer

from ser_modules.training.checkpoint_averaging import (
    average_states,
    best_checkpoints,
    checkpoint_summary,
    load_average,
    save_and_keep_best,
)
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.training.classification import ClassificationBrain


class Net(torch.nn.Module):
    """Parameters and float / integer buffers (batch norm)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.norm = torch.nn.BatchNorm1d(2)

    def forward(self, x):
        return self.norm(self.linear(x))


def fill(module, value):
    """Sets every float parameter and buffer of ``module`` to ``value``."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.fill_(value)


def make_run(tmp_path, accuracies, num_to_keep, mode="max"):
    """One checkpoint per epoch, the parameters set to the epoch number."""
    net = Net()
    checkpointer = Checkpointer(tmp_path, {"model": net})
    for epoch, accuracy in enumerate(accuracies, start=1):
        fill(net, float(epoch))
        save_and_keep_best(
            checkpointer,
            {"WA": accuracy, "epoch": epoch},
            "WA",
            num_to_keep,
            mode=mode,
            name=f"epoch-{epoch:03d}",
        )
    return net, checkpointer


def epochs_of(checkpoints):
    return sorted(ckpt.meta["epoch"] for ckpt in checkpoints)


def test_keeps_the_n_best_and_the_newest(tmp_path):
    accuracies = [40.0, 70.0, 50.0, 65.0, 30.0, 60.0, 20.0]
    _, checkpointer = make_run(tmp_path, accuracies, num_to_keep=3)
    # best 3 among epochs 1-6: 2 (70), 4 (65), 6 (60); plus the newest, epoch 7
    assert epochs_of(checkpointer.list_checkpoints()) == [2, 4, 6, 7]
    assert epochs_of(best_checkpoints(checkpointer, "WA", 3)) == [2, 4, 6]


def test_min_mode_and_ties(tmp_path):
    _, checkpointer = make_run(tmp_path, [3.0, 1.0, 2.0, 1.0], num_to_keep=2, mode="min")
    best = best_checkpoints(checkpointer, "WA", 2, mode="min")
    assert [c.meta["epoch"] for c in best] == [4, 2]  # equal keys: the most recent first


def test_intra_epoch_checkpoints_are_removed(tmp_path):
    net, checkpointer = make_run(tmp_path, [50.0], num_to_keep=1)
    checkpointer.save_checkpoint(meta={INTRA_EPOCH_CKPT_FLAG: True}, end_of_epoch=False)
    assert len(checkpointer.list_checkpoints()) == 2
    save_and_keep_best(checkpointer, {"WA": 40.0, "epoch": 2}, "WA", 1, name="epoch-002")
    assert not any(INTRA_EPOCH_CKPT_FLAG in c.meta for c in checkpointer.list_checkpoints())


def test_average_equals_the_parameter_mean_of_the_saved_files(tmp_path):
    net, checkpointer = make_run(tmp_path, [40.0, 70.0, 50.0, 65.0, 60.0], num_to_keep=3)
    best = best_checkpoints(checkpointer, "WA", 3)
    states = load_average(checkpointer, best, ["model"])
    files = [torch.load(ckpt.paramfiles["model"]) for ckpt in best]
    for name, value in net.state_dict().items():
        expected = sum(f[name].double() for f in files) / len(files)
        assert torch.allclose(states["model"][name].double(), expected), name
        if value.is_floating_point():
            assert torch.allclose(value.double(), expected), name
    assert torch.allclose(net.linear.weight, torch.full((2, 3), (2 + 4 + 5) / 3))
    summary = checkpoint_summary(best, "WA", prefix="valid_")
    assert [row["checkpoint"] for row in summary] == [
        "CKPT+epoch-002",
        "CKPT+epoch-004",
        "CKPT+epoch-005",
    ]
    assert summary[0] == {"checkpoint": "CKPT+epoch-002", "epoch": 2, "valid_WA": 70.0}


class Tagged(torch.nn.Module):
    """A linear layer with fixed integer indices (a fitted selection) and an extra state (the
    ``_extra_state`` entry of its state dict, a dict)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.register_buffer("indices", torch.tensor([4, 0, 7]))
        self.register_buffer("count", torch.tensor(0))
        self.tag = {"scale": "1-7", "fitted_on": "train"}

    def get_extra_state(self):
        return dict(self.tag)

    def set_extra_state(self, state):
        self.tag = dict(state)


def test_extra_states_and_integer_buffers_are_kept_not_averaged(tmp_path):
    """MSP-Podcast models hold fitted integer indices and modules may carry an ``_extra_state``
    (issue #13, row 8: averaging used to fail with "'dict' object has no attribute 'data'")."""
    net = Tagged()
    checkpointer = Checkpointer(tmp_path, {"model": net})
    for epoch, accuracy in enumerate([50.0, 70.0, 60.0], start=1):
        fill(net, float(epoch))
        net.count.fill_(10 * epoch)
        save_and_keep_best(
            checkpointer, {"WA": accuracy, "epoch": epoch}, "WA", 3, name=f"epoch-{epoch:03d}"
        )
    best = best_checkpoints(checkpointer, "WA", 3)
    states = load_average(checkpointer, best, ["model"])["model"]
    assert torch.equal(net.linear.weight, torch.full((1, 2), 2.0))
    assert states["indices"].dtype == torch.int64 and states["indices"].tolist() == [4, 0, 7]
    assert (
        states["count"].dtype == torch.int64 and states["count"].item() == 20
    )  # counters: the mean
    assert states["_extra_state"] == {"scale": "1-7", "fitted_on": "train"} == net.tag
    # an extra state that differs between the checkpoints cannot be averaged: named, not guessed
    net.tag = {"scale": "0-1", "fitted_on": "train"}
    checkpointer.save_checkpoint(meta={"WA": 99.0, "epoch": 4}, name="epoch-004")
    with pytest.raises(ValueError, match="_extra_state.*differs between"):
        average_states(best_checkpoints(checkpointer, "WA", 2), "model")


@pytest.mark.parametrize("keep,kept", [(1, [50.0, 70.0]), (3, [50.0, 60.0, 65.0, 70.0])])
def test_iemocap_brain_keeps_keep_checkpoints_best_checkpoints(tmp_path, keep, kept):
    """ClassificationBrain.keep_checkpoint (IEMOCAP train.py): the best on valid checkpoint_key and
    the newest with keep_checkpoints: 1, the keep_checkpoints best and the newest otherwise."""
    hparams = {"emotions": ["neu", "hap"], "checkpoint_key": "UA", "keep_checkpoints": keep}
    brain = ClassificationBrain(
        modules={"classifier": torch.nn.Linear(2, 2)},
        hparams=hparams,
        checkpointer=AtomicCheckpointer(tmp_path),
        run_opts={"device": "cpu"},
    )
    brain.checkpointer.add_recoverable("classifier", brain.modules.classifier)
    for epoch, ua in enumerate([40.0, 70.0, 60.0, 65.0, 30.0, 50.0], start=1):
        brain.keep_checkpoint(epoch, {"loss": 1.0, "UA": ua, "WA": ua, "F1": ua})
    assert sorted(ckpt.meta["UA"] for ckpt in brain.checkpointer.list_checkpoints()) == kept
    brain.hparams.keep_checkpoints = 0
    with pytest.raises(
        ValueError, match="keep_checkpoints must be .* 1 or more.*--keep_checkpoints"
    ):
        brain.keep_checkpoint(7, {"loss": 1.0, "UA": 1.0, "WA": 1.0, "F1": 1.0})


class ScalarBrain(sb.Brain):
    """Evaluates the mean output of a 1 x 1 linear model on x = 1."""

    def compute_forward(self, batch, stage):
        return self.modules.model(batch[0].to(self.device))

    def compute_objectives(self, predictions, batch, stage):
        self.outputs.append(predictions.detach())
        return predictions.mean()

    def on_stage_start(self, stage, epoch=None):
        self.outputs = []


class AveragingBrain(ScalarBrain):
    """Averages the 2 best checkpoints inside on_evaluate_start."""

    def on_evaluate_start(self, max_key=None, min_key=None):
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        load_average(self.checkpointer, best_checkpoints(self.checkpointer, max_key, 2), ["model"])


def test_average_loaded_in_on_evaluate_start_is_what_evaluate_uses(tmp_path):
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=2
    )
    results = {}
    for brain_class in (ScalarBrain, AveragingBrain):
        model = torch.nn.Linear(1, 1, bias=False)
        checkpointer = Checkpointer(tmp_path / brain_class.__name__, {"model": model})
        brain = brain_class(
            modules={"model": model},
            checkpointer=checkpointer,
            run_opts={"device": "cpu", "noprogressbar": True},
        )
        for epoch, accuracy in enumerate([10.0, 30.0, 20.0], start=1):
            model.weight.data.fill_(float(epoch))
            save_and_keep_best(checkpointer, {"WA": accuracy, "epoch": epoch}, "WA", 2)
        model.weight.data.fill_(-1.0)  # averaging "before evaluate()" would be overwritten
        brain.evaluate(data, max_key="WA")
        results[brain_class.__name__] = torch.cat(brain.outputs).unique().tolist()
    assert results["ScalarBrain"] == [2.0]  # the best checkpoint (epoch 2)
    assert results["AveragingBrain"] == [2.5]  # mean of epochs 2 and 3
