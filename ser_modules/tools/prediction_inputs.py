"""Inputs of ``ser-predict``: audio files, folders and manifests, read and checked one by one.

A bad input is an error that names it (:class:`PredictionInputError`); ``ser-predict``
records it for that input and goes on with the others. Audio that can be predicted but gives
a doubtful prediction is flagged (:func:`signal_flags`): ``silent`` (RMS level below a
threshold in dBFS) or ``short`` (shorter than a minimum duration).

Authors
 * ser-recipes contributors 2026
"""

import csv
import json
import logging
from pathlib import Path

import soundfile
import torch

from ser_modules.data.checks import check_finite

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".aif")

#: Default thresholds of the ``silent`` and ``short`` flags (``--silence-db``, ``--min-duration``).
SILENCE_DBFS = -60.0
MIN_DURATION_S = 1.0


class PredictionInputError(RuntimeError):
    """An input path, manifest or audio file cannot be used (the message names it)."""


def manifest_entries(path):
    """``(id, audio path)`` of a SpeechBrain JSON manifest (``wav`` fields) or a CSV (``wav``
    column)."""
    try:
        if path.suffix == ".json":
            entries = json.loads(path.read_text(encoding="utf-8"))
            return [(uid, entry["wav"]) for uid, entry in entries.items()]
        with open(path, newline="", encoding="utf-8") as handle:
            return [
                (row.get("ID") or row.get("id") or row["wav"], row["wav"])
                for row in csv.DictReader(handle)
            ]
    except (KeyError, TypeError, AttributeError):
        raise PredictionInputError(
            f"{path}: every entry of a manifest needs a 'wav' field"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
        raise PredictionInputError(f"{path} is not a readable manifest: {error}") from None


def collect_inputs(paths, extensions=AUDIO_EXTENSIONS):
    """``(id, audio path)`` pairs from files, folders (recursive, sorted) and manifests.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.wav", "a.flac", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [uid for uid, _ in collect_inputs([folder])]
    ['a', 'b']
    """
    inputs = []
    for path in map(Path, paths):
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions)
            files = [p for p in candidates if not p.name.startswith("._")]
            if len(files) < len(candidates):
                logger.info(
                    "%s: skipped %d macOS metadata files (._*)", path, len(candidates) - len(files)
                )
            if not files:
                raise PredictionInputError(f"{path} holds no audio file ({', '.join(extensions)})")
            inputs += [(str(p.relative_to(path).with_suffix("")), str(p)) for p in files]
        elif path.suffix.lower() in (".json", ".csv") and path.is_file():
            inputs += manifest_entries(path)
        elif path.is_file():
            inputs.append((path.stem, str(path)))
        else:
            raise PredictionInputError(f"{path} does not exist")
    return inputs


def header_duration(path):
    """Duration in seconds from the file's header, 0.0 when the header cannot be read (the
    file's error then comes when it is read). Used to sort inputs by length.

    Example
    -------
    >>> import tempfile, numpy
    >>> folder = Path(tempfile.mkdtemp())
    >>> soundfile.write(folder / "a.wav", numpy.zeros(8000), 16000)
    >>> header_duration(folder / "a.wav"), header_duration(folder / "missing.wav")
    (0.5, 0.0)
    """
    try:
        return soundfile.info(str(path)).duration
    except Exception:  # unreadable header: any error of soundfile; reported when read
        return 0.0


def read_input(model, uid, path):
    """The waveform of one input at the model's rate, or an error naming the file.

    Raises :class:`PredictionInputError` for a file that cannot be read, holds no sample, or
    holds NaN or infinite samples (a float wav can).
    """
    try:
        wav = model.load_audio(path).cpu()
    except Exception as error:  # soundfile / fetch errors vary by format
        raise PredictionInputError(
            f"{path} (input {uid}) cannot be read as audio: {error}"
        ) from None
    if wav.numel() == 0:
        raise PredictionInputError(f"{path} (input {uid}) is empty")
    return check_finite(wav, f"{path} (input {uid}) holds non-finite samples", PredictionInputError)


def signal_flags(signal, sample_rate, min_duration=MIN_DURATION_S, silence_db=SILENCE_DBFS):
    """``silent`` (RMS level below ``silence_db`` dBFS) and / or ``short`` (fewer than
    ``min_duration`` seconds): inputs whose prediction is doubtful.

    Example
    -------
    >>> signal_flags(torch.zeros(32000), 16000), signal_flags(0.1 * torch.ones(8000), 16000)
    (['silent'], ['short'])
    >>> signal_flags(0.1 * torch.ones(32000), 16000, silence_db=-10.0)
    ['silent']
    """
    flags = []
    rms = signal.double().square().mean().sqrt()
    if 20 * torch.log10(rms) < silence_db:  # log10(0) = -inf: all zeros is silent
        flags.append("silent")
    if len(signal) < min_duration * sample_rate:
        flags.append("short")
    return flags
