"""Tests of ser_modules.data.audio: mono 16 kHz reading with clear errors."""

import numpy as np
import pytest
import soundfile

from ser_modules.data.audio import AudioFileError, audio_duration, load_audio


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
