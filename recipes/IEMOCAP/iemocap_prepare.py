#!/usr/bin/env python3
"""Data preparation for IEMOCAP speech emotion recognition (4 classes).

Reads the original ``IEMOCAP_full_release`` folder and writes SpeechBrain JSON
manifests ``train.json``, ``valid.json`` and ``test.json`` for one fold of the
standard **5-fold leave-one-session-out** protocol.

Protocol
--------
* Utterances are taken from the *turn lines* of the evaluation files
  ``Session{k}/dialog/EmoEvaluation/<dialog>.txt``, e.g.::

      [6.2901 - 8.2357]	Ses01F_impro01_F000	neu	[2.5000, 2.5000, 2.5000]
      C-E2:	Neutral state;	()
      C-E3:	Neutral state; Sadness;	()
      A-E3:	val 3; act 2; dom  2;	()

  The wavs are *not* globbed (the release holds other files, e.g. AppleDouble
  ``._*`` copies); subfolders (``Categorical/``, ``Attribute/``,
  ``Self-evaluation/``) and hidden files of ``EmoEvaluation`` are skipped.
  The audio is ``Session{k}/sentences/wav/<dialog>/<utterance>.wav``.
* 4 classes ``neu hap ang sad``; ``exc`` (excited) is merged into ``hap``.
  All other labels (``fru sur fea dis oth xxx``) are excluded; their counts
  are logged. Any other label code is an error naming the file and line.
* Bad inputs are errors naming the file (and line): a missing folder, a
  malformed or truncated turn line, a missing, empty or corrupt wav. Wavs of
  ``sentences/wav`` that no turn line names (e.g. after an evaluation file
  was truncated between two turns) are counted in a warning, as are wavs that
  are not mono at 16 kHz (resampled and down-mixed when read).
* test = both speakers of the held-out session ``test_session``;
  valid = a seeded random ``valid_ratio`` of the utterances of the four other
  sessions (SUPERB protocol, ``dev_split="random"``: valid shares speakers
  with train), or, with ``dev_split="speaker"``, whole held-out speakers of
  the training sessions (see :func:`split_by_speaker`).
  The random split keeps ``floor((1 - valid_ratio) * N)`` utterances for
  training, as ``torch.utils.data.random_split`` does in SUPERB; the
  utterance order differs from SUPERB's, so the exact dev lists differ.

Counts of the real release (5531 utterances: neu 1708, hap+exc 1636,
ang 1103, sad 1084)::

    test session  test utts (neu/hap/ang/sad)  train+valid  -> train / valid
    Session1      1085 (384/278/229/194)       4446            3556 / 890
    Session2      1023 (362/327/137/197)       4508            3606 / 902
    Session3      1151 (320/286/240/305)       4380            3504 / 876
    Session4      1031 (258/303/327/143)       4500            3600 / 900
    Session5      1241 (384/442/170/245)       4290            3432 / 858

Manifest entries (keyed by utterance id)
----------------------------------------
``wav`` (absolute path), ``duration`` (seconds, from the wav header),
``emo`` (neu/hap/ang/sad), ``label_raw`` (label of the turn line, e.g. exc),
``speaker`` (e.g. ``Ses01_F``: session + the gender letter of the *last*
``_F000``/``_M000`` part of the id, i.e. who speaks, not who wore the
markers), ``session`` (int), ``gender`` (F/M), ``dialog``, ``votes``,
``n_votes``, ``n_evaluators``, ``valence``, ``arousal``, ``dominance``
(the averaged attributes of the turn line) and ``transcript``
(from ``dialog/transcriptions/``, ``""`` when not found).

Votes: each ``C-E<n>:`` line is one evaluator. An evaluator may list
several categories separated by ``;``. ``votes[c]`` counts the evaluators
who gave at least one category mapping to class ``c`` (Neutral state->neu,
Happiness->hap, Excited->hap, Anger->ang, Sadness->sad), so an evaluator
writing ``Happiness; Excited;`` adds 1 to ``hap``. ``n_votes`` is the total
number of distinct categories given by all evaluators, including ignored
ones (Frustration, Surprise, Other, ...). ``n_evaluators`` counts the
``C-E`` lines. The actors' self-assessments (``C-F1``/``C-M1`` lines) are
not counted.

Re-running with identical options does nothing; changed options (or
``data_folder``) redo the preparation (stored in ``prepare_options.json``).
All files are written atomically.

Example
-------
> python iemocap_prepare.py --data_folder /data/IEMOCAP_full_release \
      --save_folder results/prep/fold1 --test_session 1

Authors
 * ser-recipes contributors 2025
"""

import argparse
import json
import logging
import math
import numbers
import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

from ser_modules.data.audio import AudioFileError, audio_info, conversion_note, log_conversions
from ser_modules.utils.files import write_json_atomic
from tqdm import tqdm

logger = logging.getLogger(__name__)

EMOTIONS = ("neu", "hap", "ang", "sad")
LABEL_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
EXCLUDED_LABELS = ("fru", "sur", "fea", "dis", "oth", "xxx")
N_EXAMPLES = 3
CATEGORY_MAP = {
    "neutral state": "neu",
    "neutral": "neu",
    "happiness": "hap",
    "excited": "hap",
    "anger": "ang",
    "sadness": "sad",
}
SESSIONS = (1, 2, 3, 4, 5)
DEV_SPLITS = ("random", "speaker")
SPLITS = ("train", "valid", "test")
OPTIONS_FILE = "prepare_options.json"
PREP_VERSION = 1

TURN_LINE = re.compile(
    r"^\[\s*(?P<start>\d+(?:\.\d*)?)\s*-\s*(?P<end>\d+(?:\.\d*)?)\s*\]\s+"
    r"(?P<utt>\S+)\s+(?P<label>[A-Za-z]+)\s+\[(?P<vad>[^\]]*)\]\s*$"
)
UTTERANCE_ID = re.compile(
    r"^Ses(?P<session>\d{2})[FM]_(?P<rest>.+)_(?P<gender>[FM])\d{3}$"
)
EVALUATOR_LINE = re.compile(r"^C-E\d+:(?P<body>.*)$")
TRANSCRIPT_LINE = re.compile(r"^(?P<utt>\S+)\s+\[[^\]]*\]:\s?(?P<text>.*)$")


class IEMOCAPFormatError(ValueError):
    """A file of the IEMOCAP release does not have the expected format."""


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------
def prepare_iemocap(
    data_folder,
    save_folder,
    test_session,
    valid_ratio=0.2,
    dev_split="random",
    seed=0,
):
    """Write ``train.json``, ``valid.json`` and ``test.json`` for one fold.

    Arguments
    ---------
    data_folder : str or path-like
        The ``IEMOCAP_full_release`` folder (holding ``Session1..5``).
    save_folder : str or path-like
        Where the manifests and ``prepare_options.json`` are written.
    test_session : int
        Held-out session (1..5): both its speakers form the test set.
    valid_ratio : float
        Fraction (0 < valid_ratio < 1) of the training sessions used for
        validation (of the utterances, or of the speakers with
        ``dev_split="speaker"``).
    dev_split : str
        ``"random"`` (SUPERB: seeded utterance-level split) or ``"speaker"``
        (speaker-independent: whole speakers held out, see
        :func:`split_by_speaker`).
    seed : int
        Seed of the validation split.

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
    options = make_options(data_folder, test_session, valid_ratio, dev_split, seed)
    save_folder = Path(save_folder)
    paths = manifest_paths(save_folder)
    if skip(save_folder, options):
        logger.info("IEMOCAP manifests in %s are up to date, skipping", save_folder)
        return paths
    entries = collect_entries(Path(options["data_folder"]))
    splits = make_splits(entries, test_session, valid_ratio, dev_split, seed)
    log_split_counts(splits)
    write_manifests(save_folder, splits, options)
    return paths


def make_options(data_folder, test_session, valid_ratio, dev_split, seed):
    """Validate the options and return them as a JSON-serialisable dict.

    Arguments
    ---------
    data_folder : str or path-like
        The ``IEMOCAP_full_release`` folder.
    test_session : int
        Held-out session, 1..5.
    valid_ratio : float
        Validation fraction, 0 < valid_ratio < 1.
    dev_split : str
        One of ``DEV_SPLITS``.
    seed : int
        Seed of the validation split.

    Returns
    -------
    dict
        The normalised options (absolute ``data_folder``).

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
    if not isinstance(valid_ratio, numbers.Real) or isinstance(valid_ratio, bool):
        raise ValueError(f"valid_ratio must be a float in (0, 1), got {valid_ratio!r}")
    if not 0.0 < float(valid_ratio) < 1.0:
        raise ValueError(f"valid_ratio must be a float in (0, 1), got {valid_ratio!r}")
    if dev_split not in DEV_SPLITS:
        raise ValueError(f"dev_split must be one of {DEV_SPLITS}, got {dev_split!r}")
    if not is_int(seed):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return {
        "data_folder": os.path.abspath(os.fspath(data_folder)),
        "test_session": int(test_session),
        "valid_ratio": float(valid_ratio),
        "dev_split": dev_split,
        "seed": int(seed),
        "prep_version": PREP_VERSION,
    }


def is_int(value):
    """Return True for integers other than bools.

    Example
    -------
    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def manifest_paths(save_folder):
    """Return the manifest path of each split.

    Example
    -------
    >>> manifest_paths(Path("s"))["valid"].name
    'valid.json'
    """
    return {split: Path(save_folder) / f"{split}.json" for split in SPLITS}


def skip(save_folder, options):
    """Whether the manifests exist and were made with the same options.

    Arguments
    ---------
    save_folder : path-like
        Folder of the manifests.
    options : dict
        Options of the current call (see :func:`make_options`).

    Returns
    -------
    bool
        True when nothing needs to be done.
    """
    options_path = Path(save_folder) / OPTIONS_FILE
    if not all(path.is_file() for path in manifest_paths(save_folder).values()):
        return False
    if not options_path.is_file():
        return False
    try:
        previous = json.loads(options_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return previous == options


# --------------------------------------------------------------------------
# Reading the release
# --------------------------------------------------------------------------
def collect_entries(data_folder):
    """Parse all sessions and return the 4-class manifest entries.

    Arguments
    ---------
    data_folder : Path
        The ``IEMOCAP_full_release`` folder.

    Returns
    -------
    dict
        Utterance id -> manifest entry (see the module docstring).
    """
    session_dirs = find_session_dirs(data_folder)
    turns = []
    for session, session_dir in session_dirs.items():
        turns.extend(parse_session(session_dir, session))
    log_wavs_without_turn(session_dirs, turns)
    kept = select_four_class(turns)
    if not kept:
        raise IEMOCAPFormatError(f"No neu/hap/exc/ang/sad utterance found in {data_folder}")
    return build_entries(kept, session_dirs)


def log_wavs_without_turn(session_dirs, turns):
    """Warn about the wavs of ``sentences/wav`` that no turn line names.

    In the release every utterance wav has a turn line; unnamed wavs mean a
    truncated or incomplete evaluation file (hidden files are skipped).

    Arguments
    ---------
    session_dirs : dict
        Session number -> ``Session{k}`` folder.
    turns : list of dict
        All parsed turns.
    """
    named = {turn["utt"] for turn in turns}
    unnamed = sorted(
        str(wav)
        for session_dir in session_dirs.values()
        for wav in (session_dir / "sentences" / "wav").glob("*/*.wav")
        if not wav.name.startswith(".") and wav.stem not in named
    )
    if unnamed:
        logger.warning(
            "IEMOCAP: %d wavs are named by no turn line of the evaluation files (truncated "
            "evaluation file?) and are not used, e.g. %s",
            len(unnamed), ", ".join(unnamed[:N_EXAMPLES]),
        )


def find_session_dirs(data_folder):
    """Check the top-level layout and return ``{session: Session folder}``.

    Arguments
    ---------
    data_folder : Path
        The ``IEMOCAP_full_release`` folder.

    Returns
    -------
    dict
        Session number -> path of ``Session{k}``.
    """
    if not data_folder.is_dir():
        raise FileNotFoundError(f"IEMOCAP data_folder not found: {data_folder}")
    session_dirs = {}
    for session in SESSIONS:
        session_dir = data_folder / f"Session{session}"
        wav_dir = session_dir / "sentences" / "wav"
        for needed in (session_dir, evaluation_dir(session_dir), wav_dir):
            if not needed.is_dir():
                raise FileNotFoundError(
                    f"Missing folder {needed} (data_folder must be the "
                    "IEMOCAP_full_release folder holding Session1..Session5)"
                )
        session_dirs[session] = session_dir
    return session_dirs


def evaluation_dir(session_dir):
    """Return ``Session{k}/dialog/EmoEvaluation``."""
    return session_dir / "dialog" / "EmoEvaluation"


def list_evaluation_files(session_dir):
    """Return the sorted ``<dialog>.txt`` files of a session's EmoEvaluation.

    Subfolders (Categorical, Attribute, Self-evaluation) and hidden files
    (e.g. AppleDouble ``._*``) are skipped.

    Arguments
    ---------
    session_dir : Path
        A ``Session{k}`` folder.

    Returns
    -------
    list of Path
        The evaluation files.
    """
    folder = evaluation_dir(session_dir)
    files = sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix == ".txt" and not path.name.startswith(".")
    )
    if not files:
        raise IEMOCAPFormatError(f"No evaluation file (<dialog>.txt) in {folder}")
    return files


def parse_session(session_dir, session):
    """Parse every evaluation file of one session.

    Arguments
    ---------
    session_dir : Path
        A ``Session{k}`` folder.
    session : int
        Its number.

    Returns
    -------
    list of dict
        One dict per turn line (see :func:`parse_turn_line`).
    """
    turns = []
    for path in list_evaluation_files(session_dir):
        turns.extend(parse_evaluation_file(path, session))
    return turns


def parse_evaluation_file(path, session):
    """Parse the turn lines of one evaluation file and their C-E votes.

    Lines starting with ``[`` are turn lines and must be well formed; each
    ``C-E<n>:`` line adds one evaluator to the preceding turn. Other lines
    (header ``%``, ``A-E``, ``C-F``/``C-M`` self-assessments, blanks) are
    ignored.

    Arguments
    ---------
    path : Path
        ``Session{k}/dialog/EmoEvaluation/<dialog>.txt``.
    session : int
        Session of the file.

    Returns
    -------
    list of dict
        One dict per turn, with the evaluators' categories in ``"categories"``.
    """
    turns = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line_no, line in enumerate(lines, start=1):
        line = line.strip()
        if line.startswith("["):
            turns.append(parse_turn_line(line, path, line_no, session))
        elif EVALUATOR_LINE.match(line):
            if not turns:
                raise IEMOCAPFormatError(
                    f"{path}:{line_no}: evaluator line before any turn line: {line!r}"
                )
            turns[-1]["categories"].append(parse_categories(line))
    if not turns:
        raise IEMOCAPFormatError(f"{path}: no turn line ('[start - end] utt label [v, a, d]')")
    return turns


def parse_turn_line(line, path, line_no, session):
    """Parse ``[start - end]<TAB>utt<TAB>label<TAB>[v, a, d]``.

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
        ``utt, label, session, gender, dialog, valence, arousal, dominance,
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
        raise IEMOCAPFormatError(f"{where}: unknown emotion label {label!r} of {utt} (known: {known})")
    return {
        "utt": utt,
        "label": label,
        "session": session,
        "gender": id_match["gender"],
        "dialog": utt.rsplit("_", 1)[0],
        **parse_attributes(match["vad"], where),
        "source": where,
        "categories": [],
    }


def parse_attributes(text, where):
    """Parse the ``v, a, d`` part of a turn line.

    Example
    -------
    >>> parse_attributes("2.5000, 3.0000, 1.5", "f:1")
    {'valence': 2.5, 'arousal': 3.0, 'dominance': 1.5}
    """
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 3:
        raise IEMOCAPFormatError(f"{where}: malformed [valence, arousal, dominance]: [{text}]")
    return dict(zip(("valence", "arousal", "dominance"), values))


def parse_categories(line):
    """Return the distinct categories of one ``C-E<n>:`` line.

    The free-text comment in parentheses is dropped; ``Other:<text>`` is
    kept as one (ignored) category.

    Example
    -------
    >>> parse_categories("C-E3:\\tNeutral state; Sadness;\\t(tired; sad)")
    ['Neutral state', 'Sadness']
    """
    body = EVALUATOR_LINE.match(line)["body"].split("(", 1)[0]
    categories = [part.strip() for part in body.split(";")]
    return list(dict.fromkeys(cat for cat in categories if cat))


def count_votes(category_lists):
    """Map the evaluators' categories to 4-class votes.

    Arguments
    ---------
    category_lists : list of list of str
        One list of categories per evaluator.

    Returns
    -------
    tuple
        (votes dict over ``EMOTIONS``, n_votes = all categories given).

    Example
    -------
    >>> count_votes([["Happiness", "Excited"], ["Frustration"], ["Neutral state"]])
    ({'neu': 1, 'hap': 1, 'ang': 0, 'sad': 0}, 4)
    """
    votes = dict.fromkeys(EMOTIONS, 0)
    for categories in category_lists:
        classes = {CATEGORY_MAP.get(cat.lower()) for cat in categories}
        for emo in classes.difference({None}):
            votes[emo] += 1
    return votes, sum(len(categories) for categories in category_lists)


def select_four_class(turns):
    """Keep the neu/hap/exc/ang/sad turns; log the excluded label counts.

    Arguments
    ---------
    turns : list of dict
        All parsed turns.

    Returns
    -------
    list of dict
        The kept turns with ``emo`` set (exc -> hap).
    """
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
        len(turns), len(kept), n_exc, sum(excluded.values()), format_counts(excluded),
    )
    return kept


def read_transcripts(session_dir, dialog):
    """Return ``{utt: text}`` from ``dialog/transcriptions/<dialog>.txt``.

    Returns an empty dict when the file does not exist.

    Arguments
    ---------
    session_dir : Path
        A ``Session{k}`` folder.
    dialog : str
        Dialog name, e.g. ``Ses01F_impro01``.

    Returns
    -------
    dict
        Utterance id -> transcript.
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


def read_wav_header(wav_path, source):
    """The wav header (duration, sample rate, channels; no decoding).

    Arguments
    ---------
    wav_path : Path
        The wav file.
    source : str
        ``file:line`` of the turn line naming it (for error messages).

    Returns
    -------
    soundfile._SoundFileInfo
        The header (``duration`` = frames / sample rate).
    """
    try:
        return audio_info(wav_path, named_by=source)
    except AudioFileError as error:
        raise IEMOCAPFormatError(str(error)) from error


def build_entries(turns, session_dirs):
    """Build the manifest entries, reading each wav header (with progress bar).

    Arguments
    ---------
    turns : list of dict
        The kept turns.
    session_dirs : dict
        Session number -> ``Session{k}`` folder.

    Returns
    -------
    dict
        Utterance id -> manifest entry.
    """
    entries = {}
    transcripts = {}
    conversions = {}
    missing_transcripts = 0
    for turn in tqdm(turns, desc="Reading IEMOCAP wav headers", unit="utt"):
        session_dir = session_dirs[turn["session"]]
        key = (turn["session"], turn["dialog"])
        if key not in transcripts:
            transcripts[key] = read_transcripts(session_dir, turn["dialog"])
        wav = session_dir / "sentences" / "wav" / turn["dialog"] / f"{turn['utt']}.wav"
        votes, n_votes = count_votes(turn["categories"])
        transcript = transcripts[key].get(turn["utt"])
        missing_transcripts += transcript is None
        header = read_wav_header(wav, turn["source"])
        conversions[str(wav)] = conversion_note(header)
        entries[turn["utt"]] = {
            "wav": str(wav),
            "duration": header.frames / header.samplerate,
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
            "transcript": transcript or "",
        }
    if missing_transcripts:
        logger.warning("IEMOCAP: no transcript found for %d utterances", missing_transcripts)
    log_conversions(conversions, "IEMOCAP")
    return entries


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------
def make_splits(entries, test_session, valid_ratio, dev_split, seed):
    """Split the entries into train / valid / test.

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
        Split name -> {utt: entry}, each sorted by utterance id.
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
    """SUPERB-style split: shuffle, keep ``floor((1 - r) * N)`` for training.

    Arguments
    ---------
    utt_ids : list of str
        Sorted utterance ids of the training sessions.
    valid_ratio : float
        Validation fraction.
    seed : int
        Seed of ``random.Random`` used to shuffle.

    Returns
    -------
    tuple
        (train ids, valid ids).

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

    The number of validation speakers is ``round(valid_ratio * S)`` clipped
    to ``[1, S - 1]`` (S = 8 speakers of the four training sessions, so 2
    speakers for valid_ratio=0.2); they are drawn with
    ``random.Random(seed).sample`` from the sorted speaker list.

    Arguments
    ---------
    utt_ids : list of str
        Utterance ids of the training sessions.
    entries : dict
        Utterance id -> entry (needs ``speaker``).
    valid_ratio : float
        Fraction of speakers held out.
    seed : int
        Seed of the speaker draw.

    Returns
    -------
    tuple
        (train ids, valid ids).
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


def format_counts(counter):
    """Format a label counter as ``"a 3, b 1"`` (most common first).

    Example
    -------
    >>> format_counts(Counter({"fru": 2, "xxx": 5}))
    'xxx 5, fru 2'
    """
    return ", ".join(f"{label} {count}" for label, count in counter.most_common()) or "none"


def log_split_counts(splits):
    """Log the number of utterances per split and class, and the range of durations."""
    for split, entries in splits.items():
        counts = Counter(entry["emo"] for entry in entries.values())
        per_class = ", ".join(f"{emo} {counts[emo]}" for emo in EMOTIONS)
        durations = [entry["duration"] for entry in entries.values()]
        logger.info(
            "IEMOCAP %s: %d utterances (%s), %.2f s to %.2f s", split, len(entries), per_class,
            min(durations), max(durations),
        )


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def write_manifests(save_folder, splits, options):
    """Write the manifests, then the options file, each atomically.

    The old options file is removed first, so an interrupted run is redone.

    Arguments
    ---------
    save_folder : Path
        Output folder (created if needed).
    splits : dict
        Split name -> {utt: entry}.
    options : dict
        Options recorded in ``prepare_options.json``.
    """
    save_folder.mkdir(parents=True, exist_ok=True)
    (save_folder / OPTIONS_FILE).unlink(missing_ok=True)
    for split, path in manifest_paths(save_folder).items():
        write_json_atomic(splits[split], path)
    write_json_atomic(options, save_folder / OPTIONS_FILE)
    logger.info("IEMOCAP manifests written to %s", save_folder)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    """Parse the command-line options of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="IEMOCAP_full_release folder")
    parser.add_argument("--save_folder", required=True, help="output folder of the manifests")
    parser.add_argument("--test_session", type=int, required=True, help="held-out session 1..5")
    parser.add_argument("--valid_ratio", type=float, default=0.2)
    parser.add_argument("--dev_split", choices=DEV_SPLITS, default="random")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    """Run :func:`prepare_iemocap` from the command line."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepare_iemocap(
        args.data_folder,
        args.save_folder,
        args.test_session,
        valid_ratio=args.valid_ratio,
        dev_split=args.dev_split,
        seed=args.seed,
    )


if __name__ == "__main__":
    sys.exit(main())
