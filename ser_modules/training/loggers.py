"""The recipes' training logger: ``train_log.txt`` always, TensorBoard and W&B on request.

Every recipe yaml creates its ``train_logger`` with :class:`TrainLoggers`, switched by two keys
(default off)::

    use_tensorboard: False   # --use_tensorboard=True: event files in <output_folder>/tensorboard
    use_wandb: False         # --use_wandb=True: a Weights & Biases run
    train_logger: !new:ser_modules.training.loggers.TrainLoggers
        save_file: !ref <train_log>
        tensorboard: !ref <use_tensorboard>
        tensorboard_dir: !ref <output_folder>/tensorboard
        wandb: !ref <use_wandb>
        wandb_options: {project: ser-recipes, name: ..., dir: !ref <output_folder>}

Each ``log_stats`` call goes to SpeechBrain's ``FileTrainLogger`` (the ``train_log.txt`` that
the recipes have always written) and to each backend switched on. A backend whose package is
missing fails when the yaml is loaded, before any data preparation or training, with an
``ImportError`` that says what to install (``pip install tensorboard`` or
``pip install wandb``). The backends use the epoch as the step, so that the curves of a run
resumed after an interruption continue those written before it (SpeechBrain's own
``TensorboardLogger`` counts calls from 1 in every process). Only the main DDP process writes.

Authors
 * ser-recipes contributors 2026
"""

import os

import torch
from speechbrain.utils.distributed import if_main_process, main_process_only
from speechbrain.utils.train_logger import (
    FileTrainLogger,
    TensorboardLogger,
    TrainLogger,
    WandBLogger,
)

from ser_modules.utils.values import is_real_number

#: The ``stats_meta`` keys that hold the step of a log line: the epoch after a validation, the
#: epoch of the evaluated checkpoint after a test (the recipes' Brains log these two).
STEP_KEYS = ("epoch", "Epoch loaded")


class BackendMissingError(ImportError):
    """A logging backend was switched on but its package is not installed (the message says
    which package to install and which key switches the backend off)."""


class TrainLoggers(TrainLogger):
    """SpeechBrain's file logger plus the TensorBoard and W&B loggers switched on.

    Arguments
    ---------
    save_file : str
        The text log (``train_log.txt``), always written.
    precision : int
        Decimal places of the text log.
    tensorboard : bool
        Also write TensorBoard event files (needs the ``tensorboard`` package).
    tensorboard_dir : str, optional
        Folder of the event files (required when ``tensorboard`` is True).
    wandb : bool
        Also log to a Weights & Biases run (needs the ``wandb`` package and a ``wandb login``).
    wandb_options : dict, optional
        Keyword arguments of ``wandb.init`` (project, name, group, dir, mode, ...); the ``dir``
        folder is created first.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> loggers = TrainLoggers(os.path.join(folder, "train_log.txt"))
    >>> loggers.log_stats({"epoch": 1, "lr": 0.001}, train_stats={"loss": 1.25},
    ...                   valid_stats={"loss": 1.5, "UA": 40.0}, verbose=False)
    >>> print(open(os.path.join(folder, "train_log.txt")).read().strip())
    epoch: 1, lr: 1.00e-03 - train loss: 1.25 - valid loss: 1.50, valid UA: 40.00
    >>> TrainLoggers(os.path.join(folder, "log.txt"), tensorboard="yes")
    Traceback (most recent call last):
        ...
    TypeError: TrainLoggers: tensorboard must be True or False (use_tensorboard in the hparams
    file), got 'yes'
    """

    def __init__(
        self,
        save_file,
        precision=2,
        tensorboard=False,
        tensorboard_dir=None,
        wandb=False,
        wandb_options=None,
    ):
        for name, value in (("tensorboard", tensorboard), ("wandb", wandb)):
            if not isinstance(value, bool):
                raise TypeError(
                    f"TrainLoggers: {name} must be True or False (use_{name} in the hparams file), "
                    f"got {value!r}"
                )
        self.loggers = [FileTrainLogger(save_file, precision=precision)]
        if tensorboard:
            if not tensorboard_dir:
                raise ValueError(
                    "TrainLoggers: tensorboard=True needs tensorboard_dir (the folder of the event"
                    " files)"
                )
            self.loggers.append(EpochTensorboardLogger(tensorboard_dir))
        if wandb:
            self.loggers.append(EpochWandBLogger(**(wandb_options or {})))

    def log_stats(
        self, stats_meta, train_stats=None, valid_stats=None, test_stats=None, verbose=True
    ):
        """Logs one line to every logger (``verbose``: also to the console, as the file logger
        does by default).

        Not decorated with ``main_process_only``: every DDP process calls each logger's
        decorated ``log_stats`` in the same order (they broadcast), and each writes only on the
        main process.
        """
        for logger in self.loggers:
            logger.log_stats(
                stats_meta,
                train_stats=train_stats,
                valid_stats=valid_stats,
                test_stats=test_stats,
                verbose=verbose if isinstance(logger, FileTrainLogger) else False,
            )


def log_step(stats_meta):
    """The step of a log line: its epoch (``epoch`` or ``Epoch loaded``), or ``None``.

    Example
    -------
    >>> metas = ({"epoch": 3, "lr": 0.1}, {"Epoch loaded": 7, "split": "test1"}, {})
    >>> tuple(log_step(meta) for meta in metas)
    (3, 7, None)
    """
    for key in STEP_KEYS:
        if stats_meta.get(key) is not None:
            return int(stats_meta[key])
    return None


def scalar(name, value):
    """``value`` as a float for a plot; a ``TypeError`` naming the statistic otherwise.

    Example
    -------
    >>> scalar("loss", torch.tensor(0.5)), scalar("UA", 40)
    (0.5, 40.0)
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if is_real_number(value):
        return float(value)
    raise TypeError(f"Training statistic {name} is not a number: {value!r}")


class EpochTensorboardLogger(TensorboardLogger):
    """SpeechBrain's TensorBoard logger, with the epoch as the step of every scalar.

    The tag of a statistic is ``<stat>/<stage>`` as in SpeechBrain (``loss/train``,
    ``UA/valid``); the text fields of ``stats_meta`` (the MSP-Podcast test split) are added to
    the stage (``ccc_mean/test_test1``), and its other numbers (the learning rate) are scalars
    of their own. The events are flushed after every call.

    Arguments
    ---------
    save_dir : str
        The folder of the event files (created).

    Raises
    ------
    BackendMissingError
        When the ``tensorboard`` package is not installed.
    """

    def __init__(self, save_dir):
        try:
            super().__init__(save_dir)
        except ImportError as error:
            raise BackendMissingError(
                "TensorBoard logging (use_tensorboard: True) needs the tensorboard package: "
                "pip install tensorboard (or pip install 'ser-recipes[tensorboard]'), "
                f"or set --use_tensorboard=False ({error})"
            ) from error

    @main_process_only
    def log_stats(
        self, stats_meta, train_stats=None, valid_stats=None, test_stats=None, verbose=False
    ):
        """Adds the scalars of one log line at its epoch (at the next step when it has none)."""
        step = log_step(stats_meta)
        if step is None:
            step = self.global_step["meta"] + 1
        self.global_step["meta"] = step
        labels = [str(value) for value in stats_meta.values() if isinstance(value, str)]
        for name, value in stats_meta.items():
            if name not in STEP_KEYS and not isinstance(value, str):
                self.writer.add_scalar(name, scalar(name, value), step)
        for stage, stats in (("train", train_stats), ("valid", valid_stats), ("test", test_stats)):
            for name, value in (stats or {}).items():
                self.writer.add_scalar(
                    f"{name}/{'_'.join([stage, *labels])}", scalar(name, value), step
                )
        self.writer.flush()


class EpochWandBLogger(WandBLogger):
    """SpeechBrain's W&B logger (the epoch is the step), with the run started here so that a
    missing package or a failed ``wandb.init`` is reported as it is.

    Arguments
    ---------
    **options : dict
        Keyword arguments of ``wandb.init``; the ``dir`` folder is created first.

    Raises
    ------
    BackendMissingError
        When the ``wandb`` package is not installed.
    """

    def __init__(self, **options):
        try:
            import wandb
        except ImportError as error:
            raise BackendMissingError(
                "Weights & Biases logging (use_wandb: True) needs the wandb package: "
                "pip install wandb (or pip install 'ser-recipes[wandb]'), then wandb login; "
                f"or set --use_wandb=False ({error})"
            ) from error
        self.run = None
        if if_main_process():
            if options.get("dir"):
                os.makedirs(options["dir"], exist_ok=True)
            self.run = wandb.init(**options)
