"""Matplotlib figures without pyplot: no global backend switch, no screen, no figure registry.

Every plot of the project is a :class:`matplotlib.figure.Figure` drawn by the Agg canvas
(:func:`new_figure`) and written atomically (:func:`save_figure`). Importing this module does
not import ``matplotlib.pyplot`` nor change ``matplotlib.get_backend()``, so a user's
interactive backend is left alone.

Importing it also keeps the logs of a run readable (:func:`quiet_figure_logs`): matplotlib's
DEBUG lines (``findfont`` scores, hundreds per run, in SpeechBrain's ``log.txt``) are
dropped, and so is SpeechBrain's import-time warning "torchvision is not available - cannot
save figures" (about the image saver of its ``ProgressSampleLogger``, which no recipe uses:
our figures are drawn here, without torchvision). Every recipe imports this module before it
loads its hparams.

Authors
 * ser-recipes contributors 2026
"""

import logging
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ser_modules.utils.files import atomic_path

__all__ = ["new_figure", "save_figure", "quiet_figure_logs"]

TORCHVISION_WARNING = "torchvision is not available - cannot save figures"


def _not_torchvision_warning(record):
    """``logging`` filter: False for SpeechBrain's torchvision warning."""
    return not str(record.msg).startswith(TORCHVISION_WARNING)


def quiet_figure_logs():
    """Sets the ``matplotlib`` loggers to WARNING and filters SpeechBrain's torchvision
    warning out of ``speechbrain.utils.train_logger`` (idempotent; run at import).

    Example
    -------
    >>> quiet_figure_logs()
    >>> logging.getLogger("matplotlib.font_manager").isEnabledFor(logging.DEBUG)
    False
    >>> record = logging.makeLogRecord({"msg": TORCHVISION_WARNING, "levelno": logging.WARNING})
    >>> logging.getLogger("speechbrain.utils.train_logger").filter(record)
    False
    """
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    train_logger = logging.getLogger("speechbrain.utils.train_logger")
    if _not_torchvision_warning not in train_logger.filters:
        train_logger.addFilter(_not_torchvision_warning)


quiet_figure_logs()


def new_figure(figsize):
    """A matplotlib ``Figure`` attached to an Agg canvas (garbage-collected like any object).

    Arguments
    ---------
    figsize : tuple of float
        ``(width, height)`` in inches.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; add axes with ``fig.add_subplot`` or ``fig.subplots``.

    Example
    -------
    >>> fig = new_figure((4.0, 3.0))
    >>> type(fig.canvas).__name__, fig.get_size_inches().tolist()
    ('FigureCanvasAgg', [4.0, 3.0])
    """
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi=100):
    """Writes ``fig`` to ``path`` atomically (parent folders created), format from the suffix.

    Arguments
    ---------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        Output image (``.png`` unless another suffix says otherwise).
    dpi : int
        Resolution.

    Example
    -------
    >>> import tempfile
    >>> fig = new_figure((2.0, 2.0))
    >>> _ = fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    >>> path = Path(tempfile.mkdtemp()) / "plots" / "line.png"
    >>> save_figure(fig, path)
    >>> path.read_bytes()[:4], [p.name for p in path.parent.iterdir()]
    (b'\\x89PNG', ['line.png'])
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
