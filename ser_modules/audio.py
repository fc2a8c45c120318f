"""Audio reading for the recipes: 16 kHz mono float waveforms with clear errors.

``torchaudio.load`` needs torchcodec, which this project does not use; audio is read with
soundfile (through SpeechBrain's audio layer conventions), down-mixed to mono and resampled
with ``torchaudio.functional.resample`` when the file has another sample rate.

Authors
 * ser-recipes contributors 2026
"""

import logging

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


def audio_duration(path):
    """Duration in seconds of an audio file, read from its header (no decoding).

    Arguments
    ---------
    path : str or pathlib.Path
        Audio file.

    Returns
    -------
    float
        Duration in seconds.

    Example
    -------
    >>> import tempfile, os, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, numpy.zeros(8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    try:
        info = soundfile.info(str(path))
    except Exception as error:
        raise AudioFileError(f"Cannot read audio file {path}: {error}") from error
    return info.frames / info.samplerate
