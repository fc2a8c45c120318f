#!/usr/bin/env python3
"""Data preparation for IEMOCAP speech emotion recognition (4 classes).

Reads the original ``IEMOCAP_full_release`` folder and writes the SpeechBrain JSON manifests
``train.json``, ``valid.json`` and ``test.json`` of one fold of the standard **5-fold
leave-one-session-out** protocol: find the files, parse the labels, split, write the manifests.

* Utterances come from the *turn lines* of ``Session{k}/dialog/EmoEvaluation/<dialog>.txt``
  (subfolders and hidden files, e.g. AppleDouble ``._*`` copies, are skipped)::

      [6.2901 - 8.2357]	Ses01F_impro01_F000	neu	[2.5000, 2.5000, 2.5000]
      C-E2:	Neutral state;	()
      C-E3:	Neutral state; Sadness;	()

  The audio is ``Session{k}/sentences/wav/<dialog>/<utterance>.wav`` (never globbed).
* 4 classes ``neu hap ang sad``, ``exc`` merged into ``hap``; ``fru sur fea dis oth xxx`` are
  excluded (counts logged); any other label is an error naming the file and line.
* Bad inputs are errors naming the file (and line): a missing folder, a malformed turn line
  (``[V, A, D]`` not three finite numbers included), a malformed ``C-E``/``C-F``/``C-M``
  evaluator line (no ``C-E<n>:`` prefix, or no category), a missing, empty, corrupt or
  truncated wav (its header declares more audio than the file holds), and a wav whose length
  differs from its turn's ``end - start`` by more than ``duration_tolerance`` seconds (a
  truncated or wrong file). Wavs that no turn line names (an evaluation file truncated between
  two turns) and wavs that are not mono at 16 kHz are counted in warnings.
* test = the held-out session ``test_session``; valid = a seeded random ``valid_ratio`` of the
  other sessions' utterances (SUPERB, ``dev_split="random"``: ``floor((1 - valid_ratio) * N)``
  kept for training, as ``torch.utils.data.random_split``; the utterance order differs from
  SUPERB's, so the dev lists do too) or, with ``dev_split="speaker"``, whole held-out speakers
  (:func:`split_by_speaker`).

Real release: 5531 utterances (neu 1708, hap+exc 1636, ang 1103, sad 1084); test sessions 1..5
hold 1085, 1023, 1151, 1031 and 1241 of them (train / valid of fold 1: 3556 / 890).

Entries (keyed by utterance id): ``wav``, ``duration`` (wav header), ``emo``, ``label_raw``
(label of the turn line, e.g. exc), ``speaker`` (``Ses01_F``: session + the gender letter of the
*last* ``_F000``/``_M000`` part of the id: who speaks), ``session``, ``gender``, ``dialog``,
``votes``, ``n_votes``, ``n_evaluators``, ``valence``, ``arousal``, ``dominance`` (averaged
attributes of the turn line) and ``transcript`` (``dialog/transcriptions/``; ``""`` if absent).
Each ``C-E<n>:`` line is one evaluator: ``votes[c]`` counts the evaluators giving at least one
category of class ``c`` (Neutral state, Happiness or Excited, Anger, Sadness), ``n_votes`` all
distinct categories given (ignored ones included), ``n_evaluators`` the ``C-E`` lines; the
actors' self-assessments (``C-F1``/``C-M1``) are not counted. Categories outside IEMOCAP's ten
(a typo) are counted in a warning.

Re-running with the same options on the same files does nothing (``prepare_options.json``,
written last, records the options, the SHA-1 of every evaluation and transcription file and a
digest of the names, sizes and modification times of the sentence wavs): a file fixed or
replaced since makes the next call rebuild the manifests, with a warning saying which.

Example
-------
> python iemocap_prepare.py --data_folder /data/IEMOCAP_full_release \\
      --save_folder results/prep/fold1 --test_session 1

Authors
 * ser-recipes contributors 2025
"""

import argparse
import logging
import math
import numbers
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

from ser_modules.data.manifests import (
    OPTIONS_FILE,  # noqa: F401 (the stamp, read by the tests)
    describe_split,
    files_fingerprint,
    label_fingerprint,
    log_rebuild,
    manifest_paths,
    stale_reasons,
    wav_entries,
    write_manifests,
)
from ser_modules.utils.constants import IEMOCAP_EMOTIONS

logger = logging.getLogger(__name__)

LABEL_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
EXCLUDED_LABELS = ("fru", "sur", "fea", "dis", "oth", "xxx")
CATEGORY_MAP = {
    "neutral state": "neu",
    "neutral": "neu",
    "happiness": "hap",
    "excited": "hap",
    "anger": "ang",
    "sadness": "sad",
}
OTHER_CATEGORIES = ("frustration", "surprise", "fear", "disgust", "other")  # no 4-class vote
SESSIONS = (1, 2, 3, 4, 5)
DEV_SPLITS = ("random", "speaker")
SPLITS = ("train", "valid", "test")
PREP_VERSION = 1
N_EXAMPLES = 3
DURATION_TOLERANCE = 1.0  # seconds between a turn's end - start and its wav's length

TURN_LINE = re.compile(
    r"^\[\s*(?P<start>\d+(?:\.\d*)?)\s*-\s*(?P<end>\d+(?:\.\d*)?)\s*\]\s+"
    r"(?P<utt>\S+)\s+(?P<label>[A-Za-z]+)\s+\[(?P<vad>[^\]]*)\]\s*$"
)
UTTERANCE_ID = re.compile(r"^Ses(?P<session>\d{2})[FM]_(?P<rest>.+)_(?P<gender>[FM])\d{3}$")
EVALUATOR_LINE = re.compile(r"^C-E\d+:(?P<body>.*)$")
CATEGORICAL_LINE = re.compile(
    r"^C-[EFM]\d+:"
)  # evaluators (E) and the actors' self-assessments (F, M)
TRANSCRIPT_LINE = re.compile(r"^(?P<utt>\S+)\s+\[[^\]]*\]:\s?(?P<text>.*)$")


class IEMOCAPFormatError(ValueError):
    """A file of the IEMOCAP release does not have the expected format."""


def prepare_iemocap(
    data_folder,
    save_folder,
    test_session,
    valid_ratio=0.2,
    dev_split="random",
    seed=0,
    duration_tolerance=DURATION_TOLERANCE,
    progressbar=True,
):
    """Writes ``train.json``, ``valid.json`` and ``test.json`` for one fold.

    Arguments
    ---------
    data_folder : str or path-like
        The ``IEMOCAP_full_release`` folder (holding ``Session1..5``).
    save_folder : str or path-like
        Where the manifests and ``prepare_options.json`` are written.
    test_session : int
        Held-out session (1..5): both its speakers form the test set.
    valid_ratio : float
        Fraction (0 < valid_ratio < 1) of the training sessions' utterances (or speakers, with
        ``dev_split="speaker"``) used for validation.
    dev_split : str
        ``"random"`` (SUPERB: seeded utterance-level split) or ``"speaker"`` (whole speakers
        held out, see :func:`split_by_speaker`).
    seed : int
        Seed of the validation split.
    duration_tolerance : float or None
        Largest difference (seconds) accepted between a turn's ``end - start`` and the
        length of its wav; None: not checked.
    progressbar : bool
        Show the progress bar of the wav headers (``--noprogressbar`` on the command line).

    Returns
    -------
    dict
        Split name -> path of its manifest.

    Raises
    ------
    ValueError
        On invalid options (:class:`IEMOCAPFormatError` on malformed files).
    FileNotFoundError
        On a missing folder or wav.

    Example
    -------
    >>> prepare_iemocap("IEMOCAP_full_release", "prep", 1)  # doctest: +SKIP
    """
    options = make_options(
        data_folder, test_session, valid_ratio, dev_split, seed, duration_tolerance
    )
    session_dirs = find_session_dirs(Path(options["data_folder"]))
    inputs = input_fingerprint(session_dirs, options["data_folder"])
    reasons = stale_reasons(save_folder, options, SPLITS, inputs)
    if not reasons:
        logger.info("IEMOCAP manifests in %s are up to date, skipping", save_folder)
        return manifest_paths(save_folder, SPLITS)
    log_rebuild("IEMOCAP", save_folder, reasons)
    turns = [
        turn for session, folder in session_dirs.items() for turn in parse_session(folder, session)
    ]
    log_wavs_without_turn(session_dirs, turns)
    log_unknown_categories(turns)
    entries = build_entries(
        select_four_class(turns, options["data_folder"]),
        session_dirs,
        duration_tolerance,
        progressbar,
    )
    splits = make_splits(entries, test_session, valid_ratio, dev_split, seed)
    for split, split_entries in splits.items():
        logger.info("IEMOCAP %s: %s", split, describe_split(split_entries, "emo", IEMOCAP_EMOTIONS))
    write_manifests(save_folder, splits, options, "IEMOCAP", inputs=inputs)
    return manifest_paths(save_folder, SPLITS)


def make_options(
    data_folder, test_session, valid_ratio, dev_split, seed, duration_tolerance=DURATION_TOLERANCE
):
    """Validates the options and returns them as a JSON-serialisable dict.

    Example
    -------
    >>> make_options("/data", 2, 0.2, "random", 0)["test_session"]
    2
    >>> make_options("/data", 6, 0.2, "random", 0)
    Traceback (most recent call last):
    ...
    ValueError: test_session must be an int in 1..5, got 6
    """
    if not is_int(test_session) or int(test_session) not in SESSIONS:
        raise ValueError(f"test_session must be an int in 1..5, got {test_session!r}")
    is_real = isinstance(valid_ratio, numbers.Real) and not isinstance(valid_ratio, bool)
    if not (is_real and 0.0 < float(valid_ratio) < 1.0):
        raise ValueError(f"valid_ratio must be a float in (0, 1), got {valid_ratio!r}")
    if dev_split not in DEV_SPLITS:
        raise ValueError(f"dev_split must be one of {DEV_SPLITS}, got {dev_split!r}")
    if not is_int(seed):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if duration_tolerance is not None:
        is_real = isinstance(duration_tolerance, numbers.Real) and not isinstance(
            duration_tolerance, bool
        )
        if not (is_real and math.isfinite(duration_tolerance) and duration_tolerance >= 0):
            raise ValueError(
                "duration_tolerance must be None or a number of seconds >= 0, "
                f"got {duration_tolerance!r}"
            )
        duration_tolerance = float(duration_tolerance)
    return {
        "data_folder": os.path.abspath(os.fspath(data_folder)),
        "test_session": int(test_session),
        "valid_ratio": float(valid_ratio),
        "dev_split": dev_split,
        "seed": int(seed),
        "duration_tolerance": duration_tolerance,
        "prep_version": PREP_VERSION,
    }


def is_int(value):
    """True for integers other than bools.

    Example
    -------
    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------
# 1. Find the release's files
# --------------------------------------------------------------------------------------------
def find_session_dirs(data_folder):
    """``{session: Session{k} folder}``, after checking the folders the preparation reads.

    Example
    -------
    >>> find_session_dirs(Path("/nowhere"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: IEMOCAP data_folder not found: /nowhere
    """
    if not data_folder.is_dir():
        raise FileNotFoundError(f"IEMOCAP data_folder not found: {data_folder}")
    session_dirs = {}
    for session in SESSIONS:
        session_dir = data_folder / f"Session{session}"
        for needed in (session_dir, evaluation_dir(session_dir), session_dir / "sentences" / "wav"):
            if not needed.is_dir():
                raise FileNotFoundError(
                    f"Missing folder {needed} (data_folder must be the "
                    "IEMOCAP_full_release folder holding Session1..Session5)"
                )
        session_dirs[session] = session_dir
    return session_dirs


def evaluation_dir(session_dir):
    """``Session{k}/dialog/EmoEvaluation``.

    Example
    -------
    >>> evaluation_dir(Path("Session1")).as_posix()
    'Session1/dialog/EmoEvaluation'
    """
    return session_dir / "dialog" / "EmoEvaluation"


def list_evaluation_files(session_dir):
    """The sorted ``<dialog>.txt`` files of a session's EmoEvaluation folder (subfolders such
    as Categorical/Attribute/Self-evaluation and hidden AppleDouble ``._*`` files skipped)."""
    folder = evaluation_dir(session_dir)
    files = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix == ".txt" and not path.name.startswith(".")
    )
    if not files:
        raise IEMOCAPFormatError(f"No evaluation file (<dialog>.txt) in {folder}")
    return files


def sentence_wavs(session_dir):
    """The utterance wavs ``sentences/wav/<dialog>/<utt>.wav`` of a session (hidden files aside)."""
    return [
        wav
        for wav in (session_dir / "sentences" / "wav").glob("*/*.wav")
        if not wav.name.startswith(".")
    ]


def input_fingerprint(session_dirs, data_folder):
    """What the manifests are made of, for the stamp: the SHA-1 of every evaluation and
    transcription file, and a digest of the names, sizes and modification times of the wavs
    (see ``ser_modules.data.manifests``)."""
    labels = [path for folder in session_dirs.values() for path in list_evaluation_files(folder)]
    for folder in session_dirs.values():
        transcripts = folder / "dialog" / "transcriptions"
        if transcripts.is_dir():
            labels += sorted(
                path for path in transcripts.glob("*.txt") if not path.name.startswith(".")
            )
    wavs = [wav for folder in session_dirs.values() for wav in sentence_wavs(folder)]
    return {
        "labels": label_fingerprint(labels, data_folder),
        "audio": files_fingerprint(wavs, data_folder),
    }


def log_wavs_without_turn(session_dirs, turns):
    """Warns about the wavs of ``sentences/wav`` that no turn line names (hidden files aside).

    In the release every utterance wav has a turn line: unnamed wavs mean a truncated
    evaluation file, whose lost utterances are not used.
    """
    named = {turn["utt"] for turn in turns}
    unnamed = sorted(
        str(wav)
        for session_dir in session_dirs.values()
        for wav in sentence_wavs(session_dir)
        if wav.stem not in named
    )
    if unnamed:
        logger.warning(
            "IEMOCAP: %d wavs are named by no turn line of the evaluation files "
            "(truncated evaluation file?) and are not used, e.g. %s",
            len(unnamed),
            ", ".join(unnamed[:N_EXAMPLES]),
        )


# --------------------------------------------------------------------------------------------
# 2. Parse the labels
# --------------------------------------------------------------------------------------------
def parse_session(session_dir, session):
    """The turns (see :func:`parse_turn_line`) of every evaluation file of one session."""
    return [
        turn
        for path in list_evaluation_files(session_dir)
        for turn in parse_evaluation_file(path, session)
    ]


def parse_evaluation_file(path, session):
    """The turn lines of one evaluation file, each with its evaluators' categories.

    Lines starting with ``[`` are turn lines and must be well formed; each ``C-E<n>:`` line
    adds one evaluator to the preceding turn and must give at least one category. Lines
    starting with ``C-`` must be ``C-E<n>:``, ``C-F<n>:`` or ``C-M<n>:`` (the self-assessments
    ``C-F``/``C-M`` are not counted): any other is an error naming the file and line, never a
    vote dropped. Other lines (header ``%``, ``A-E``, blanks) are ignored.

    Arguments
    ---------
    path : Path
        ``Session{k}/dialog/EmoEvaluation/<dialog>.txt``.
    session : int
        Session of the file.

    Returns
    -------
    list of dict
        One dict per turn, with one list of categories per evaluator in ``"categories"``.
    """
    turns = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line_no, line in enumerate(lines, start=1):
        line = line.strip()
        if line.startswith("["):
            turns.append(parse_turn_line(line, path, line_no, session))
        elif line[:2].upper() == "C-":
            if not CATEGORICAL_LINE.match(line):
                raise IEMOCAPFormatError(
                    f"{path}:{line_no}: malformed evaluator line {line!r} (expected "
                    "'C-E<n>:<TAB>Category; ...;<TAB>(comment)'): restore the file"
                )
            if not turns:
                raise IEMOCAPFormatError(
                    f"{path}:{line_no}: evaluator line before any turn line: {line!r}"
                )
            if EVALUATOR_LINE.match(line):
                categories = parse_categories(line)
                if not categories:
                    raise IEMOCAPFormatError(
                        f"{path}:{line_no}: evaluator line without any category: {line!r}"
                    )
                turns[-1]["categories"].append(categories)
    if not turns:
        raise IEMOCAPFormatError(f"{path}: no turn line ('[start - end] utt label [v, a, d]')")
    return turns


def parse_turn_line(line, path, line_no, session):
    """Parses ``[start - end]<TAB>utt<TAB>label<TAB>[v, a, d]``.

    Arguments
    ---------
    line : str
        The stripped line.
    path : Path
        Its file (for error messages).
    line_no : int
        Its line number (for error messages).
    session : int
        Session of the file; the utterance id must belong to it.

    Returns
    -------
    dict
        ``utt, label, session, gender, dialog, valence, arousal, dominance, start, end,
        source, categories``.

    Example
    -------
    >>> t = parse_turn_line("[1.0 - 2.5]\\tSes01F_script01_1_M003\\texc\\t[4.0, 3.5, 3.0]",
    ...                     Path("f.txt"), 7, 1)
    >>> t["utt"], t["label"], t["gender"], t["dialog"], t["arousal"]
    ('Ses01F_script01_1_M003', 'exc', 'M', 'Ses01F_script01_1', 3.5)
    """
    where = f"{path}:{line_no}"
    match = TURN_LINE.match(line)
    if match is None:
        raise IEMOCAPFormatError(f"{where}: malformed turn line: {line!r}")
    utt = match["utt"]
    id_match = UTTERANCE_ID.match(utt)
    if id_match is None or int(id_match["session"]) != session:
        raise IEMOCAPFormatError(
            f"{where}: utterance id {utt!r} is not of the form "
            f"Ses{session:02d}<F|M>_<dialog>_<F|M><3 digits>"
        )
    label = match["label"].lower()
    if label not in LABEL_MAP and label not in EXCLUDED_LABELS:
        known = ", ".join([*LABEL_MAP, *EXCLUDED_LABELS])
        raise IEMOCAPFormatError(
            f"{where}: unknown emotion label {label!r} of {utt} (known: {known})"
        )
    return {
        "utt": utt,
        "label": label,
        "session": session,
        "gender": id_match["gender"],
        "dialog": utt.rsplit("_", 1)[0],
        **parse_attributes(match["vad"], where),
        "start": float(match["start"]),
        "end": float(match["end"]),
        "source": where,
        "categories": [],
    }


def parse_attributes(text, where):
    """Parses the ``v, a, d`` part of a turn line.

    Example
    -------
    >>> parse_attributes("2.5000, 3.0000, 1.5", "f:1")
    {'valence': 2.5, 'arousal': 3.0, 'dominance': 1.5}
    >>> try:
    ...     parse_attributes("nan, 3.0000, 1.5", "f:1")
    ... except IEMOCAPFormatError as error:
    ...     print(error)
    f:1: malformed [valence, arousal, dominance]: [nan, 3.0000, 1.5] (three finite numbers expected)
    """
    try:
        values = [float(part.strip()) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(map(math.isfinite, values)):
        raise IEMOCAPFormatError(
            f"{where}: malformed [valence, arousal, dominance]: [{text}] "
            "(three finite numbers expected)"
        )
    return dict(zip(("valence", "arousal", "dominance"), values))


def parse_categories(line):
    """The distinct categories of one ``C-E<n>:`` line (the comment in parentheses dropped;
    ``Other:<text>`` is one ignored category).

    Example
    -------
    >>> parse_categories("C-E3:\\tNeutral state; Sadness;\\t(tired; sad)")
    ['Neutral state', 'Sadness']
    """
    body = EVALUATOR_LINE.match(line)["body"].split("(", 1)[0]
    categories = [part.strip() for part in body.split(";")]
    return list(dict.fromkeys(cat for cat in categories if cat))


def is_known_category(category):
    """Whether an evaluator category is one of IEMOCAP's (``Other:<text>`` included).

    Example
    -------
    >>> [is_known_category(c) for c in ("Neutral state", "Other:tired", "Angr")]
    [True, True, False]
    """
    name = category.split(":", 1)[0].strip().lower()
    return name in CATEGORY_MAP or name in OTHER_CATEGORIES


def log_unknown_categories(turns):
    """Warns once with the evaluator categories that are not IEMOCAP's (e.g. a typo): they
    count in ``n_votes`` but give no class vote."""
    unknown = [
        (category, turn["source"])
        for turn in turns
        for categories in turn["categories"]
        for category in categories
        if not is_known_category(category)
    ]
    if unknown:
        examples = ", ".join(
            f"{category!r} (turn at {source})" for category, source in unknown[:N_EXAMPLES]
        )
        logger.warning(
            "IEMOCAP: %d evaluator categories are not IEMOCAP's (%s): counted in n_votes, no class "
            "vote; e.g. %s",
            len(unknown),
            format_counts(Counter(c for c, _ in unknown)),
            examples,
        )


def count_votes(category_lists):
    """4-class votes of the evaluators' categories, and the number of categories given.

    Example
    -------
    >>> count_votes([["Happiness", "Excited"], ["Frustration"], ["Neutral state"]])
    ({'neu': 1, 'hap': 1, 'ang': 0, 'sad': 0}, 4)
    """
    votes = dict.fromkeys(IEMOCAP_EMOTIONS, 0)
    for categories in category_lists:
        classes = {CATEGORY_MAP.get(cat.lower()) for cat in categories}
        for emo in classes.difference({None}):
            votes[emo] += 1
    return votes, sum(len(categories) for categories in category_lists)


def select_four_class(turns, data_folder):
    """The neu/hap/exc/ang/sad turns with ``emo`` set (exc -> hap); counts of the excluded
    labels are logged, a duplicate utterance id is an error naming both lines."""
    seen = {}
    for turn in turns:
        if turn["utt"] in seen:
            raise IEMOCAPFormatError(
                f"{turn['source']}: duplicate utterance id {turn['utt']} "
                f"(first seen at {seen[turn['utt']]})"
            )
        seen[turn["utt"]] = turn["source"]
    kept = [
        dict(turn, emo=LABEL_MAP[turn["label"]]) for turn in turns if turn["label"] in LABEL_MAP
    ]
    excluded = Counter(turn["label"] for turn in turns if turn["label"] not in LABEL_MAP)
    n_exc = sum(turn["label"] == "exc" for turn in turns)
    logger.info(
        "IEMOCAP: %d turns, %d kept (4 classes, %d exc merged into hap), %d excluded: %s",
        len(turns),
        len(kept),
        n_exc,
        sum(excluded.values()),
        format_counts(excluded),
    )
    if not kept:
        raise IEMOCAPFormatError(f"No neu/hap/exc/ang/sad utterance found in {data_folder}")
    return kept


def format_counts(counter):
    """A label counter as ``"a 3, b 1"`` (most common first).

    Example
    -------
    >>> format_counts(Counter({"fru": 2, "xxx": 5}))
    'xxx 5, fru 2'
    """
    return ", ".join(f"{label} {count}" for label, count in counter.most_common()) or "none"


def read_transcripts(session_dir, dialog):
    """``{utt: text}`` of ``dialog/transcriptions/<dialog>.txt`` (empty without the file).

    Example
    -------
    >>> read_transcripts(Path("/nowhere"), "Ses01F_impro01")
    {}
    """
    path = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
    if not path.is_file():
        return {}
    transcripts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRANSCRIPT_LINE.match(line.strip())
        if match:
            transcripts[match["utt"]] = match["text"].strip()
    return transcripts


# --------------------------------------------------------------------------------------------
# 3. Manifest entries and splits
# --------------------------------------------------------------------------------------------
def build_entries(turns, session_dirs, duration_tolerance=DURATION_TOLERANCE, progressbar=True):
    """``{utt: entry}`` of the kept turns (see the module docstring); reads the wav headers and
    checks their lengths against the turns (:func:`check_turn_durations`)."""
    wavs = [
        session_dirs[turn["session"]] / "sentences" / "wav" / turn["dialog"] / f"{turn['utt']}.wav"
        for turn in turns
    ]
    audio = wav_entries(
        {wav: turn["source"] for wav, turn in zip(wavs, turns)},
        "IEMOCAP",
        IEMOCAPFormatError,
        progressbar=progressbar,
    )
    check_turn_durations(turns, [audio[wav] for wav in wavs], duration_tolerance)
    transcripts = {}
    entries = {}
    for wav, turn in zip(wavs, turns):
        key = (turn["session"], turn["dialog"])
        if key not in transcripts:
            transcripts[key] = read_transcripts(session_dirs[turn["session"]], turn["dialog"])
        votes, n_votes = count_votes(turn["categories"])
        entries[turn["utt"]] = {
            **audio[wav],
            "emo": turn["emo"],
            "label_raw": turn["label"],
            "speaker": f"Ses{turn['session']:02d}_{turn['gender']}",
            "session": turn["session"],
            "gender": turn["gender"],
            "dialog": turn["dialog"],
            "votes": votes,
            "n_votes": n_votes,
            "n_evaluators": len(turn["categories"]),
            "valence": turn["valence"],
            "arousal": turn["arousal"],
            "dominance": turn["dominance"],
            "transcript": transcripts[key].get(turn["utt"], ""),
        }
    missing = sum(
        turn["utt"] not in transcripts[(turn["session"], turn["dialog"])] for turn in turns
    )
    if missing:
        logger.warning("IEMOCAP: no transcript found for %d utterances", missing)
    return entries


def check_turn_durations(turns, audio, tolerance):
    """Raises when a wav's length differs from its turn's ``end - start`` by more than
    ``tolerance`` seconds (None: no check); the error counts them and names the first few.

    Example
    -------
    >>> turn = {"start": 1.0, "end": 5.15, "source": "f.txt:3"}
    >>> check_turn_durations([turn], [{"wav": "a.wav", "duration": 4.1}], 1.0)
    >>> try:
    ...     check_turn_durations([turn], [{"wav": "a.wav", "duration": 1.38}], 1.0)
    ... except IEMOCAPFormatError as error:
    ...     print(error)
    1 wavs differ from the span of their turn line by more than duration_tolerance=1 s (truncated or wrong files?), e.g. a.wav holds 1.38 s, f.txt:3 says 4.15 s. Restore the files (or pass duration_tolerance=None to accept them)
    """
    if tolerance is None:
        return
    bad = [
        (entry["wav"], entry["duration"], turn["end"] - turn["start"], turn["source"])
        for turn, entry in zip(turns, audio)
        if abs(entry["duration"] - (turn["end"] - turn["start"])) > tolerance
    ]
    if bad:
        examples = "; ".join(
            f"{wav} holds {held:.2f} s, {source} says {span:.2f} s"
            for wav, held, span, source in bad[:N_EXAMPLES]
        )
        raise IEMOCAPFormatError(
            f"{len(bad)} wavs differ from the span of their turn line by more than"
            f" duration_tolerance={tolerance:g} s (truncated or wrong files?), e.g. {examples}."
            " Restore the files (or pass duration_tolerance=None to accept them)"
        )


def make_splits(entries, test_session, valid_ratio, dev_split, seed):
    """Splits the entries into train / valid / test, each sorted by utterance id.

    Arguments
    ---------
    entries : dict
        Utterance id -> entry (needs ``session`` and ``speaker``).
    test_session : int
        Held-out session.
    valid_ratio : float
        Validation fraction.
    dev_split : str
        ``"random"`` or ``"speaker"``.
    seed : int
        Seed of the validation split.

    Returns
    -------
    dict
        ``{"train", "valid", "test"}`` -> {utt: entry}.
    """
    test_ids = sorted(utt for utt, entry in entries.items() if entry["session"] == test_session)
    train_ids = sorted(utt for utt, entry in entries.items() if entry["session"] != test_session)
    if dev_split == "random":
        train_ids, valid_ids = split_random(train_ids, valid_ratio, seed)
    else:
        train_ids, valid_ids = split_by_speaker(train_ids, entries, valid_ratio, seed)
    splits = {"train": train_ids, "valid": valid_ids, "test": test_ids}
    for split, ids in splits.items():
        if not ids:
            raise IEMOCAPFormatError(f"The {split} split is empty (test_session={test_session})")
    return {split: {utt: entries[utt] for utt in sorted(ids)} for split, ids in splits.items()}


def split_random(utt_ids, valid_ratio, seed):
    """SUPERB-style split: shuffle with ``random.Random(seed)``, keep ``floor((1 - r) * N)``
    for training; returns (train ids, valid ids).

    Example
    -------
    >>> train, valid = split_random([str(i) for i in range(10)], 0.2, 0)
    >>> len(train), len(valid), sorted(train + valid) == sorted(map(str, range(10)))
    (8, 2, True)
    """
    shuffled = list(utt_ids)
    random.Random(seed).shuffle(shuffled)
    n_train = math.floor((1.0 - valid_ratio) * len(shuffled) + 1e-9)
    return shuffled[:n_train], shuffled[n_train:]


def split_by_speaker(utt_ids, entries, valid_ratio, seed):
    """Speaker-independent split: hold out whole speakers for validation.

    ``round(valid_ratio * S)`` validation speakers, clipped to ``[1, S - 1]`` (S = 8 speakers
    of the four training sessions: 2 for valid_ratio=0.2), drawn with
    ``random.Random(seed).sample`` from the sorted speaker list. Returns (train ids, valid ids).

    Example
    -------
    >>> entries = {u: {"speaker": u[0]} for u in ("a1", "a2", "b1", "c1")}
    >>> split_by_speaker(sorted(entries), entries, 0.2, 0)
    (['a1', 'a2', 'c1'], ['b1'])
    """
    speakers = sorted({entries[utt]["speaker"] for utt in utt_ids})
    if len(speakers) < 2:
        raise IEMOCAPFormatError(f"dev_split='speaker' needs 2+ training speakers, got {speakers}")
    n_valid = min(max(1, math.floor(valid_ratio * len(speakers) + 0.5)), len(speakers) - 1)
    valid_speakers = set(random.Random(seed).sample(speakers, n_valid))
    logger.info("IEMOCAP: validation speakers %s", sorted(valid_speakers))
    train = [utt for utt in utt_ids if entries[utt]["speaker"] not in valid_speakers]
    valid = [utt for utt in utt_ids if entries[utt]["speaker"] in valid_speakers]
    return train, valid


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def parse_args(argv=None):
    """Parses the command-line options of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="IEMOCAP_full_release folder")
    parser.add_argument("--save_folder", required=True, help="output folder of the manifests")
    parser.add_argument("--test_session", type=int, required=True, help="held-out session 1..5")
    parser.add_argument("--valid_ratio", type=float, default=0.2)
    parser.add_argument("--dev_split", choices=DEV_SPLITS, default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--duration_tolerance",
        type=float,
        default=DURATION_TOLERANCE,
        help=(
            "largest difference (s) between a turn's end - start and its wav's length; "
            "a negative value turns the check off"
        ),
    )
    parser.add_argument("--noprogressbar", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    """Runs :func:`prepare_iemocap` from the command line."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tolerance = args.duration_tolerance if args.duration_tolerance >= 0 else None
    prepare_iemocap(
        args.data_folder,
        args.save_folder,
        args.test_session,
        valid_ratio=args.valid_ratio,
        dev_split=args.dev_split,
        seed=args.seed,
        duration_tolerance=tolerance,
        progressbar=not args.noprogressbar,
    )


if __name__ == "__main__":
    sys.exit(main())
