"""Plots written by the training recipes: training curves, learned layer weights.

PNG files drawn with matplotlib's object-oriented API on the Agg canvas
(:mod:`ser_modules.utils.plotting`): importing this module neither imports ``pyplot`` nor
changes the global matplotlib backend.

Authors
 * ser-recipes contributors 2026
"""

import os

from ser_modules.utils.files import read_json, write_json_atomic
from ser_modules.utils.plotting import new_figure, save_figure


def _save(fig, path):
    """Lays out a figure and writes it to ``path`` (parent folders created)."""
    fig.tight_layout()
    save_figure(fig, path)


def plot_training_curves(history, path, metrics=("loss",)):
    """Plots per-epoch statistics of the train and valid stages.

    Arguments
    ---------
    history : list of dict
        One entry per epoch: ``{"epoch": int, "train": {name: value}, "valid": {name: value}}``.
    path : str
        Output PNG.
    metrics : sequence of str
        Statistic names, one panel each (a stage lacking one is skipped).

    Example
    -------
    >>> import tempfile
    >>> history = [{"epoch": 1, "train": {"loss": 1.3}, "valid": {"loss": 1.2, "UA": 40.0}},
    ...            {"epoch": 2, "train": {"loss": 1.1}, "valid": {"loss": 1.0, "UA": 55.0}}]
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> plot_training_curves(history, path, metrics=("loss", "UA"))
    >>> os.path.getsize(path) > 0
    True
    """
    fig = new_figure((4.5 * len(metrics), 3.5))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    epochs = [entry["epoch"] for entry in history]
    for axis, metric in zip(axes[0], metrics):
        for stage in ("train", "valid"):
            values = [entry.get(stage, {}).get(metric) for entry in history]
            if any(value is not None for value in values):
                axis.plot(epochs, values, marker="o", markersize=3, label=stage)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    _save(fig, path)


def plot_layer_weights(weights, path, title="Learned weights of the SSL hidden states"):
    """Bar plot of the softmax weights of a ``WeightedLayerSum``.

    Arguments
    ---------
    weights : sequence of float
        One weight per hidden state (index 0 = CNN projection).
    path : str
        Output PNG.
    title : str
        Figure title.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.png")
    >>> plot_layer_weights([0.2, 0.3, 0.5], path)
    >>> os.path.getsize(path) > 0
    True
    """
    fig = new_figure((max(4.0, 0.3 * len(weights) + 2), 3.2))
    axis = fig.subplots()
    axis.bar(range(len(weights)), [float(w) for w in weights])
    axis.set_xlabel("hidden state (0 = CNN projection)")
    axis.set_ylabel("weight")
    axis.set_title(title)
    _save(fig, path)


def record_epoch(folder, epoch, train_stats, valid_stats, curve_metrics=None):
    """Records one epoch in ``folder/history.json`` and optionally redraws the curves.

    Entries of later epochs (left by a run that was interrupted and resumed from an earlier
    checkpoint) are dropped, so the history always ends at ``epoch``.

    Arguments
    ---------
    folder : str
        Experiment folder.
    epoch : int
        The epoch just finished.
    train_stats, valid_stats : dict
        Scalar statistics of the two stages.
    curve_metrics : sequence of str, optional
        Statistics to plot in ``folder/training_curves.png`` (no plot when None).

    Returns
    -------
    list of dict
        The whole history.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = record_epoch(folder, 1, {"loss": 1.3}, {"loss": 1.2})
    >>> _ = record_epoch(folder, 2, {"loss": 1.1}, {"loss": 1.0}, curve_metrics=("loss",))
    >>> [entry["epoch"] for entry in record_epoch(folder, 2, {"loss": 1.0}, {"loss": 0.9})]
    [1, 2]
    >>> os.path.exists(os.path.join(folder, "training_curves.png"))
    True
    """
    path = os.path.join(folder, "history.json")
    history = read_json(path) if os.path.exists(path) else []
    history = [entry for entry in history if entry["epoch"] < epoch]
    history.append({"epoch": epoch, "train": train_stats, "valid": valid_stats})
    write_json_atomic(history, path)
    if curve_metrics:
        plot_training_curves(history, os.path.join(folder, "training_curves.png"), curve_metrics)
    return history
