"""Audio reading for the recipes: 16 kHz mono float waveforms with clear errors.

``torchaudio.load`` needs torchcodec, which this project does not use; audio is read with
soundfile (through SpeechBrain's audio layer conventions), down-mixed to mono and resampled
with ``torchaudio.functional.resample`` when the file has another sample rate.

Bad inputs (see "Troubleshooting" in the README): a missing, unreadable or empty file, one
holding NaN or infinite samples, or a truncated wav (its header declares more audio than the
file holds: libsndfile would silently read the part that is left, :func:`truncation`) raises
:class:`AudioFileError` naming the file; a file
shorter than ``MIN_DURATION`` (the 25 ms receptive field of the wav2vec 2.0 / HuBERT / WavLM
CNN) is padded with zeros and a silent file goes through as is, each with a warning naming
the file (once per file). The data preparations count the files that are not mono at 16 kHz
(:func:`conversion_note`, :func:`log_conversions`).

Authors
 * ser-recipes contributors 2026
"""

import logging
import os
import struct

import soundfile
import torch
import torchaudio

from ser_modules.data.checks import check_finite
from ser_modules.utils.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

MIN_DURATION = 0.025  # seconds: 400 samples at 16 kHz, the receptive field of the SSL CNNs
N_EXAMPLES = 3
_warned = set()


class AudioFileError(RuntimeError):
    """An audio file is missing, unreadable or empty (the message names the file)."""


def load_audio(path, sample_rate=SAMPLE_RATE):
    """Reads an audio file as a mono float32 waveform at ``sample_rate``.

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file (any format soundfile reads: wav, flac, ogg...).
    sample_rate : int
        Target sample rate; other rates are resampled (logged at debug level).

    Returns
    -------
    torch.Tensor
        Waveform ``[samples]``.

    Raises
    ------
    AudioFileError
        When the file is missing, unreadable, truncated, holds no samples or NaN / infinite
        samples.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo_8k.wav")
    >>> soundfile.write(path, numpy.zeros((8000, 2)), 8000)
    >>> load_audio(path).shape
    torch.Size([16000])
    >>> soundfile.write(path, numpy.ones(100), 16000, subtype="FLOAT")
    >>> load_audio(path).shape  # shorter than MIN_DURATION: zero-padded (warning)
    torch.Size([400])
    """
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, OSError...
        raise AudioFileError(f"Cannot read audio file {path}: {error}") from error
    problem = truncation(path)
    if problem:
        raise AudioFileError(f"Audio file {path} is truncated: {problem}")
    if data.shape[0] == 0:
        raise AudioFileError(f"Audio file {path} holds no samples")
    wav = check_finite(
        torch.from_numpy(data), f"Audio file {path} holds non-finite samples", AudioFileError
    )
    wav = wav.mean(dim=1)
    if file_rate != sample_rate:
        logger.debug("Resampling %s from %d Hz to %d Hz", path, file_rate, sample_rate)
        wav = torchaudio.functional.resample(wav, file_rate, sample_rate)
    if not wav.abs().max() > 0:
        warn_once(path, "Audio file %s is silent (all samples are zero): used as is", path)
    return pad_to_min_duration(wav, sample_rate, path)


def pad_to_min_duration(wav, sample_rate, path):
    """Zero-pads a waveform shorter than ``MIN_DURATION`` (warning naming the file once).

    Example
    -------
    >>> pad_to_min_duration(torch.ones(10), 16000, "a.wav").shape
    torch.Size([400])
    """
    min_samples = int(round(MIN_DURATION * sample_rate))
    if len(wav) >= min_samples:
        return wav
    warn_once(
        path,
        "Audio file %s holds %d samples, fewer than the %d (%g s) the SSL encoders need: "
        "zero-padded to %d samples",
        path,
        len(wav),
        min_samples,
        MIN_DURATION,
        min_samples,
    )
    return torch.nn.functional.pad(wav, (0, min_samples - len(wav)))


def warn_once(path, message, *args):
    """Logs a warning about a file the first time only (files are read at every epoch)."""
    key = (str(path), message)
    if key not in _warned:
        _warned.add(key)
        logger.warning(message, *args)


def audio_duration(path, named_by=None):
    """Duration in seconds of an audio file, read from its header (no decoding).

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.
    named_by : str, optional
        Where the file is referenced (e.g. ``labels.csv:12``), added to error messages.

    Returns
    -------
    float
        Duration in seconds.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    AudioFileError
        When the header is unreadable or the file holds no samples.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, numpy.zeros(8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    info = audio_info(path, named_by)
    return info.frames / info.samplerate


def audio_info(path, named_by=None, error=AudioFileError):
    """Header of an audio file (``frames``, ``samplerate``, ``channels``...), checked.

    Arguments and errors as :func:`audio_duration`; ``error`` is the exception class raised
    for an unreadable or empty file (e.g. a data preparation's format error).

    Returns
    -------
    soundfile._SoundFileInfo
        The header read by ``soundfile.info``.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, numpy.zeros((441, 2)), 44100)
    >>> info = audio_info(path)
    >>> info.samplerate, info.channels, conversion_note(info)
    (44100, 2, '44100 Hz, 2 channels')
    >>> _ = open(path, "wb").write(b"not a wav")
    >>> audio_info(path, "labels.csv:3", error=ValueError)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unreadable or corrupt wav ... (named by labels.csv:3): ...
    """
    where = f" (named by {named_by})" if named_by else ""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Missing wav {path}{where}")
    try:
        info = soundfile.info(str(path))
    except Exception as cause:  # libsndfile raises several types
        raise error(f"Unreadable or corrupt wav {path}{where}: {cause}") from cause
    if info.frames <= 0 or info.samplerate <= 0:
        raise error(f"Empty or corrupt wav {path}{where} ({info.frames} frames)")
    problem = truncation(path, info.samplerate)
    if problem:
        raise error(f"Truncated wav {path}{where}: {problem}. Restore the file from the release")
    return info


def truncation(path, sample_rate=None):
    """What is missing from a truncated RIFF/WAVE file, ``""`` when complete or not a RIFF wav.

    A wav cut short (an interrupted copy or download) keeps a header that declares the full
    ``data`` chunk; libsndfile reads the samples that are left without a word. The chunk
    size declared is compared with the bytes the file holds after the chunk header (the
    "unknown length" sizes 0 and 0xFFFFFFFF of streamed wavs are not checked).

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.
    sample_rate : int, optional
        Its sample rate, to give the durations in seconds (read from the header if None).

    Returns
    -------
    str
        E.g. ``"its header declares 4.15 s of audio, the file holds 1.38 s (44160 of 132800
        bytes)"``; ``""`` for a complete file or another format.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, numpy.zeros(16000), 16000, subtype="PCM_16")
    >>> truncation(path)
    ''
    >>> with open(path, "r+b") as stream:
    ...     _ = stream.truncate(44 + 10000)
    >>> truncation(path)
    'its header declares 1.00 s of audio, the file holds 0.31 s (10000 of 32000 bytes)'
    """
    chunk = wav_data_chunk(path)
    if chunk is None:
        return ""
    offset, declared, block_align, rate = chunk
    available = os.path.getsize(path) - offset
    if declared in (0, 0xFFFFFFFF) or available >= declared:
        return ""
    rate = sample_rate or rate
    if block_align <= 0 or rate <= 0:
        return f"its header declares {declared} bytes of audio, the file holds {max(available, 0)}"
    seconds = [size / block_align / rate for size in (declared, max(available, 0))]
    return (
        f"its header declares {seconds[0]:.2f} s of audio, the file holds {seconds[1]:.2f} s "
        f"({max(available, 0)} of {declared} bytes)"
    )


def wav_data_chunk(path, max_chunks=64):
    """``(data offset, declared data size, block align, sample rate)`` of a RIFF/WAVE file.

    None for another format or a header too damaged to walk (soundfile reports those).
    """
    with open(path, "rb") as stream:
        head = stream.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        position, block_align, rate = 12, 0, 0
        for _ in range(max_chunks):
            stream.seek(position)
            header = stream.read(8)
            if len(header) < 8:
                return None
            chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk_id == b"fmt ":
                fmt = stream.read(16)
                if len(fmt) < 16:
                    return None
                rate, block_align = (
                    struct.unpack("<I", fmt[4:8])[0],
                    struct.unpack("<H", fmt[12:14])[0],
                )
            elif chunk_id == b"data":
                return position + 8, size, block_align, rate
            position += 8 + size + (size & 1)
    return None


def conversion_note(info, sample_rate=SAMPLE_RATE):
    """What :func:`load_audio` converts in a file: ``""`` for a mono file at ``sample_rate``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> conversion_note(SimpleNamespace(samplerate=16000, channels=1))
    ''
    >>> conversion_note(SimpleNamespace(samplerate=8000, channels=1))
    '8000 Hz'
    """
    notes = []
    if info.samplerate != sample_rate:
        notes.append(f"{info.samplerate} Hz")
    if info.channels != 1:
        notes.append(f"{info.channels} channels")
    return ", ".join(notes)


def log_conversions(notes, corpus, sample_rate=SAMPLE_RATE):
    """Warns once with the number of files that are resampled or down-mixed when read.

    Arguments
    ---------
    notes : dict
        Audio file -> its :func:`conversion_note` (files without conversion may be left out).
    corpus : str
        Name starting the log line (e.g. ``"IEMOCAP"``).
    sample_rate : int
        The recipes' sample rate.
    """
    converted = {path: note for path, note in notes.items() if note}
    if converted:
        examples = "; ".join(
            f"{path} ({note})" for path, note in list(converted.items())[:N_EXAMPLES]
        )
        logger.warning(
            "%s: %d audio files are not mono at %d Hz: they are resampled to %d Hz and/or "
            "down-mixed to mono (channel average) when read, e.g. %s",
            corpus,
            len(converted),
            sample_rate,
            sample_rate,
            examples,
        )
