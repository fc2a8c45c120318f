"""Tests of ser_modules.data.audio: mono 16 kHz reading with clear errors."""

import numpy as np
import pytest
import soundfile

from ser_modules.data.audio import (
    AudioFileError,
    audio_duration,
    audio_info,
    load_audio,
    truncation,
    wav_data_chunk,
)


def test_reads_mono_16k_exactly(tmp_path):
    signal = np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32)
    soundfile.write(tmp_path / "a.wav", signal, 16000, subtype="FLOAT")
    wav = load_audio(tmp_path / "a.wav")
    assert wav.shape == (16000,)
    np.testing.assert_array_equal(wav.numpy(), signal)


def test_downmixes_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(tmp_path / "s.wav", np.stack([left, left], axis=1), 44100)
    wav = load_audio(tmp_path / "s.wav")
    assert wav.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(wav.numpy()))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second


def test_errors_name_the_file(tmp_path):
    with pytest.raises(AudioFileError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioFileError, match="corrupt.wav"):
        load_audio(tmp_path / "corrupt.wav")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    with pytest.raises(AudioFileError, match="empty.wav.*no samples"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioFileError, match="corrupt.wav"):
        audio_duration(tmp_path / "corrupt.wav")


def test_duration_from_header(tmp_path):
    soundfile.write(tmp_path / "d.wav", np.zeros(24000), 16000)
    assert audio_duration(tmp_path / "d.wav") == 1.5


def cut(path, n_bytes):
    """Drops the last ``n_bytes`` of a file (the header still declares them)."""
    with open(path, "r+b") as stream:
        stream.truncate(path.stat().st_size - n_bytes)


@pytest.mark.parametrize("subtype, channels, width", [("PCM_16", 1, 2), ("FLOAT", 2, 4)])
def test_truncated_wav_is_refused_when_read_or_measured(tmp_path, subtype, channels, width):
    wav = tmp_path / "cut.wav"
    soundfile.write(wav, np.full((32000, channels), 0.1), 16000, subtype=subtype)
    cut(wav, 16000 * channels * width)  # the second half of the audio
    assert soundfile.info(wav).frames == 16000  # libsndfile reads what is left, without a word
    problem = r"its header declares 2.00 s of audio, the file holds 1.00 s"
    with pytest.raises(
        AudioFileError, match=rf"Truncated wav {wav} \(named by labels.csv:3\): {problem}"
    ):
        audio_info(wav, "labels.csv:3")
    with pytest.raises(AudioFileError, match=rf"Audio file {wav} is truncated: {problem}"):
        load_audio(wav)
    with pytest.raises(ValueError, match="Truncated wav"):
        audio_info(wav, error=ValueError)


def test_complete_wavs_and_other_formats_pass_the_truncation_check(tmp_path):
    for name, subtype in (("even.wav", "PCM_16"), ("odd.wav", "PCM_U8"), ("a.flac", "PCM_16")):
        soundfile.write(tmp_path / name, np.zeros(1601), 16000, subtype=subtype)
        assert (
            truncation(tmp_path / name) == ""
        )  # (PCM_U8: a pad byte after an odd-sized data chunk)
        assert audio_info(tmp_path / name).frames == 1601
    # a streamed wav whose data size was never filled in (0xFFFFFFFF) is not judged
    data = bytearray((tmp_path / "even.wav").read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"
    (tmp_path / "streamed.wav").write_bytes(bytes(data))
    assert wav_data_chunk(tmp_path / "streamed.wav")[1] == 0xFFFFFFFF
    assert truncation(tmp_path / "streamed.wav") == ""
