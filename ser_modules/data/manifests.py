"""Manifest plumbing shared by the data preparation scripts of the recipes.

A preparation writes one SpeechBrain JSON manifest per split into its ``save_folder``, each
atomically, then ``prepare_options.json`` (the *stamp*) last: a folder whose stamp matches the
call's options and whose manifests all exist is up to date, and a run killed while writing
leaves no stamp, so the next call redoes the work.

The stamp holds the options of the call, the names of the manifests written and, when given,
a fingerprint of the inputs (``inputs``); :func:`stamp_content` alone computes it.

Authors
 * ser-recipes contributors 2026
"""

import logging
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ser_modules.data.audio import AudioFileError, audio_info, conversion_note, log_conversions
from ser_modules.utils.files import read_json, write_json_atomic

logger = logging.getLogger(__name__)

OPTIONS_FILE = "prepare_options.json"


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
        True when the stamp matches and every manifest it names exists.

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
    stamp = read_stamp(save_folder)
    if stamp is None:
        return False
    names = stamp["manifests"] if names is None else names
    if stamp != stamp_content(options, names, inputs):
        return False
    return all(path.is_file() for path in manifest_paths(save_folder, names).values())


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


def wav_entries(named_by, corpus, error=AudioFileError):
    """The ``wav`` and ``duration`` fields of manifest entries, read from the wav headers.

    Shows a progress bar, and logs the files that are not mono at 16 kHz (see
    :func:`ser_modules.data.audio.log_conversions`).

    Arguments
    ---------
    named_by : dict
        Wav path -> where the labels name it (``file:line``, for error messages), in the
        order to read them.
    corpus : str
        Name for the progress bar and the log (e.g. ``"MSP-Podcast train"``).
    error : type
        Exception raised for an unreadable, corrupt or empty wav (a missing one raises
        ``FileNotFoundError``).

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
    for wav, source in tqdm(named_by.items(), desc=f"Reading {corpus} wav headers", unit="utt"):
        header = audio_info(wav, named_by=source, error=error)
        notes[str(wav)] = conversion_note(header)
        entries[wav] = {"wav": str(wav), "duration": header.frames / header.samplerate}
    log_conversions(notes, corpus)
    return entries


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
