"""Manifest plumbing shared by the data preparation scripts of the recipes.

A preparation writes one SpeechBrain JSON manifest per split into its ``save_folder``, each
atomically, then ``prepare_options.json`` (the *stamp*) last: a folder whose stamp matches the
call's options and whose manifests all exist is up to date, and a run killed while writing
leaves no stamp, so the next call redoes the work.

The stamp holds the options of the call, the names of the manifests written and, when given,
a fingerprint of the inputs (``inputs``); :func:`stamp_content` alone computes it. The
preparations fingerprint their label files by content (:func:`label_fingerprint`: SHA-1,
cheap for text files) and their audio (and other per-utterance) files by name, size and
modification time (:func:`files_fingerprint`), so a corpus file fixed or replaced after a
preparation makes the next call rebuild the manifests; :func:`stale_reasons` says why
(logged by :func:`log_rebuild`); :func:`prepare_once` runs these steps around the
corpus-specific part of a preparation.

Authors
 * ser-recipes contributors 2026
"""

import hashlib
import logging
import os
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ser_modules.data.audio import AudioFileError, audio_info, conversion_note, log_conversions
from ser_modules.utils.files import read_json, write_json_atomic

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"
N_EXAMPLES = 3


def manifest_paths(save_folder, names):
    """The manifest path of each name: ``{name: save_folder/<name>.json}``.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        Folder of the manifests.
    names : iterable of str
        Manifest names (``train``, ``valid``, ``test1``...).

    Returns
    -------
    dict
        Name -> ``pathlib.Path``, in the order of ``names``.

    Example
    -------
    >>> {name: path.name for name, path in manifest_paths("prep", ["train", "valid"]).items()}
    {'train': 'train.json', 'valid': 'valid.json'}
    """
    return {name: Path(save_folder) / f"{name}.json" for name in names}


def prepare_once(corpus, save_folder, options, inputs, build, names=None):
    """Runs a preparation unless ``save_folder`` is up to date with these options and inputs.

    Checks the stamp (:func:`stale_reasons`); when something changed, logs why
    (:func:`log_rebuild`), calls ``build`` and writes its manifests, then the stamp
    (:func:`write_manifests`).

    Arguments
    ---------
    corpus : str
        Name starting the log lines (e.g. ``"IEMOCAP"``).
    save_folder : str or pathlib.Path
        Folder of the manifests.
    options : dict
        Options recorded in the stamp.
    inputs : dict
        Fingerprint of the inputs (see :func:`stamp_content`).
    build : callable
        Without arguments, returns ``{manifest name: {utterance id: entry}}``; called only when
        the manifests must be (re)built.
    names : sequence of str, optional
        The manifests the call writes, when known beforehand; None: those ``build`` returns
        (when up to date, those the stamp records).

    Returns
    -------
    dict
        Manifest name -> path (see :func:`manifest_paths`).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> build = lambda: {"train": {"a": {"duration": 1.0}}}
    >>> [path.name for path in prepare_once("Demo", folder, {"seed": 0}, {}, build).values()]
    ['train.json']
    >>> prepare_once("Demo", folder, {"seed": 0}, {}, None)["train"].name  # up to date
    'train.json'
    """
    reasons = stale_reasons(save_folder, options, names, inputs)
    if not reasons:
        logger.info("%s manifests in %s are up to date, skipping", corpus, save_folder)
        if names is None:
            return recorded_manifests(save_folder)
        return manifest_paths(save_folder, names)
    log_rebuild(corpus, save_folder, reasons)
    manifests = build()
    write_manifests(save_folder, manifests, options, corpus, inputs=inputs)
    return manifest_paths(save_folder, manifests if names is None else names)


def stamp_content(options, names, inputs=None):
    """The content of ``prepare_options.json``: options, manifest names (sorted), inputs.

    Arguments
    ---------
    options : dict
        JSON-serialisable options of the preparation (data folder, splits, seed...).
    names : iterable of str
        Names of the manifests written.
    inputs : dict, optional
        Fingerprint of the input files (e.g. size and modification time of the label files);
        recorded under ``"inputs"`` when given.

    Returns
    -------
    dict
        The options plus ``"manifests"`` (and ``"inputs"``).

    Example
    -------
    >>> stamp_content({"seed": 0}, ["valid", "train"])
    {'seed': 0, 'manifests': ['train', 'valid']}
    >>> stamp_content({"seed": 0}, ["train"], inputs={"labels.csv": [120, 1700000000]})["inputs"]
    {'labels.csv': [120, 1700000000]}
    """
    stamp = dict(options, manifests=sorted(names))
    if inputs is not None:
        stamp["inputs"] = inputs
    return stamp


def read_stamp(save_folder):
    """The stamp of a previous preparation, or None when absent, unreadable or malformed.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        Folder of the manifests.

    Returns
    -------
    dict or None
        The recorded stamp (see :func:`stamp_content`).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> read_stamp(folder) is None
    True
    >>> write_json_atomic(stamp_content({"seed": 0}, ["train"]), folder / OPTIONS_FILE)
    >>> read_stamp(folder)["manifests"]
    ['train']
    """
    path = Path(save_folder) / OPTIONS_FILE
    try:
        stamp = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or not isinstance(stamp.get("manifests"), list):
        return None
    return stamp


def recorded_manifests(save_folder):
    """``{name: path}`` of the manifests of the finished preparation of ``save_folder``.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        Folder of the manifests.

    Returns
    -------
    dict
        Name -> ``pathlib.Path`` (see :func:`manifest_paths`), the names the stamp records.

    Raises
    ------
    FileNotFoundError
        Without a finished preparation (no readable stamp).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_manifests(folder, {"train": {}, "test1": {}}, {"seed": 0}, "Demo")
    >>> sorted(recorded_manifests(folder))
    ['test1', 'train']
    """
    stamp = read_stamp(save_folder)
    if stamp is None:
        raise FileNotFoundError(
            f"No finished data preparation in {save_folder} (no readable {OPTIONS_FILE}): "
            "prepare the data first (skip_prep: False)"
        )
    return manifest_paths(save_folder, stamp["manifests"])


def manifests_up_to_date(save_folder, options, names=None, inputs=None):
    """Whether ``save_folder`` holds the manifests of a finished preparation with these options.

    Arguments
    ---------
    save_folder : str or pathlib.Path
        Folder of the manifests.
    options : dict
        Options of the current call.
    names : iterable of str, optional
        Manifests the call writes; None when only the data knows (the recorded names are
        then checked).
    inputs : dict, optional
        Fingerprint of the inputs (see :func:`stamp_content`).

    Returns
    -------
    bool
        True when the stamp matches and every manifest it names exists (no
        :func:`stale_reasons`).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_manifests(folder, {"train": {"a": {"duration": 1.0}}}, {"seed": 0}, "Demo")
    >>> manifests_up_to_date(folder, {"seed": 0}), manifests_up_to_date(folder, {"seed": 1})
    (True, False)
    >>> manifests_up_to_date(folder, {"seed": 0}, ["train", "valid"])
    False
    """
    return not stale_reasons(save_folder, options, names, inputs)


def stale_reasons(save_folder, options, names=None, inputs=None):
    """Why the manifests of ``save_folder`` must be (re)built; ``[]`` when they are up to date.

    Arguments as :func:`manifests_up_to_date`.

    Returns
    -------
    list of str
        One reason per difference: no finished preparation, a changed option, other
        manifest names, a missing manifest, a changed, added or removed input file.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> stale_reasons(folder, {"seed": 0})
    ['no finished preparation (no prepare_options.json)']
    >>> inputs = {"labels": {"labels.csv": "sha1:ab12"}, "audio": {"files": 2, "sha1": "cd34"}}
    >>> write_manifests(folder, {"train": {}}, {"seed": 0}, "Demo", inputs=inputs)
    >>> stale_reasons(folder, {"seed": 0}, inputs=inputs)
    []
    >>> changed = {"labels": {"labels.csv": "sha1:ef56"}, "audio": {"files": 3, "sha1": "0000"}}
    >>> for reason in stale_reasons(folder, {"seed": 1}, inputs=changed):
    ...     print(reason)
    option seed: 0 -> 1
    audio changed: 2 -> 3 files (names, sizes or modification times)
    labels changed: labels.csv
    """
    stamp = read_stamp(save_folder)
    if stamp is None:
        return [f"no finished preparation (no {OPTIONS_FILE})"]
    names = stamp["manifests"] if names is None else names
    expected = stamp_content(options, names, inputs)
    unset = "(unset)"
    reasons = [
        f"option {key}: {stamp.get(key, unset)} -> {expected.get(key, unset)}"
        for key in sorted((set(stamp) | set(expected)) - {"manifests", "inputs"})
        if (key in stamp, stamp.get(key)) != (key in expected, expected.get(key))
    ]
    if stamp["manifests"] != expected["manifests"]:
        reasons.append(
            f"manifests {', '.join(stamp['manifests'])} -> {', '.join(expected['manifests'])}"
        )
    reasons += input_changes(stamp.get("inputs"), expected.get("inputs"))
    missing = [
        path.name for path in manifest_paths(save_folder, names).values() if not path.is_file()
    ]
    if missing:
        reasons.append(f"missing manifest(s) {', '.join(missing)}")
    return reasons


def input_changes(recorded, current):
    """The differences between two input fingerprints, in words (see :func:`stale_reasons`).

    Each fingerprint maps a group name to either ``{file: fingerprint}`` (label files, named
    one by one) or a :func:`files_fingerprint` summary (``{"files": n, "sha1": ...}``).

    Example
    -------
    >>> input_changes({"labels": {"a.txt": "sha1:1", "b.txt": "sha1:2"}},
    ...               {"labels": {"a.txt": "sha1:9", "c.txt": "sha1:3"}})
    ['labels changed: a.txt', 'labels added: c.txt', 'labels removed: b.txt']
    >>> input_changes(None, {"labels": {}})
    ['the previous preparation recorded no input fingerprint']
    """
    if recorded == current:
        return []
    if recorded is None or current is None:
        return [
            (
                "the previous preparation recorded no input fingerprint"
                if recorded is None
                else "inputs recorded but not fingerprinted now"
            )
        ]
    reasons = []
    for group in sorted(set(recorded) | set(current)):
        old, new = recorded.get(group), current.get(group)
        if old == new:
            continue
        if (
            isinstance(old, dict)
            and isinstance(new, dict)
            and "sha1" not in old
            and "sha1" not in new
        ):
            for verb, files in (
                ("changed", [f for f in new if f in old and new[f] != old[f]]),
                ("added", [f for f in new if f not in old]),
                ("removed", [f for f in old if f not in new]),
            ):
                if files:
                    reasons.append(
                        f"{group} {verb}: {', '.join(files[:N_EXAMPLES])}"
                        + (
                            f" and {len(files) - N_EXAMPLES} more"
                            if len(files) > N_EXAMPLES
                            else ""
                        )
                    )
        elif isinstance(old, dict) and isinstance(new, dict) and "files" in old and "files" in new:
            reasons.append(
                f"{group} changed: {old['files']} -> {new['files']} files "
                "(names, sizes or modification times)"
            )
        else:
            reasons.append(f"{group} changed")
    return reasons


def log_rebuild(corpus, save_folder, reasons):
    """Logs why the manifests are (re)built: a warning when a finished preparation is redone.

    Example
    -------
    >>> log_rebuild("Demo", "prep", ["labels changed: a.txt"])  # logged
    """
    first = reasons == [f"no finished preparation (no {OPTIONS_FILE})"]
    logger.log(
        logging.INFO if first else logging.WARNING,
        "%s: %s the manifests in %s: %s",
        corpus,
        "writing" if first else "rebuilding",
        save_folder,
        "; ".join(reasons),
    )


def label_fingerprint(paths, root):
    """``{path relative to root: "sha1:<hex>"}`` of label files, by content.

    Arguments
    ---------
    paths : iterable of pathlib.Path
        Label files (evaluation files, label CSV / JSON, partition lists): small enough to
        hash at every call.
    root : str or pathlib.Path
        The corpus root the names are relative to (the path itself when outside it).

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "labels.csv").write_text("FileName\\na.wav\\n")
    >>> label_fingerprint([root / "labels.csv"], root)
    {'labels.csv': 'sha1:68e4e21deb4ed9d450d66866eef814c31840934d'}
    """
    fingerprint = {}
    for path in paths:
        digest = hashlib.sha1()
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        fingerprint[relative_name(path, root)] = f"sha1:{digest.hexdigest()}"
    return fingerprint


def files_fingerprint(paths, root):
    """``{"files": n, "sha1": digest}`` of the names, sizes and modification times of files.

    For the audio (and per-utterance transcript) files: one ``stat`` per file, no reading.

    Arguments
    ---------
    paths : iterable of pathlib.Path
        The files (order does not matter).
    root : str or pathlib.Path
        The corpus root the names are relative to.

    Example
    -------
    >>> import tempfile, os
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.wav").write_bytes(b"RIFF")
    >>> before = files_fingerprint([root / "a.wav"], root)
    >>> before["files"]
    1
    >>> _ = (root / "a.wav").write_bytes(b"RIFF....")
    >>> files_fingerprint([root / "a.wav"], root) == before
    False
    """
    lines = []
    for path in paths:
        stat = os.stat(path)
        lines.append(f"{relative_name(path, root)}\t{stat.st_size}\t{stat.st_mtime_ns}\n")
    digest = hashlib.sha1("".join(sorted(lines)).encode()).hexdigest()
    return {"files": len(lines), "sha1": digest}


def visible(paths):
    """The paths whose name does not start with a dot (hidden files, e.g. AppleDouble ``._*``
    copies, left out of the corpus files).

    Example
    -------
    >>> [path.name for path in visible([Path("a.wav"), Path("._a.wav")])]
    ['a.wav']
    """
    return [path for path in paths if not path.name.startswith(".")]


def list_files(folder, suffix):
    """The visible (:func:`visible`) files of ``folder`` whose name ends in ``suffix``, any case.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("a.wav", "b.WAV", "._c.wav", "d.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> sorted(path.name for path in list_files(folder, ".wav"))
    ['a.wav', 'b.WAV']
    """
    return [
        path
        for path in visible(Path(folder).iterdir())
        if path.name.lower().endswith(suffix) and path.is_file()
    ]


def relative_name(path, root):
    """``path`` relative to ``root`` as a POSIX string (the absolute path when outside it).

    Example
    -------
    >>> relative_name(Path("/data/c/Labels/l.csv"), "/data/c")
    'Labels/l.csv'
    >>> relative_name(Path("/x/p.txt"), "/data/c")
    '/x/p.txt'
    """
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return path.as_posix()


def write_manifests(save_folder, manifests, options, corpus, inputs=None):
    """Writes each manifest atomically, then the stamp, which marks the preparation done.

    The previous stamp is removed first (an interrupted run is redone), and manifests it
    names that are not written again are removed (logged).

    Arguments
    ---------
    save_folder : str or pathlib.Path
        Output folder (created if needed).
    manifests : dict
        Manifest name -> ``{utterance id: entry}``, written in this order.
    options : dict
        Options recorded in the stamp.
    corpus : str
        Name starting the log lines (e.g. ``"IEMOCAP"``).
    inputs : dict, optional
        Fingerprint of the inputs (see :func:`stamp_content`).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_manifests(folder, {"train": {}, "test": {}}, {"seed": 0}, "Demo")
    >>> write_manifests(folder, {"train": {}}, {"seed": 1}, "Demo")
    >>> sorted(path.name for path in folder.iterdir())
    ['prepare_options.json', 'train.json']
    """
    save_folder = Path(save_folder)
    save_folder.mkdir(parents=True, exist_ok=True)
    previous = read_stamp(save_folder)
    (save_folder / OPTIONS_FILE).unlink(missing_ok=True)
    stale = sorted(set(previous["manifests"]) - set(manifests)) if previous else []
    for path in manifest_paths(save_folder, stale).values():
        if path.is_file():
            logger.info("%s: removing stale manifest %s", corpus, path)
            path.unlink()
    for name, path in manifest_paths(save_folder, manifests).items():
        write_json_atomic(manifests[name], path)
    write_json_atomic(stamp_content(options, manifests, inputs), save_folder / OPTIONS_FILE)
    logger.info("%s manifests %s written to %s", corpus, ", ".join(manifests), save_folder)


def wav_entries(named_by, corpus, error=AudioFileError, progressbar=True):
    """The ``wav`` and ``duration`` fields of manifest entries, read from the wav headers.

    Shows a progress bar (unless ``progressbar`` is False), and logs the files that are not
    mono at 16 kHz (see :func:`ser_modules.data.audio.log_conversions`). A wav whose header
    declares more audio than the file holds (truncated copy) is an ``error`` naming the file
    (:func:`ser_modules.data.audio.audio_info`).

    Arguments
    ---------
    named_by : dict
        Wav path -> where the labels name it (``file:line``, for error messages), in the
        order to read them.
    corpus : str
        Name for the progress bar and the log (e.g. ``"MSP-Podcast train"``).
    error : type
        Exception raised for an unreadable, corrupt, truncated or empty wav (a missing one
        raises ``FileNotFoundError``).
    progressbar : bool
        Show a progress bar.

    Returns
    -------
    dict
        Wav path (as given) -> ``{"wav": absolute path as str, "duration": seconds}``.

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> wav = Path(tempfile.mkdtemp()) / "a.wav"
    >>> soundfile.write(wav, numpy.zeros(8000), 16000)
    >>> wav_entries({wav: "labels.csv:2"}, "Demo")[wav]["duration"]
    0.5
    """
    entries, notes = {}, {}
    bar = tqdm(
        named_by.items(), desc=f"Reading {corpus} wav headers", unit="utt", disable=not progressbar
    )
    for wav, source in bar:
        header = audio_info(wav, named_by=source, error=error)
        notes[str(wav)] = conversion_note(header)
        entries[wav] = {"wav": str(wav), "duration": header.frames / header.samplerate}
    log_conversions(notes, corpus)
    return entries


def drop_short(manifests, min_duration, corpus):
    """Leaves out the entries shorter than ``min_duration`` seconds (count logged per manifest).

    Arguments
    ---------
    manifests : dict
        Manifest name -> ``{utterance id: entry}`` (entries with ``duration``).
    min_duration : float
        Shortest duration kept (0: all kept).
    corpus : str
        Name starting the log lines.

    Returns
    -------
    dict
        The manifests without the short entries.

    Example
    -------
    >>> drop_short({"train": {"a": {"duration": 0.5}, "b": {"duration": 2.0}}}, 1.0, "Demo")
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
                "%s %s: %d segments shorter than %g s left out", corpus, name, dropped, min_duration
            )
    return kept


def format_counts(counter):
    """A counter as ``"a 3, b 1"`` (most common first; ``"none"`` when empty), for log lines.

    Example
    -------
    >>> format_counts(Counter({"fru": 2, "xxx": 5})), format_counts(Counter())
    ('xxx 5, fru 2', 'none')
    """
    return ", ".join(f"{label} {count}" for label, count in counter.most_common()) or "none"


def describe_split(entries, label_key=None, labels=()):
    """Size of a manifest in words: utterances, per-label counts, duration range, hours.

    Arguments
    ---------
    entries : dict
        Utterance id -> entry (with ``duration``).
    label_key : str, optional
        Entry field whose values are counted (e.g. ``"emo"``).
    labels : sequence of str
        The values of ``label_key`` to count, in this order.

    Returns
    -------
    str
        E.g. ``"2 utterances (neu 1, sad 1), 1.00 s to 3.00 s, 0.00 h"``.

    Example
    -------
    >>> entries = {"a": {"duration": 1.0, "emo": "neu"}, "b": {"duration": 3.0, "emo": "sad"}}
    >>> describe_split(entries, "emo", ("neu", "sad"))
    '2 utterances (neu 1, sad 1), 1.00 s to 3.00 s, 0.00 h'
    >>> describe_split({})
    '0 utterances'
    """
    text = f"{len(entries)} utterances"
    if label_key is not None:
        counts = Counter(entry[label_key] for entry in entries.values())
        text += " (" + ", ".join(f"{label} {counts[label]}" for label in labels) + ")"
    durations = [entry["duration"] for entry in entries.values()]
    if durations:
        text += f", {min(durations):.2f} s to {max(durations):.2f} s, {sum(durations) / 3600:.2f} h"
    return text


def describe_speakers(entries, unknown=None):
    """The speakers of a manifest in words; ``unknown`` names the speaker label that stands
    for unidentified people (counted as utterances, not as one speaker).

    Example
    -------
    >>> entries = {"a": {"speaker": "Unknown"}, "b": {"speaker": "12"}, "c": {"speaker": "12"}}
    >>> describe_speakers(entries, unknown="Unknown")
    '1 known speakers + 1 utterances of Unknown speakers'
    >>> describe_speakers(entries)
    '2 speakers'
    """
    speakers = Counter(entry["speaker"] for entry in entries.values())
    if unknown is None:
        return f"{len(speakers)} speakers"
    n_unknown = speakers.pop(unknown, 0)
    return f"{len(speakers)} known speakers + {n_unknown} utterances of {unknown} speakers"
