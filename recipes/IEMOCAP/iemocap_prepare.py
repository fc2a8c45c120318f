#!/usr/bin/env python3
"""Data preparation for IEMOCAP speech emotion recognition (4 classes).

Reads the ``IEMOCAP_full_release`` folder and writes the manifests ``train.json``,
``valid.json`` and ``test.json`` of one fold of the 5-fold leave-one-session-out protocol:
find the files, parse the labels, split, write the manifests. What is read, checked and
written (the entries' fields, the splits, the stamp ``prepare_options.json``): the section
"Data preparation" of ``recipes/IEMOCAP/README.md``.

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
import os
import re
import sys
from collections import Counter
from pathlib import Path

from ser_modules.data.manifests import (
    OPTIONS_FILE,  # noqa: F401 (the stamp, read by the tests)
    describe_split,
    files_fingerprint,
    format_counts,
    label_fingerprint,
    prepare_once,
    visible,
    wav_entries,
)
from ser_modules.data.splits import split_by_speaker, split_random
from ser_modules.utils.constants import IEMOCAP_EMOTIONS
from ser_modules.utils.values import is_finite_number, is_real_number, is_whole_number, require

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
# The options of prepare_iemocap that a training script passes from its hparams (one fold).
FOLD_OPTIONS = ("data_folder", "test_session", "valid_ratio", "dev_split", "seed")
PREP_VERSION = 1
N_EXAMPLES = 3
DURATION_TOLERANCE = 1.0  # seconds between a turn's end - start and its wav's length
EVALUATIONS = "dialog/EmoEvaluation"  # the folders of a session that are read
TRANSCRIPTS = "dialog/transcriptions"
SENTENCES = "sentences/wav"

TURN_LINE = re.compile(
    r"^\[\s*(?P<start>\d+(?:\.\d*)?)\s*-\s*(?P<end>\d+(?:\.\d*)?)\s*\]\s+"
    r"(?P<utt>\S+)\s+(?P<label>[A-Za-z]+)\s+\[(?P<vad>[^\]]*)\]\s*$"
)
UTTERANCE_ID = re.compile(r"^Ses(?P<session>\d{2})[FM]_(?P<rest>.+)_(?P<gender>[FM])\d{3}$")
EVALUATOR_LINE = re.compile(r"^C-E\d+:(?P<body>.*)$")
# evaluators (E) and the actors' self-assessments (F, M)
CATEGORICAL_LINE = re.compile(r"^C-[EFM]\d+:")
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
        held out, see ``ser_modules.data.splits.split_by_speaker``).
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

    Raises ValueError on invalid options (:class:`IEMOCAPFormatError` on malformed files),
    FileNotFoundError on a missing folder or wav.

    Example
    -------
    >>> prepare_iemocap("IEMOCAP_full_release", "prep", 1)  # doctest: +SKIP
    """
    options = make_options(
        data_folder, test_session, valid_ratio, dev_split, seed, duration_tolerance
    )
    root = options["data_folder"]
    files = find_files(Path(root))
    labels = [*files["evaluations"], *files["transcripts"]]
    inputs = {
        "labels": label_fingerprint(labels, root),
        "audio": files_fingerprint(files["wavs"], root),
    }

    def build():
        turns = [
            turn
            for path, session in files["evaluations"].items()
            for turn in parse_evaluation_file(path, session)
        ]
        log_wavs_without_turn(files["wavs"], turns)
        log_unknown_categories(turns)
        kept = select_four_class(turns, root)
        entries = build_entries(kept, files["sessions"], duration_tolerance, progressbar)
        splits = make_splits(entries, options)
        for split, part in splits.items():
            logger.info("IEMOCAP %s: %s", split, describe_split(part, "emo", IEMOCAP_EMOTIONS))
        return splits

    return prepare_once("IEMOCAP", save_folder, options, inputs, build, SPLITS)


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
    require(
        is_whole_number(test_session) and int(test_session) in SESSIONS,
        "test_session",
        "an int in 1..5",
        test_session,
    )
    ratio_ok = is_real_number(valid_ratio) and 0.0 < float(valid_ratio) < 1.0
    require(ratio_ok, "valid_ratio", "a float in (0, 1)", valid_ratio)
    require(dev_split in DEV_SPLITS, "dev_split", f"one of {DEV_SPLITS}", dev_split)
    require(is_whole_number(seed), "seed", "an int", seed)
    if duration_tolerance is not None:
        tolerance_ok = is_finite_number(duration_tolerance) and duration_tolerance >= 0
        expected = "None or a number of seconds >= 0"
        require(tolerance_ok, "duration_tolerance", expected, duration_tolerance)
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


# 1. Find the release's files
def find_files(data_folder):
    """The files the preparation reads, each listed once (hidden files, e.g. AppleDouble
    ``._*`` copies, aside), after checking the folders.

    Returns ``sessions`` (``{session: Session{k} folder}``), ``evaluations`` (``{<dialog>.txt
    of dialog/EmoEvaluation (subfolders skipped): session}``, sorted per session),
    ``transcripts`` (``dialog/transcriptions/*.txt``) and ``wavs``
    (``sentences/wav/<dialog>/<utt>.wav``).

    Example
    -------
    >>> find_files(Path("/nowhere"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: IEMOCAP data_folder not found: /nowhere
    """
    if not data_folder.is_dir():
        raise FileNotFoundError(f"IEMOCAP data_folder not found: {data_folder}")
    sessions = {session: data_folder / f"Session{session}" for session in SESSIONS}
    for session_dir in sessions.values():
        for needed in (session_dir, session_dir / EVALUATIONS, session_dir / SENTENCES):
            if not needed.is_dir():
                raise FileNotFoundError(
                    f"Missing folder {needed} (data_folder must be the "
                    "IEMOCAP_full_release folder holding Session1..Session5)"
                )
    files = {"sessions": sessions, "evaluations": {}, "transcripts": [], "wavs": []}
    for session, session_dir in sessions.items():
        folder = session_dir / EVALUATIONS
        found = sorted(path for path in visible(folder.glob("*.txt")) if path.is_file())
        if not found:
            raise IEMOCAPFormatError(f"No evaluation file (<dialog>.txt) in {folder}")
        files["evaluations"].update(dict.fromkeys(found, session))
    for session_dir in sessions.values():
        transcripts = session_dir / TRANSCRIPTS
        if transcripts.is_dir():
            files["transcripts"] += sorted(visible(transcripts.glob("*.txt")))
        files["wavs"] += visible((session_dir / SENTENCES).glob("*/*.wav"))
    return files


def log_wavs_without_turn(wavs, turns):
    """Warns about the wavs of ``sentences/wav`` that no turn line names.

    In the release every utterance wav has a turn line: unnamed wavs mean a truncated
    evaluation file, whose lost utterances are not used.
    """
    named = {turn["utt"] for turn in turns}
    unnamed = sorted(str(wav) for wav in wavs if wav.stem not in named)
    if unnamed:
        logger.warning(
            f"IEMOCAP: {len(unnamed)} wavs are named by no turn line of the evaluation files "
            f"(truncated evaluation file?) and are not used, e.g. {', '.join(unnamed[:N_EXAMPLES])}"
        )


# 2. Parse the labels
def parse_evaluation_file(path, session):
    """The turn lines (:func:`parse_turn_line`) of one evaluation file
    (``Session{k}/dialog/EmoEvaluation/<dialog>.txt``), each with one list of categories per
    evaluator in ``"categories"``.

    Lines starting with ``[`` are turn lines and must be well formed; each ``C-E<n>:`` line
    adds one evaluator to the preceding turn and must give at least one category. Lines
    starting with ``C-`` must be ``C-E<n>:``, ``C-F<n>:`` or ``C-M<n>:`` (the self-assessments
    ``C-F``/``C-M`` are not counted): any other is an error naming the file and line, never a
    vote dropped. Other lines (header ``%``, ``A-E``, blanks) are ignored.
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
    """Parses the stripped line ``[start - end]<TAB>utt<TAB>label<TAB>[v, a, d]`` of ``path``
    (an utterance of ``session``) into ``utt, label, session, gender, dialog, valence,
    arousal, dominance, start, end, source, categories``.

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
    f:1: malformed [valence, arousal, dominance]: [nan, 3.0000, 1.5] (three finite numbers
    expected)
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
        counts = format_counts(Counter(category for category, _ in unknown))
        logger.warning(
            f"IEMOCAP: {len(unknown)} evaluator categories are not IEMOCAP's ({counts}): counted "
            f"in n_votes, no class vote; e.g. {examples}"
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
        f"IEMOCAP: {len(turns)} turns, {len(kept)} kept (4 classes, {n_exc} exc merged into hap), "
        f"{sum(excluded.values())} excluded: {format_counts(excluded)}"
    )
    if not kept:
        raise IEMOCAPFormatError(f"No neu/hap/exc/ang/sad utterance found in {data_folder}")
    return kept


def read_transcripts(session_dir, dialog):
    """``{utt: text}`` of ``dialog/transcriptions/<dialog>.txt`` (empty without the file).

    Example
    -------
    >>> read_transcripts(Path("/nowhere"), "Ses01F_impro01")
    {}
    """
    path = session_dir / TRANSCRIPTS / f"{dialog}.txt"
    if not path.is_file():
        return {}
    transcripts = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRANSCRIPT_LINE.match(line.strip())
        if match:
            transcripts[match["utt"]] = match["text"].strip()
    return transcripts


# 3. Manifest entries and splits
def build_entries(turns, session_dirs, duration_tolerance=DURATION_TOLERANCE, progressbar=True):
    """``{utt: entry}`` of the kept turns (fields: ``recipes/IEMOCAP/README.md``); reads the
    wav headers and checks their lengths against the turns (:func:`check_turn_durations`)."""
    wavs = [
        session_dirs[turn["session"]] / SENTENCES / turn["dialog"] / f"{turn['utt']}.wav"
        for turn in turns
    ]
    audio = wav_entries(
        {wav: turn["source"] for wav, turn in zip(wavs, turns)},
        "IEMOCAP",
        IEMOCAPFormatError,
        progressbar=progressbar,
    )
    check_turn_durations(turns, [audio[wav] for wav in wavs], duration_tolerance)
    dialogs = dict.fromkeys((turn["session"], turn["dialog"]) for turn in turns)
    transcripts = {key: read_transcripts(session_dirs[key[0]], key[1]) for key in dialogs}
    entries, missing = {}, 0
    for wav, turn in zip(wavs, turns):
        key = (turn["session"], turn["dialog"])
        missing += turn["utt"] not in transcripts[key]
        votes, n_votes = count_votes(turn["categories"])
        entries[turn["utt"]] = {
            **audio[wav],
            "emo": turn["emo"],
            "label_raw": turn["label"],
            "speaker": f"Ses{turn['session']:02d}_{turn['gender']}",
            **{field: turn[field] for field in ("session", "gender", "dialog")},
            "votes": votes,
            "n_votes": n_votes,
            "n_evaluators": len(turn["categories"]),
            **{field: turn[field] for field in ("valence", "arousal", "dominance")},
            "transcript": transcripts[key].get(turn["utt"], ""),
        }
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
    1 wavs differ from the span of their turn line by more than duration_tolerance=1 s
    (truncated or wrong files?), e.g. a.wav holds 1.38 s, f.txt:3 says 4.15 s. Restore the
    files (or pass duration_tolerance=None to accept them)
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


def make_splits(entries, options):
    """``{"train", "valid", "test"}`` -> ``{utt: entry}``, each sorted by utterance id: test =
    the session ``options["test_session"]``, valid drawn from the others as ``dev_split``
    says (``ser_modules.data.splits``) with ``valid_ratio`` and ``seed``."""
    test_session = options["test_session"]
    test_ids = sorted(utt for utt, entry in entries.items() if entry["session"] == test_session)
    train_ids = sorted(utt for utt, entry in entries.items() if entry["session"] != test_session)
    if options["dev_split"] == "random":
        train_ids, valid_ids = split_random(train_ids, options["valid_ratio"], options["seed"])
    else:
        speaker_of = {utt: entries[utt]["speaker"] for utt in train_ids}
        train_ids, valid_ids = split_by_speaker(
            train_ids, speaker_of, options["valid_ratio"], options["seed"], IEMOCAPFormatError
        )
        valid_speakers = sorted({speaker_of[utt] for utt in valid_ids})
        logger.info("IEMOCAP: validation speakers %s", valid_speakers)
    splits = {"train": train_ids, "valid": valid_ids, "test": test_ids}
    for split, ids in splits.items():
        if not ids:
            raise IEMOCAPFormatError(f"The {split} split is empty (test_session={test_session})")
    return {split: {utt: entries[utt] for utt in sorted(ids)} for split, ids in splits.items()}


# Command line
def main(argv=None):
    """Runs :func:`prepare_iemocap` from the command line."""
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
        help="largest gap (s) between a turn's end - start and its wav's length; < 0: no check",
    )
    parser.add_argument(
        "--noprogressbar", dest="progressbar", action="store_false", help="hide the progress bar"
    )
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args["duration_tolerance"] < 0:
        args["duration_tolerance"] = None
    prepare_iemocap(**args)


if __name__ == "__main__":
    sys.exit(main())
