"""Checks of the recipes' inputs: non-finite values, unknown labels, missing splits, over-long
utterances.

Each check either raises an error naming the file (and the utterance) and the problem, or
applies a documented handling and logs it; nothing is dropped silently (see "Troubleshooting"
in the README).

* :func:`check_finite`: NaN or inf in a tensor (features, audio) -> :class:`NonFiniteError`.
* :func:`check_labels` / :func:`check_ratings`: a manifest label outside the configured
  classes or rating range -> :class:`UnknownLabelError` naming the manifest and utterance.
* :func:`check_required_splits`: a split the recipe trains or evaluates on has no manifest
  (e.g. an MSP-Podcast partition spelt ``Test 1``, written as ``test_1.json``) ->
  :class:`MissingSplitError` naming the manifest folder and the unexpected manifests.
* :func:`apply_duration_limit`, :func:`crop`, :func:`max_samples`, :func:`max_frames`: the
  recipes' ``max_duration`` / ``long_utterance`` hyperparameters. Utterances longer than
  ``max_duration`` seconds are counted and listed per manifest; with ``long_utterance: crop``
  their first ``max_duration`` seconds are used, with ``long_utterance: skip`` they are left
  out of the training manifest (evaluation manifests are never shortened by skipping: their
  long utterances are cropped, so every test utterance is scored).

Authors
 * ser-recipes contributors 2026
"""

import logging
import re
from pathlib import Path

import torch

from ser_modules.utils.constants import SAMPLE_RATE
from ser_modules.utils.files import atomic_path, read_json, write_json_atomic
from ser_modules.utils.values import is_finite_number, is_real_number

logger = logging.getLogger(__name__)

LONG_UTTERANCE_MODES = ("crop", "skip")
KNOWN_SPLIT_PATTERN = re.compile(
    r"^(train|valid|test\d*|eval[\w.]*)$"
)  # split names the recipes know
SKIPPED_SPLITS = ("train",)
N_EXAMPLES = 3


class NonFiniteError(FloatingPointError):
    """A tensor read from a file holds NaN or infinite values (the message names the file)."""


class UnknownLabelError(ValueError):
    """A manifest holds a label the recipe does not know (the message names the file)."""


class MissingSplitError(ValueError):
    """A split the recipe needs has no manifest (the message names the folder)."""


def check_finite(tensor, source, error=NonFiniteError):
    """Returns ``tensor`` unchanged, or raises ``error`` naming ``source`` if it holds NaN/inf.

    Arguments
    ---------
    tensor : torch.Tensor
        Floating-point values (audio samples, features).
    source : str
        What the values are, e.g. ``"Audio file a.wav holds non-finite samples"`` (starts
        the error message).
    error : type
        Exception class raised.

    Returns
    -------
    torch.Tensor
        ``tensor``.

    Example
    -------
    >>> check_finite(torch.ones(3), "a.wav").tolist()
    [1.0, 1.0, 1.0]
    >>> try:
    ...     check_finite(torch.tensor([1.0, float("nan"), float("inf")]), "Features of a.wav")
    ... except NonFiniteError as error:
    ...     print(error)
    Features of a.wav: 1 NaN and 1 infinite values (of 3)
    """
    if torch.isfinite(tensor).all():
        return tensor
    n_nan = int(torch.isnan(tensor).sum())
    n_inf = int(torch.isinf(tensor).sum())
    raise error(f"{source}: {n_nan} NaN and {n_inf} infinite values (of {tensor.numel()})")


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------
def check_labels(manifest, key, allowed):
    """Raises :class:`UnknownLabelError` when an entry's ``key`` is not one of ``allowed``.

    Arguments
    ---------
    manifest : str or pathlib.Path
        SpeechBrain JSON manifest.
    key : str
        Label field, e.g. ``"emo"``.
    allowed : list of str
        The classes of the recipe (the hparams ``emotions``).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "test.json"
    >>> write_json_atomic({"u1": {"emo": "neu"}, "u2": {"emo": "joy"}}, path)
    >>> try:
    ...     check_labels(path, "emo", ["neu", "hap", "ang", "sad"])
    ... except UnknownLabelError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    /.../test.json: utterance u2 has emo 'joy', not one of ['neu', 'hap', 'ang', 'sad']
    (the hparams emotions)
    """
    for utt, entry in read_json(manifest).items():
        label = entry.get(key)
        if label not in allowed:
            raise UnknownLabelError(
                f"{manifest}: utterance {utt} has {key} {label!r}, not one of {list(allowed)} "
                "(the hparams emotions)"
            )


def check_ratings(manifest, keys, low, high):
    """Raises :class:`UnknownLabelError` when a rating is missing, not a number or out of range.

    Arguments
    ---------
    manifest : str or pathlib.Path
        SpeechBrain JSON manifest.
    keys : list of str
        Rating fields, e.g. ``["arousal", "valence", "dominance"]``.
    low, high : float
        Valid range (inclusive).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "extra.json"
    >>> write_json_atomic({"u1": {"arousal": 4.0}, "u2": {"arousal": "high"}}, path)
    >>> try:
    ...     check_ratings(path, ["arousal"], 1.0, 7.0)
    ... except UnknownLabelError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    /.../extra.json: utterance u2 has arousal 'high', not a number in [1, 7]
    """
    for utt, entry in read_json(manifest).items():
        for key in keys:
            value = entry.get(key)
            if not (is_finite_number(value) and low <= value <= high):
                raise UnknownLabelError(
                    f"{manifest}: utterance {utt} has {key} {value!r}, not a number in [{low:g},"
                    f" {high:g}]"
                )


def check_required_splits(manifests, required, source):
    """Raises :class:`MissingSplitError` when a required split has no manifest.

    The preparations write a manifest per partition of the release, under the partition's
    name; a misspelt partition (``Test 1``) gets a manifest of its own (``test_1``) that the
    recipe does not evaluate, so its results would silently lack the split. The error lists
    the manifests whose name is not ``train``, ``valid``, ``test<k>`` or ``eval<x>``, with
    the partition names their entries carry (``split``).

    Arguments
    ---------
    manifests : dict
        Split name -> manifest path (the prepared manifests).
    required : iterable of str
        The splits the recipe trains, validates and evaluates on (e.g. ``["train",
        "valid", "test1"]``, or the hparams ``test_splits``).
    source : str or pathlib.Path
        Where the manifests come from (e.g. the manifest folder), for the message.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_json_atomic({"u1": {"split": "Test 1"}}, folder / "test_1.json")
    >>> manifests = {
    ...     "train": "train.json", "valid": "valid.json", "test_1": str(folder / "test_1.json")
    ... }
    >>> check_required_splits(manifests, ["train", "valid"], folder)
    >>> try:
    ...     check_required_splits(manifests, ["train", "valid", "test1"], "prep")
    ... except MissingSplitError as error:
    ...     print(error)
    prep: no test1 manifest (manifests: test_1, train, valid); test_1 holds partition 'Test 1'
    of the release, not a split name the recipe knows: fix the partition names of the release
    (Split_Set / Partitions.txt) and prepare again
    """
    missing = [name for name in required if name not in manifests]
    if not missing:
        return
    message = (
        f"{source}: no {', '.join(missing)} manifest (manifests: {', '.join(sorted(manifests))})"
    )
    unexpected = [name for name in sorted(manifests) if not KNOWN_SPLIT_PATTERN.match(name)]
    if unexpected:
        held = []
        for name in unexpected:
            partitions = sorted(
                {str(entry.get("split")) for entry in read_json(manifests[name]).values()}
            )
            held.append(f"{name} holds partition {', '.join(map(repr, partitions))} of the release")
        message += (
            f"; {'; '.join(held)}, not a split name the recipe knows: fix the partition names of"
            " the release (Split_Set / Partitions.txt) and prepare again"
        )
    raise MissingSplitError(message)


# --------------------------------------------------------------------------------------------
# Maximum utterance duration
# --------------------------------------------------------------------------------------------
def check_duration_limit(max_duration, long_utterance):
    """Validates the ``max_duration`` and ``long_utterance`` hyperparameters.

    Example
    -------
    >>> check_duration_limit(None, "crop"), check_duration_limit(12.5, "skip")
    (None, None)
    >>> check_duration_limit(0, "crop")
    Traceback (most recent call last):
    ...
    ValueError: max_duration must be null (no limit) or a number of seconds > 0, got 0
    >>> check_duration_limit(10, "drop")
    Traceback (most recent call last):
    ...
    ValueError: long_utterance must be one of ('crop', 'skip'), got 'drop'
    """
    if max_duration is not None:
        if not (is_finite_number(max_duration) and max_duration > 0):
            raise ValueError(
                "max_duration must be null (no limit) or a number of seconds > 0, got"
                f" {max_duration!r}"
            )
    if long_utterance not in LONG_UTTERANCE_MODES:
        raise ValueError(
            f"long_utterance must be one of {LONG_UTTERANCE_MODES}, got {long_utterance!r}"
        )


def max_samples(max_duration, sample_rate=SAMPLE_RATE):
    """Number of samples of ``max_duration`` seconds (None without limit).

    Example
    -------
    >>> max_samples(2.5), max_samples(None)
    (40000, None)
    """
    return None if max_duration is None else int(round(max_duration * sample_rate))


def max_frames(max_duration, encoder, sample_rate=SAMPLE_RATE):
    """Number of encoder frames of ``max_duration`` seconds of audio (None without limit).

    Arguments
    ---------
    max_duration : float or None
        Seconds.
    encoder : ser_modules.nn.ssl_encoder.SSLEncoder
        Any object with a ``num_frames(num_samples)`` method.
    sample_rate : int
        Sample rate of the encoder's input.

    Example
    -------
    >>> class Every320:
    ...     def num_frames(self, num_samples):
    ...         return (num_samples - 400) // 320 + 1
    >>> max_frames(1.0, Every320()), max_frames(None, Every320())
    (49, None)
    """
    samples = max_samples(max_duration, sample_rate)
    return None if samples is None else int(encoder.num_frames(samples))


def crop(tensor, max_length):
    """The first ``max_length`` items of ``tensor`` along dim 0 (all of them for None).

    Example
    -------
    >>> crop(torch.arange(5), 3).tolist(), crop(torch.arange(5), None).tolist()
    ([0, 1, 2], [0, 1, 2, 3, 4])
    """
    return tensor if max_length is None else tensor[:max_length]


def apply_duration_limit(manifests, max_duration, long_utterance):
    """Lists and logs the utterances longer than ``max_duration``; skips them from training.

    For every manifest holding utterances longer than ``max_duration`` seconds (from the
    entries' ``duration``), their ids and durations are written to
    ``<manifest>_longer_than_<max_duration>s.txt`` beside the manifest, and a warning gives
    their number, what is done with them and the listing file. With ``long_utterance="skip"``
    the training manifest is rewritten without them as ``train_max<max_duration>s.json``
    (returned in place of ``train.json``); every other manifest is kept whole, its long
    utterances cropped by the data pipeline (see :func:`crop`).

    Arguments
    ---------
    manifests : dict
        Split name -> manifest path.
    max_duration : float or None
        Seconds; None: no limit (nothing is done).
    long_utterance : str
        ``"crop"`` or ``"skip"``.

    Returns
    -------
    dict
        Split name -> manifest path to use.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_json_atomic({"a": {"duration": 3.0}, "b": {"duration": 12.0}}, folder / "train.json")
    >>> paths = apply_duration_limit({"train": str(folder / "train.json")}, 10, "skip")
    >>> Path(paths["train"]).name, list(read_json(paths["train"]))
    ('train_max10s.json', ['a'])
    >>> (folder / "train_longer_than_10s.txt").read_text()
    'b\\t12.000\\n'
    """
    check_duration_limit(max_duration, long_utterance)
    if max_duration is None:
        return dict(manifests)
    limited = {}
    for split, manifest in manifests.items():
        entries = read_json(manifest)
        long = long_utterances(entries, max_duration, manifest)
        limited[split] = manifest
        if not long:
            continue
        skip = long_utterance == "skip" and split in SKIPPED_SPLITS
        listing = write_long_listing(manifest, long, max_duration)
        if skip:
            limited[split] = write_without(manifest, entries, long, max_duration)
        log_long_utterances(manifest, len(entries), long, max_duration, skip, listing)
    return limited


def long_utterances(entries, max_duration, manifest):
    """``{utt: duration}`` of the entries longer than ``max_duration`` (sorted, longest first).

    Example
    -------
    >>> long_utterances({"a": {"duration": 3.0}, "b": {"duration": 12.0}}, 10, "m.json")
    {'b': 12.0}
    """
    long = {}
    for utt, entry in entries.items():
        duration = entry.get("duration")
        if not is_real_number(duration):
            raise ValueError(
                f"{manifest}: utterance {utt} has no numeric duration ({duration!r}), "
                "needed by max_duration"
            )
        if duration > max_duration:
            long[utt] = float(duration)
    return dict(sorted(long.items(), key=lambda item: (-item[1], item[0])))


def write_long_listing(manifest, long, max_duration):
    """Writes ``<utt>\\t<duration>`` lines beside the manifest; returns the listing's path."""
    manifest = Path(manifest)
    listing = manifest.with_name(f"{manifest.stem}_longer_than_{max_duration:g}s.txt")
    with atomic_path(listing) as tmp:
        tmp.write_text("".join(f"{utt}\t{duration:.3f}\n" for utt, duration in long.items()))
    return listing


def write_without(manifest, entries, long, max_duration):
    """Writes the manifest without the ``long`` utterances; returns the new manifest's path."""
    manifest = Path(manifest)
    kept = {utt: entry for utt, entry in entries.items() if utt not in long}
    if not kept:
        raise ValueError(
            f"{manifest}: every utterance is longer than max_duration={max_duration:g} s"
        )
    path = manifest.with_name(f"{manifest.stem}_max{max_duration:g}s.json")
    write_json_atomic(kept, path)
    return str(path)


def log_long_utterances(manifest, total, long, max_duration, skipped, listing):
    """Warns with the number of long utterances of a manifest and what is done with them."""
    action = (
        "left out of training (long_utterance: skip)"
        if skipped
        else f"cropped to their first {max_duration:g} s"
    )
    examples = ", ".join(
        f"{utt} ({duration:.1f} s)" for utt, duration in list(long.items())[:N_EXAMPLES]
    )
    logger.warning(
        "%d of %d utterances of %s are longer than max_duration=%g s and are %s; listed in %s, "
        "e.g. %s",
        len(long),
        total,
        manifest,
        max_duration,
        action,
        listing,
        examples,
    )
