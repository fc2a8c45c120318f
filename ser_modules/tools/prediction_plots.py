"""The plot of ``ser-predict --plot``: sliding-window predictions of a recording against time.

A PNG drawn with matplotlib's object-oriented API on the Agg canvas
(:mod:`ser_modules.utils.plotting`): importing this module neither imports ``pyplot`` nor
changes the global matplotlib backend.

Authors
 * ser-recipes contributors 2026
"""

from ser_modules.utils.plotting import new_figure, save_figure


def plot_timeline(records, path, title=None):
    """Plots sliding-window predictions of one recording against time.

    Categorical records (with ``probabilities``) give one probability curve per class and
    the predicted class as a coloured strip; dimensional records give one curve per value.

    Arguments
    ---------
    records : list of dict
        Windows in time order, each with ``start``, ``end`` (seconds) and the predictions.
    path : str
        Output PNG.
    title : str, optional
        Figure title.

    Example
    -------
    >>> import os, tempfile
    >>> rows = [
    ...     {"start": 0.0, "end": 2.0, "arousal": 3.0},
    ...     {"start": 1.0, "end": 3.0, "arousal": 4.5},
    ... ]
    >>> plot_timeline(rows, os.path.join(tempfile.mkdtemp(), "timeline.png"))
    """
    centres = [(row["start"] + row["end"]) / 2 for row in records]
    fig = new_figure((10, 3.5))
    ax = fig.subplots()
    if "probabilities" in records[0]:
        labels = list(records[0]["probabilities"])
        for index, label in enumerate(labels):
            ax.plot(
                centres,
                [row["probabilities"][label] for row in records],
                label=label,
                color=f"C{index}",
            )
        colours = [f"C{labels.index(row['label'])}" for row in records]
        ax.scatter(centres, [1.04] * len(records), c=colours, marker="s", s=30, clip_on=False)
        ax.set_ylim(0, 1.08)
        ax.set_ylabel("probability (strip: predicted class)")
    else:
        for key in [key for key in records[0] if key not in ("id", "file", "start", "end")]:
            ax.plot(centres, [row[key] for row in records], label=key, marker=".")
        ax.set_ylabel("rating (1-7)")
    ax.set_xlabel("time (s), window centres")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(title or "Emotion timeline")
    fig.tight_layout()
    save_figure(fig, path)
