#!/usr/bin/env python3
"""Noisy and reverberant copies of an MSP-Podcast test split (Mitra et al. 2024, Table 1).

For every utterance of a SpeechBrain JSON manifest (e.g. ``test1.json`` written by
``msp_podcast_prepare.py``) and every SNR range (default 20-30, 10-20 and 0-10 dB, the
paper's Eval1.6_25dB, Eval1.6_15dB and Eval1.6_5dB), the script

1. convolves the clean speech with a room impulse response (SpeechBrain's ``AddReverb``
   mixing: FFT convolution aligned on the direct path, average amplitude kept);
2. adds a noise segment at an SNR drawn uniformly in the range, relative to the
   **reverberant** speech (SpeechBrain's ``AddNoise`` mixing: speech scaled by ``1 - f`` and
   noise to ``f`` times the speech RMS, ``f = 1 / (10^(SNR/20) + 1)``, so the SNR of the
   speech component to the noise component is exactly the drawn value);
3. scales the mixture down if its peak exceeds 0.99 (same gain on speech and noise: the SNR
   is unchanged) and writes it as 16-bit PCM.

Usage::

    python make_noisy_sets.py --manifest results/.../manifests/test1.json --out_folder DIR \\
        [--noise_csv noises.csv] [--rir_csv rirs.csv] [--seed 0] \\
        [--snr_ranges 20-30 10-20 0-10] [--replacements noise_folder=/data/musan] \\
        [--exclude_csv train_noises.csv ...] [--write_references]

Outputs, in ``DIR``: one manifest per range, ``<split>_snr<lo>-<hi>.json`` (e.g.
``test1_snr20-30.json``), and the wavs in ``<split>_snr<lo>-<hi>/<utt>.wav``. Each entry
keeps the fields of the clean entry, with ``wav`` pointing to the degraded file, plus
``clean_wav``, ``noise`` (noise ID), ``noise_file``, ``noise_offset`` (samples), ``rir`` (RIR
ID), ``rir_file``, ``snr`` (dB, the value drawn), ``snr_range`` (``[lo, hi]``) and ``gain``
(the anti-clipping gain, 1.0 when none was needed). ``--write_references`` also writes the
speech component of each mixture (reverberant speech, scaled exactly as in the mixture, float
wav) in ``<split>_snr<lo>-<hi>_reference/``, so the SNR can be measured as
``10 log10(P(reference) / P(degraded - reference))``.

Noise and RIR lists
-------------------
``--noise_csv`` / ``--rir_csv`` take SpeechBrain's extended CSV files (columns ``ID``,
``duration``, ``wav``, ``wav_format``, ``wav_opts``; only ``ID`` and ``wav`` are used), read
with ``speechbrain.dataio.dataio.load_data_csv``: ``$key`` placeholders are replaced with
``--replacements key=value``. Audio is read as mono and resampled to 16 kHz when needed; a
noise shorter than the utterance is looped.

**Towards the paper's numbers: real noises and rooms.** The paper does not name the noises
and room responses of its degraded sets. The usual public choice, that of SpeechBrain's
augmentation recipes, is MUSAN (OpenSLR 17: noise, music) for ``--noise_csv`` and
RIRS_NOISES (OpenSLR 28: real and simulated room responses) for ``--rir_csv``, listed as
SpeechBrain CSVs (e.g.
written by ``speechbrain.augment.preparation.write_csv`` from the wav files of the unpacked
corpora), with ``--replacements`` for their folder. Absolute CCCs on the noisy sets depend
on these lists.

Without lists (the offline default, no download) the script generates its own (once, in
``DIR/noise_bank_seed<seed>`` and ``DIR/rir_bank_seed<seed>``, with their CSV files
``noises.csv`` and ``rirs.csv``, and the simulator and room parameters in ``rooms.json``):

* noises: 9 synthetic types x ``--noises_per_type`` (default 2) files of 20 s: white, pink,
  brown and blue noise, speech-shaped noise (a long-term average speech spectrum *shape*,
  no speech), mains hum with harmonics, amplitude-modulated noise (traffic / wind like),
  synthetic music (random chords of harmonic tones) and clatter (random impulsive
  transients). No recording, and none of the corpus's utterances, is used.
* RIRs: ``--num_rirs`` (default 40) simulated shoebox rooms (3-10 m x 3-8 m x 2.4-3.5 m,
  RT60 0.2-0.8 s, source-microphone distance >= 0.7 m), simulated by ``pyroomacoustics``:
  image-source method (Allen and Berkley, 1979) with the wall absorption and reflection
  order that give the RT60 by Sabine's formula (``pyroomacoustics.inverse_sabine``). A bank
  made by another simulator (``rooms.json`` records it) is simulated again.

Keep the test noises and RIRs disjoint from any training augmentation: the training recipe
of this folder uses no augmentation, and ``--exclude_csv`` (the training augmentation lists,
if any) makes the script stop when a noise or RIR of the test lists appears in them (same
ID or same file).

Seeding and idempotency
-----------------------
Every random choice is seeded per utterance by a hash of ``(seed, utterance id)``: the RIR,
the noise file and its offset are the same in the three ranges (only the SNR differs,
drawn from ``(seed, utterance id, range)``), and do not depend on the order, the number or
the other utterances of the manifest. Files are written atomically; the options are kept
in ``<split>_noisy_options.json``: a second run with the same options does nothing (also
from another copy of the same clean manifest, e.g. another experiment's), a run with other
options or another manifest content rewrites the sets.

Authors
 * ser-recipes contributors 2026
"""

import argparse
import hashlib
import json
import logging
import math  # noqa: F401 (used by the doctests)
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pyroomacoustics
import soundfile as sf
import torch
from speechbrain.augment.time_domain import AddNoise, AddReverb
from speechbrain.dataio.dataio import load_data_csv
from tqdm import tqdm

from ser_modules.data.audio import load_audio
from ser_modules.utils.constants import SAMPLE_RATE
from ser_modules.utils.files import open_atomic, read_json, write_json_atomic, write_wav_atomic

logger = logging.getLogger(__name__)

DEFAULT_SNR_RANGES = ((20.0, 30.0), (10.0, 20.0), (0.0, 10.0))
NOISE_TYPES = (
    "white",
    "pink",
    "brown",
    "blue",
    "speech_shaped",
    "hum",
    "modulated",
    "music",
    "clatter",
)
NOISE_SECONDS = 20.0
NOISE_RMS = 0.1
PEAK_LIMIT = 0.99
OPTIONS_VERSION = 2  # 2: RIRs simulated by pyroomacoustics
RIR_SIMULATOR = f"pyroomacoustics {pyroomacoustics.__version__} image sources, Sabine absorption"


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------
def seeded_rng(*keys):
    """A numpy generator seeded by a SHA-256 hash of ``keys`` (order-independent runs).

    Arguments
    ---------
    *keys : str or int
        What the stream depends on, e.g. ``(seed, utterance_id, "choice")``.

    Returns
    -------
    numpy.random.Generator
        The generator.

    Example
    -------
    >>> seeded_rng(0, "utt1").random() == seeded_rng(0, "utt1").random()
    True
    >>> seeded_rng(0, "utt1").random() == seeded_rng(1, "utt1").random()
    False
    """
    digest = hashlib.sha256("\x1f".join(map(str, keys)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# --------------------------------------------------------------------------------------------
# Generated noises
# --------------------------------------------------------------------------------------------
def _shaped_noise(rng, num, gain_fn, sample_rate=SAMPLE_RATE):
    """White Gaussian noise filtered in the frequency domain by ``gain_fn(freqs_hz)``."""
    spectrum = np.fft.rfft(rng.standard_normal(num))
    freqs = np.fft.rfftfreq(num, 1.0 / sample_rate)
    gains = gain_fn(np.maximum(freqs, 1.0))
    gains[0] = 0.0
    return np.fft.irfft(spectrum * gains, n=num)


def _smooth_envelope(rng, num, rate_hz, sample_rate=SAMPLE_RATE):
    """A smooth random positive envelope with fluctuations around ``rate_hz``."""
    points = max(4, int(num / sample_rate * rate_hz) + 3)
    knots = rng.uniform(0.0, 1.0, points)
    return np.interp(np.linspace(0, points - 1, num), np.arange(points), knots)


def _music(rng, num, sample_rate=SAMPLE_RATE):
    """Random chords of harmonic tones with decaying envelopes, plus soft percussion."""
    out = np.zeros(num)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    root = rng.integers(45, 58)
    tempo = rng.uniform(0.25, 0.7)
    time = 0
    while time < num:
        length = int(sample_rate * tempo * rng.choice([1, 1, 2]))
        t = np.arange(min(length, num - time)) / sample_rate
        degrees = rng.choice(7, 3, replace=False)
        for degree in degrees:
            midi = root + scale[degree] + 12 * rng.integers(0, 2)
            f0 = 440.0 * 2 ** ((midi - 69) / 12)
            tone = sum(
                np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k
                for k in range(1, 7)
                if k * f0 < sample_rate / 2
            )
            out[time : time + len(t)] += tone * np.exp(-t * rng.uniform(2.0, 6.0))
        burst = min(len(t), int(0.03 * sample_rate))
        out[time : time + burst] += (
            0.5 * rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.005 * sample_rate))
        )
        time += length
    return out


def _clatter(rng, num, sample_rate=SAMPLE_RATE):
    """Sparse decaying noise bursts (dishes, keyboard, steps) over a low pink floor."""
    out = 0.05 * _shaped_noise(rng, num, lambda f: 1 / np.sqrt(f))
    out /= np.sqrt(np.mean(out**2)) + 1e-12
    out *= 0.05
    count = rng.poisson(3.0 * num / sample_rate)
    for start in rng.integers(0, num, count):
        length = int(rng.uniform(0.01, 0.12) * sample_rate)
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5))
        centre = rng.uniform(500, 6000)
        burst = np.convolve(
            burst, np.sin(2 * np.pi * centre * np.arange(16) / sample_rate) * np.hanning(16), "same"
        )
        stop = min(num, start + length)
        out[start:stop] += rng.uniform(0.3, 1.0) * burst[: stop - start]
    return out


def generate_noise(kind, rng, seconds=NOISE_SECONDS, sample_rate=SAMPLE_RATE):
    """One synthetic noise signal of a given type, normalised to an RMS of 0.1.

    Arguments
    ---------
    kind : str
        One of :data:`NOISE_TYPES`.
    rng : numpy.random.Generator
        Random source.
    seconds : float
        Duration.
    sample_rate : int
        Sample rate.

    Returns
    -------
    numpy.ndarray
        float32 signal ``[samples]``.

    Example
    -------
    >>> noise = generate_noise("pink", np.random.default_rng(0), seconds=1.0)
    >>> noise.shape, round(float(np.sqrt(np.mean(noise ** 2))), 3)
    ((16000,), 0.1)
    """
    num = int(seconds * sample_rate)
    if kind == "white":
        signal = rng.standard_normal(num)
    elif kind == "pink":
        signal = _shaped_noise(rng, num, lambda f: 1 / np.sqrt(f))
    elif kind == "brown":
        signal = _shaped_noise(rng, num, lambda f: 1 / np.maximum(f, 20.0))
    elif kind == "blue":
        signal = _shaped_noise(rng, num, np.sqrt)
    elif kind == "speech_shaped":
        # Shape of a long-term average speech spectrum: rising to ~500 Hz, then about
        # -9 dB per octave (no speech is used).
        signal = _shaped_noise(
            rng,
            num,
            lambda f: np.minimum(f / 500.0, 1.0) ** 1.5 * np.minimum(500.0 / f, 1.0) ** 1.5,
        )
    elif kind == "hum":
        t = np.arange(num) / sample_rate
        f0 = rng.choice([50.0, 60.0]) * (1 + rng.uniform(-0.005, 0.005))
        signal = sum(
            rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 20)
        )
        floor = _shaped_noise(rng, num, lambda f: 1 / np.sqrt(f))
        signal = signal / np.sqrt(np.mean(signal**2)) + 0.1 * floor / np.sqrt(np.mean(floor**2))
    elif kind == "modulated":
        base = _shaped_noise(rng, num, lambda f: 1 / np.maximum(f, 50.0) ** rng.uniform(0.5, 1.0))
        signal = base * (0.2 + _smooth_envelope(rng, num, rng.uniform(0.2, 2.0)))
    elif kind == "music":
        signal = _music(rng, num, sample_rate)
    elif kind == "clatter":
        signal = _clatter(rng, num, sample_rate)
    else:
        raise ValueError(f"unknown noise type {kind!r}; expected one of {NOISE_TYPES}")
    signal = signal - signal.mean()
    return (NOISE_RMS * signal / (np.sqrt(np.mean(signal**2)) + 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Simulated room impulse responses
# --------------------------------------------------------------------------------------------
def shoebox_rir(room, source, mic, rt60, sample_rate=SAMPLE_RATE):
    """Room impulse response of a shoebox room, simulated by pyroomacoustics (image sources).

    The wall absorption and the reflection order that give ``rt60`` follow from Sabine's
    formula (``pyroomacoustics.inverse_sabine``); the image-source model (Allen and Berkley,
    1979) is rendered with fractional delays in one thread, so the response is the same on
    every machine. It is kept up to ``1.2 * rt60`` (at least 0.25 s, at most 1.5 s; later
    reflections are 70 dB down) and normalised to a peak of 1.

    Arguments
    ---------
    room : sequence of float
        Room size (x, y, z) in metres.
    source, mic : sequence of float
        Positions in metres, inside the room.
    rt60 : float
        Reverberation time in seconds.
    sample_rate : int
        Sample rate.

    Returns
    -------
    numpy.ndarray
        float32 RIR.

    Example
    -------
    >>> rir = shoebox_rir([5, 4, 3], [1, 1, 1.5], [3.5, 2.5, 1.2], 0.4)
    >>> direct = np.linalg.norm([2.5, 1.5, -0.3]) / 343 * 16000  # samples
    >>> lag = pyroomacoustics.constants.get("frac_delay_length") // 2  # of the delay filters
    >>> int(np.argmax(np.abs(rir))) == round(direct) + lag, rir.shape, rir.dtype
    (True, (7680,), dtype('float32'))
    """
    absorption, max_order = pyroomacoustics.inverse_sabine(rt60, room)
    simulation = pyroomacoustics.ShoeBox(
        list(room),
        fs=sample_rate,
        materials=pyroomacoustics.Material(absorption),
        max_order=max_order,
    )
    simulation.add_source(list(source))
    simulation.add_microphone(list(mic))
    threads = pyroomacoustics.constants.get("num_threads")
    pyroomacoustics.constants.set("num_threads", 1)  # a fixed summation order: reproducible
    try:
        simulation.compute_rir()
    finally:
        pyroomacoustics.constants.set("num_threads", threads)
    rir = simulation.rir[0][0][: int(sample_rate * min(max(1.2 * rt60, 0.25), 1.5))]
    return (rir / np.max(np.abs(rir))).astype(np.float32)


def random_room(rng):
    """Draws a room size, source and microphone positions and an RT60.

    Arguments
    ---------
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    dict
        ``room``, ``source``, ``mic`` (metres) and ``rt60`` (seconds).
    """
    room = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 3.5])
    margin = 0.5
    while True:
        source = rng.uniform(margin, room - margin)
        mic = rng.uniform(margin, room - margin)
        source[2], mic[2] = rng.uniform(1.2, 1.9), rng.uniform(0.8, 1.6)
        if np.linalg.norm(source - mic) >= 0.7:
            break
    return {
        "room": room.tolist(),
        "source": source.tolist(),
        "mic": mic.tolist(),
        "rt60": float(rng.uniform(0.2, 0.8)),
    }


# --------------------------------------------------------------------------------------------
# Banks and CSV lists
# --------------------------------------------------------------------------------------------
def write_sb_csv(path, rows):
    """Writes a SpeechBrain extended CSV (``ID,duration,wav,wav_format,wav_opts``), unless
    the file already holds exactly these rows.

    Arguments
    ---------
    path : str or pathlib.Path
        Output file.
    rows : list of tuple
        ``(ID, wav path, duration in seconds)``.
    """
    lines = ["ID,duration,wav,wav_format,wav_opts"]
    lines += [f"{uid},{duration:.3f},{wav},wav," for uid, wav, duration in rows]
    text = "\n".join(lines) + "\n"
    if not Path(path).exists() or Path(path).read_text(encoding="utf-8") != text:
        with open_atomic(path) as handle:
            handle.write(text)


def read_sb_csv(path, replacements=None):
    """Reads ``ID`` and ``wav`` of a SpeechBrain extended CSV (noise or RIR list).

    Arguments
    ---------
    path : str or pathlib.Path
        The CSV file.
    replacements : dict, optional
        ``{key: value}``: ``$key`` in the fields is replaced with ``value``
        (``speechbrain.dataio.dataio.load_data_csv``).

    Returns
    -------
    list of tuple
        ``(ID, absolute wav path)``, in file order.
    """
    try:
        rows = load_data_csv(str(path), replacements or {})
    except KeyError as error:
        raise ValueError(
            f"{path}: {error.args[0]} (SpeechBrain CSV: ID,duration,wav,...)"
        ) from error
    if any("wav" not in row for row in rows.values()):
        raise ValueError(f"{path}: missing column 'wav' (SpeechBrain CSV: ID,duration,wav,...)")
    if not rows:
        raise ValueError(f"{path} lists no file")
    return [(uid, os.path.abspath(row["wav"])) for uid, row in rows.items()]


def build_noise_bank(folder, seed=0, per_type=2):
    """Generates the synthetic noises once; returns the path of their CSV list.

    Arguments
    ---------
    folder : str or pathlib.Path
        Output folder (``<folder>/noises.csv`` and the wavs).
    seed : int
        Seed of the bank.
    per_type : int
        Files per noise type.

    Returns
    -------
    pathlib.Path
        The CSV file.
    """
    folder = Path(folder)
    csv_path = folder / "noises.csv"
    rows = []
    for kind in NOISE_TYPES:
        for k in range(per_type):
            uid = f"{kind}_{k}"
            path = folder / f"{uid}.wav"
            if not path.exists():
                write_wav_atomic(
                    generate_noise(kind, seeded_rng(seed, "test-noise-bank", uid)),
                    path,
                    SAMPLE_RATE,
                )
            rows.append((uid, str(path.resolve()), NOISE_SECONDS))
    write_sb_csv(csv_path, rows)
    return csv_path


def build_rir_bank(folder, seed=0, count=40):
    """Simulates the RIRs once; returns the path of their CSV list (``rirs.csv``).

    The simulator and the room parameters of each RIR are in ``rooms.json``; RIRs of a bank
    made with another simulator or other rooms are simulated again.

    Arguments
    ---------
    folder : str or pathlib.Path
        Output folder.
    seed : int
        Seed of the bank.
    count : int
        Number of RIRs.

    Returns
    -------
    pathlib.Path
        The CSV file.
    """
    folder = Path(folder)
    rooms = {
        f"room{k:03d}": random_room(seeded_rng(seed, "test-rir-bank", f"room{k:03d}"))
        for k in range(count)
    }
    record = {"simulator": RIR_SIMULATOR, "rooms": rooms}
    record_path = folder / "rooms.json"
    stale = not record_path.exists() or read_json(record_path) != record
    rows = []
    for uid, room in rooms.items():
        path = folder / f"{uid}.wav"
        if stale or not path.exists():
            write_wav_atomic(shoebox_rir(**room), path, SAMPLE_RATE, subtype="FLOAT")
        rows.append((uid, str(path.resolve()), sf.info(str(path)).duration))
    write_json_atomic(record, record_path)  # last: a bank cut short is simulated again
    write_sb_csv(folder / "rirs.csv", rows)
    return folder / "rirs.csv"


def check_disjoint(noises, rirs, exclude_csvs, replacements=None):
    """Stops when a test noise or RIR also appears in a training augmentation list.

    Arguments
    ---------
    noises, rirs : list of tuple
        ``(ID, path)`` of the test lists.
    exclude_csvs : list of str
        SpeechBrain CSV lists used for training augmentation.
    replacements : dict, optional
        ``$key`` replacements of the CSVs.

    Raises
    ------
    ValueError
        On a shared ID or file.
    """
    excluded_ids, excluded_files = set(), set()
    for path in exclude_csvs or ():
        for uid, wav in read_sb_csv(path, replacements):
            excluded_ids.add(uid)
            excluded_files.add(os.path.realpath(wav))
    shared = [
        uid
        for uid, wav in list(noises) + list(rirs)
        if uid in excluded_ids or os.path.realpath(wav) in excluded_files
    ]
    if shared:
        raise ValueError(
            f"{len(shared)} test noise/RIR file(s) also used for training augmentation "
            f"(e.g. {shared[:5]}): the test conditions must be unseen"
        )


# --------------------------------------------------------------------------------------------
# Degradation
# --------------------------------------------------------------------------------------------
class _FixedReverb(AddReverb):
    """SpeechBrain's ``AddReverb`` with the RIR given per call instead of drawn from a CSV."""

    def __init__(self):
        super().__init__(csv_file=None)
        self.rir = None

    def _load_rir(self, waveforms):
        return self.rir.reshape(1, -1, 1).to(device=waveforms.device, dtype=waveforms.dtype)


def degrade(clean, rir, noise, snr):
    """Reverberates ``clean`` with ``rir`` and adds ``noise`` at ``snr`` dB (SpeechBrain mixing).

    Arguments
    ---------
    clean : torch.Tensor
        Clean speech ``[samples]``.
    rir : torch.Tensor
        Room impulse response ``[taps]``.
    noise : torch.Tensor
        Noise segment ``[samples]`` (same length as ``clean``).
    snr : float
        SNR in dB of the reverberant speech component to the noise component.

    Returns
    -------
    tuple
        ``(mixture, speech_component)``: ``mixture - speech_component`` is the noise
        component.

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> clean, noise = torch.randn(16000, generator=g), torch.randn(16000, generator=g)
    >>> rir = torch.tensor([1.0, 0.0, 0.5, 0.25])
    >>> mix, speech = degrade(clean, rir, noise, 12.5)
    >>> round(10 * math.log10(speech.pow(2).mean() / (mix - speech).pow(2).mean()), 4)
    12.5
    """
    reverb = _FixedReverb()
    reverb.rir = rir
    reverberant = reverb(clean[None, :])
    noisifier = AddNoise(
        snr_low=float(snr), snr_high=float(snr), noise_funct=lambda wav: noise[None, :].to(wav)
    )
    lengths = torch.ones(1)
    mixture = noisifier(reverberant, lengths)
    # AddNoise scales the speech by (1 - f) with f = 1 / (10^(SNR/20) + 1).
    factor = 1.0 / (10.0 ** (float(snr) / 20.0) + 1.0)
    return mixture[0], reverberant[0] * (1.0 - factor)


class _AudioCache:
    """Reads noise / RIR files once (mono, 16 kHz) and keeps the most recent ones."""

    def __init__(self, capacity=64):
        self.capacity = capacity
        self.items = {}

    def get(self, path):
        if path not in self.items:
            if len(self.items) >= self.capacity:
                self.items.pop(next(iter(self.items)))
            self.items[path] = load_audio(path, SAMPLE_RATE)
        return self.items[path]


def noise_segment(noise, offset, num):
    """``num`` samples of ``noise`` from ``offset``, looping when it is too short.

    Arguments
    ---------
    noise : torch.Tensor
        Noise signal ``[samples]``.
    offset : int
        Start sample.
    num : int
        Samples wanted.

    Returns
    -------
    torch.Tensor
        ``[num]``.

    Example
    -------
    >>> noise_segment(torch.arange(4.0), 3, 6).tolist()
    [3.0, 0.0, 1.0, 2.0, 3.0, 0.0]
    """
    index = (offset + torch.arange(num)) % noise.numel()
    return noise[index]


def parse_snr_range(text):
    """``"20-30"`` -> ``(20.0, 30.0)`` (also accepts a pair of numbers).

    Arguments
    ---------
    text : str or sequence
        The range.

    Returns
    -------
    tuple
        ``(low, high)`` in dB.

    Example
    -------
    >>> parse_snr_range("0-10"), parse_snr_range([-5, 5])
    ((0.0, 10.0), (-5.0, 5.0))
    """
    if isinstance(text, str):
        low, sep, high = text.partition("-")
        if low == "" and sep:  # negative low end: "-5-5"
            low, _, high = high.partition("-")
            low = "-" + low
        values = (float(low), float(high))
    else:
        values = tuple(float(v) for v in text)
    if len(values) != 2 or not values[0] <= values[1]:
        raise ValueError(f"an SNR range is 'low-high' with low <= high, got {text!r}")
    return values


def range_name(snr_range):
    """Manifest suffix of an SNR range: ``(20, 30)`` -> ``"snr20-30"``.

    Arguments
    ---------
    snr_range : tuple
        ``(low, high)``.

    Returns
    -------
    str
        The name.

    Example
    -------
    >>> range_name((0.0, 10.0)), range_name((2.5, 7.5))
    ('snr0-10', 'snr2.5-7.5')
    """
    return "snr" + "-".join(f"{v:g}" for v in snr_range)


def _file_digest(path):
    """SHA-1 of a file's bytes."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def make_noisy_sets(
    manifest,
    out_folder,
    snr_ranges=DEFAULT_SNR_RANGES,
    noise_csv=None,
    rir_csv=None,
    seed=0,
    replacements=None,
    exclude_csv=(),
    write_references=False,
    noises_per_type=2,
    num_rirs=40,
    progressbar=True,
):
    """Writes the degraded copies of a manifest's utterances, one manifest per SNR range.

    Arguments
    ---------
    manifest : str or pathlib.Path
        Clean SpeechBrain JSON manifest (``{utt: {"wav": ..., ...}}``).
    out_folder : str or pathlib.Path
        Output folder.
    snr_ranges : sequence
        ``(low, high)`` pairs or ``"low-high"`` strings, in dB.
    noise_csv, rir_csv : str, optional
        SpeechBrain CSV lists of noises and RIRs (``None``: generated ones).
    seed : int
        Seed of every random choice (with the utterance id).
    replacements : dict, optional
        ``$key`` replacements of the CSV lists.
    exclude_csv : sequence of str
        Training augmentation lists that must not share a file with the test lists.
    write_references : bool
        Also write the speech component of each mixture (float wav).
    noises_per_type, num_rirs : int
        Size of the generated banks.
    progressbar : bool
        Show a progress bar.

    Returns
    -------
    dict
        ``{"<split>_snr<lo>-<hi>": manifest path}``.
    """
    manifest, out_folder = Path(manifest).resolve(), Path(out_folder).resolve()
    split = manifest.stem
    ranges = [parse_snr_range(r) for r in snr_ranges]
    names = {r: f"{split}_{range_name(r)}" for r in ranges}
    paths = {names[r]: out_folder / f"{names[r]}.json" for r in ranges}
    if noise_csv is None:
        noise_csv = build_noise_bank(out_folder / f"noise_bank_seed{seed}", seed, noises_per_type)
    rir_csv_given = rir_csv
    if rir_csv is None:
        rir_csv = build_rir_bank(out_folder / f"rir_bank_seed{seed}", seed, num_rirs)
    noises = read_sb_csv(noise_csv, replacements)
    rirs = read_sb_csv(rir_csv, replacements)
    check_disjoint(noises, rirs, exclude_csv, replacements)
    options = {
        "version": OPTIONS_VERSION,
        "manifest_sha1": _file_digest(manifest),  # content, not path: experiments share the sets
        "snr_ranges": [list(r) for r in ranges],
        "noises": [list(item) for item in noises],
        "rirs": [list(item) for item in rirs],
        "seed": int(seed),
        "write_references": bool(write_references),
        "rir_simulator": RIR_SIMULATOR if rir_csv_given is None else None,
    }
    options_path = out_folder / f"{split}_noisy_options.json"
    if options_path.exists() and read_json(options_path) == options:
        if all(path.exists() for path in paths.values()):
            logger.info("Noisy copies of %s are up to date in %s", manifest, out_folder)
            return {name: str(path) for name, path in paths.items()}
    # New or changed options: start the sets afresh.
    for name, path in paths.items():
        path.unlink(missing_ok=True)
        for folder in (out_folder / name, out_folder / f"{name}_reference"):
            shutil.rmtree(folder, ignore_errors=True)
    options_path.unlink(missing_ok=True)
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    audio = _AudioCache()
    outputs = {r: {} for r in ranges}
    logger.info(
        "Writing %d x %d degraded utterances of %s into %s",
        len(entries),
        len(ranges),
        manifest,
        out_folder,
    )
    for utt, entry in tqdm(sorted(entries.items()), desc=f"noisy {split}", disable=not progressbar):
        clean = load_audio(entry["wav"], SAMPLE_RATE)
        choice = seeded_rng(seed, utt, "rir-noise")
        rir_id, rir_file = rirs[int(choice.integers(len(rirs)))]
        noise_id, noise_file = noises[int(choice.integers(len(noises)))]
        noise = audio.get(noise_file)
        offset = int(choice.integers(noise.numel()))
        segment = noise_segment(noise, offset, clean.numel())
        rir = audio.get(rir_file)
        for snr_range in ranges:
            name = names[snr_range]
            snr = float(seeded_rng(seed, utt, name).uniform(*snr_range))
            mixture, speech = degrade(clean, rir, segment, snr)
            peak = float(mixture.abs().max())
            gain = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
            wav = out_folder / name / f"{utt}.wav"
            write_wav_atomic((mixture * gain).numpy(), wav, SAMPLE_RATE)
            if write_references:
                reference = out_folder / f"{name}_reference" / f"{utt}.wav"
                write_wav_atomic((speech * gain).numpy(), reference, SAMPLE_RATE, subtype="FLOAT")
            outputs[snr_range][utt] = {
                **entry,
                "wav": str(wav),
                "clean_wav": entry["wav"],
                "noise": noise_id,
                "noise_file": noise_file,
                "noise_offset": offset,
                "rir": rir_id,
                "rir_file": rir_file,
                "snr": snr,
                "snr_range": list(snr_range),
                "gain": gain,
            }
    for snr_range in ranges:
        write_json_atomic(outputs[snr_range], paths[names[snr_range]])
    write_json_atomic(options, options_path)
    return {name: str(path) for name, path in paths.items()}


def parse_args(argv):
    """Command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--manifest", required=True, help="clean SpeechBrain JSON manifest (e.g. test1.json)"
    )
    parser.add_argument("--out_folder", required=True)
    parser.add_argument(
        "--noise_csv", default=None, help="SpeechBrain CSV of noises (default: generated)"
    )
    parser.add_argument(
        "--rir_csv", default=None, help="SpeechBrain CSV of RIRs (default: simulated)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snr_ranges", nargs="+", default=["20-30", "10-20", "0-10"])
    parser.add_argument(
        "--replacements", nargs="*", default=[], help="key=value: $key in the CSVs -> value"
    )
    parser.add_argument(
        "--exclude_csv", nargs="*", default=[], help="training augmentation lists to keep disjoint"
    )
    parser.add_argument(
        "--write_references", action="store_true", help="also write the speech components"
    )
    parser.add_argument("--noises_per_type", type=int, default=2)
    parser.add_argument("--num_rirs", type=int, default=40)
    parser.add_argument("--noprogressbar", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    """Command line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    replacements = dict(item.split("=", 1) for item in args.replacements)
    written = make_noisy_sets(
        args.manifest,
        args.out_folder,
        snr_ranges=args.snr_ranges,
        noise_csv=args.noise_csv,
        rir_csv=args.rir_csv,
        seed=args.seed,
        replacements=replacements,
        exclude_csv=args.exclude_csv,
        write_references=args.write_references,
        noises_per_type=args.noises_per_type,
        num_rirs=args.num_rirs,
        progressbar=not args.noprogressbar,
    )
    for name, path in written.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
