"""The recipes' training logger (``ser_modules.training.loggers``): train_log.txt always,
TensorBoard event files and a W&B run when switched on (epoch as the step, also across a
resume), a clear error when a backend's package is missing, and the switch in every recipe yaml."""

import inspect
import sys
import types
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from ser_modules.training.loggers import BackendMissingError, TrainLoggers
from ser_modules.utils.yaml_values import load_yaml_nodes

ROOT = Path(__file__).resolve().parents[1]
RECIPE_HPARAMS = sorted((ROOT / "recipes").glob("*/hparams/*.yaml"))  # not hparams/inference/


def log_two_epochs_and_a_test(loggers, first_epoch=1):
    for epoch in (first_epoch, first_epoch + 1):
        loggers.log_stats(
            {"epoch": epoch, "lr": 0.1 / epoch},
            train_stats={"loss": 2.0 / epoch},
            valid_stats={"loss": 1.0 + epoch, "UA": 30.0 + epoch},
            verbose=False,
        )
    loggers.log_stats(
        {"Epoch loaded": first_epoch + 1, "split": "test1"},
        test_stats={"ccc_mean": 0.25},
        verbose=False,
    )


def scalars(folder):
    """{tag: [(step, value)]} of every TensorBoard event file under ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: sorted((event.step, round(event.value, 6)) for event in events.Scalars(tag))
        for tag in events.Tags()["scalars"]
    }


def test_the_text_log_is_written_with_every_backend_off(tmp_path):
    loggers = TrainLoggers(str(tmp_path / "train_log.txt"))
    log_two_epochs_and_a_test(loggers)
    lines = (tmp_path / "train_log.txt").read_text().splitlines()
    assert lines == [
        "epoch: 1, lr: 1.00e-01 - train loss: 2.00 - valid loss: 2.00, valid UA: 31.00",
        "epoch: 2, lr: 5.00e-02 - train loss: 1.00e+00 - valid loss: 3.00, valid UA: 32.00",
        "Epoch loaded: 2, split: test1 - test ccc_mean: 2.50e-01",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["train_log.txt"]


def test_tensorboard_events_follow_the_epochs_also_across_a_resume(tmp_path):
    pytest.importorskip("tensorboard")
    board = tmp_path / "tensorboard"
    log_two_epochs_and_a_test(
        TrainLoggers(str(tmp_path / "train_log.txt"), tensorboard=True, tensorboard_dir=str(board))
    )
    # a resumed run (new process, new logger) continues at epoch 3
    resumed = TrainLoggers(
        str(tmp_path / "train_log.txt"), tensorboard=True, tensorboard_dir=str(board)
    )
    resumed.log_stats(
        {"epoch": 3, "lr": 0.025},
        train_stats={"loss": 0.5},
        valid_stats={"loss": torch.tensor(1.5), "UA": 40},
    )
    assert len(list(board.glob("events.out.tfevents.*"))) == 2
    assert scalars(board) == {
        "lr": [(1, 0.1), (2, 0.05), (3, 0.025)],
        "loss/train": [(1, 2.0), (2, 1.0), (3, 0.5)],
        "loss/valid": [(1, 2.0), (2, 3.0), (3, 1.5)],
        "UA/valid": [(1, 31.0), (2, 32.0), (3, 40.0)],
        "ccc_mean/test_test1": [(2, 0.25)],
    }
    assert len((tmp_path / "train_log.txt").read_text().splitlines()) == 4  # the text log beside it


def test_a_statistic_that_is_not_a_number_is_named(tmp_path):
    pytest.importorskip("tensorboard")
    loggers = TrainLoggers(
        str(tmp_path / "log.txt"), tensorboard=True, tensorboard_dir=str(tmp_path / "tb")
    )
    with pytest.raises(TypeError, match=r"Training statistic UA is not a number: \[1.0, 2.0\]"):
        loggers.log_stats({"epoch": 1}, valid_stats={"UA": [1.0, 2.0]}, verbose=False)


def test_tensorboard_switched_on_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(
        sys.modules, "torch.utils.tensorboard", None
    )  # import fails as when not installed
    with pytest.raises(
        BackendMissingError, match=r"use_tensorboard: True.*pip install tensorboard"
    ):
        TrainLoggers(
            str(tmp_path / "log.txt"), tensorboard=True, tensorboard_dir=str(tmp_path / "tb")
        )
    assert not (tmp_path / "tb").exists()
    TrainLoggers(str(tmp_path / "log.txt"))  # off: the package is not needed


def test_wandb_switched_on_without_the_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(BackendMissingError, match=r"use_wandb: True.*pip install wandb"):
        TrainLoggers(str(tmp_path / "log.txt"), wandb=True, wandb_options={"project": "p"})


def test_tensorboard_needs_its_folder(tmp_path):
    with pytest.raises(ValueError, match="tensorboard_dir"):
        TrainLoggers(str(tmp_path / "log.txt"), tensorboard=True)


class FakeRun:
    def __init__(self):
        self.logged = []

    def log(self, data, step=None):
        self.logged.append((step, data))


def test_wandb_run_gets_the_options_and_the_epochs(tmp_path, monkeypatch):
    run, inits = FakeRun(), []
    fake = types.ModuleType("wandb")

    def init(**options):
        inits.append(options)
        assert Path(options["dir"]).is_dir()  # created before wandb.init
        return run

    fake.init = init
    monkeypatch.setitem(sys.modules, "wandb", fake)
    options = {"project": "ser-recipes", "name": "g/e/seed1", "dir": str(tmp_path / "exp")}
    log_two_epochs_and_a_test(
        TrainLoggers(str(tmp_path / "log.txt"), wandb=True, wandb_options=options)
    )
    assert inits == [options]
    assert [step for step, _ in run.logged] == [1, 2, None]
    assert run.logged[1][1]["valid"]["UA"] == 32.0 and run.logged[1][1]["lr"] == 0.05
    assert run.logged[2][1] == {"test": {"ccc_mean": 0.25}, "Epoch loaded": 2, "split": "test1"}
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "path", RECIPE_HPARAMS, ids=lambda path: f"{path.parent.parent.name}/{path.stem}"
)
def test_every_recipe_yaml_logs_through_the_switches_default_off(path, tmp_path):
    """The train_logger block of each recipe yaml, loaded alone with the keys it refers to: off
    by default (only the text log), on with the command-line switch."""
    document = load_yaml_nodes(path)
    assert document["use_tensorboard"] is False and document["use_wandb"] is False
    assert document["train_logger"].tag.value == "!new:ser_modules.training.loggers.TrainLoggers"
    assert set(document["train_logger"]) <= set(inspect.signature(TrainLoggers).parameters)
    block = path.read_text().split("\nuse_tensorboard: False\n", 1)[1]
    refs = {
        "train_log": str(tmp_path / "train_log.txt"),
        "output_folder": str(tmp_path),
        "experiment_group": "g",
        "experiment_name": "e",
        "seed": 1,
        "test_session": 1,
    }
    header = "".join(f"{key}: {value}\n" for key, value in refs.items())
    loggers = load_hyperpyyaml(header + "use_tensorboard: False\n" + block)["train_logger"]
    assert [type(logger).__name__ for logger in loggers.loggers] == ["FileTrainLogger"]
    pytest.importorskip("tensorboard")
    loggers = load_hyperpyyaml(
        header + "use_tensorboard: False\n" + block, {"use_tensorboard": True}
    )["train_logger"]
    assert [type(logger).__name__ for logger in loggers.loggers] == [
        "FileTrainLogger",
        "EpochTensorboardLogger",
    ]
    assert (tmp_path / "tensorboard").is_dir()
