"""The stage end every recipe's Brain shares: log, record the epoch, keep the checkpoint,
write the test outputs.

:class:`RecordingBrain` is the base of the recipes' Brains
(:class:`ser_modules.training.classification.ClassificationBrain` and the MSP-Podcast
regression Brain). Its ``on_stage_end`` calls hooks the subclasses override:

* :meth:`RecordingBrain.summary`: the metrics of the split (beside its loss);
* :meth:`RecordingBrain.stats_meta`: the non-metric fields of a log line;
* :meth:`RecordingBrain.keep_checkpoint`: what is saved after a validation (default: the
  ``keep_checkpoints`` best on validation ``checkpoint_key``,
  :func:`ser_modules.training.checkpoint_averaging.keep_best_checkpoints`);
* :meth:`RecordingBrain.on_test_end`: what is written after a test.

:func:`brain_arguments` (what every recipe's Brain is built from), :func:`fit_brain` and
:func:`evaluate_best` are the recipes' one way to build, train and evaluate it.

Authors
 * ser-recipes contributors 2026
"""

import speechbrain as sb
from speechbrain.utils.distributed import main_process_only
from speechbrain.utils.epoch_loop import EpochCounterWithStopper

from ser_modules.training.checkpoint_averaging import keep_best_checkpoints
from ser_modules.training.plots import record_epoch


class RecordingBrain(sb.Brain):
    """A Brain whose stage end logs the stats, records the epoch and keeps the checkpoint
    after a validation, and writes the test outputs after a test.

    After training, the loss and :meth:`summary` are kept as the epoch's training stats.
    After a validation: the early-stopping metric of an ``EpochCounterWithStopper`` is the
    validation ``checkpoint_key``; the log line (train and valid stats); ``history.json`` and
    ``training_curves.png`` (the :attr:`curve_metrics`); :meth:`keep_checkpoint`. After a
    test: the log line and :meth:`on_test_end`.

    Reads the hparams ``train_logger``, ``output_folder``, ``epoch_counter``,
    ``checkpoint_key``, and (default hooks) ``lr`` and ``keep_checkpoints``.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.epoch_loop import EpochCounter
    >>> from ser_modules.training.loggers import TrainLoggers
    >>> folder = tempfile.mkdtemp()
    >>> class MeanBrain(RecordingBrain):
    ...     def summary(self, stage):
    ...         return {"score": 0.5}
    ...     def keep_checkpoint(self, epoch, stats):
    ...         self.kept = (epoch, stats)
    ...     def on_test_end(self, stats):
    ...         self.tested = stats
    >>> hparams = {"train_logger": TrainLoggers(f"{folder}/log.txt"), "output_folder": folder,
    ...            "epoch_counter": EpochCounter(1), "checkpoint_key": "score", "lr": 0.1}
    >>> brain = MeanBrain(modules={"lin": torch.nn.Linear(1, 1)}, hparams=hparams)
    >>> brain.on_stage_end(sb.Stage.TRAIN, 1.0, epoch=1)
    >>> brain.on_stage_end(sb.Stage.VALID, 2.0, epoch=1)
    >>> brain.kept
    (1, {'loss': 2.0, 'score': 0.5})
    >>> print(open(f"{folder}/log.txt").read().replace(" - ", "\\n"), end="")
    epoch: 1, lr: 1.00e-01
    train loss: 1.00e+00, train score: 5.00e-01
    valid loss: 2.00, valid score: 5.00e-01
    >>> brain.on_stage_end(sb.Stage.TEST, 3.0)
    >>> brain.tested
    {'loss': 3.0, 'score': 0.5}
    """

    curve_metrics = ("loss",)
    """The stats drawn in ``training_curves.png``."""

    def summary(self, stage):
        """Hook: the metrics of the split just run (the loss is added by the stage end).

        Arguments
        ---------
        stage : speechbrain.Stage
            The stage that ended.
        """
        return {}

    def stats_meta(self, stage, epoch):
        """Hook: the non-metric fields of a log line: the epoch and the learning rate after a
        validation, the loaded epoch after a test.

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

    def keep_checkpoint(self, epoch, stats):
        """Hook: saves the epoch's checkpoint, keeping the ``keep_checkpoints`` best on
        validation ``checkpoint_key`` (and the newest): more than 1 lets an export average
        them (``ser-publish export ... --average N``).

        Arguments
        ---------
        epoch : int
            The epoch just validated.
        stats : dict
            ``loss`` and :meth:`summary` of the validation split (the checkpoint's meta).
        """
        keep_best_checkpoints(
            self.checkpointer, stats, self.hparams.checkpoint_key, self.hparams.keep_checkpoints
        )

    def on_test_end(self, stats):
        """Hook: writes the test outputs (called on every process after the test stage).

        Arguments
        ---------
        stats : dict
            ``loss`` and :meth:`summary` of the test split.
        """
        raise NotImplementedError(f"{type(self).__name__} must define on_test_end(stats)")

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Keeps the training stats; logs, records the history and keeps checkpoints after a
        validation; logs and writes the test outputs after a test."""
        stats = {"loss": stage_loss, **self.summary(stage)}
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if stage == sb.Stage.VALID:
            counter = self.hparams.epoch_counter
            if isinstance(counter, EpochCounterWithStopper):  # early stopping
                counter.update_metric(stats[self.hparams.checkpoint_key])
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

    @main_process_only
    def record_history(self, epoch, valid_stats):
        """Appends the epoch to ``history.json`` and redraws ``training_curves.png``."""
        record_epoch(
            self.hparams.output_folder, epoch, self.train_stats, valid_stats, self.curve_metrics
        )


def brain_arguments(hparams, run_opts, modules=None):
    """The keyword arguments every recipe gives its Brain: the hparams' ``modules`` (or
    ``modules``), ``opt_class`` and ``checkpointer``, the hparams and the run options.

    Arguments
    ---------
    hparams : dict
        The loaded hyperparameters.
    run_opts : dict
        SpeechBrain's run options.
    modules : dict, optional
        The modules, where not the hparams' ``modules``.

    Returns
    -------
    dict
        Keyword arguments of ``speechbrain.Brain``.

    Example
    -------
    >>> hparams = {"modules": {"lin": "m"}, "opt_class": "o", "checkpointer": "c"}
    >>> sorted(brain_arguments(hparams, {"device": "cpu"}).items())[:3]
    [('checkpointer', 'c'), ('hparams', {...}), ('modules', {'lin': 'm'})]
    >>> brain_arguments(hparams, {}, modules={"other": "n"})["modules"]
    {'other': 'n'}
    """
    return {
        "modules": hparams["modules"] if modules is None else modules,
        "opt_class": hparams["opt_class"],
        "hparams": hparams,
        "run_opts": run_opts,
        "checkpointer": hparams["checkpointer"],
    }


def fit_brain(brain, datasets):
    """Trains ``brain`` on ``datasets["train"]`` for the epochs of its ``epoch_counter``,
    validating on ``datasets["valid"]``, with the loaders of its ``train_dataloader_opts`` and
    ``valid_dataloader_opts``.

    Arguments
    ---------
    brain : speechbrain.Brain
        The recipe's Brain.
    datasets : dict
        Split name -> dataset, with ``train`` and ``valid``.

    Example
    -------
    >>> class Recorder:
    ...     hparams = type("H", (), {"epoch_counter": "e", "train_dataloader_opts": {"a": 1},
    ...                              "valid_dataloader_opts": {"b": 2}})
    ...     def fit(self, *args, **kwargs):
    ...         print(args, sorted(kwargs.items()))
    >>> fit_brain(Recorder(), {"train": "tr", "valid": "va"})
    ('e', 'tr', 'va') [('train_loader_kwargs', {'a': 1}), ('valid_loader_kwargs', {'b': 2})]
    """
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=brain.hparams.train_dataloader_opts,
        valid_loader_kwargs=brain.hparams.valid_dataloader_opts,
    )


def evaluate_best(brain, dataset, loader_options=None):
    """Evaluates on ``dataset`` the checkpoint best on the hparams' ``checkpoint_key``, with a
    copy of ``loader_options`` (default: the hparams' ``test_dataloader_opts``).

    Arguments
    ---------
    brain : speechbrain.Brain
        The recipe's Brain.
    dataset : Dataset
        The test split.
    loader_options : dict, optional
        Test dataloader options, where not the hparams' ``test_dataloader_opts``.

    Example
    -------
    >>> class Recorder:
    ...     hparams = type("H", (), {"checkpoint_key": "UA", "test_dataloader_opts": {"c": 3}})
    ...     def evaluate(self, *args, **kwargs):
    ...         print(args, sorted(kwargs.items()))
    >>> evaluate_best(Recorder(), "te")
    ('te',) [('max_key', 'UA'), ('test_loader_kwargs', {'c': 3})]
    """
    if loader_options is None:
        loader_options = brain.hparams.test_dataloader_opts
    brain.evaluate(
        dataset, max_key=brain.hparams.checkpoint_key, test_loader_kwargs=dict(loader_options)
    )
