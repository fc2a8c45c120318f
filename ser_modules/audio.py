"""Audio reading for the recipes: 16 kHz mono float waveforms with clear errors.

``torchaudio.load`` needs torchcodec, which this project does not use; audio is read with
soundfile (through SpeechBrain's audio layer conventions), down-mixed to mono and resampled
with ``torchaudio.functional.resample`` when the file has another sample rate.

Authors
 * ser-recipes contributors 2026
"""

import logging
import os

import soundfile
import torch
import torchaudio

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


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
        When the file is missing, unreadable or holds no samples.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo_8k.wav")
    >>> soundfile.write(path, numpy.zeros((8000, 2)), 8000)
    >>> load_audio(path).shape
    torch.Size([16000])
    """
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises LibsndfileError, RuntimeError, OSError...
        raise AudioFileError(f"Cannot read audio file {path}: {error}") from error
    if data.shape[0] == 0:
        raise AudioFileError(f"Audio file {path} holds no samples")
    wav = torch.from_numpy(data).mean(dim=1)
    if file_rate != sample_rate:
        logger.debug("Resampling %s from %d Hz to %d Hz", path, file_rate, sample_rate)
        wav = torchaudio.functional.resample(wav, file_rate, sample_rate)
    return wav


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
    where = f" (named by {named_by})" if named_by else ""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Missing wav {path}{where}")
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile raises several types
        raise AudioFileError(f"Unreadable or corrupt wav {path}{where}: {error}") from error
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioFileError(f"Empty or corrupt wav {path}{where} ({info.frames} frames)")
    return info.frames / info.samplerate
