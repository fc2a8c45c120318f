#!/usr/bin/env python3
"""Data preparation for MSP-Podcast dimensional speech emotion recognition.

Reads an MSP-Podcast release as distributed by the MSP lab and writes one
SpeechBrain JSON manifest per labelled partition: ``train.json``,
``valid.json``, ``test1.json``, ``test2.json`` (and ``test3.json``, ... when
such a partition carries labels).

Layouts
-------
Two layouts are recognised automatically (the one found is logged); each part
is looked up on its own, so intermediate releases that mix them also work.

v1.11 / v1.12 (and later 1.x)::

    Audios/MSP-PODCAST_<podcast>_<segment>.wav     16 kHz mono
    Labels/labels_consensus.csv     FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Labels/labels_detailed.csv      FileName,EmoDetail   (one row per file and rater)
    Transcripts/<utt>.txt           one transcript per file (optional)

``EmoDetail`` is ``"WORKER00012345; Angry; Angry,Frustrated; A:5.0; V:2.0; D:5.0;"``:
worker, primary emotion, secondary emotions (the field may be empty or
absent), then the arousal, valence and dominance ratings.

v1.6 (as originally released)::

    Audio/MSP-PODCAST_*.wav
    Partitions.txt                  "Train; MSP-PODCAST_0023_0048.wav"
    Labels/labels_concensus.csv     (sic) same columns as above
    Labels/labels_detailed.json     {"<FileName>": {"WORKER...": {"EmoAct": 5.0, "EmoVal": ..,
                                     "EmoDom": .., "EmoClass_Major": .., ...}}}

Candidates looked up, first found wins: audio folder ``Audios`` or ``Audio``;
label folder ``Labels``, ``labels`` or ``label``; consensus file
``labels_consensus.csv`` or ``labels_concensus.csv``; detailed file
``labels_detailed.csv`` or ``labels_detailed.json``. When ``Partitions.txt``
exists it defines the partitions (disagreements with the ``Split_Set``
column are counted and logged); otherwise the ``Split_Set`` column does.

Partitions
----------
Partition names are read from the data, never hard-coded: ``Train`` ->
``train``, ``Development`` and ``Validation`` (older releases) -> ``valid``,
``Test1`` -> ``test1``, ``Test2`` -> ``test2``, ``Test3`` -> ``test3``, any
other name -> its lower-case form (with a warning). A partition whose files
carry no consensus value (e.g. Test3, whose labels are hidden) is skipped with
a log line, as are wavs of the audio folder that no label file names.
Within a labelled partition, a row with empty or NaN attributes is skipped
and counted in a warning (with examples); any other non-numeric value, or
one outside 1..7, is an error naming the file and line, as is a CSV row with
fewer or more fields than the header (a truncated or malformed file). Wavs
that are not mono at 16 kHz are counted in a warning (they are resampled and
down-mixed when read).

Manifest entries (keyed by utterance id = file name without ``.wav``)
--------------------------------------------------------------------
``wav`` (absolute path), ``duration`` (seconds, from the wav header),
``arousal``, ``valence``, ``dominance`` (consensus ``EmoAct``, ``EmoVal``,
``EmoDom``, original 1..7 scale, floats), ``arousal_std``, ``valence_std``,
``dominance_std`` (population standard deviation, ``ddof=0``, of the raters'
ratings in the detailed labels), ``n_raters``, ``speaker`` (``SpkrID`` as a
string), ``gender``, ``split`` (the partition name of the release, e.g.
``Development``), ``emo_class`` (categorical consensus ``EmoClass``, when the
column exists) and ``transcript`` (when the release has ``Transcripts/``;
``""`` for a file without transcript, counted in a warning).

* ``speaker`` is kept verbatim. ``Unknown`` marks *unidentified* speakers:
  these utterances come from many different people, not from one speaker,
  so never treat ``Unknown`` as a speaker (for speaker-disjoint splits or
  per-speaker normalisation, give each such utterance its own identity).
* Rater statistics: a rating row with a NaN or empty rating is left out
  (counted in a warning), a worker rating the same file twice is counted
  once (first row kept, counted in a warning). A file without any detailed
  rating is **kept** with ``n_raters: 0`` and the three ``*_std`` fields set
  to ``0.0`` (JSON has no NaN), and the number of such files is logged as a
  warning: filter on ``n_raters > 0`` in the recipe when rater statistics
  are needed.
* The consensus is expected to be the mean of the detailed ratings. Files
  where they differ by more than ``0.01`` plus half a unit of the last
  decimal written in the consensus file are counted and the worst few are
  logged; the consensus is kept as is.

Nothing is filtered by default (``EmoClass`` ``X``/``O`` segments keep their
valid dimensional labels); ``min_duration`` can drop short segments, with a
logged count.

Re-running with identical options does nothing; changed options (or
``data_folder``) redo the preparation (stored in ``prepare_options.json``,
which also lists the manifests written). All files are written atomically.

Example
-------
> python msp_podcast_prepare.py --data_folder /data/MSP-Podcast \
      --save_folder results/prep

Authors
 * ser-recipes contributors 2025
"""

import argparse
import csv
import json
import logging
import math
import numbers
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ser_modules.data.audio import AudioFileError, audio_info, conversion_note, log_conversions
from ser_modules.utils.files import write_json_atomic
from tqdm import tqdm

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"
PREP_VERSION = 1
ATTRIBUTES = ("arousal", "valence", "dominance")
CONSENSUS_COLUMNS = {"arousal": "EmoAct", "valence": "EmoVal", "dominance": "EmoDom"}
REQUIRED_COLUMNS = ("FileName", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender")
DETAILED_COLUMNS = ("FileName", "EmoDetail")
AUDIO_DIRS = ("Audios", "Audio")
LABEL_DIRS = ("Labels", "labels", "label")
CONSENSUS_FILES = ("labels_consensus.csv", "labels_concensus.csv")
DETAILED_FILES = ("labels_detailed.csv", "labels_detailed.json")
PARTITIONS_FILE = "Partitions.txt"
TRANSCRIPTS_DIR = "Transcripts"
VALID_NAMES = ("development", "validation")
RATING_RANGE = (1.0, 7.0)
AGREEMENT_TOLERANCE = 0.01
N_WORST_LOGGED = 5

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)|nan|NaN|NAN"
EMO_DETAIL = re.compile(
    r"^\s*(?P<worker>[^;\s][^;]*?)\s*;"  # worker id
    r"(?P<emotions>(?:[^;]*;)*?)"  # primary; [secondary;] (not used here)
    rf"\s*A:\s*(?P<arousal>{_NUMBER})\s*;"
    rf"\s*V:\s*(?P<valence>{_NUMBER})\s*;"
    rf"\s*D:\s*(?P<dominance>{_NUMBER})\s*;?\s*$"
)
EMO_DETAIL_FIELDS = ("EmoDetail A", "EmoDetail V", "EmoDetail D")
TEST_SPLIT = re.compile(r"^test\d*$")


class MSPPodcastFormatError(ValueError):
    """A file of the MSP-Podcast release does not have the expected format."""


@dataclass(frozen=True)
class Layout:
    """Where the parts of one MSP-Podcast release are.

    Attributes
    ----------
    name : str
        ``"v1.11+"``, ``"v1.6"`` or ``"mixed"`` (for logging).
    audio_dir : Path
        ``Audios/`` or ``Audio/``.
    consensus : Path
        ``labels_consensus.csv`` or ``labels_concensus.csv``.
    detailed : Path
        ``labels_detailed.csv`` (EmoDetail strings) or ``labels_detailed.json``.
    partitions : Path or None
        ``Partitions.txt`` when present.
    transcripts : Path or None
        ``Transcripts/`` when present.
    """

    name: str
    audio_dir: Path
    consensus: Path
    detailed: Path
    partitions: Optional[Path]
    transcripts: Optional[Path]


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------
def prepare_msp_podcast(data_folder, save_folder, splits=None, min_duration=0.0):
    """Write one manifest per labelled partition of an MSP-Podcast release.

    Arguments
    ---------
    data_folder : str or path-like
        Root of the release (holding ``Audios/`` or ``Audio/`` and ``Labels/``).
    save_folder : str or path-like
        Where the manifests and ``prepare_options.json`` are written.
    splits : list of str, optional
        Manifest names to write (e.g. ``["train", "valid", "test1"]``);
        ``None`` writes every labelled partition found.
    min_duration : float
        Segments shorter than this (seconds) are left out, with a logged
        count; ``0.0`` (default) keeps everything.

    Returns
    -------
    dict
        Manifest name (``train``, ``valid``, ``test1``, ...) -> path.

    Raises
    ------
    FileNotFoundError
        On a missing data folder, label file or wav.
    MSPPodcastFormatError
        On a malformed label file or an unreadable wav (a ``ValueError``,
        as are invalid options).

    Example
    -------
    >>> prepare_msp_podcast("MSP-Podcast", "prep")  # doctest: +SKIP
    """
    options = make_options(data_folder, splits, min_duration)
    save_folder = Path(save_folder)
    previous = read_previous_options(save_folder)
    if up_to_date(save_folder, previous, options):
        logger.info("MSP-Podcast manifests in %s are up to date, skipping", save_folder)
        return manifest_paths(save_folder, previous["manifests"])
    layout = detect_layout(Path(options["data_folder"]))
    manifests = collect_manifests(layout, options)
    write_manifests(save_folder, manifests, options, previous)
    return manifest_paths(save_folder, manifests)


def collect_manifests(layout, options):
    """Read the release and return ``{manifest name: {utt: entry}}``.

    Arguments
    ---------
    layout : Layout
        Where the release's files are (see :func:`detect_layout`).
    options : dict
        Normalised options (see :func:`make_options`).

    Returns
    -------
    dict
        Manifest name -> {utterance id: entry}, ids sorted.
    """
    rows = read_consensus(layout.consensus)
    assign_partitions(rows, layout)
    labelled = select_labelled(rows, layout.consensus)
    groups = group_by_manifest(labelled, options["splits"])
    log_unlabelled_audio(layout.audio_dir, rows)
    ratings = read_detailed(layout.detailed)
    used = [row for group in groups.values() for row in group]
    stats = rater_statistics(used, ratings, layout.detailed)
    check_agreement(used, stats, layout)
    manifests = {
        name: build_entries(group, stats, layout, name) for name, group in groups.items()
    }
    manifests = drop_short(manifests, options["min_duration"])
    log_split_counts(manifests)
    return manifests


def make_options(data_folder, splits, min_duration):
    """Validate the options and return them as a JSON-serialisable dict.

    Arguments
    ---------
    data_folder : str or path-like
        Root of the release.
    splits : list of str or None
        Manifest names to write, or None for all labelled partitions.
    min_duration : float
        Minimum segment duration in seconds (>= 0).

    Returns
    -------
    dict
        The normalised options (absolute ``data_folder``, sorted ``splits``).

    Example
    -------
    >>> make_options("/data", ["valid", "train"], 0)["splits"]
    ['train', 'valid']
    >>> make_options("/data", "train", 0)
    Traceback (most recent call last):
    ...
    ValueError: splits must be None or a list of manifest names, got 'train'
    """
    if splits is not None:
        if isinstance(splits, str) or not all(isinstance(s, str) and s for s in splits):
            raise ValueError(f"splits must be None or a list of manifest names, got {splits!r}")
        splits = sorted(set(splits))
        if not splits:
            raise ValueError("splits must not be empty (use None for all partitions)")
    if not isinstance(min_duration, numbers.Real) or isinstance(min_duration, bool):
        raise ValueError(f"min_duration must be a number >= 0, got {min_duration!r}")
    if not (math.isfinite(min_duration) and min_duration >= 0):
        raise ValueError(f"min_duration must be a number >= 0, got {min_duration!r}")
    return {
        "data_folder": os.path.abspath(os.fspath(data_folder)),
        "splits": splits,
        "min_duration": float(min_duration),
        "prep_version": PREP_VERSION,
    }


def manifest_paths(save_folder, names):
    """Return ``{name: save_folder/<name>.json}`` for the given manifest names.

    Example
    -------
    >>> manifest_paths(Path("s"), ["valid"])["valid"].name
    'valid.json'
    """
    return {name: Path(save_folder) / f"{name}.json" for name in names}


def read_previous_options(save_folder):
    """Return the content of a previous ``prepare_options.json``, or None.

    Arguments
    ---------
    save_folder : Path
        Folder of the manifests.

    Returns
    -------
    dict or None
        The recorded options plus the ``manifests`` list, or None when
        absent or unreadable.
    """
    path = Path(save_folder) / OPTIONS_FILE
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(previous, dict) or not isinstance(previous.get("manifests"), list):
        return None
    return previous


def up_to_date(save_folder, previous, options):
    """Whether the manifests exist and were made with the same options.

    Arguments
    ---------
    save_folder : Path
        Folder of the manifests.
    previous : dict or None
        See :func:`read_previous_options`.
    options : dict
        Options of the current call (see :func:`make_options`).

    Returns
    -------
    bool
        True when nothing needs to be done.
    """
    if previous is None:
        return False
    recorded = {key: value for key, value in previous.items() if key != "manifests"}
    if recorded != options:
        return False
    paths = manifest_paths(save_folder, previous["manifests"]).values()
    return all(path.is_file() for path in paths)


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------
def detect_layout(data_folder):
    """Find the audio folder, label files, partitions and transcripts.

    Arguments
    ---------
    data_folder : Path
        Root of the release.

    Returns
    -------
    Layout
        The parts found; the layout is logged.
    """
    if not data_folder.is_dir():
        raise FileNotFoundError(f"MSP-Podcast data_folder not found: {data_folder}")
    audio_dir = find_first(data_folder, AUDIO_DIRS, "audio folder", want_dir=True)
    label_dir = find_first(data_folder, LABEL_DIRS, "label folder", want_dir=True)
    consensus = find_first(label_dir, CONSENSUS_FILES, "consensus label file")
    detailed = find_first(label_dir, DETAILED_FILES, "detailed label file")
    partitions = data_folder / PARTITIONS_FILE
    transcripts = data_folder / TRANSCRIPTS_DIR
    layout = Layout(
        name=layout_name(audio_dir, detailed, partitions.is_file()),
        audio_dir=audio_dir,
        consensus=consensus,
        detailed=detailed,
        partitions=partitions if partitions.is_file() else None,
        transcripts=transcripts if transcripts.is_dir() else None,
    )
    log_layout(layout, data_folder)
    return layout


def find_first(folder, names, what, want_dir=False):
    """Return the first existing ``folder/<name>`` among ``names``.

    Arguments
    ---------
    folder : Path
        Where to look.
    names : tuple of str
        Candidate names, in order of preference.
    what : str
        Description for the error message.
    want_dir : bool
        Look for a folder instead of a file.

    Returns
    -------
    Path
        The first candidate found.

    Raises
    ------
    FileNotFoundError
        Naming every candidate path when none exists.
    """
    candidates = [folder / name for name in names]
    for path in candidates:
        if path.is_dir() if want_dir else path.is_file():
            return path
    tried = ", ".join(str(path) for path in candidates)
    raise FileNotFoundError(f"MSP-Podcast {what} not found (tried {tried})")


def layout_name(audio_dir, detailed, has_partitions):
    """Name the layout for logging.

    Example
    -------
    >>> layout_name(Path("Audio"), Path("labels_detailed.json"), True)
    'v1.6'
    >>> layout_name(Path("Audios"), Path("labels_detailed.csv"), False)
    'v1.11+'
    """
    if audio_dir.name == "Audios" and detailed.suffix == ".csv" and not has_partitions:
        return "v1.11+"
    if audio_dir.name == "Audio" and detailed.suffix == ".json" and has_partitions:
        return "v1.6"
    return "mixed"


def log_layout(layout, data_folder):
    """Log which layout and which files were found."""
    parts = [
        f"{layout.audio_dir.name}/",
        layout.consensus.relative_to(data_folder).as_posix(),
        layout.detailed.relative_to(data_folder).as_posix(),
        PARTITIONS_FILE if layout.partitions else f"no {PARTITIONS_FILE}",
        f"{TRANSCRIPTS_DIR}/" if layout.transcripts else f"no {TRANSCRIPTS_DIR}/",
    ]
    logger.info("MSP-Podcast %s layout in %s: %s", layout.name, data_folder, ", ".join(parts))


# --------------------------------------------------------------------------
# Consensus labels and partitions
# --------------------------------------------------------------------------
def read_csv_rows(path, required):
    """Read a CSV file with a header; check that the required columns exist.

    Arguments
    ---------
    path : Path
        The CSV file.
    required : tuple of str
        Columns that must be present.

    Returns
    -------
    tuple
        (list of (line number, row dict), list of column names).
    """
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in columns]
        if missing:
            raise MSPPodcastFormatError(
                f"{path}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(columns) or 'no header'})"
            )
        reader.fieldnames = columns
        rows = [(reader.line_num, check_field_count(row, path, reader.line_num)) for row in reader]
    return rows, columns


def check_field_count(row, path, line):
    """Return a ``csv.DictReader`` row; raise if it has fewer or more fields than the header.

    Example
    -------
    >>> try:
    ...     check_field_count({"FileName": "a.wav", "EmoAct": None}, "c.csv", 9)
    ... except MSPPodcastFormatError as error:
    ...     print(error)
    c.csv:9: 1 of 2 fields (no EmoAct): truncated or malformed row
    """
    if None in row:
        raise MSPPodcastFormatError(
            f"{path}:{line}: {len(row) - 1 + len(row[None])} fields for {len(row) - 1} columns: "
            "malformed row (unquoted comma?)"
        )
    absent = [column for column, value in row.items() if value is None]
    if absent:
        raise MSPPodcastFormatError(
            f"{path}:{line}: {len(row) - len(absent)} of {len(row)} fields (no {', '.join(absent)}): "
            "truncated or malformed row"
        )
    return row


def read_consensus(path):
    """Read the consensus label file.

    Arguments
    ---------
    path : Path
        ``labels_consensus.csv`` or ``labels_concensus.csv``.

    Returns
    -------
    list of dict
        One dict per row: ``utt``, ``file_name``, ``line``, ``values``
        (attribute -> float, or None when unlabelled), ``texts`` (attribute
        -> value as written), ``speaker``, ``gender``, ``split_set`` (or
        None), ``emo_class`` (or None when the column is absent).
    """
    raw_rows, columns = read_csv_rows(path, REQUIRED_COLUMNS)
    if not raw_rows:
        raise MSPPodcastFormatError(f"{path}: no label row")
    rows, seen = [], {}
    for line, raw in raw_rows:
        row = parse_consensus_row(raw, path, line, "EmoClass" in columns)
        if row["utt"] in seen:
            raise MSPPodcastFormatError(
                f"{path}:{line}: duplicate file {row['file_name']} "
                f"(first at line {seen[row['utt']]})"
            )
        seen[row["utt"]] = line
        rows.append(row)
    return rows


def parse_consensus_row(raw, path, line, has_class):
    """Parse one row of the consensus file (see :func:`read_consensus`).

    Example
    -------
    >>> raw = {"FileName": "MSP-PODCAST_0001_0002.wav", "EmoClass": "N", "EmoAct": "4.5",
    ...        "EmoVal": "3.0", "EmoDom": "", "SpkrID": "Unknown", "Gender": "Unknown",
    ...        "Split_Set": "Development"}
    >>> row = parse_consensus_row(raw, Path("c.csv"), 2, True)
    >>> row["utt"], row["speaker"], row["split_set"]
    ('MSP-PODCAST_0001_0002', 'Unknown', 'Development')
    >>> row["values"]
    {'arousal': 4.5, 'valence': 3.0, 'dominance': None}
    """
    file_name = (raw.get("FileName") or "").strip()
    if not file_name:
        raise MSPPodcastFormatError(f"{path}:{line}: empty FileName")
    texts = {attr: (raw.get(col) or "").strip() for attr, col in CONSENSUS_COLUMNS.items()}
    values = {
        attr: parse_label_value(text, f"{path}:{line}", file_name, CONSENSUS_COLUMNS[attr])
        for attr, text in texts.items()
    }
    split_set = (raw.get("Split_Set") or "").strip() or None
    return {
        "utt": utterance_id(file_name),
        "file_name": file_name,
        "line": line,
        "values": values,
        "texts": texts,
        "speaker": (raw.get("SpkrID") or "").strip(),
        "gender": (raw.get("Gender") or "").strip(),
        "split_set": split_set,
        "emo_class": (raw.get("EmoClass") or "").strip() if has_class else None,
    }


def parse_label_value(text, where, file_name, column):
    """Parse a rating or consensus value; empty or NaN means unlabelled.

    Arguments
    ---------
    text : str
        The value as written.
    where : str
        ``file:line`` (for error messages).
    file_name : str
        Utterance file (for error messages).
    column : str
        Column or field name (for error messages).

    Returns
    -------
    float or None
        The value, or None when empty or NaN.

    Example
    -------
    >>> parse_label_value("3.777778", "f:2", "a.wav", "EmoAct")
    3.777778
    >>> parse_label_value("nan", "f:2", "a.wav", "EmoAct") is None
    True
    >>> try:
    ...     parse_label_value("9", "f:2", "a.wav", "EmoAct")
    ... except MSPPodcastFormatError as error:
    ...     print(error)
    f:2: EmoAct of a.wav out of [1, 7]: '9'
    """
    text = str(text).strip()
    if text == "" or text.lower() == "nan":
        return None
    try:
        value = float(text)
    except ValueError:
        raise MSPPodcastFormatError(
            f"{where}: {column} of {file_name} is not a number: {text!r}"
        ) from None
    if math.isnan(value):
        return None
    if not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
        raise MSPPodcastFormatError(f"{where}: {column} of {file_name} out of [1, 7]: {text!r}")
    return value


def utterance_id(file_name):
    """File name without the ``.wav`` extension (and any folder).

    Example
    -------
    >>> utterance_id("MSP-PODCAST_0023_0048.wav"), utterance_id("MSP-PODCAST_0023_0048")
    ('MSP-PODCAST_0023_0048', 'MSP-PODCAST_0023_0048')
    """
    name = file_name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.lower().endswith(".wav") else name


def read_partitions(path):
    """Read ``Partitions.txt`` (``"<Split>; <FileName>"`` per line).

    Arguments
    ---------
    path : Path
        The partitions file.

    Returns
    -------
    dict
        Utterance id -> partition name as written (e.g. ``Validation``).
    """
    partitions = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(";")]
        if len(parts) != 2 or not all(parts):
            raise MSPPodcastFormatError(
                f"{path}:{line_no}: expected '<Split>; <FileName>', got {line!r}"
            )
        utt = utterance_id(parts[1])
        if utt in partitions and partitions[utt] != parts[0]:
            raise MSPPodcastFormatError(
                f"{path}:{line_no}: {parts[1]} listed in both {partitions[utt]} and {parts[0]}"
            )
        partitions[utt] = parts[0]
    return partitions


def assign_partitions(rows, layout):
    """Set ``row["partition"]`` from ``Partitions.txt`` or the ``Split_Set`` column.

    ``Partitions.txt`` wins when present; rows it does not list fall back to
    ``Split_Set``. Disagreements and partition entries without consensus row
    are counted and logged.

    Arguments
    ---------
    rows : list of dict
        Consensus rows (see :func:`read_consensus`), modified in place.
    layout : Layout
        The release layout.
    """
    partitions = read_partitions(layout.partitions) if layout.partitions else {}
    disagreements = []
    for row in rows:
        listed = partitions.get(row["utt"])
        if listed and row["split_set"] and listed != row["split_set"]:
            disagreements.append(f"{row['file_name']} ({listed} vs {row['split_set']})")
        row["partition"] = listed or row["split_set"]
        if not row["partition"]:
            source = f" nor in {layout.partitions}" if layout.partitions else ""
            raise MSPPodcastFormatError(
                f"{layout.consensus}:{row['line']}: no Split_Set for {row['file_name']}{source}"
            )
    if disagreements:
        logger.warning(
            "MSP-Podcast: %d files have another partition in %s than in the Split_Set "
            "column of %s (%s is used), e.g. %s", len(disagreements), layout.partitions,
            layout.consensus, PARTITIONS_FILE, "; ".join(disagreements[:N_WORST_LOGGED]),
        )
    log_partitions_without_labels(partitions, rows, layout.partitions)


def log_partitions_without_labels(partitions, rows, path):
    """Log the files of ``Partitions.txt`` that the consensus file lacks."""
    known = {row["utt"] for row in rows}
    missing = Counter(split for utt, split in partitions.items() if utt not in known)
    for split, count in sorted(missing.items()):
        logger.info("MSP-Podcast: %d files of %s in %s have no consensus label (not used)",
                    count, split, path)


def manifest_name(partition):
    """Manifest name of a partition of the release.

    Example
    -------
    >>> [manifest_name(p) for p in ("Train", "Development", "Validation", "Test1", "Test3")]
    ['train', 'valid', 'valid', 'test1', 'test3']
    """
    name = partition.strip().lower()
    if name in VALID_NAMES:
        return "valid"
    if name == "train" or TEST_SPLIT.match(name):
        return name
    safe = re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "unnamed"
    logger.warning("MSP-Podcast: unexpected partition name %r, written as %s.json",
                   partition, safe)
    return safe


def select_labelled(rows, path):
    """Drop rows without consensus values; skip fully unlabelled partitions.

    A partition in which no row has a value (e.g. Test3) is skipped with an
    info line; rows with a missing value in a labelled partition are
    skipped with a warning listing a few of them.

    Arguments
    ---------
    rows : list of dict
        Consensus rows with ``partition`` set.
    path : Path
        The consensus file (for log messages).

    Returns
    -------
    list of dict
        The rows with all three attributes.
    """
    by_partition = defaultdict(list)
    for row in rows:
        by_partition[row["partition"]].append(row)
    kept = []
    for partition, members in sorted(by_partition.items()):
        complete = [row for row in members if None not in row["values"].values()]
        if not complete:
            logger.info("MSP-Podcast: partition %s (%d files) has no labels in %s: skipped",
                        partition, len(members), path)
            continue
        incomplete = [row["file_name"] for row in members if None in row["values"].values()]
        if incomplete:
            logger.warning(
                "MSP-Podcast: %d files of %s lack EmoAct/EmoVal/EmoDom in %s and are "
                "left out, e.g. %s", len(incomplete), partition, path,
                ", ".join(incomplete[:N_WORST_LOGGED]),
            )
        kept.extend(complete)
    return kept


def group_by_manifest(rows, wanted):
    """Group labelled rows by manifest name; keep only ``wanted`` if given.

    Arguments
    ---------
    rows : list of dict
        Labelled rows with ``partition`` set.
    wanted : list of str or None
        Manifest names requested (None: all).

    Returns
    -------
    dict
        Manifest name -> rows (sorted by utterance id).
    """
    groups = defaultdict(list)
    for row in rows:
        groups[manifest_name(row["partition"])].append(row)
    if wanted is not None:
        unknown = sorted(set(wanted) - set(groups))
        if unknown:
            raise ValueError(
                f"splits {unknown} not found among the labelled partitions "
                f"{sorted(groups)} of this release"
            )
        groups = {name: groups[name] for name in wanted}
    return {name: sorted(group, key=lambda r: r["utt"]) for name, group in sorted(groups.items())}


def log_unlabelled_audio(audio_dir, rows):
    """Log the number of wavs of the audio folder that no label row names."""
    named = {row["utt"] for row in rows}
    extra = sorted(
        entry.name
        for entry in os.scandir(audio_dir)
        if entry.name.lower().endswith(".wav")
        and not entry.name.startswith(".")
        and utterance_id(entry.name) not in named
    )
    if extra:
        logger.info(
            "MSP-Podcast: %d wavs in %s have no consensus label (e.g. Test3) and are not "
            "used, e.g. %s", len(extra), audio_dir, ", ".join(extra[:N_WORST_LOGGED]),
        )


# --------------------------------------------------------------------------
# Detailed (per-rater) labels
# --------------------------------------------------------------------------
def read_detailed(path):
    """Read the per-rater ratings (``.csv`` with EmoDetail, or ``.json``).

    Arguments
    ---------
    path : Path
        ``labels_detailed.csv`` or ``labels_detailed.json``.

    Returns
    -------
    dict
        Utterance id -> list of ``(worker, arousal, valence, dominance)``;
        a rating is None when empty or NaN.
    """
    if path.suffix == ".json":
        return read_detailed_json(path)
    return read_detailed_csv(path)


def read_detailed_csv(path):
    """Read ``labels_detailed.csv`` (``FileName,EmoDetail``, one row per rater).

    See :func:`read_detailed` for the return value.
    """
    rows, _ = read_csv_rows(path, DETAILED_COLUMNS)
    ratings = defaultdict(list)
    for line, row in rows:
        file_name = (row.get("FileName") or "").strip()
        if not file_name:
            raise MSPPodcastFormatError(f"{path}:{line}: empty FileName")
        detail = row.get("EmoDetail") or ""
        ratings[utterance_id(file_name)].append(
            parse_emo_detail(detail, f"{path}:{line}", file_name)
        )
    return dict(ratings)


def parse_emo_detail(detail, where, file_name):
    """Parse one ``EmoDetail`` string.

    Arguments
    ---------
    detail : str
        E.g. ``"WORKER00012345; Angry; Angry,Frustrated; A:5.0; V:2.0; D:5.0;"``
        (the secondary field may be empty or absent).
    where : str
        ``file:line`` (for error messages).
    file_name : str
        The rated file (for error messages).

    Returns
    -------
    tuple
        ``(worker, arousal, valence, dominance)``; a rating is None if NaN.

    Example
    -------
    >>> parse_emo_detail("WORKER1; Sad; A:3.0; V:2.0; D:3.0;", "f:2", "a.wav")
    ('WORKER1', 3.0, 2.0, 3.0)
    >>> parse_emo_detail("WORKER1; Sad; ; A:3.0; V:nan; D:3.0;", "f:2", "a.wav")
    ('WORKER1', 3.0, None, 3.0)
    >>> try:
    ...     parse_emo_detail("WORKER1; Sad; A:3.0; D:3.0;", "f:2", "a.wav")
    ... except MSPPodcastFormatError as error:
    ...     print(error)
    f:2: malformed EmoDetail of a.wav: 'WORKER1; Sad; A:3.0; D:3.0;'
    """
    match = EMO_DETAIL.match(detail)
    if match is None:
        raise MSPPodcastFormatError(f"{where}: malformed EmoDetail of {file_name}: {detail!r}")
    values = [
        parse_label_value(match[attr], where, file_name, field)
        for attr, field in zip(ATTRIBUTES, EMO_DETAIL_FIELDS)
    ]
    return (match["worker"], *values)


def read_detailed_json(path):
    """Read the v1.6 ``labels_detailed.json``.

    The file maps ``"<FileName>"`` to ``{"<worker>": {"EmoAct", "EmoVal",
    "EmoDom", ...}}``. See :func:`read_detailed` for the return value.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as error:
        raise MSPPodcastFormatError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise MSPPodcastFormatError(f"{path}: expected an object keyed by file name")
    ratings = {}
    for file_name, workers in data.items():
        if not isinstance(workers, dict):
            raise MSPPodcastFormatError(
                f"{path}: entry of {file_name} is not an object of workers: {workers!r:.80}"
            )
        ratings[utterance_id(file_name)] = [
            parse_json_rating(worker, rating, path, file_name)
            for worker, rating in workers.items()
        ]
    return ratings


def parse_json_rating(worker, rating, path, file_name):
    """Parse one worker's ratings of the v1.6 detailed JSON.

    Example
    -------
    >>> parse_json_rating("W1", {"EmoAct": 5.0, "EmoVal": "2", "EmoDom": None}, "d.json", "a.wav")
    ('W1', 5.0, 2.0, None)
    """
    where = f"{path}: {file_name}, {worker}"
    if not isinstance(rating, dict):
        raise MSPPodcastFormatError(f"{where}: expected an object, got {rating!r:.80}")
    missing = [col for col in CONSENSUS_COLUMNS.values() if col not in rating]
    if missing:
        raise MSPPodcastFormatError(f"{where}: missing field(s) {', '.join(missing)}")
    values = []
    for column in CONSENSUS_COLUMNS.values():
        value = rating[column]
        text = "" if value is None else str(value)
        values.append(parse_label_value(text, where, file_name, column))
    return (worker, *values)


def rater_statistics(rows, ratings, path):
    """Population std, mean and number of raters of each labelled file.

    Rating rows with a missing rating and repeated workers are left out and
    counted; files without any rating get ``n_raters = 0`` and std ``0.0``.
    All three cases are logged as warnings with their counts.

    Arguments
    ---------
    rows : list of dict
        Labelled consensus rows to compute statistics for.
    ratings : dict
        Utterance id -> list of ``(worker, a, v, d)`` (see :func:`read_detailed`).
    path : Path
        The detailed label file (for log messages).

    Returns
    -------
    dict
        Utterance id -> ``{"n_raters", "<attr>_std", "<attr>_mean"}``
        (means are None without raters).
    """
    stats, incomplete, repeated, unrated = {}, 0, 0, []
    for row in rows:
        valid, workers = [], set()
        for worker, *values in ratings.get(row["utt"], []):
            if None in values:
                incomplete += 1
            elif worker in workers:
                repeated += 1
            else:
                workers.add(worker)
                valid.append(values)
        if not valid:
            unrated.append(row["file_name"])
        stats[row["utt"]] = summarize_ratings(valid)
    log_rating_problems(path, incomplete, repeated, unrated)
    log_ratings_without_consensus(path, ratings, rows)
    return stats


def summarize_ratings(valid):
    """Summarise a list of ``[a, v, d]`` ratings.

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
    for attr, column in zip(ATTRIBUTES, zip(*valid) if n_raters else [()] * len(ATTRIBUTES)):
        mean = math.fsum(column) / n_raters if n_raters else None
        variance = math.fsum((x - mean) ** 2 for x in column) / n_raters if n_raters else 0.0
        summary[f"{attr}_std"] = math.sqrt(variance)  # population std (ddof=0)
        summary[f"{attr}_mean"] = mean
    return summary


def log_rating_problems(path, incomplete, repeated, unrated):
    """Log the rating rows left out and the files without any rating."""
    if incomplete:
        logger.warning("MSP-Podcast: %d rating rows of %s have a NaN/empty rating and "
                       "are left out of the rater statistics", incomplete, path)
    if repeated:
        logger.warning("MSP-Podcast: %d rating rows of %s repeat a worker already rating "
                       "the same file; the first rating is used", repeated, path)
    if unrated:
        logger.warning(
            "MSP-Podcast: %d labelled files have no rating in %s: kept with n_raters 0 "
            "and *_std 0.0, e.g. %s", len(unrated), path, ", ".join(unrated[:N_WORST_LOGGED]),
        )


def log_ratings_without_consensus(path, ratings, rows):
    """Log how many rated files of the detailed labels are not used."""
    used = {row["utt"] for row in rows}
    unused = sum(utt not in used for utt in ratings)
    if unused:
        logger.info("MSP-Podcast: %d rated files of %s are not in the prepared "
                    "partitions (unlabelled, not selected or unknown)", unused, path)


def agreement_tolerance(text):
    """Tolerance between a consensus value as written and the rater mean.

    ``0.01`` plus half a unit of the last decimal written.

    Example
    -------
    >>> round(agreement_tolerance("3.777778"), 7), round(agreement_tolerance("4.0"), 7)
    (0.0100005, 0.06)
    >>> agreement_tolerance("4")
    0.01
    """
    decimals = len(text.split(".", 1)[1]) if "." in text else None
    half_unit = 0.5 * 10.0 ** -decimals if decimals is not None else 0.0
    return AGREEMENT_TOLERANCE + half_unit


def check_agreement(rows, stats, layout):
    """Count and log files whose consensus differs from the mean rating.

    Arguments
    ---------
    rows : list of dict
        Labelled consensus rows.
    stats : dict
        Utterance id -> rater statistics (see :func:`rater_statistics`).
    layout : Layout
        The release layout (file names for the log).

    Returns
    -------
    list of tuple
        ``(abs difference, file name, attribute, consensus, mean, n_raters)``
        for every mismatching attribute, worst first.
    """
    mismatches = []
    for row in rows:
        summary = stats[row["utt"]]
        if not summary["n_raters"]:
            continue
        for attr in ATTRIBUTES:
            gap = abs(row["values"][attr] - summary[f"{attr}_mean"])
            if gap > agreement_tolerance(row["texts"][attr]):
                mismatches.append((gap, row["file_name"], attr, row["values"][attr],
                                   summary[f"{attr}_mean"], summary["n_raters"]))
    mismatches.sort(key=lambda item: (-item[0], item[1], item[2]))
    log_agreement(mismatches, len(rows), layout)
    return mismatches


def log_agreement(mismatches, n_rows, layout):
    """Log the consensus/rater-mean mismatches (count and worst few)."""
    files = len({item[1] for item in mismatches})
    if not files:
        logger.info("MSP-Podcast: the consensus of all %d files equals the mean of their "
                    "detailed ratings", n_rows)
        return
    worst = "; ".join(
        f"{name} {attr} consensus {value:g} vs mean {mean:.4f} of {n} raters"
        for _, name, attr, value, mean, n in mismatches[:N_WORST_LOGGED]
    )
    logger.warning(
        "MSP-Podcast: %d of %d files (%d values) have a consensus in %s that differs from "
        "the mean of their ratings in %s (consensus kept); worst: %s",
        files, n_rows, len(mismatches), layout.consensus, layout.detailed, worst,
    )


# --------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------
def read_wav_header(wav_path, source):
    """The wav header (duration, sample rate, channels; no decoding).

    Arguments
    ---------
    wav_path : Path
        The wav file.
    source : str
        ``file:line`` of the label row naming it (for error messages).

    Returns
    -------
    soundfile._SoundFileInfo
        The header.
    """
    try:
        return audio_info(wav_path, named_by=source)
    except AudioFileError as error:
        raise MSPPodcastFormatError(str(error)) from error


def read_transcript(transcripts, utt):
    """Transcript of one file from ``Transcripts/<utt>.txt``, None if absent.

    Arguments
    ---------
    transcripts : Path
        The ``Transcripts`` folder.
    utt : str
        Utterance id.

    Returns
    -------
    str or None
        The text with whitespace collapsed, or None without file.
    """
    path = transcripts / f"{utt}.txt"
    if not path.is_file():
        return None
    return " ".join(path.read_text(encoding="utf-8", errors="replace").split())


def build_entries(rows, stats, layout, name):
    """Build the manifest entries of one partition (reads the wav headers).

    Arguments
    ---------
    rows : list of dict
        Labelled consensus rows of the partition.
    stats : dict
        Utterance id -> rater statistics.
    layout : Layout
        The release layout.
    name : str
        Manifest name (for the progress bar and log).

    Returns
    -------
    dict
        Utterance id -> manifest entry (see the module docstring).
    """
    entries, no_transcript, conversions = {}, 0, {}
    for row in tqdm(rows, desc=f"Reading MSP-Podcast {name} wav headers", unit="utt"):
        wav = layout.audio_dir / f"{row['utt']}.wav"
        source = f"{layout.consensus}:{row['line']}"
        summary = stats[row["utt"]]
        header = read_wav_header(wav, source)
        conversions[str(wav)] = conversion_note(header)
        entry = {"wav": str(wav), "duration": header.frames / header.samplerate}
        entry.update(row["values"])
        entry.update({f"{attr}_std": summary[f"{attr}_std"] for attr in ATTRIBUTES})
        entry["n_raters"] = summary["n_raters"]
        entry.update(speaker=row["speaker"], gender=row["gender"], split=row["partition"])
        if row["emo_class"] is not None:
            entry["emo_class"] = row["emo_class"]
        if layout.transcripts is not None:
            transcript = read_transcript(layout.transcripts, row["utt"])
            no_transcript += transcript is None
            entry["transcript"] = transcript or ""
        entries[row["utt"]] = entry
    if no_transcript:
        logger.warning("MSP-Podcast %s: %d files have no transcript in %s (written as \"\")",
                       name, no_transcript, layout.transcripts)
    log_conversions(conversions, f"MSP-Podcast {name}")
    return entries


def drop_short(manifests, min_duration):
    """Leave out the entries shorter than ``min_duration`` (logged per split).

    Example
    -------
    >>> drop_short({"train": {"a": {"duration": 0.5}, "b": {"duration": 2.0}}}, 1.0)
    {'train': {'b': {'duration': 2.0}}}
    """
    if min_duration <= 0:
        return manifests
    kept = {}
    for name, entries in manifests.items():
        kept[name] = {utt: e for utt, e in entries.items() if e["duration"] >= min_duration}
        dropped = len(entries) - len(kept[name])
        if dropped:
            logger.info("MSP-Podcast %s: %d segments shorter than %g s left out",
                        name, dropped, min_duration)
    return kept


def log_split_counts(manifests):
    """Log utterances, hours, speakers and raters per manifest."""
    for name, entries in manifests.items():
        speakers = Counter(entry["speaker"] for entry in entries.values())
        unknown = speakers.pop("Unknown", 0)
        hours = sum(entry["duration"] for entry in entries.values()) / 3600
        raters = [entry["n_raters"] for entry in entries.values()]
        logger.info(
            "MSP-Podcast %s: %d utterances, %.2f h, %d known speakers + %d utterances of "
            "Unknown speakers, %.2f raters per utterance", name, len(entries), hours,
            len(speakers), unknown, sum(raters) / len(raters) if raters else 0.0,
        )


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def write_manifests(save_folder, manifests, options, previous):
    """Write the manifests, then the options file, each atomically.

    The old options file is removed first, so an interrupted run is redone;
    manifests of a previous run that are not written again are removed.

    Arguments
    ---------
    save_folder : Path
        Output folder (created if needed).
    manifests : dict
        Manifest name -> {utt: entry}.
    options : dict
        Options recorded in ``prepare_options.json``.
    previous : dict or None
        The previous options file (see :func:`read_previous_options`).
    """
    save_folder.mkdir(parents=True, exist_ok=True)
    (save_folder / OPTIONS_FILE).unlink(missing_ok=True)
    stale = set(previous["manifests"]) - set(manifests) if previous else set()
    for path in manifest_paths(save_folder, sorted(stale)).values():
        if path.is_file():
            logger.info("MSP-Podcast: removing stale manifest %s", path)
            path.unlink()
    for name, path in manifest_paths(save_folder, manifests).items():
        write_json_atomic(manifests[name], path)
    write_json_atomic(dict(options, manifests=sorted(manifests)), save_folder / OPTIONS_FILE)
    logger.info("MSP-Podcast manifests %s written to %s", ", ".join(manifests), save_folder)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    """Parse the command-line options of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="root of the MSP-Podcast release")
    parser.add_argument("--save_folder", required=True, help="output folder of the manifests")
    parser.add_argument("--splits", nargs="+", default=None,
                        help="manifests to write, e.g. train valid test1 (default: all)")
    parser.add_argument("--min_duration", type=float, default=0.0,
                        help="leave out segments shorter than this (seconds)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run :func:`prepare_msp_podcast` from the command line."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepare_msp_podcast(
        args.data_folder, args.save_folder, splits=args.splits, min_duration=args.min_duration
    )


if __name__ == "__main__":
    sys.exit(main())
