#!/usr/bin/env python3
"""Data preparation for MSP-Podcast dimensional speech emotion recognition.

Reads an MSP-Podcast release and writes one SpeechBrain JSON manifest per labelled partition
(``train``, ``valid``, ``test1``, ``test2``; ``test3``... when labelled), plus ``eval1.3``
when the partitions of release 1.3 are known (below): find the release's files, parse the
labels, split by partition, write the manifests. Layouts (found automatically,
each part on its own, logged)::

    v1.11 / v1.12                              v1.6
    Audios/MSP-PODCAST_<pod>_<seg>.wav         Audio/MSP-PODCAST_*.wav
    Labels/labels_consensus.csv                Labels/labels_concensus.csv (sic)
    Labels/labels_detailed.csv                 Labels/labels_detailed.json
    Transcripts/<utt>.txt (optional)           Partitions.txt  "Train; MSP-PODCAST_0023_0048.wav"

Consensus CSV: ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set``. Detailed CSV:
one ``FileName,EmoDetail`` row per rater, ``"WORKER00012345; Angry; Angry,Frustrated; A:5.0;
V:2.0; D:5.0;"`` (secondary emotions may be empty or absent); detailed JSON: ``{"<FileName>":
{"<worker>": {"EmoAct": .., "EmoVal": .., "EmoDom": ..}}}``.

Partitions come from ``Partitions.txt`` (files it lacks: ``Split_Set``) or ``Split_Set``:
``Train`` -> train, ``Development``/``Validation`` -> valid, ``Test<k>`` -> test<k>. Any other
name (e.g. ``Test 1``) is written under a safe lower-case name (``test_1.json``) with one
warning per distinct name and its number of files; such a manifest is not a test split of
the recipe, which refuses to run when a split it evaluates is missing
(``ser_modules.data.checks.check_required_splits``). A partition without consensus values
(Test3) is skipped (logged); rows with an empty or NaN value are left out (warning). Other bad
input is an error naming the file and line: a value not a number or outside 1..7, a row with
too few or many fields, a missing, corrupt or truncated wav.

Eval1.3 (the test set of release 1.3, evaluated beside Eval1.6 = ``test1`` of v1.6 in the
papers): the files of the ``Test`` partition(s) of release 1.3, labelled with the consensus of
*this* release, written as ``eval1.3.json``. Expected format (the name and content of the file
in real releases are not verified here: pass your own list with ``eval13_partitions`` if it
differs): ``Previous_releases_information/Partitions_1.3.txt`` (also tried: ``Partitions_v1.3.txt``,
``1.3/Partitions.txt``, ``v1.3/Partitions.txt``), lines as in ``Partitions.txt``,
``"<Split>; <FileName>"``, of which the ``Test``/``Test<k>`` lines are kept; a line may also
hold a file name alone (a plain list of the Eval1.3 files). Listed files without consensus
value in this release are counted in a warning and left out.

Entries (keyed by file name without ``.wav``): ``wav``, ``duration`` (wav header), ``arousal``,
``valence``, ``dominance`` (consensus, 1..7), ``arousal_std``, ``valence_std``,
``dominance_std`` (population std of the raters), ``n_raters``, ``speaker`` (``SpkrID``;
``Unknown`` is many *unidentified* people, never one speaker), ``gender``, ``split`` (the
release's partition name), ``emo_class`` (when the column exists), ``transcript`` (with
``Transcripts/``; ``""`` when missing, warning). Rater statistics leave out NaN ratings and a
worker's repeated ratings (warnings); a file without ratings is kept with ``n_raters: 0`` and
``*_std: 0.0`` (warning). ``min_duration`` drops short segments (logged).

Re-running with the same options on the same files does nothing (``prepare_options.json``
records the options, the SHA-1 of the label and partition files and a digest of the names,
sizes and modification times of the wavs and transcripts): a file fixed or replaced since makes
the next call rebuild the manifests, with a warning saying which. Audits the manifests do not
need (consensus vs rater mean, ``Partitions.txt`` vs ``Split_Set``, unlabelled wavs):
``check_release.py``.

Example
-------
> python msp_podcast_prepare.py --data_folder /data/MSP-Podcast --save_folder results/prep

Authors
 * ser-recipes contributors 2025
"""

import argparse
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

from ser_modules.data.label_files import find_first, read_csv_rows
from ser_modules.data.manifests import (
    OPTIONS_FILE,  # noqa: F401 (the stamp, read by the tests)
    describe_split,
    files_fingerprint,
    label_fingerprint,
    log_rebuild,
    manifest_paths,
    read_stamp,
    stale_reasons,
    wav_entries,
    write_manifests,
)
from ser_modules.utils.constants import (
    DIMENSIONS,
    EVAL13_SPLIT,
    MSP_RATING_COLUMNS,
    TEST_SPLIT_PATTERN,
)

logger = logging.getLogger(__name__)

PREP_VERSION = 1
REQUIRED_COLUMNS = ("FileName", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender")
DETAILED_COLUMNS = ("FileName", "EmoDetail")
AUDIO_DIRS = ("Audios", "Audio")  # v1.11+, v1.6
LABEL_DIR = "Labels"
CONSENSUS_FILES = ("labels_consensus.csv", "labels_concensus.csv")  # v1.11+, v1.6 (sic)
DETAILED_FILES = ("labels_detailed.csv", "labels_detailed.json")  # v1.11+, v1.6
PARTITIONS_FILE = "Partitions.txt"
TRANSCRIPTS_DIR = "Transcripts"
PREVIOUS_RELEASES_DIR = "Previous_releases_information"
EVAL13_FILES = (
    "Partitions_1.3.txt",
    "Partitions_v1.3.txt",
    "1.3/Partitions.txt",
    "v1.3/Partitions.txt",
)
EVAL13 = EVAL13_SPLIT  # manifest name of the test set of release 1.3
VALID_NAMES = ("development", "validation")
RATING_RANGE = (1.0, 7.0)
N_EXAMPLES = 5

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)|nan|NaN|NAN"
EMO_DETAIL = re.compile(
    r"^\s*(?P<worker>[^;\s][^;]*?)\s*;"  # worker id
    r"(?P<emotions>(?:[^;]*;)*?)"  # primary; [secondary;] (not used here)
    rf"\s*A:\s*(?P<arousal>{_NUMBER})\s*;"
    rf"\s*V:\s*(?P<valence>{_NUMBER})\s*;"
    rf"\s*D:\s*(?P<dominance>{_NUMBER})\s*;?\s*$"
)
EMO_DETAIL_FIELDS = ("EmoDetail A", "EmoDetail V", "EmoDetail D")


class MSPPodcastFormatError(ValueError):
    """A file of the MSP-Podcast release does not have the expected format."""


@dataclass(frozen=True)
class Layout:
    """Where the parts of one release are (``partitions``, ``transcripts``, ``eval13``: None
    when absent).

    Example
    -------
    >>> Layout(Path("Audio"), Path("c.csv"), Path("d.json"), Path("Partitions.txt"), None).name
    'v1.6'
    """

    audio_dir: Path
    consensus: Path
    detailed: Path
    partitions: Path | None
    transcripts: Path | None
    eval13: Path | None = None

    @property
    def name(self):
        """``v1.11+``, ``v1.6`` or ``mixed`` (for the log)."""
        parts = (self.audio_dir.name, self.detailed.suffix, self.partitions is not None)
        return {("Audios", ".csv", False): "v1.11+", ("Audio", ".json", True): "v1.6"}.get(
            parts, "mixed"
        )


def prepare_msp_podcast(
    data_folder,
    save_folder,
    splits=None,
    min_duration=0.0,
    eval13_partitions=None,
    progressbar=True,
):
    """Writes one manifest per labelled partition of an MSP-Podcast release.

    Arguments
    ---------
    data_folder : str or path-like
        Root of the release (holding ``Audios/`` or ``Audio/`` and ``Labels/``).
    save_folder : str or path-like
        Where the manifests and ``prepare_options.json`` are written.
    splits : list of str, optional
        Manifest names to write (e.g. ``["train", "valid", "test1", "eval1.3"]``); None: all
        labelled, and ``eval1.3`` when the release 1.3 partitions are known.
    min_duration : float
        Segments shorter than this (seconds) are left out (logged count).
    eval13_partitions : str or path-like, optional
        The partitions of release 1.3 (format in the module docstring); None: looked up in
        ``Previous_releases_information/``.
    progressbar : bool
        Show the progress bars of the wav headers (``--noprogressbar`` on the command line).

    Returns
    -------
    dict
        Manifest name (``train``, ``valid``, ``test1``, ...) -> path.

    Raises FileNotFoundError or MSPPodcastFormatError (a ``ValueError``, as are invalid
    options) naming the missing or malformed file (and line).

    Example
    -------
    >>> prepare_msp_podcast("MSP-Podcast", "prep")  # doctest: +SKIP
    """
    options = make_options(data_folder, splits, min_duration, eval13_partitions)
    layout = detect_layout(Path(options["data_folder"]), options["eval13_partitions"])
    inputs = input_fingerprint(layout, options["data_folder"])
    reasons = stale_reasons(save_folder, options, inputs=inputs)
    if not reasons:
        logger.info("MSP-Podcast manifests in %s are up to date, skipping", save_folder)
        return manifest_paths(save_folder, read_stamp(save_folder)["manifests"])
    log_rebuild("MSP-Podcast", save_folder, reasons)
    rows = read_consensus(layout.consensus)
    assign_partitions(rows, layout)
    labelled = select_labelled(rows, layout.consensus)
    groups = group_by_manifest(labelled, options["splits"], layout.eval13 is not None)
    if layout.eval13 is not None and (options["splits"] is None or EVAL13 in options["splits"]):
        groups[EVAL13] = eval13_rows(layout.eval13, labelled, rows)
    ratings = read_detailed(layout.detailed)
    stats = rater_statistics(
        list({row["utt"]: row for group in groups.values() for row in group}.values()),
        ratings,
        layout.detailed,
    )
    manifests = {
        name: build_entries(group, stats, layout, name, progressbar)
        for name, group in groups.items()
    }
    manifests = drop_short(manifests, options["min_duration"])
    for name, entries in manifests.items():
        logger.info(
            "MSP-Podcast %s: %s; %s", name, describe_split(entries), speakers_and_raters(entries)
        )
    write_manifests(save_folder, manifests, options, "MSP-Podcast", inputs=inputs)
    return manifest_paths(save_folder, manifests)


def make_options(data_folder, splits, min_duration, eval13_partitions=None):
    """Validates the options and returns them as a JSON-serialisable dict.

    Example
    -------
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
    is_number = isinstance(min_duration, numbers.Real) and not isinstance(min_duration, bool)
    if not (is_number and math.isfinite(min_duration) and min_duration >= 0):
        raise ValueError(f"min_duration must be a number >= 0, got {min_duration!r}")
    if eval13_partitions is not None:
        eval13_partitions = os.path.abspath(os.fspath(eval13_partitions))
    return {
        "data_folder": os.path.abspath(os.fspath(data_folder)),
        "splits": splits,
        "min_duration": float(min_duration),
        "eval13_partitions": eval13_partitions,
        "prep_version": PREP_VERSION,
    }


# --------------------------------------------------------------------------------------------
# 1. Find the release's files
# --------------------------------------------------------------------------------------------
def detect_layout(data_folder, eval13_partitions=None):
    """Finds the audio folder, label files, partitions, transcripts and the release 1.3
    partitions (``eval13_partitions`` when given, else looked up; logged).

    Example
    -------
    >>> detect_layout(Path("/nowhere"))
    Traceback (most recent call last):
    ...
    FileNotFoundError: MSP-Podcast data_folder not found: /nowhere
    """
    if not data_folder.is_dir():
        raise FileNotFoundError(f"MSP-Podcast data_folder not found: {data_folder}")
    partitions, transcripts = data_folder / PARTITIONS_FILE, data_folder / TRANSCRIPTS_DIR
    layout = Layout(
        audio_dir=find_first(data_folder, AUDIO_DIRS, "MSP-Podcast audio folder", want_dir=True),
        consensus=find_first(
            data_folder / LABEL_DIR, CONSENSUS_FILES, "MSP-Podcast consensus label file"
        ),
        detailed=find_first(
            data_folder / LABEL_DIR, DETAILED_FILES, "MSP-Podcast detailed label file"
        ),
        partitions=partitions if partitions.is_file() else None,
        transcripts=transcripts if transcripts.is_dir() else None,
        eval13=find_eval13(data_folder, eval13_partitions),
    )
    found = [
        f"{layout.audio_dir.name}/",
        layout.consensus.relative_to(data_folder).as_posix(),
        layout.detailed.relative_to(data_folder).as_posix(),
        PARTITIONS_FILE if layout.partitions else f"no {PARTITIONS_FILE}",
        f"{TRANSCRIPTS_DIR}/" if layout.transcripts else f"no {TRANSCRIPTS_DIR}/",
        f"Eval1.3 partitions {layout.eval13}" if layout.eval13 else "no release 1.3 partitions",
    ]
    logger.info("MSP-Podcast %s layout in %s: %s", layout.name, data_folder, ", ".join(found))
    return layout


def find_eval13(data_folder, given=None):
    """The release 1.3 partition file: ``given`` (must exist), else the first of
    ``Previous_releases_information/<EVAL13_FILES>`` that exists, else None.

    Example
    -------
    >>> find_eval13(Path("/nowhere")) is None
    True
    >>> find_eval13(Path("/nowhere"), "/nowhere/eval13.txt")
    Traceback (most recent call last):
    ...
    FileNotFoundError: eval13_partitions not found: /nowhere/eval13.txt
    """
    if given is not None:
        if not Path(given).is_file():
            raise FileNotFoundError(f"eval13_partitions not found: {given}")
        return Path(given)
    candidates = [data_folder / PREVIOUS_RELEASES_DIR / name for name in EVAL13_FILES]
    return next((path for path in candidates if path.is_file()), None)


def input_fingerprint(layout, data_folder):
    """What the manifests are made of, for the stamp: the SHA-1 of the label and partition
    files, and digests of the names, sizes and modification times of the wavs and of the
    transcripts (see ``ser_modules.data.manifests``)."""
    labels = [
        path
        for path in (layout.consensus, layout.detailed, layout.partitions, layout.eval13)
        if path
    ]
    inputs = {
        "labels": label_fingerprint(labels, data_folder),
        "audio": files_fingerprint(list_files(layout.audio_dir, ".wav"), data_folder),
    }
    if layout.transcripts is not None:
        inputs["transcripts"] = files_fingerprint(
            list_files(layout.transcripts, ".txt"), data_folder
        )
    return inputs


def list_files(folder, suffix):
    """The files of ``folder`` ending in ``suffix`` (any case), hidden files aside.

    Example
    -------
    >>> list_files(Path(__file__).parent, ".py") != []
    True
    """
    return [
        Path(entry.path)
        for entry in os.scandir(folder)
        if entry.name.lower().endswith(suffix)
        and not entry.name.startswith(".")
        and entry.is_file()
    ]


# --------------------------------------------------------------------------------------------
# 2. Parse the labels
# --------------------------------------------------------------------------------------------
def read_consensus(path):
    """The rows of the consensus label file (see :func:`parse_consensus_row`); no duplicates."""
    raw_rows, columns = read_csv_rows(path, REQUIRED_COLUMNS, MSPPodcastFormatError)
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
    """One consensus row: ``utt``, ``file_name``, ``line``, ``values`` (None: unlabelled),
    ``texts`` (values as written), ``speaker``, ``gender``, ``split_set``, ``emo_class``.

    Example
    -------
    >>> raw = {"FileName": "MSP-PODCAST_0001_0002.wav", "EmoAct": "4.5", "EmoVal": "3.0",
    ...        "EmoDom": "", "SpkrID": "Unknown", "Gender": "Unknown", "Split_Set": "Test1"}
    >>> row = parse_consensus_row(raw, Path("c.csv"), 2, False)
    >>> row["utt"], row["values"], row["split_set"]
    ('MSP-PODCAST_0001_0002', {'arousal': 4.5, 'valence': 3.0, 'dominance': None}, 'Test1')
    """
    file_name = (raw.get("FileName") or "").strip()
    if not file_name:
        raise MSPPodcastFormatError(f"{path}:{line}: empty FileName")
    field = {column: (value or "").strip() for column, value in raw.items()}
    texts = {attr: field[column] for attr, column in MSP_RATING_COLUMNS.items()}
    values = {
        attr: parse_label_value(text, f"{path}:{line}", file_name, MSP_RATING_COLUMNS[attr])
        for attr, text in texts.items()
    }
    return {
        "utt": utterance_id(file_name),
        "file_name": file_name,
        "line": line,
        "values": values,
        "texts": texts,
        "speaker": field["SpkrID"],
        "gender": field["Gender"],
        "split_set": field.get("Split_Set") or None,
        "emo_class": field["EmoClass"] if has_class else None,
    }


def parse_label_value(text, where, file_name, column):
    """A rating or consensus value in 1..7; None when empty or NaN (unlabelled).

    Example
    -------
    >>> parse_label_value("3.777778", "f:2", "a.wav", "EmoAct"), parse_label_value("nan", "f:2", "", "")
    (3.777778, None)
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
    """``{utterance id: partition as written}`` from ``Partitions.txt`` (``"<Split>; <FileName>"``)."""
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


def read_eval13(path):
    """The utterance ids of Eval1.3 in a release 1.3 partition file, in file order: the files
    of its ``Test``/``Test<k>`` lines (``"<Split>; <FileName>"``) and of lines holding a file
    name alone; an error names the file and line of a malformed line, or the file when it
    lists no test file.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Partitions_1.3.txt"
    >>> _ = path.write_text("Train; MSP-PODCAST_0001_0001.wav\\nTest; MSP-PODCAST_0002_0001.wav\\n"
    ...                     "MSP-PODCAST_0003_0001.wav\\n")
    >>> read_eval13(path)
    ['MSP-PODCAST_0002_0001', 'MSP-PODCAST_0003_0001']
    """
    utts = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(";")]
        if len(parts) > 2 or not all(parts):
            raise MSPPodcastFormatError(
                f"{path}:{line_no}: expected '<Split>; <FileName>' or '<FileName>', got {line!r}"
            )
        if len(parts) == 1 or TEST_SPLIT_PATTERN.match(parts[0].lower()):
            utts.setdefault(utterance_id(parts[-1]), line_no)
    if not utts:
        raise MSPPodcastFormatError(
            f"{path}: no Test partition line ('Test; <FileName>') nor file name: "
            "not a list of the Eval1.3 files"
        )
    return list(utts)


def read_detailed(path):
    """``{utterance id: [(worker, arousal, valence, dominance)]}`` of the per-rater labels
    (``.csv`` with EmoDetail strings, or ``.json``); a rating is None when empty or NaN."""
    if path.suffix == ".json":
        return read_detailed_json(path)
    rows, _ = read_csv_rows(path, DETAILED_COLUMNS, MSPPodcastFormatError)
    ratings = defaultdict(list)
    for line, row in rows:
        file_name = (row.get("FileName") or "").strip()
        if not file_name:
            raise MSPPodcastFormatError(f"{path}:{line}: empty FileName")
        rating = parse_emo_detail(row.get("EmoDetail") or "", f"{path}:{line}", file_name)
        ratings[utterance_id(file_name)].append(rating)
    return dict(ratings)


def parse_emo_detail(detail, where, file_name):
    """``(worker, arousal, valence, dominance)`` of one ``EmoDetail`` string.

    Example
    -------
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
        for attr, field in zip(DIMENSIONS, EMO_DETAIL_FIELDS)
    ]
    return (match["worker"], *values)


def read_detailed_json(path):
    """The v1.6 ``labels_detailed.json`` (see :func:`read_detailed`)."""
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
            parse_json_rating(worker, rating, path, file_name) for worker, rating in workers.items()
        ]
    return ratings


def parse_json_rating(worker, rating, path, file_name):
    """One worker's ratings of the v1.6 detailed JSON.

    Example
    -------
    >>> parse_json_rating("W1", {"EmoAct": 5.0, "EmoVal": "2", "EmoDom": None}, "d.json", "a.wav")
    ('W1', 5.0, 2.0, None)
    """
    where = f"{path}: {file_name}, {worker}"
    if not isinstance(rating, dict):
        raise MSPPodcastFormatError(f"{where}: expected an object, got {rating!r:.80}")
    missing = [col for col in MSP_RATING_COLUMNS.values() if col not in rating]
    if missing:
        raise MSPPodcastFormatError(f"{where}: missing field(s) {', '.join(missing)}")
    values = [
        parse_label_value("" if rating[col] is None else str(rating[col]), where, file_name, col)
        for col in MSP_RATING_COLUMNS.values()
    ]
    return (worker, *values)


def summarize_ratings(valid):
    """``n_raters`` and the population std (``ddof=0``) and mean of each attribute.

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


def rater_statistics(rows, ratings, path):
    """``{utt: summarize_ratings(...)}`` of the rows, leaving out ratings with a NaN value and a
    worker's repeated ratings of a file; these and the unrated files are counted in warnings
    naming ``path`` (the detailed label file)."""
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
    if incomplete:
        logger.warning(
            "MSP-Podcast: %d rating rows of %s have a NaN/empty rating and are left out "
            "of the rater statistics",
            incomplete,
            path,
        )
    if repeated:
        logger.warning(
            "MSP-Podcast: %d rating rows of %s repeat a worker already rating the same "
            "file; the first rating is used",
            repeated,
            path,
        )
    if unrated:
        logger.warning(
            "MSP-Podcast: %d labelled files have no rating in %s: kept with n_raters 0 "
            "and *_std 0.0, e.g. %s",
            len(unrated),
            path,
            ", ".join(unrated[:N_EXAMPLES]),
        )
    return stats


# --------------------------------------------------------------------------------------------
# 3. Split by partition
# --------------------------------------------------------------------------------------------
def assign_partitions(rows, layout):
    """Sets ``row["partition"]``: from ``Partitions.txt`` when it lists the file, else
    ``Split_Set``; a row with neither is an error naming the consensus file and line."""
    partitions = read_partitions(layout.partitions) if layout.partitions else {}
    for row in rows:
        row["partition"] = partitions.get(row["utt"]) or row["split_set"]
        if not row["partition"]:
            source = f" nor in {layout.partitions}" if layout.partitions else ""
            raise MSPPodcastFormatError(
                f"{layout.consensus}:{row['line']}: no Split_Set for {row['file_name']}{source}"
            )


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
    if name == "train" or TEST_SPLIT_PATTERN.match(name):
        return name
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "unnamed"


def is_expected_partition(partition):
    """Whether a partition name is one of the release's (Train, Development, Validation,
    Test<k>), case aside.

    Example
    -------
    >>> [is_expected_partition(p) for p in ("Train", "validation", "Test2", "Test 1", "Dev")]
    [True, True, True, False, False]
    """
    name = partition.strip().lower()
    return name in ("train", *VALID_NAMES) or bool(TEST_SPLIT_PATTERN.match(name))


def log_unexpected_partitions(rows):
    """One warning per distinct unexpected partition name, with its number of files."""
    counts = Counter(
        row["partition"] for row in rows if not is_expected_partition(row["partition"])
    )
    for partition, count in sorted(counts.items()):
        logger.warning(
            "MSP-Podcast: unexpected partition name %r (%d files; expected Train, Development, "
            "Validation or Test<k>): written as %s.json, which the recipe does not evaluate as a "
            "test split. Fix Split_Set / %s if it is a misspelt partition",
            partition,
            count,
            manifest_name(partition),
            PARTITIONS_FILE,
        )


def select_labelled(rows, path):
    """The rows with all three consensus values; partitions without any value (Test3) are
    skipped with a log line, rows missing a value are counted in a warning."""
    by_partition = defaultdict(list)
    for row in rows:
        by_partition[row["partition"]].append(row)
    kept = []
    for partition, members in sorted(by_partition.items()):
        complete = [row for row in members if None not in row["values"].values()]
        if not complete:
            logger.info(
                "MSP-Podcast: partition %s (%d files) has no labels in %s: skipped",
                partition,
                len(members),
                path,
            )
            continue
        incomplete = [row["file_name"] for row in members if None in row["values"].values()]
        if incomplete:
            logger.warning(
                "MSP-Podcast: %d files of %s lack EmoAct/EmoVal/EmoDom in %s and are "
                "left out, e.g. %s",
                len(incomplete),
                partition,
                path,
                ", ".join(incomplete[:N_EXAMPLES]),
            )
        kept.extend(complete)
    return kept


def group_by_manifest(rows, wanted, has_eval13=False):
    """``{manifest name: rows sorted by utterance id}``, names sorted; only ``wanted`` if given
    (``eval1.3`` aside: built by :func:`eval13_rows`); unexpected partition names are logged
    once each (:func:`log_unexpected_partitions`)."""
    log_unexpected_partitions(rows)
    groups = defaultdict(list)
    for row in rows:
        groups[manifest_name(row["partition"])].append(row)
    if wanted is not None:
        unknown = sorted(set(wanted) - set(groups) - ({EVAL13} if has_eval13 else set()))
        if unknown:
            hint = (
                f" (no release 1.3 partitions in {PREVIOUS_RELEASES_DIR}/: give them with"
                " eval13_partitions)"
                if EVAL13 in unknown
                else ""
            )
            raise ValueError(
                f"splits {unknown} not found among the labelled partitions "
                f"{sorted(groups)} of this release{hint}"
            )
        groups = {name: groups[name] for name in wanted if name != EVAL13}
    return {name: sorted(group, key=lambda r: r["utt"]) for name, group in sorted(groups.items())}


def eval13_rows(path, labelled, rows):
    """The labelled rows of the Eval1.3 files listed in ``path`` (see :func:`read_eval13`),
    sorted by utterance id; listed files without consensus row or value are counted in a
    warning, and none labelled is an error."""
    wanted = read_eval13(path)
    by_utt = {row["utt"]: row for row in labelled}
    kept = sorted((by_utt[utt] for utt in wanted if utt in by_utt), key=lambda row: row["utt"])
    known = {row["utt"] for row in rows}
    absent = [utt for utt in wanted if utt not in known]
    unlabelled = [utt for utt in wanted if utt in known and utt not in by_utt]
    if absent or unlabelled:
        logger.warning(
            "MSP-Podcast %s: %d of the %d files listed in %s are left out: %d have no row and %d "
            "no complete consensus value in this release, e.g. %s",
            EVAL13,
            len(absent) + len(unlabelled),
            len(wanted),
            path,
            len(absent),
            len(unlabelled),
            ", ".join((absent + unlabelled)[:N_EXAMPLES]),
        )
    if not kept:
        raise MSPPodcastFormatError(
            f"{path}: none of its {len(wanted)} Eval1.3 files has a consensus label in "
            "this release (another corpus's list?)"
        )
    logger.info(
        "MSP-Podcast %s: %d files of %s, labelled with this release's consensus",
        EVAL13,
        len(kept),
        path,
    )
    return kept


# --------------------------------------------------------------------------------------------
# 4. Manifest entries
# --------------------------------------------------------------------------------------------
def build_entries(rows, stats, layout, name, progressbar=True):
    """``{utt: entry}`` of one partition (see the module docstring); reads the wav headers."""
    named_by = {
        layout.audio_dir / f"{row['utt']}.wav": f"{layout.consensus}:{row['line']}" for row in rows
    }
    audio = wav_entries(
        named_by, f"MSP-Podcast {name}", MSPPodcastFormatError, progressbar=progressbar
    )
    entries, no_transcript = {}, 0
    for row, wav in zip(rows, named_by):
        summary = stats[row["utt"]]
        entry = dict(audio[wav], **row["values"])
        entry.update({f"{attr}_std": summary[f"{attr}_std"] for attr in DIMENSIONS})
        entry.update(
            n_raters=summary["n_raters"],
            speaker=row["speaker"],
            gender=row["gender"],
            split=row["partition"],
        )
        if row["emo_class"] is not None:
            entry["emo_class"] = row["emo_class"]
        if layout.transcripts is not None:
            transcript = read_transcript(layout.transcripts, row["utt"])
            no_transcript += transcript is None
            entry["transcript"] = transcript or ""
        entries[row["utt"]] = entry
    if no_transcript:
        logger.warning(
            'MSP-Podcast %s: %d files have no transcript in %s (written as "")',
            name,
            no_transcript,
            layout.transcripts,
        )
    return entries


def read_transcript(transcripts, utt):
    """``Transcripts/<utt>.txt`` with whitespace collapsed; None when the file is absent."""
    path = transcripts / f"{utt}.txt"
    if not path.is_file():
        return None
    return " ".join(path.read_text(encoding="utf-8", errors="replace").split())


def drop_short(manifests, min_duration):
    """Leaves out the entries shorter than ``min_duration`` (count logged per manifest).

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
            logger.info(
                "MSP-Podcast %s: %d segments shorter than %g s left out",
                name,
                dropped,
                min_duration,
            )
    return kept


def speakers_and_raters(entries):
    """Speakers and raters of a manifest, for its log line.

    Example
    -------
    >>> speakers_and_raters({"a": {"speaker": "Unknown", "n_raters": 5}})
    '0 known speakers + 1 utterances of Unknown speakers, 5.00 raters per utterance'
    """
    speakers = Counter(entry["speaker"] for entry in entries.values())
    unknown = speakers.pop("Unknown", 0)
    raters = [entry["n_raters"] for entry in entries.values()]
    mean = sum(raters) / len(raters) if raters else 0.0
    return (
        f"{len(speakers)} known speakers + {unknown} utterances of Unknown speakers, "
        f"{mean:.2f} raters per utterance"
    )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def parse_args(argv=None):
    """Parses the command-line options of :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="root of the MSP-Podcast release")
    parser.add_argument("--save_folder", required=True, help="output folder of the manifests")
    parser.add_argument(
        "--splits",
        nargs="+",
        default=None,
        help="manifests to write, e.g. train valid test1 (default: all)",
    )
    parser.add_argument(
        "--min_duration",
        type=float,
        default=0.0,
        help="leave out segments shorter than this (seconds)",
    )
    parser.add_argument(
        "--eval13_partitions",
        default=None,
        help=(
            "partitions of release 1.3 ('<Split>; <FileName>' lines, or file names) for "
            f"eval1.3.json (default: looked up in {PREVIOUS_RELEASES_DIR}/)"
        ),
    )
    parser.add_argument("--noprogressbar", action="store_true", help="hide the progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    """Runs :func:`prepare_msp_podcast` from the command line."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepare_msp_podcast(
        args.data_folder,
        args.save_folder,
        splits=args.splits,
        min_duration=args.min_duration,
        eval13_partitions=args.eval13_partitions,
        progressbar=not args.noprogressbar,
    )


if __name__ == "__main__":
    sys.exit(main())
