"""The raters' scores of dimensional labels: one score read and checked against the rating
scale, and the statistics of each utterance's scores that the manifests record (the number of
raters, the mean and population standard deviation of each attribute).

Authors
 * ser-recipes contributors 2026
"""

import logging
import math

from ser_modules.utils.constants import DIMENSIONS, RATING_SCALE

logger = logging.getLogger(__name__)

N_EXAMPLES = 5


def summarize_ratings(valid):
    """``n_raters`` and the population std (``ddof=0``) and mean of each attribute.

    Arguments
    ---------
    valid : list of sequence
        One ``(arousal, valence, dominance)`` per rater (the order of ``DIMENSIONS``).

    Returns
    -------
    dict
        ``n_raters``, ``<attribute>_std`` (0.0 without rater), ``<attribute>_mean`` (None
        without rater).

    Example
    -------
    >>> s = summarize_ratings([[1.0, 4.0, 2.0], [3.0, 4.0, 2.0]])
    >>> s["n_raters"], s["arousal_std"], s["arousal_mean"], s["valence_std"]
    (2, 1.0, 2.0, 0.0)
    >>> summarize_ratings([])["dominance_std"]
    0.0
    """
    n_raters = len(valid)
    summary = {"n_raters": n_raters}
    for attr, column in zip(DIMENSIONS, zip(*valid) if n_raters else [()] * len(DIMENSIONS)):
        mean = math.fsum(column) / n_raters if n_raters else None
        variance = math.fsum((x - mean) ** 2 for x in column) / n_raters if n_raters else 0.0
        summary[f"{attr}_std"] = math.sqrt(variance)
        summary[f"{attr}_mean"] = mean
    return summary


def rater_statistics(files, ratings, source, corpus):
    """``{utt: summarize_ratings(...)}`` of the files, leaving out the ratings with a missing
    (None) value and a rater's repeated ratings of a file (the first one is used); these and
    the files without rating are counted in warnings naming ``source``.

    Arguments
    ---------
    files : dict
        Utterance id -> its name in the warnings (e.g. the file name), in order.
    ratings : dict
        Utterance id -> list of ``(rater, arousal, valence, dominance)``.
    source : str or pathlib.Path
        The file of the ratings (for the warnings).
    corpus : str
        Name starting the warnings.

    Returns
    -------
    dict
        Utterance id -> :func:`summarize_ratings` of its valid ratings.

    Example
    -------
    >>> ratings = {"a": [("W1", 1.0, 2.0, 3.0), ("W1", 5.0, 5.0, 5.0), ("W2", 3.0, 2.0, None)]}
    >>> stats = rater_statistics({"a": "a.wav"}, ratings, "ratings.csv", "Demo")
    >>> stats["a"]["n_raters"], stats["a"]["arousal_mean"]
    (1, 1.0)
    """
    stats, incomplete, repeated, unrated = {}, 0, 0, []
    for utt, name in files.items():
        valid, raters = [], set()
        for rater, *values in ratings.get(utt, []):
            if None in values:
                incomplete += 1
            elif rater in raters:
                repeated += 1
            else:
                raters.add(rater)
                valid.append(values)
        if not valid:
            unrated.append(name)
        stats[utt] = summarize_ratings(valid)
    if incomplete:
        logger.warning(
            "%s: %d rating rows of %s have a NaN/empty rating and are left out "
            "of the rater statistics",
            corpus,
            incomplete,
            source,
        )
    if repeated:
        logger.warning(
            "%s: %d rating rows of %s repeat a worker already rating the same "
            "file; the first rating is used",
            corpus,
            repeated,
            source,
        )
    if unrated:
        logger.warning(
            "%s: %d labelled files have no rating in %s: kept with n_raters 0 "
            "and *_std 0.0, e.g. %s",
            corpus,
            len(unrated),
            source,
            ", ".join(unrated[:N_EXAMPLES]),
        )
    return stats


def parse_rating(text, where, what, error=ValueError, scale=RATING_SCALE):
    """A rating (or consensus value) on the rating scale; None when None, empty or NaN.

    Arguments
    ---------
    text : str, number or None
        The value as written.
    where : str
        ``file:line`` (or file and key) of the value, for the errors.
    what : str
        What the value is (e.g. ``"EmoAct of a.wav"``), for the errors.
    error : type
        Exception raised for a value that is not a number or is off the scale.
    scale : tuple of float
        ``(low, high)``.

    Example
    -------
    >>> parse_rating("3.777778", "f:2", "EmoAct of a.wav"), parse_rating("nan", "f:2", "")
    (3.777778, None)
    >>> try:
    ...     parse_rating("9", "f:2", "EmoAct of a.wav")
    ... except ValueError as failure:
    ...     print(failure)
    f:2: EmoAct of a.wav out of [1, 7]: '9'
    """
    text = "" if text is None else str(text).strip()
    if text == "" or text.lower() == "nan":
        return None
    try:
        value = float(text)
    except ValueError:
        raise error(f"{where}: {what} is not a number: {text!r}") from None
    if math.isnan(value):
        return None
    low, high = scale
    if not low <= value <= high:
        raise error(f"{where}: {what} out of [{low:g}, {high:g}]: {text!r}")
    return value


def describe_raters(entries):
    """The mean number of raters per utterance of a manifest (entries with ``n_raters``).

    Example
    -------
    >>> describe_raters({"a": {"n_raters": 5}, "b": {"n_raters": 6}}), describe_raters({})
    ('5.50 raters per utterance', '0.00 raters per utterance')
    """
    raters = [entry["n_raters"] for entry in entries.values()]
    return f"{sum(raters) / len(raters) if raters else 0.0:.2f} raters per utterance"
