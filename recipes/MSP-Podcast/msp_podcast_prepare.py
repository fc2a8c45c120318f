#!/usr/bin/env python3
"""Data preparation for MSP-Podcast dimensional speech emotion recognition.

Reads an MSP-Podcast release (v1.6 or v1.11+ layout) and writes one manifest per labelled
partition (``train``, ``valid``, ``test1``, ...), plus ``eval1.3`` when the partitions of release
1.3 are known. Layouts, label formats, checks, entry fields and the stamp ``prepare_options.json``:
``recipes/MSP-Podcast/README.md`` (Data preparation); release audits: ``check_release.py``.

Example
-------
> python msp_podcast_prepare.py --data_folder /data/MSP-Podcast --save_folder results/prep

Authors
 * ser-recipes contributors 2025
"""

import argparse
import json
import logging
import os
import re
import sys
from collections import Counter, defaultdict, namedtuple
from functools import partial
from pathlib import Path

from ser_modules.data.label_files import find_first, read_csv_rows, required_field
from ser_modules.data.manifests import (
    OPTIONS_FILE,  # noqa: F401 (the stamp, read by the tests)
    describe_speakers,
    describe_split,
    drop_short,
    files_fingerprint,
    label_fingerprint,
    list_files,
    prepare_once,
    wav_entries,
)
from ser_modules.data.ratings import describe_raters, parse_rating, rater_statistics
from ser_modules.utils.constants import DIMENSIONS, MSP_RATING_COLUMNS, TEST_SPLIT_PATTERN
from ser_modules.utils.constants import EVAL13_SPLIT as EVAL13  # the test set of release 1.3
from ser_modules.utils.values import is_finite_number, require

logger = logging.getLogger(__name__)

CORPUS = "MSP-Podcast"
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
VALID_NAMES = ("development", "validation")
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


parse_value = partial(parse_rating, error=MSPPodcastFormatError)  # a label value, 1..7 or None


# Where the parts of one release are (partitions, transcripts, eval13: None when absent).
Layout = namedtuple("Layout", "audio_dir consensus detailed partitions transcripts eval13")
LAYOUT_NAMES = {("Audios", ".csv", False): "v1.11+", ("Audio", ".json", True): "v1.6"}


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
        The partitions of release 1.3 (format: README, "Eval1.3"); None: looked up in
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
    wanted = options["splits"]

    def build():
        rows = read_consensus(layout.consensus)
        partitions = read_partitions(layout.partitions) if layout.partitions else {}
        labelled, groups = group_rows(rows, partitions, layout, wanted)
        if layout.eval13 is not None and (wanted is None or EVAL13 in wanted):
            groups[EVAL13] = eval13_rows(layout.eval13, labelled, rows)
        files = {row["utt"]: row["file_name"] for group in groups.values() for row in group}
        stats = rater_statistics(files, read_detailed(layout.detailed), layout.detailed, CORPUS)
        manifests = build_entries(groups, stats, layout, progressbar)
        manifests = drop_short(manifests, options["min_duration"], CORPUS)
        for name, entries in manifests.items():
            speakers = describe_speakers(entries, unknown="Unknown")  # many unidentified people
            described = f"{describe_split(entries)}; {speakers}, {describe_raters(entries)}"
            logger.info("MSP-Podcast %s: %s", name, described)
        return manifests

    return prepare_once(CORPUS, save_folder, options, inputs, build)


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
        names_ok = not isinstance(splits, str) and all(isinstance(s, str) and s for s in splits)
        require(names_ok, "splits", "None or a list of manifest names", splits)
        splits = sorted(set(splits))
        if not splits:
            raise ValueError("splits must not be empty (use None for all partitions)")
    duration_ok = is_finite_number(min_duration) and min_duration >= 0
    require(duration_ok, "min_duration", "a number >= 0", min_duration)
    if eval13_partitions is not None:
        eval13_partitions = os.path.abspath(os.fspath(eval13_partitions))
    return {
        "data_folder": os.path.abspath(os.fspath(data_folder)),
        "splits": splits,
        "min_duration": float(min_duration),
        "eval13_partitions": eval13_partitions,
        "prep_version": PREP_VERSION,
    }


# 1. Find the release's files
def detect_layout(data_folder, eval13_partitions=None):
    """Finds the audio folder, label files, partitions, transcripts and the release 1.3
    partitions (``eval13_partitions`` when given, else the first of
    ``Previous_releases_information/<EVAL13_FILES>`` that exists, else None); logged.

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
    eval13 = [data_folder / PREVIOUS_RELEASES_DIR / name for name in EVAL13_FILES]
    if eval13_partitions is not None and not Path(eval13_partitions).is_file():
        raise FileNotFoundError(f"eval13_partitions not found: {eval13_partitions}")
    eval13 = eval13 if eval13_partitions is None else [Path(eval13_partitions)]
    labels = data_folder / LABEL_DIR
    layout = Layout(
        audio_dir=find_first(data_folder, AUDIO_DIRS, "MSP-Podcast audio folder", want_dir=True),
        consensus=find_first(labels, CONSENSUS_FILES, "MSP-Podcast consensus label file"),
        detailed=find_first(labels, DETAILED_FILES, "MSP-Podcast detailed label file"),
        partitions=partitions if partitions.is_file() else None,
        transcripts=transcripts if transcripts.is_dir() else None,
        eval13=next((path for path in eval13 if path.is_file()), None),
    )
    found = [
        f"{layout.audio_dir.name}/",
        layout.consensus.relative_to(data_folder).as_posix(),
        layout.detailed.relative_to(data_folder).as_posix(),
        PARTITIONS_FILE if layout.partitions else f"no {PARTITIONS_FILE}",
        f"{TRANSCRIPTS_DIR}/" if layout.transcripts else f"no {TRANSCRIPTS_DIR}/",
        f"Eval1.3 partitions {layout.eval13}" if layout.eval13 else "no release 1.3 partitions",
    ]
    parts = (layout.audio_dir.name, layout.detailed.suffix, layout.partitions is not None)
    name = LAYOUT_NAMES.get(parts, "mixed")
    logger.info("MSP-Podcast %s layout in %s: %s", name, data_folder, ", ".join(found))
    return layout


def input_fingerprint(layout, data_folder):
    """What the manifests are made of, for the stamp: the SHA-1 of the label and partition
    files, and digests of the names, sizes and modification times of the wavs and of the
    transcripts."""
    labels = [layout.consensus, layout.detailed, layout.partitions, layout.eval13]
    folders = {"audio": (layout.audio_dir, ".wav"), "transcripts": (layout.transcripts, ".txt")}
    inputs = {"labels": label_fingerprint([path for path in labels if path], data_folder)}
    for group, (folder, suffix) in folders.items():
        if folder is not None:
            inputs[group] = files_fingerprint(list_files(folder, suffix), data_folder)
    return inputs


# 2. Read the label files, each in one pass
def read_consensus(path):
    """The rows of the consensus label file: ``utt``, ``file_name``, ``line``, ``values``
    (None: unlabelled), ``texts`` (values as written), ``speaker``, ``gender``, ``split_set``,
    ``emo_class`` (None without the column); a duplicate file is an error.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "labels_consensus.csv"
    >>> _ = path.write_text("FileName,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\\n"
    ...                     "MSP-PODCAST_0001_0002.wav,4.5,3.0,,Unknown,Unknown,Test1\\n")
    >>> row = read_consensus(path)[0]
    >>> row["utt"], row["values"], row["split_set"], row["emo_class"]
    ('MSP-PODCAST_0001_0002', {'arousal': 4.5, 'valence': 3.0, 'dominance': None}, 'Test1', None)
    """
    raw_rows, columns = read_csv_rows(path, REQUIRED_COLUMNS, MSPPodcastFormatError)
    if not raw_rows:
        raise MSPPodcastFormatError(f"{path}: no label row")
    rows, seen = [], {}
    for line, raw in raw_rows:
        file_name = required_field(raw, "FileName", f"{path}:{line}", MSPPodcastFormatError)
        field = {column: (value or "").strip() for column, value in raw.items()}
        texts = {attr: field[column] for attr, column in MSP_RATING_COLUMNS.items()}
        values = {
            attr: parse_value(text, f"{path}:{line}", f"{MSP_RATING_COLUMNS[attr]} of {file_name}")
            for attr, text in texts.items()
        }
        utt = utterance_id(file_name)
        if utt in seen:
            raise MSPPodcastFormatError(
                f"{path}:{line}: duplicate file {file_name} (first at line {seen[utt]})"
            )
        seen[utt] = line
        rows.append(
            {
                "utt": utt,
                "file_name": file_name,
                "line": line,
                "values": values,
                "texts": texts,
                "speaker": field["SpkrID"],
                "gender": field["Gender"],
                "split_set": field.get("Split_Set") or None,
                "emo_class": field["EmoClass"] if "EmoClass" in columns else None,
            }
        )
    return rows


def utterance_id(file_name):
    """File name without the ``.wav`` extension (and any folder).

    Example
    -------
    >>> utterance_id("MSP-PODCAST_0023_0048.wav"), utterance_id("MSP-PODCAST_0023_0048")
    ('MSP-PODCAST_0023_0048', 'MSP-PODCAST_0023_0048')
    """
    name = file_name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.lower().endswith(".wav") else name


def split_lines(path, names_alone=False):
    """Yields ``(line number, split or None, file name)`` of the ``"<Split>; <FileName>"`` lines
    of a partition file (with ``names_alone``, also ``"<FileName>"`` lines), blanks skipped."""
    expected = "'<Split>; <FileName>'" + (" or '<FileName>'" if names_alone else "")
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(";")]
        if len(parts) > 2 or not all(parts) or (len(parts) == 1 and not names_alone):
            raise MSPPodcastFormatError(f"{path}:{line_no}: expected {expected}, got {line!r}")
        yield line_no, parts[0] if len(parts) == 2 else None, parts[-1]


def read_partitions(path):
    """``{utterance id: partition as written}`` from ``Partitions.txt``."""
    partitions = {}
    for line_no, split, file_name in split_lines(path):
        utt = utterance_id(file_name)
        if utt in partitions and partitions[utt] != split:
            raise MSPPodcastFormatError(
                f"{path}:{line_no}: {file_name} listed in both {partitions[utt]} and {split}"
            )
        partitions[utt] = split
    return partitions


def read_eval13(path):
    """The utterance ids of Eval1.3 in a release 1.3 partition file, in file order: the files
    of its ``Test``/``Test<k>`` lines and of the lines holding a file name alone; an error
    when it lists no test file.

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
    for line_no, split, file_name in split_lines(path, names_alone=True):
        if split is None or TEST_SPLIT_PATTERN.match(split.lower()):
            utts.setdefault(utterance_id(file_name), line_no)
    if not utts:
        raise MSPPodcastFormatError(
            f"{path}: no Test partition line ('Test; <FileName>') nor file name: "
            "not a list of the Eval1.3 files"
        )
    return list(utts)


def read_detailed(path):
    """``{utterance id: [(worker, arousal, valence, dominance)]}`` of the per-rater labels
    (``.csv`` with EmoDetail strings, or the v1.6 ``.json``); a rating is None when empty or
    NaN."""
    if path.suffix == ".json":
        return read_detailed_json(path)
    rows, _ = read_csv_rows(path, DETAILED_COLUMNS, MSPPodcastFormatError)
    ratings = defaultdict(list)
    for line, row in rows:
        file_name = required_field(row, "FileName", f"{path}:{line}", MSPPodcastFormatError)
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
        parse_value(match[attr], where, f"{field} of {file_name}")
        for attr, field in zip(DIMENSIONS, EMO_DETAIL_FIELDS)
    ]
    return (match["worker"], *values)


def read_detailed_json(path):
    """The v1.6 ``labels_detailed.json`` (see :func:`read_detailed`):
    ``{"<FileName>": {"<worker>": {"EmoAct": .., "EmoVal": .., "EmoDom": ..}}}``."""
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
        ratings[utterance_id(file_name)] = []
        for worker, rating in workers.items():
            where = f"{path}: {file_name}, {worker}"
            if not isinstance(rating, dict):
                raise MSPPodcastFormatError(f"{where}: expected an object, got {rating!r:.80}")
            missing = [col for col in MSP_RATING_COLUMNS.values() if col not in rating]
            if missing:
                raise MSPPodcastFormatError(f"{where}: missing field(s) {', '.join(missing)}")
            values = [
                parse_value(rating[col], where, f"{col} of {file_name}")
                for col in MSP_RATING_COLUMNS.values()
            ]
            ratings[utterance_id(file_name)].append((worker, *values))
    return ratings


# 3. Split by partition
def manifest_name(partition):
    """Manifest name of a partition of the release.

    Example
    -------
    >>> [manifest_name(p) for p in ("Train", "Development", "Validation", "Test1", "Test 1")]
    ['train', 'valid', 'valid', 'test1', 'test_1']
    """
    name = partition.strip().lower()
    if is_expected_partition(name):
        return "valid" if name in VALID_NAMES else name
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


def group_rows(rows, partitions, layout, wanted):
    """The labelled rows, and ``{manifest name: rows sorted by utterance id}`` (names sorted;
    only ``wanted`` if given, ``eval1.3`` aside: :func:`eval13_rows`). A row's partition is
    that of ``Partitions.txt`` when it lists the file, else its ``Split_Set`` (neither: an
    error). Partitions without any consensus value (Test3) are skipped (logged), rows missing
    a value and unexpected partition names are counted in warnings."""
    by_partition = defaultdict(list)
    for row in rows:
        row["partition"] = partitions.get(row["utt"]) or row["split_set"]
        if not row["partition"]:
            source = f" nor in {layout.partitions}" if layout.partitions else ""
            raise MSPPodcastFormatError(
                f"{layout.consensus}:{row['line']}: no Split_Set for {row['file_name']}{source}"
            )
        by_partition[row["partition"]].append(row)
    labelled, path = [], layout.consensus
    for partition, members in sorted(by_partition.items()):
        complete = [row for row in members if None not in row["values"].values()]
        incomplete = [row["file_name"] for row in members if None in row["values"].values()]
        if not complete:
            logger.info(
                f"MSP-Podcast: partition {partition} ({len(members)} files) has no labels in "
                f"{path}: skipped"
            )
        elif incomplete:
            logger.warning(
                f"MSP-Podcast: {len(incomplete)} files of {partition} lack EmoAct/EmoVal/EmoDom "
                f"in {path} and are left out, e.g. {', '.join(incomplete[:N_EXAMPLES])}"
            )
        labelled.extend(complete)
    counts = Counter(row["partition"] for row in labelled)
    for partition, count in sorted(counts.items()):
        if not is_expected_partition(partition):
            logger.warning(
                f"MSP-Podcast: unexpected partition name {partition!r} ({count} files; expected "
                f"Train, Development, Validation or Test<k>): written as {manifest_name(partition)}"
                ".json, which the recipe does not evaluate as a test split. Fix Split_Set / "
                f"{PARTITIONS_FILE} if it is a misspelt partition"
            )
    groups = defaultdict(list)
    for row in labelled:
        groups[manifest_name(row["partition"])].append(row)
    if wanted is not None:
        unknown = set(wanted) - set(groups) - ({EVAL13} if layout.eval13 is not None else set())
        if unknown:
            hint = (
                f" (no release 1.3 partitions in {PREVIOUS_RELEASES_DIR}/: give them with"
                " eval13_partitions)"
                if EVAL13 in unknown
                else ""
            )
            raise ValueError(
                f"splits {sorted(unknown)} not found among the labelled partitions "
                f"{sorted(groups)} of this release{hint}"
            )
        groups = {name: groups[name] for name in wanted if name != EVAL13}
    by_name = sorted(groups.items())
    return labelled, {name: sorted(group, key=lambda r: r["utt"]) for name, group in by_name}


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
    if absent + unlabelled:
        logger.warning(
            f"MSP-Podcast {EVAL13}: {len(absent + unlabelled)} of the {len(wanted)} files listed "
            f"in {path} are left out: {len(absent)} have no row and {len(unlabelled)} no complete "
            f"consensus value in this release, e.g. {', '.join((absent + unlabelled)[:N_EXAMPLES])}"
        )
    if not kept:
        raise MSPPodcastFormatError(
            f"{path}: none of its {len(wanted)} Eval1.3 files has a consensus label in "
            "this release (another corpus's list?)"
        )
    logger.info(
        f"MSP-Podcast {EVAL13}: {len(kept)} files of {path}, labelled with this release's consensus"
    )
    return kept


# 4. Manifest entries
def build_entries(groups, stats, layout, progressbar=True):
    """``{manifest name: {utt: entry}}`` of the groups of rows (fields: README); reads the wav
    headers and the transcripts (``Transcripts/<utt>.txt``, whitespace collapsed)."""
    manifests = {}
    for name, rows in groups.items():
        named_by = {
            layout.audio_dir / f"{row['utt']}.wav": f"{layout.consensus}:{row['line']}"
            for row in rows
        }
        audio = wav_entries(
            named_by, f"MSP-Podcast {name}", MSPPodcastFormatError, progressbar=progressbar
        )
        manifests[name], no_transcript = {}, 0
        for row, wav in zip(rows, named_by):
            summary = stats[row["utt"]]
            entry = dict(audio[wav], **row["values"])
            entry.update({f"{attr}_std": summary[f"{attr}_std"] for attr in DIMENSIONS})
            entry.update(n_raters=summary["n_raters"], speaker=row["speaker"], gender=row["gender"])
            entry["split"] = row["partition"]
            if row["emo_class"] is not None:
                entry["emo_class"] = row["emo_class"]
            if layout.transcripts is not None:
                path = layout.transcripts / f"{row['utt']}.txt"
                no_transcript += not path.is_file()
                text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
                entry["transcript"] = " ".join(text.split())
            manifests[name][row["utt"]] = entry
        if no_transcript:
            logger.warning(
                f"MSP-Podcast {name}: {no_transcript} files have no transcript in "
                f'{layout.transcripts} (written as "")'
            )
    return manifests


# Command line
def main(argv=None):
    """Runs :func:`prepare_msp_podcast` from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="root of the MSP-Podcast release")
    parser.add_argument("--save_folder", required=True, help="output folder of the manifests")
    parser.add_argument("--splits", nargs="+", help="manifests to write (default: all)")
    parser.add_argument("--min_duration", type=float, default=0.0, help="shortest segment (s)")
    parser.add_argument(
        "--eval13_partitions",
        help=f"release 1.3 partitions, for eval1.3.json (default: in {PREVIOUS_RELEASES_DIR}/)",
    )
    parser.add_argument(
        "--noprogressbar", dest="progressbar", action="store_false", help="hide the progress bars"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepare_msp_podcast(**vars(args))


if __name__ == "__main__":
    sys.exit(main())
