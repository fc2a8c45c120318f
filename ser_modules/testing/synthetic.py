"""Small synthetic IEMOCAP and MSP-Podcast corpora, in the on-disk format of the real releases.

The corpora hold real speech synthesised with espeak-ng, in which the emotion is rendered in
the prosody, so that the recipes of this collection can be run and tested end to end without
the licensed corpora, and so that a model trained on them can actually learn something.

Command line::

    python -m ser_modules.testing.synthetic iemocap --out DIR [--seed S] [--per-speaker N]
    python -m ser_modules.testing.synthetic msp-podcast --out DIR [--release 1.11|1.6] \
        [--seed S] [--size N]

(both also take ``--workers W``, default all cores, and ``--no-progress``). Defaults: 40
utterances per speaker (400 IEMOCAP turns) and 500 MSP-Podcast segments, each generated in
well under a minute on 2 cores.

Python: :func:`generate_iemocap` and :func:`generate_msp_podcast`. Generation is
deterministic for a seed (on one espeak-ng install) and idempotent: the options are recorded
in a marker file beside the release folder (``<out>/.synthetic_iemocap.json``,
``<out>/.synthetic_msp_podcast.json``); a second call with the same options returns at once,
a call with other options regenerates the corpus. A release folder without a marker (e.g. a
real corpus) is never overwritten.

IEMOCAP layout (``<out>/IEMOCAP_full_release``)
-----------------------------------------------
``Session1`` .. ``Session5``, two speakers each (``F`` and ``M``; each a different espeak-ng
voice)::

    SessionK/sentences/wav/<dialog>/<utt>.wav        16 kHz mono PCM16, one per turn
    SessionK/dialog/EmoEvaluation/<dialog>.txt       labels (format below)
    SessionK/dialog/EmoEvaluation/Categorical/<dialog>_e<N>_cat.txt   per categorical evaluator
    SessionK/dialog/EmoEvaluation/Attribute/<dialog>_e<N>_atr.txt     per attribute evaluator
    SessionK/dialog/EmoEvaluation/Self-evaluation/<dialog>_<F|M>_self.txt
    SessionK/dialog/transcriptions/<dialog>.txt      "<utt> [006.2901-008.2357]: <text>"

Dialogs are improvised (``Ses01F_impro01``, ``Ses01M_impro01``, ...) or scripted
(``Ses01F_script01_1``, ``Ses01M_script01_2``, ...; the lines of a script are the same in every
session, as in the real corpus); utterances are ``<dialog>_F000``, ``<dialog>_M000``, ... An
EmoEvaluation file reads::

    % [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]
    <blank>
    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.0000, 2.5000]
    C-E2:<TAB>Neutral state;<TAB>()
    C-E3:<TAB>Neutral state; Frustration;<TAB>()
    C-E5:<TAB>Sadness;<TAB>(slightly)
    C-F1:<TAB>Neutral state;<TAB>()
    A-E3:<TAB>val 3; act 2; dom  2;<TAB>()
    A-E5:<TAB>val 2; act 2; dom  3;<TAB>()
    A-F1:<TAB>val 3; act 2; dom  2;<TAB>()
    <blank>
    [9.1020 - 11.4870]<TAB>Ses01F_impro01_M000<TAB>...

The turn-line label is the majority (more than half) of the ``C-E*`` evaluators, ``xxx`` when
there is none; ``C-F1``/``C-M1`` and ``A-F1``/``A-M1`` are the speaker's self-evaluation (in
about half of the dialogs) and count for nothing. ``[V, A, D]`` is the mean of the ``A-E*``
ratings (1..5). Turn times are consecutive within a dialog and ``end - start`` is the duration
of the wav. Labels: ``neu hap exc ang sad`` (the four-class recipes keep these, merging
``exc`` into ``hap``; ``exc`` is rendered as a stronger ``hap``) and ``fru sur fea oth xxx``,
which a recipe must exclude. Decoys found in the real release are added to each session: an
AppleDouble ``._<dialog>.txt`` (binary) in ``EmoEvaluation/``, an AppleDouble ``._<utt>.wav``
(not a wav) in ``sentences/wav/<dialog>/``, a dialog-level stereo wav in ``dialog/wav/`` and
``sentences/ForcedAlignment/<dialog>/<utt>.wdseg``: preparation code must read the evaluation
files and skip hidden files, not glob wavs.

MSP-Podcast layout (``<out>/MSP-Podcast``)
------------------------------------------
Release 1.11::

    Audios/MSP-PODCAST_<podcast:04d>_<segment:04d>.wav   16 kHz mono PCM16
    Audios/MSP-PODCAST_test3_<n:04d>.wav                 a few unlabelled Test3-like files
    Labels/labels_consensus.csv    FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Labels/labels_consensus.json   {"<FileName>": {"EmoClass", "EmoAct", ...}}
    Labels/labels_detailed.csv     FileName,EmoDetail  (one row per file and rater)
    Transcripts/<utt>.txt          one line

    Previous_releases_information/Partitions_1.3.txt   release 1.3 partitions (see below)

``Split_Set`` is ``Train``, ``Development``, ``Test1`` or ``Test2`` (split by podcast);
``SpkrID`` is an integer or ``Unknown`` (then ``Gender`` is ``Unknown`` too); ``EmoClass`` is
one of ``N H A S U F D C O`` or ``X`` (no strict majority of the raters' primary emotions).
``EmoDetail`` is ``"WORKER00012345; Angry; Angry,Frustrated; A:5.0; V:2.0; D:5.0;"``; the
secondary field is sometimes empty (``Neutral; ; A:...``) and sometimes missing
(``Neutral; A:...``). Each file has 5 to 8 raters with integer ratings 1..7; the consensus
``EmoAct``/``EmoVal``/``EmoDom`` is the plain mean of the raters' ratings, written rounded to 6
decimals as in the real files (``3.777778``, ``4.125``, ``4.0``).

Release 1.6::

    Audio/MSP-PODCAST_*.wav
    Partitions.txt                 "Train; MSP-PODCAST_0023_0048.wav" (Train, Validation, Test1)
    Labels/labels_concensus.csv    (sic) same columns as above
    Labels/labels_detailed.json    {"<FileName>": {"WORKER...": {"EmoClass_Major",
                                    "EmoClass_Second", "EmoAct", "EmoVal", "EmoDom"}}}

    Previous_releases_information/Partitions_1.3.txt

(no ``Transcripts/``: whether v1.6 shipped transcripts is unverified.)

Both releases carry the partitions of an earlier, smaller release 1.3, in the *expected*
format of ``recipes/MSP-Podcast/msp_podcast_prepare.py`` (the name and content of the file in
the real ``Previous_releases_information/`` folder are not verified):
``Previous_releases_information/Partitions_1.3.txt``, ``"<Split>; <FileName>"`` lines as in
``Partitions.txt``, with ``Train``, ``Validation`` and ``Test``. Release 1.3 holds about 60% of
the podcasts of each partition (at least one), whole podcasts: its ``Test`` (Eval1.3) is a
subset of ``Test1`` (Eval1.6), as in the real releases.

Rendering
---------
Every utterance gets a latent arousal/valence/dominance (for IEMOCAP, a per-category prototype
plus noise), rendered through espeak-ng SSML and post-processing: arousal raises speaking rate,
pitch level, loudness and vocal effort (spectral tilt) and shortens pauses; valence widens the
pitch range and makes the final phrase rise (falls when negative); dominance raises loudness
and lowers the pitch. Speakers have their own voice and baseline, and every parameter gets
per-utterance noise, so the task is learnable but not trivial. Raters' votes are drawn around
the latent with a per-utterance disagreement level. Some improvised IEMOCAP turns and MSP
segments carry an emotion-tinted phrase ("This is ridiculous!"), so text carries a weak cue.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ser_modules.utils.constants import RATING_SCALE, SAMPLE_RATE

GENERATOR_VERSION = 1
MSP_GENERATOR_VERSION = 2  # 2: Previous_releases_information/Partitions_1.3.txt
ESPEAK_BINARY = "espeak-ng"
IEMOCAP_DIRNAME = "IEMOCAP_full_release"
MSP_DIRNAME = "MSP-Podcast"
IEMOCAP_MARKER = ".synthetic_iemocap.json"
MSP_MARKER = ".synthetic_msp_podcast.json"
MSP_RELEASES = ("1.11", "1.6")
BASE_GAIN_DB = -7.0  # headroom: espeak-ng peaks near 0.75 full scale

# --------------------------------------------------------------------------------------------
# Voices (espeak-ng accents x variants; mbrola voices are avoided: they need extra packages)
# --------------------------------------------------------------------------------------------
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "steph")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "adam", "Alex", "benjamin", "caleb")


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: an espeak-ng voice and its baseline prosody offsets."""

    name: str
    gender: str  # "F" or "M"
    voice: str  # e.g. "en-gb+f3"
    pitch: float  # % offset of the pitch level
    range: float  # % offset of the pitch range
    rate: float  # multiplicative factor of the speaking rate
    gain_db: float


def make_speaker(name: str, gender: str, variant: str, rng: np.random.Generator) -> Speaker:
    """Draw a speaker with the given espeak-ng variant, a random accent and baseline.

    Example:
        >>> spk = make_speaker("Ses01F", "F", "f2", np.random.default_rng(0))
        >>> spk.voice.endswith("+f2"), spk.gender
        (True, 'F')
    """
    accent = ACCENTS[rng.integers(len(ACCENTS))]
    return Speaker(
        name=name,
        gender=gender,
        voice=f"{accent}+{variant}",
        pitch=float(rng.normal(0.0, 8.0)),
        range=float(rng.normal(0.0, 10.0)),
        rate=float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)),
        gain_db=float(rng.normal(0.0, 1.5)),
    )


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------
SUBJECTS = (
    "I",
    "We",
    "They",
    "You",
    "My sister",
    "My brother",
    "Our neighbor",
    "The manager",
    "Your friend",
    "The kids",
    "My mother",
    "Everyone at work",
    "The landlord",
    "Our teacher",
    "The doctor",
    "My roommate",
)
VERBS_PAST = (
    "found",
    "bought",
    "lost",
    "fixed",
    "sold",
    "borrowed",
    "cleaned",
    "moved",
    "forgot",
    "brought",
    "returned",
    "ordered",
    "checked",
    "packed",
    "hid",
    "dropped",
)
VERBS_BASE = (
    "find",
    "buy",
    "fix",
    "sell",
    "clean",
    "move",
    "bring",
    "return",
    "check",
    "pack",
    "hide",
    "pick up",
    "carry",
    "keep",
    "look for",
    "take back",
)
OBJECTS = (
    "the old car",
    "a new phone",
    "the red jacket",
    "my keys",
    "the kitchen table",
    "a ticket to Boston",
    "the letters",
    "your bicycle",
    "the garden chairs",
    "the umbrella",
    "the blue suitcase",
    "those books",
    "the camera",
    "a small boat",
    "the wedding photos",
    "the laptop",
    "the tickets for Friday",
    "the groceries",
)
TIMES = (
    "yesterday",
    "last night",
    "this morning",
    "on Monday",
    "two weeks ago",
    "after lunch",
    "before the meeting",
    "over the weekend",
    "last summer",
    "an hour ago",
)
PLACES = (
    "the station",
    "the airport",
    "the office",
    "the beach",
    "the hospital",
    "the market",
    "the library",
    "the parking lot",
    "your place",
    "the restaurant",
    "the museum",
    "the hotel",
)
EVENTS = ("the meeting", "dinner", "the game", "the party", "class", "work", "the interview")
INTERJECTIONS = ("Well", "Listen", "You know", "Honestly", "Look", "So", "Okay")
SHORT_TURNS = ("Yeah.", "I know.", "Okay, fine.", "What do you mean?", "Sure.", "No, not really.")

TINT_PHRASES = {
    "neu": ("Okay.", "I see.", "Alright then.", "That makes sense."),
    "hap": ("That's really nice.", "I'm so glad.", "Oh, that's lovely.", "I love that."),
    "exc": ("This is amazing!", "Wow, we did it!", "I can't wait!", "That's fantastic!"),
    "ang": ("This is ridiculous!", "Don't you dare!", "I'm sick of this!", "Get out of here!"),
    "sad": (
        "I miss her so much.",
        "It's all gone now.",
        "I don't know what to do.",
        "Nobody cares anyway.",
    ),
    "fru": ("This never works.", "Whatever.", "Why is it always me?", "I give up."),
    "sur": ("Really?", "No way!", "Are you serious?", "I can't believe it!"),
    "fea": ("I'm scared.", "Please, help me.", "Something is wrong."),
    "dis": ("That's disgusting.", "Ugh, gross."),
    "oth": ("Hmm.", "Interesting."),
}


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[rng.integers(len(items))]


def _lower_subject(subject: str) -> str:
    return subject if subject == "I" else subject[0].lower() + subject[1:]


def make_sentence(rng: np.random.Generator) -> list[str]:
    """Draw one English sentence from a small grammar, as a list of phrases.

    The phrases are spoken with a pause between them; joined with spaces they give the
    transcript.

    Example:
        >>> phrases = make_sentence(np.random.default_rng(3))
        >>> isinstance(phrases, list) and all(isinstance(p, str) for p in phrases)
        True
        >>> " ".join(phrases)[-1] in ".?!"
        True
    """
    s, v, b = _pick(rng, SUBJECTS), _pick(rng, VERBS_PAST), _pick(rng, VERBS_BASE)
    o, t, p, e = _pick(rng, OBJECTS), _pick(rng, TIMES), _pick(rng, PLACES), _pick(rng, EVENTS)
    sl = _lower_subject(s)
    templates = (
        lambda: [f"{s} {v} {o} {t}."],
        lambda: [f"Did you {b} {o} {t}?"],
        lambda: [f"{t[0].upper() + t[1:]},", f"{sl} {v} {o} at {p}."],
        lambda: ["Can you tell me", f"where {p} is?"],
        lambda: [f"{s} called me {t}", f"from {p}."],
        lambda: [f"We were supposed to meet at {p}", f"{t}."],
        lambda: [f"I think {sl} should {b} {o}", f"before {e}."],
        lambda: [f"We have to {b} {o}", "or we will be late."],
        lambda: [f"{_pick(rng, INTERJECTIONS)},", f"{sl} {v} {o}."],
        lambda: [f"Why didn't {sl} {b} {o}?"],
        lambda: ["I told you", f"that {sl} {v} {o} {t}."],
        lambda: [f"If you {b} {o},", f"I will meet you at {p}."],
        lambda: [f"Where did {sl} put {o}?"],
        lambda: [f"{s} will {b} {o} tomorrow,", f"and then we can go to {p}."],
        lambda: [f"Let's {b} {o}", f"after {e}."],
        lambda: [f"It was {t}", f"when {sl} {v} {o}."],
    )
    return templates[rng.integers(len(templates))]()


def make_sentence_pool(rng: np.random.Generator, size: int) -> list[list[str]]:
    """A pool of ``size`` generated sentences (lists of phrases), some of them repeated.

    Example:
        >>> pool = make_sentence_pool(np.random.default_rng(0), 50)
        >>> len(pool), len({" ".join(s) for s in pool}) > 40
        (50, True)
    """
    return [make_sentence(rng) for _ in range(size)]


# --------------------------------------------------------------------------------------------
# Prosody: latent arousal/valence/dominance (each in [-1, 1]) -> espeak-ng SSML + post-processing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prosody:
    """How one utterance is rendered (SSML values in %, post-processing in dB / seconds)."""

    pitch: float
    range: float
    rate: float
    final_pitch: float
    pause_ms: int
    gain_db: float
    tilt: float
    lead_s: float
    trail_s: float
    noise_db: float
    noise_seed: int


def render_prosody(avd: Sequence[float], speaker: Speaker, rng: np.random.Generator) -> Prosody:
    """Map a latent (arousal, valence, dominance) in [-1, 1] to rendering parameters.

    Arousal -> rate, pitch level, loudness, vocal effort (tilt), shorter pauses; valence ->
    pitch range and a rising (or falling) final phrase; dominance -> loudness, lower pitch.
    Every parameter gets per-utterance noise.

    Example:
        >>> spk = Speaker("s", "F", "en-us+f1", 0.0, 0.0, 1.0, 0.0)
        >>> calm = render_prosody((-0.8, -0.6, -0.6), spk, np.random.default_rng(0))
        >>> aroused = render_prosody((0.8, 0.6, 0.6), spk, np.random.default_rng(0))
        >>> calm.rate < aroused.rate and calm.gain_db < aroused.gain_db
        True
    """
    a, v, d = (float(x) for x in avd)
    n = rng.normal
    return Prosody(
        pitch=float(np.clip(speaker.pitch + 22 * a + 8 * v - 12 * d + n(0, 5), -50, 90)),
        range=float(np.clip(speaker.range + 75 * v + 25 * a + n(0, 12), -85, 180)),
        rate=float(np.clip(100 * speaker.rate * (1 + 0.22 * a + n(0, 0.05)), 60, 170)),
        final_pitch=float(18 * v + n(0, 5)),
        pause_ms=int(np.clip(200 - 170 * a + n(0, 50), 20, 700)),
        gain_db=float(np.clip(speaker.gain_db + 4.5 * a + 3.5 * d + n(0, 1.5), -12, 10)),
        tilt=float(np.clip(0.25 + 0.3 * a + 0.1 * d + n(0, 0.05), 0.0, 0.8)),
        lead_s=float(rng.uniform(0.05, 0.35)),
        trail_s=float(rng.uniform(0.05, 0.35)),
        noise_db=float(rng.uniform(-70, -55)),
        noise_seed=int(rng.integers(2**31)),
    )


def build_ssml(phrases: Sequence[str], prosody: Prosody) -> str:
    """SSML for espeak-ng: one ``<prosody>`` per phrase (pitch moving towards the final
    contour), ``<break>`` between phrases.

    Example:
        >>> p = Prosody(10, 50, 110, 8, 300, 0, 0.2, 0.1, 0.1, -60, 0)
        >>> print(build_ssml(["Hello,", "Tom & Jerry."], p).replace("> <", ">\\n<"))
        <speak><prosody pitch="+10%" range="+50%" rate="110%">Hello,</prosody>
        <break time="300ms"/>
        <prosody pitch="+18%" range="+50%" rate="110%">Tom &amp; Jerry.</prosody></speak>
    """
    parts = []
    last = len(phrases) - 1
    for i, phrase in enumerate(phrases):
        share = i / last if last else 0.5
        pitch = max(-60.0, prosody.pitch + prosody.final_pitch * share)
        parts.append(
            f'<prosody pitch="{pitch:+.0f}%" range="{prosody.range:+.0f}%" '
            f'rate="{prosody.rate:.0f}%">{escape(phrase)}</prosody>'
        )
        if i < last:
            parts.append(f'<break time="{prosody.pause_ms}ms"/>')
    return "<speak>" + " ".join(parts) + "</speak>"


# --------------------------------------------------------------------------------------------
# Synthesis (espeak-ng -> 16 kHz mono PCM16), in a process pool
# --------------------------------------------------------------------------------------------
def find_espeak() -> str:
    """Path of the espeak-ng binary; a clear error when it is not installed.

    Example:
        >>> Path(find_espeak()).name
        'espeak-ng'
    """
    path = shutil.which(ESPEAK_BINARY)
    if path is None:
        raise RuntimeError(
            "espeak-ng was not found on PATH: the synthetic corpora are synthesised with it. "
            "Install it with `apt-get install espeak-ng` (Debian/Ubuntu; `brew install "
            "espeak-ng` on macOS), or run `make setup`."
        )
    return path


@dataclass(frozen=True)
class SynthesisJob:
    """Everything a worker needs to write one wav file."""

    path: str
    voice: str
    ssml: str
    prosody: Prosody


def espeak_waveform(espeak: str, voice: str, ssml: str) -> tuple[np.ndarray, int]:
    """Synthesise SSML with espeak-ng; returns (float waveform, sample rate)."""
    proc = subprocess.run(
        [espeak, "-m", "-v", voice, "--stdout", ssml], capture_output=True, check=False
    )
    out = proc.stdout
    if proc.returncode != 0 or len(out) < 46 or out[:4] != b"RIFF":
        message = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {message}")
    rate = struct.unpack("<I", out[24:28])[0]  # the streamed header has no valid sizes
    samples = np.frombuffer(out[44 : 44 + (len(out) - 44) // 2 * 2], dtype="<i2")
    return samples.astype(np.float64) / 32768.0, rate


def post_process(wave: np.ndarray, rate: int, prosody: Prosody) -> np.ndarray:
    """Resample to 16 kHz, apply vocal effort (tilt) and gain, pad with silence, add noise."""
    from scipy.signal import resample_poly  # slow to import: only when synthesising

    divisor = math.gcd(SAMPLE_RATE, rate)
    wave = resample_poly(wave, SAMPLE_RATE // divisor, rate // divisor)
    wave = wave + prosody.tilt * np.diff(wave, prepend=wave[:1])
    wave = wave * 10 ** ((BASE_GAIN_DB + prosody.gain_db) / 20)
    lead, trail = int(prosody.lead_s * SAMPLE_RATE), int(prosody.trail_s * SAMPLE_RATE)
    wave = np.concatenate([np.zeros(lead), wave, np.zeros(trail)])
    noise = np.random.default_rng(prosody.noise_seed).standard_normal(len(wave))
    wave = wave + 10 ** (prosody.noise_db / 20) * noise
    return np.clip(wave, -1.0, 32767 / 32768)


def synthesize_job(job: SynthesisJob) -> tuple[str, int]:
    """Worker: write one wav file; returns (path, number of samples)."""
    wave, rate = espeak_waveform(find_espeak(), job.voice, job.ssml)
    wave = post_process(wave, rate, job.prosody)
    sf.write(job.path, wave, SAMPLE_RATE, subtype="PCM_16")
    return job.path, len(wave)


def run_jobs(
    jobs: Sequence[SynthesisJob], desc: str, workers: int | None, progress: bool
) -> dict[str, int]:
    """Synthesise all jobs with a pool of ``workers`` processes (default: all cores)."""
    workers = workers or os.cpu_count() or 1
    results: dict[str, int] = {}
    bar = tqdm(total=len(jobs), desc=desc, unit="utt", disable=not progress)
    if workers == 1 or len(jobs) < 8:
        for job in jobs:
            path, n = synthesize_job(job)
            results[path] = n
            bar.update()
    else:
        import scipy.signal  # noqa: F401  (imported once here, inherited by forked workers)

        with multiprocessing.Pool(workers) as pool:
            for path, n in pool.imap_unordered(synthesize_job, jobs, chunksize=4):
                results[path] = n
                bar.update()
    bar.close()
    return results


# --------------------------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------------------------
def allocate_counts(shares: dict[str, float], total: int) -> dict[str, int]:
    """Split ``total`` items by ``shares`` (largest remainder), keeping the key order.

    Example:
        >>> allocate_counts({"a": 0.5, "b": 0.3, "c": 0.2}, 9)
        {'a': 4, 'b': 3, 'c': 2}
    """
    weight = sum(shares.values())
    exact = {k: total * s / weight for k, s in shares.items()}
    counts = {k: int(math.floor(x)) for k, x in exact.items()}
    by_remainder = sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def allocate_at_least_one(shares: dict[str, float], total: int) -> dict[str, int]:
    """Like :func:`allocate_counts`, but every key gets at least one item.

    Example:
        >>> allocate_at_least_one({"Train": 0.55, "Dev": 0.15, "Test1": 0.18, "Test2": 0.12}, 5)
        {'Train': 2, 'Dev': 1, 'Test1': 1, 'Test2': 1}
    """
    if total < len(shares):
        raise ValueError(f"cannot give one of {total} items to each of {len(shares)} groups")
    rest = allocate_counts(shares, total - len(shares))
    return {k: n + 1 for k, n in rest.items()}


def format_mean(value: float) -> str:
    """A consensus value as the real MSP-Podcast label files write it (rounded to 6 decimals).

    Example:
        >>> format_mean(34 / 9), format_mean(4.125), format_mean(4)
        ('3.777778', '4.125', '4.0')
    """
    return repr(round(float(value), 6))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def apple_double_bytes(name: str) -> bytes:
    """Bytes of a small macOS AppleDouble (``._name``) file, as found in the real releases."""
    header = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", 2)
    entries = struct.pack(">III", 9, 50, 32) + struct.pack(">III", 2, 82, 286)
    finder = b"TEXTR*ch" + bytes(24)
    attrs = b"ATTR\x00\x00\x00\x00com.apple.quarantine\x00q/0081;5d3f1b2a;Safari;\xb0\xf1\x8c"
    body = header + entries + finder + attrs + name.encode()
    return body + bytes(max(0, 1024 - len(body)))


def marker_matches(marker: Path, options: dict, release_dir: Path) -> bool:
    """Whether ``release_dir`` was generated with exactly ``options``."""
    if not (marker.is_file() and release_dir.is_dir()):
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("options") == options
    except (ValueError, OSError):
        return False


def prepare_staging(out_dir: Path, release_name: str, marker: Path) -> Path:
    """Empty staging folder for a new corpus; refuses to touch a release it did not write."""
    out_dir.mkdir(parents=True, exist_ok=True)
    release = out_dir / release_name
    if release.exists() and not marker.exists():
        raise FileExistsError(
            f"{release} exists but was not generated by ser_modules.testing.synthetic (no"
            f" {marker.name} beside it): refusing to overwrite it. Choose another --out."
        )
    staging = out_dir / f".{release_name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def publish(staging: Path, release: Path, marker: Path, options: dict, stats: dict) -> None:
    """Replace the release folder by the staging folder, then write the marker."""
    if marker.exists():
        marker.unlink()
    if release.exists():
        shutil.rmtree(release)
    staging.rename(release)
    payload = {"generator": "ser_modules.testing.synthetic", "options": options, "stats": stats}
    marker.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def log(message: str) -> None:
    print(f"[synthetic] {message}", file=sys.stderr, flush=True)


def generate_once(out_dir, release_name: str, marker_name: str, options: dict, title: str, write):
    """Generates a release in ``<out_dir>/<release_name>`` unless it is there with ``options``.

    The release is written into a staging folder by ``write(staging)``, which returns the
    count of what it generated (e.g. ``"40 utterances"``) and the statistics of the marker;
    the staging folder then replaces the release (see :func:`publish`).

    Example:
        >>> import tempfile, shutil
        >>> out = tempfile.mkdtemp()
        >>> def write(staging):
        ...     _ = (staging / "a.txt").write_text("a")
        ...     return "1 file", {"files": 1}
        >>> root = generate_once(out, "R", ".r.json", {"seed": 0}, "R", write)
        >>> [p.name for p in root.iterdir()]
        ['a.txt']
        >>> generate_once(out, "R", ".r.json", {"seed": 0}, "R", None) == root  # already there
        True
        >>> shutil.rmtree(out)
    """
    out_dir = Path(out_dir)
    release = out_dir / release_name
    marker = out_dir / marker_name
    if marker_matches(marker, options, release):
        log(f"{title} up to date, skipping: {release}")
        return release
    find_espeak()
    started = time.perf_counter()
    staging = prepare_staging(out_dir, release_name, marker)
    count, stats = write(staging)
    publish(staging, release, marker, options, stats)
    log(f"{title}: {count} generated in {time.perf_counter() - started:.1f} s -> {release}")
    return release


# --------------------------------------------------------------------------------------------
# IEMOCAP
# --------------------------------------------------------------------------------------------
IEMOCAP_NAMES = {
    "neu": "Neutral state",
    "hap": "Happiness",
    "exc": "Excited",
    "ang": "Anger",
    "sad": "Sadness",
    "fru": "Frustration",
    "sur": "Surprise",
    "fea": "Fear",
    "dis": "Disgust",
    "oth": "Other",
}
# Share of each majority label (xxx: no majority) in a generated corpus.
IEMOCAP_OUTCOME_SHARES = {
    "neu": 0.20,
    "hap": 0.08,
    "exc": 0.12,
    "ang": 0.14,
    "sad": 0.14,
    "fru": 0.12,
    "sur": 0.03,
    "fea": 0.01,
    "oth": 0.02,
    "xxx": 0.14,
}
IEMOCAP_PROTOTYPES = {  # latent (arousal, valence, dominance) in [-1, 1]
    "neu": (-0.15, 0.05, 0.0),
    "hap": (0.3, 0.65, 0.15),
    "exc": (0.7, 0.85, 0.35),
    "ang": (0.75, -0.7, 0.7),
    "sad": (-0.75, -0.65, -0.6),
    "fru": (0.3, -0.5, 0.3),
    "sur": (0.6, 0.35, -0.1),
    "fea": (0.45, -0.6, -0.65),
    "dis": (0.15, -0.7, 0.35),
}
IEMOCAP_CONFUSABLE = {
    "neu": ("fru", "sad", "hap", "oth"),
    "hap": ("exc", "neu", "sur"),
    "exc": ("hap", "sur", "neu"),
    "ang": ("fru", "dis", "exc"),
    "sad": ("neu", "fru", "fea"),
    "fru": ("ang", "neu", "sad"),
    "sur": ("exc", "hap", "fea"),
    "fea": ("sad", "sur", "fru"),
    "dis": ("ang", "fru"),
    "oth": ("neu", "fru", "hap"),
}
CATEGORICAL_COMMENTS = ("mainly question", "slightly", "mixed", "not sure", "short turn")
ATTRIBUTE_COMMENTS = ("mainly question", "hard to judge", "short turn", "not sure")
IEMOCAP_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
SCRIPT_PARTS = ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 1), (3, 2))


@dataclass
class Turn:
    """One IEMOCAP turn: its audio rendering and its evaluations."""

    utt: str
    speaker: Speaker
    phrases: list[str]
    label: str  # majority of the categorical evaluators, "xxx" if none
    rendered: str  # the emotion actually rendered
    avd: tuple[float, float, float]  # latent (arousal, valence, dominance) in [-1, 1]
    categorical: list[tuple[str, list[str], str]]  # (evaluator, label codes, comment)
    attribute: list[tuple[str, tuple[int, int, int], str]]  # (evaluator, (val, act, dom), c.)
    prosody: Prosody
    duration: float = 0.0
    start: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.phrases)

    @property
    def vad_mean(self) -> tuple[float, float, float]:
        ratings = np.array([r for ev, r, _ in self.attribute if ev.startswith("E")], float)
        return tuple(float(x) for x in ratings.mean(axis=0))


@dataclass
class Dialog:
    """One IEMOCAP dialog: session folder, name and turns in time order."""

    session: int
    name: str
    cat_evaluators: list[str]
    attr_evaluators: list[str]
    self_evaluated: bool
    turns: list[Turn] = field(default_factory=list)


def majority_label(votes: Sequence[Sequence[str]]) -> str:
    """The label given by more than half of the evaluators, ``xxx`` when there is none.

    Example:
        >>> majority_label([["ang"], ["ang", "fru"], ["fru"]])
        'xxx'
        >>> majority_label([["ang"], ["ang", "fru"], ["sad"]])
        'ang'
    """
    counts = Counter(code for vote in votes for code in set(vote))
    if not counts:
        return "xxx"
    (best, n), *rest = counts.most_common()
    if 2 * n > len(votes) and not (rest and rest[0][1] == n):
        return best
    return "xxx"


def draw_categorical_votes(outcome: str, rng: np.random.Generator) -> tuple[str, list[list[str]]]:
    """Votes of three evaluators whose majority is ``outcome``; also the rendered emotion.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> all(majority_label(draw_categorical_votes(o, rng)[1]) == o
        ...     for o in ["neu", "hap", "oth", "xxx"] * 20)
        True
    """
    if outcome == "xxx":
        rendered = _pick(rng, ("neu", "hap", "exc", "ang", "sad", "fru", "sur"))
        others = list(rng.permutation(IEMOCAP_CONFUSABLE[rendered]))
        others += [c for c in ("oth", "neu", "fru") if c != rendered and c not in others]
        return rendered, [[rendered], [others[0]], [others[1]]]
    rendered = outcome
    if outcome == "oth":
        rendered = _pick(rng, ("neu", "fru", "hap", "sur"))
    elif rng.random() < 0.05:  # evaluators misperceive the rendered emotion
        rendered = IEMOCAP_CONFUSABLE[outcome][0]
    votes = [[outcome], [outcome], [outcome]]
    dissent = None
    if rng.random() < 0.4:
        dissent = _pick(rng, IEMOCAP_CONFUSABLE[outcome])
        votes[2] = [dissent]
    if rng.random() < 0.15:
        extra = [c for c in IEMOCAP_CONFUSABLE[outcome] if c != dissent]
        votes[0].append(_pick(rng, extra))
    order = rng.permutation(3)
    return rendered, [votes[i] for i in order]


def draw_iemocap_latent(rendered: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """Latent (arousal, valence, dominance) of a turn: the emotion's prototype, at a random
    intensity (mild ones come closer to neutral), plus noise."""
    neutral = np.array(IEMOCAP_PROTOTYPES["neu"])
    if rendered not in IEMOCAP_PROTOTYPES:
        base = rng.uniform(-0.5, 0.5, 3)
    else:
        intensity = rng.uniform(0.5, 1.2) if rendered != "neu" else 1.0
        base = neutral + intensity * (np.array(IEMOCAP_PROTOTYPES[rendered]) - neutral)
    return tuple(float(x) for x in np.clip(base + rng.normal(0, 0.18, 3), -1, 1))


def draw_attribute_ratings(
    avd: Sequence[float], spread: float, rng: np.random.Generator
) -> tuple[int, int, int]:
    """One evaluator's (val, act, dom) ratings on the 1..5 IEMOCAP scale."""
    a, v, d = avd
    latent = np.array([v, a, d])
    ratings = np.clip(np.rint(3 + 2 * latent + rng.normal(0, spread, 3)), 1, 5)
    return tuple(int(x) for x in ratings)


def _comment(rng: np.random.Generator, options: Sequence[str]) -> str:
    return _pick(rng, options) if rng.random() < 0.08 else ""


def make_turn(
    utt: str,
    speaker: Speaker,
    phrases: list[str],
    outcome: str,
    dialog: Dialog,
    improvised: bool,
    rng: np.random.Generator,
) -> Turn:
    """Plan one IEMOCAP turn: votes, latent, ratings and rendering."""
    rendered, votes = draw_categorical_votes(outcome, rng)
    avd = draw_iemocap_latent(rendered, rng)
    if improvised and rng.random() < 0.3:
        phrases = phrases + [_pick(rng, TINT_PHRASES[rendered])]
    categorical = [
        (ev, vote, _comment(rng, CATEGORICAL_COMMENTS))
        for ev, vote in zip(dialog.cat_evaluators, votes)
    ]
    spread = rng.uniform(0.3, 0.9)
    attribute = [
        (ev, draw_attribute_ratings(avd, spread, rng), _comment(rng, ATTRIBUTE_COMMENTS))
        for ev in dialog.attr_evaluators
    ]
    if dialog.self_evaluated:
        own = rendered if rng.random() < 0.8 else _pick(rng, IEMOCAP_CONFUSABLE[rendered])
        categorical.append((f"{speaker.gender}1", [own], ""))
        attribute.append((f"{speaker.gender}1", draw_attribute_ratings(avd, spread, rng), ""))
    return Turn(
        utt=utt,
        speaker=speaker,
        phrases=phrases,
        label=outcome,
        rendered=rendered,
        avd=avd,
        categorical=categorical,
        attribute=attribute,
        prosody=render_prosody(avd, speaker, rng),
    )


def dialog_names(session: int, n_dialogs: int) -> list[tuple[str, bool, tuple[int, int]]]:
    """Names of the dialogs of a session: (name, improvised, script (number, part)).

    Example:
        >>> [name for name, _, _ in dialog_names(1, 5)]  # doctest: +NORMALIZE_WHITESPACE
        ['Ses01F_impro01', 'Ses01M_script01_1', 'Ses01M_impro01', 'Ses01F_script01_1',
         'Ses01F_impro02']
    """
    cycle = (("F", True), ("M", False), ("M", True), ("F", False))
    counters: Counter = Counter()
    names = []
    for i in range(n_dialogs):
        gender, improvised = cycle[i % 4]
        k = counters[(gender, improvised)]
        counters[(gender, improvised)] += 1
        if improvised:
            names.append((f"Ses{session:02d}{gender}_impro{k + 1:02d}", True, (0, 0)))
        else:
            number, part = SCRIPT_PARTS[k % len(SCRIPT_PARTS)]
            number += 3 * (k // len(SCRIPT_PARTS))
            name = f"Ses{session:02d}{gender}_script{number:02d}_{part}"
            names.append((name, False, (number, part)))
    return names


def script_lines(seed: int, number: int) -> list[list[str]]:
    """The 60 lines of script ``number``: the same in every session, as in the real corpus."""
    return make_sentence_pool(np.random.default_rng([seed, 1, 100 + number]), 60)


def speaker_order(n_female: int, n_male: int, rng: np.random.Generator) -> list[str]:
    """Turn order of a dialog: alternating speakers, random first speaker, then the rest."""
    first, second = ("F", "M") if rng.random() < 0.5 else ("M", "F")
    left = {"F": n_female, "M": n_male}
    order = []
    while left[first] or left[second]:
        for g in (first, second):
            if left[g]:
                order.append(g)
                left[g] -= 1
    return order


def plan_iemocap(seed: int, per_speaker: int) -> list[Dialog]:
    """All dialogs and turns of a synthetic IEMOCAP (no audio yet)."""
    rng = np.random.default_rng([seed, 1])
    n_turns = 10 * per_speaker
    counts = allocate_counts(IEMOCAP_OUTCOME_SHARES, n_turns)
    outcomes = list(rng.permutation([o for o, n in counts.items() for _ in range(n)]))
    females = [str(v) for v in rng.permutation(FEMALE_VARIANTS)[:5]]
    males = [str(v) for v in rng.permutation(MALE_VARIANTS)[:5]]
    pool = make_sentence_pool(rng, max(200, 2 * n_turns))
    n_dialogs = min(per_speaker, max(2, math.ceil(per_speaker / 10)))
    evaluators = [f"E{i}" for i in range(1, 7)]
    dialogs = []
    for session in range(1, 6):
        speakers = {
            "F": make_speaker(f"Ses{session:02d}F", "F", females[session - 1], rng),
            "M": make_speaker(f"Ses{session:02d}M", "M", males[session - 1], rng),
        }
        per_dialog = allocate_counts({i: 1.0 for i in range(n_dialogs)}, per_speaker)
        for i, (name, improvised, (number, part)) in enumerate(dialog_names(session, n_dialogs)):
            dialog = Dialog(
                session=session,
                name=name,
                cat_evaluators=sorted(str(e) for e in rng.choice(evaluators, 3, replace=False)),
                attr_evaluators=sorted(str(e) for e in rng.choice(evaluators, 2, replace=False)),
                self_evaluated=bool(rng.random() < 0.5),
            )
            index = Counter()
            for line_no, gender in enumerate(speaker_order(per_dialog[i], per_dialog[i], rng)):
                if improvised:
                    phrases = (
                        [SHORT_TURNS[rng.integers(len(SHORT_TURNS))]]
                        if rng.random() < 0.08
                        else pool[rng.integers(len(pool))]
                    )
                else:
                    lines = script_lines(seed, number)
                    phrases = lines[(20 * (part - 1) + line_no) % len(lines)]
                utt = f"{name}_{gender}{index[gender]:03d}"
                index[gender] += 1
                dialog.turns.append(
                    make_turn(
                        utt,
                        speakers[gender],
                        list(phrases),
                        outcomes.pop(),
                        dialog,
                        improvised,
                        rng,
                    )
                )
            dialogs.append(dialog)
    return dialogs


def iemocap_wav_path(root: Path, dialog: Dialog, turn: Turn) -> Path:
    return root / f"Session{dialog.session}" / "sentences" / "wav" / dialog.name / f"{turn.utt}.wav"


def assign_times(dialog: Dialog, rng: np.random.Generator) -> None:
    """Consecutive turn times: each turn lasts its wav, with a gap before the next."""
    t = float(rng.uniform(1.5, 8.0))
    for turn in dialog.turns:
        turn.start = round(t, 4)
        t = turn.start + turn.duration + float(rng.uniform(0.2, 2.0))


def format_turn_block(turn: Turn) -> str:
    """The lines of one turn in an EmoEvaluation file (without the blank line after it).

    Example:
        >>> spk = Speaker("Ses01F", "F", "en-us+f1", 0, 0, 1, 0)
        >>> p = Prosody(0, 0, 100, 0, 100, 0, 0.2, 0.1, 0.1, -60, 0)
        >>> turn = Turn("Ses01F_impro01_F000", spk, ["Hi."], "neu", "neu", (0, 0, 0),
        ...             [("E2", ["neu"], ""), ("E3", ["neu", "fru"], "")],
        ...             [("E3", (3, 2, 2), ""), ("E4", (2, 3, 3), "mainly question")], p,
        ...             duration=1.94561, start=6.2901)
        >>> print(format_turn_block(turn).replace("\\t", " <TAB> "))
        [6.2901 - 8.2357] <TAB> Ses01F_impro01_F000 <TAB> neu <TAB> [2.5000, 2.5000, 2.5000]
        C-E2: <TAB> Neutral state; <TAB> ()
        C-E3: <TAB> Neutral state; Frustration; <TAB> ()
        A-E3: <TAB> val 3; act 2; dom  2; <TAB> ()
        A-E4: <TAB> val 2; act 3; dom  3; <TAB> (mainly question)
        <BLANKLINE>
    """
    v, a, d = turn.vad_mean
    end = turn.start + turn.duration
    vad = f"[{v:.4f}, {a:.4f}, {d:.4f}]"
    lines = [f"[{turn.start:.4f} - {end:.4f}]\t{turn.utt}\t{turn.label}\t{vad}"]
    for evaluator, codes, comment in turn.categorical:
        names = "".join(f"{IEMOCAP_NAMES[c]}; " for c in codes).rstrip()
        lines.append(f"C-{evaluator}:\t{names}\t({comment})")
    for evaluator, (val, act, dom), comment in turn.attribute:
        lines.append(f"A-{evaluator}:\tval {val}; act {act}; dom  {dom};\t({comment})")
    return "\n".join(lines) + "\n"


def write_emo_evaluation(folder: Path, dialog: Dialog) -> None:
    """``<dialog>.txt`` plus the per-evaluator Categorical/Attribute/Self-evaluation files."""
    blocks = "".join(format_turn_block(turn) + "\n" for turn in dialog.turns)
    write_text(folder / f"{dialog.name}.txt", f"{IEMOCAP_HEADER}\n\n{blocks}")
    per_file: dict[Path, list[str]] = {}
    for turn in dialog.turns:
        for evaluator, codes, comment in turn.categorical:
            if evaluator.startswith("E"):
                path = folder / "Categorical" / f"{dialog.name}_e{evaluator[1:]}_cat.txt"
            else:
                path = folder / "Self-evaluation" / f"{dialog.name}_{evaluator[0]}_self.txt"
            names = "".join(f"{IEMOCAP_NAMES[c]}; " for c in codes)
            per_file.setdefault(path, []).append(f"{turn.utt} :{names}({comment})")
        for evaluator, (val, act, dom), comment in turn.attribute:
            if evaluator.startswith("E"):
                path = folder / "Attribute" / f"{dialog.name}_e{evaluator[1:]}_atr.txt"
                per_file.setdefault(path, []).append(
                    f"{turn.utt} :act {act}; val {val}; dom  {dom}; ({comment})"
                )
    for path, lines in per_file.items():
        write_text(path, "\n".join(lines) + "\n")


def write_transcription(path: Path, dialog: Dialog) -> None:
    lines = [
        f"{t.utt} [{t.start:08.4f}-{t.start + t.duration:08.4f}]: {t.text}" for t in dialog.turns
    ]
    write_text(path, "\n".join(lines) + "\n")


def write_iemocap_decoys(root: Path, dialog: Dialog, rng: np.random.Generator) -> None:
    """Files of the real release that are not utterances (see the module docstring)."""
    session = root / f"Session{dialog.session}"
    first = dialog.turns[0]
    emo = session / "dialog" / "EmoEvaluation" / f"._{dialog.name}.txt"
    emo.write_bytes(apple_double_bytes(emo.name))
    wav = session / "sentences" / "wav" / dialog.name / f"._{first.utt}.wav"
    wav.write_bytes(apple_double_bytes(wav.name))
    stereo = 1e-3 * rng.standard_normal((SAMPLE_RATE // 2, 2))
    dialog_wav = session / "dialog" / "wav" / f"{dialog.name}.wav"
    dialog_wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dialog_wav, stereo, SAMPLE_RATE, subtype="PCM_16")
    words = first.text.split()
    seg = ["SFrm  EFrm    SegAScr Word"] + [
        f"{3 + 20 * i:5d} {22 + 20 * i:5d} {-1000 - 37 * i:10d} {w.upper().strip('.,?!')}"
        for i, w in enumerate(words)
    ]
    write_text(
        session / "sentences" / "ForcedAlignment" / dialog.name / f"{first.utt}.wdseg",
        "\n".join(seg) + "\n",
    )


def generate_iemocap(
    out_dir,
    seed: int = 0,
    per_speaker: int = 40,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate a synthetic IEMOCAP release in ``<out_dir>/IEMOCAP_full_release``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create the release in (beside its marker file ``.synthetic_iemocap.json``).
    seed : int
        Seed of all random choices (same seed, same corpus).
    per_speaker : int
        Utterances per speaker (10 speakers, so ``10 * per_speaker`` turns).
    workers : int, optional
        Synthesis processes (default: ``os.cpu_count()``).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        ``<out_dir>/IEMOCAP_full_release``.

    Example:
        >>> import tempfile, shutil
        >>> out = tempfile.mkdtemp()
        >>> root = generate_iemocap(out, per_speaker=1, progress=False)
        >>> root.name, sorted(p.name for p in root.iterdir())[:2]
        ('IEMOCAP_full_release', ['Session1', 'Session2'])
        >>> len(list(root.glob("Session*/sentences/wav/*/Ses*.wav")))
        10
        >>> evaluation = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
        >>> print(evaluation.read_text().splitlines()[0])
        % [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]
        >>> generate_iemocap(out, per_speaker=1, progress=False) == root  # already there
        True
        >>> shutil.rmtree(out)
    """
    if int(per_speaker) < 1:
        raise ValueError(f"per_speaker must be at least 1, got {per_speaker}")
    options = {
        "corpus": "iemocap",
        "seed": int(seed),
        "per_speaker": int(per_speaker),
        "version": GENERATOR_VERSION,
    }

    def write(staging):
        return write_iemocap(staging, int(seed), int(per_speaker), workers, progress)

    return generate_once(out_dir, IEMOCAP_DIRNAME, IEMOCAP_MARKER, options, "IEMOCAP", write)


def write_iemocap(staging: Path, seed: int, per_speaker: int, workers, progress) -> tuple:
    """Writes an IEMOCAP release into ``staging``; returns what :func:`generate_once` logs."""
    dialogs = plan_iemocap(seed, per_speaker)
    jobs, turn_of_path = [], {}
    for dialog in dialogs:
        for turn in dialog.turns:
            path = iemocap_wav_path(staging, dialog, turn)
            path.parent.mkdir(parents=True, exist_ok=True)
            jobs.append(
                SynthesisJob(
                    str(path),
                    turn.speaker.voice,
                    build_ssml(turn.phrases, turn.prosody),
                    turn.prosody,
                )
            )
            turn_of_path[str(path)] = turn
    for path, n in run_jobs(jobs, "IEMOCAP", workers, progress).items():
        turn_of_path[path].duration = n / SAMPLE_RATE
    rng = np.random.default_rng([seed, 1, 9])
    decoy_sessions = set()
    for dialog in dialogs:
        assign_times(dialog, rng)
        session = staging / f"Session{dialog.session}" / "dialog"
        write_emo_evaluation(session / "EmoEvaluation", dialog)
        write_transcription(session / "transcriptions" / f"{dialog.name}.txt", dialog)
        if dialog.session not in decoy_sessions:
            write_iemocap_decoys(staging, dialog, rng)
            decoy_sessions.add(dialog.session)
    labels = Counter(t.label for d in dialogs for t in d.turns)
    stats = {"utterances": len(jobs), "labels": dict(sorted(labels.items()))}
    return f"{len(jobs)} utterances", stats


# --------------------------------------------------------------------------------------------
# MSP-Podcast
# --------------------------------------------------------------------------------------------
MSP_SPLIT_SHARES = {
    "1.11": {"Train": 0.55, "Development": 0.15, "Test1": 0.18, "Test2": 0.12},
    "1.6": {"Train": 0.65, "Validation": 0.15, "Test1": 0.20},
}
MSP_CLASS_CODES = {
    "Angry": "A",
    "Sad": "S",
    "Happy": "H",
    "Surprise": "U",
    "Fear": "F",
    "Disgust": "D",
    "Contempt": "C",
    "Neutral": "N",
    "Other": "O",
}
MSP_SECONDARY = {
    "Angry": ("Angry", "Frustrated", "Annoyed", "Disgust"),
    "Sad": ("Sad", "Disappointed", "Depressed", "Concerned"),
    "Happy": ("Happy", "Amused", "Excited"),
    "Surprise": ("Surprise", "Excited", "Confused"),
    "Fear": ("Fear", "Concerned", "Confused"),
    "Disgust": ("Disgust", "Annoyed", "Contempt"),
    "Contempt": ("Contempt", "Annoyed", "Frustrated"),
    "Neutral": ("Neutral", "Concerned", "Amused", "Confused"),
    "Other": ("Confused", "Concerned"),
}


@dataclass
class Rating:
    """One rater's judgement of one MSP-Podcast segment (ratings 1..7)."""

    worker: str
    primary: str
    secondary: list[str]
    act: int
    val: int
    dom: int


@dataclass
class Segment:
    """One MSP-Podcast segment: audio rendering, metadata and raters."""

    name: str  # MSP-PODCAST_0001_0008 (no extension)
    speaker: Speaker
    speaker_id: str  # integer as text, or "Unknown"
    gender: str  # Male, Female, Unknown
    split: str
    phrases: list[str]
    prosody: Prosody
    ratings: list[Rating]

    @property
    def file_name(self) -> str:
        return f"{self.name}.wav"

    @property
    def text(self) -> str:
        return " ".join(self.phrases)

    def mean(self, attribute: str) -> float:
        return float(np.mean([getattr(r, attribute) for r in self.ratings]))

    @property
    def emo_class(self) -> str:
        counts = Counter(r.primary for r in self.ratings)
        primary, n = counts.most_common(1)[0]
        return MSP_CLASS_CODES[primary] if 2 * n > len(self.ratings) else "X"


def primary_emotion(act: float, val: float, dom: float, rng: np.random.Generator) -> str:
    """A rater's primary emotion from what they perceive (1..7 scales)."""
    u = rng.random()
    if u < 0.03:
        return "Other"
    if val >= 4.6:
        return "Surprise" if act >= 5.6 and u < 0.3 else "Happy"
    if val <= 3.4:
        if act >= 4.4:
            if dom < 3.5 and u < 0.15:
                return "Fear"
            return "Disgust" if u < 0.15 else "Contempt" if u < 0.3 else "Angry"
        if act <= 3.4:
            return "Sad"
        return "Contempt" if u < 0.35 else "Disgust" if u < 0.5 else "Sad"
    return "Surprise" if act >= 5.8 and u < 0.2 else "Neutral"


def draw_ratings(
    latent: np.ndarray, workers: Sequence[tuple[str, np.ndarray]], rng: np.random.Generator
) -> list[Rating]:
    """5 to 8 raters, each perceiving the latent (act, val, dom) with bias and noise."""
    n = int(rng.integers(5, 9))
    spread = float(rng.uniform(0.3, 1.3))  # per-utterance disagreement
    ratings = []
    for i in rng.choice(len(workers), n, replace=False):
        worker, bias = workers[i]
        noise = rng.normal(0, spread, 3)
        act, val, dom = (int(x) for x in np.clip(np.rint(latent + bias + noise), *RATING_SCALE))
        primary = primary_emotion(*(latent + bias + 0.6 * noise), rng)
        options = MSP_SECONDARY[primary]
        k = int(rng.integers(0, min(3, len(options)) + 1))
        secondary = sorted(rng.choice(options, k, replace=False).tolist())
        ratings.append(Rating(worker, primary, secondary, act, val, dom))
    return ratings


def tint_code(act: float, val: float) -> str:
    if val > 4.7:
        return "exc" if act > 4.7 else "hap"
    if val < 3.3:
        return "ang" if act > 4.7 else "sad"
    return "neu"


def plan_msp(seed: int, size: int, release: str) -> tuple[list[Segment], list[Segment]]:
    """Labelled segments and (v1.11 only) unlabelled Test3-like segments."""
    rng = np.random.default_rng([seed, 2])
    n_podcasts = max(len(MSP_SPLIT_SHARES[release]), round(size / 8))
    per_podcast = allocate_at_least_one({i: rng.uniform(0.5, 1.5) for i in range(n_podcasts)}, size)
    podcast_ids = sorted((1 + rng.choice(9999, n_podcasts, replace=False)).tolist())
    splits = [
        s
        for s, n in allocate_at_least_one(MSP_SPLIT_SHARES[release], n_podcasts).items()
        for _ in range(n)
    ]
    splits = [str(s) for s in rng.permutation(splits)]
    n_ids = max(3000, 4 * n_podcasts)
    speaker_ids = iter((1 + rng.choice(n_ids, 3 * n_podcasts, replace=False)).tolist())
    workers = [
        (f"WORKER{10**5 + int(w):08d}", rng.normal(0, 0.3, 3))
        for w in rng.choice(10**8 - 10**5, 40 + size // 5, replace=False)
    ]
    pool = make_sentence_pool(rng, max(300, 3 * size))
    segments = []
    for p, podcast in enumerate(podcast_ids):
        hosts = [new_msp_speaker(str(next(speaker_ids)), rng) for _ in range(rng.integers(1, 4))]
        mood = rng.normal(0, 0.5, 3)
        number = int(rng.integers(1, 40))
        for _ in range(per_podcast[p]):
            if rng.random() < 0.08:
                speaker, speaker_id, gender = new_msp_speaker("guest", rng), "Unknown", "Unknown"
            else:
                speaker = hosts[rng.integers(len(hosts))]
                speaker_id = speaker.name
                gender = "Female" if speaker.gender == "F" else "Male"
            segments.append(
                make_segment(
                    f"MSP-PODCAST_{podcast:04d}_{number:04d}",
                    speaker,
                    speaker_id,
                    gender,
                    splits[p],
                    mood,
                    pool,
                    workers,
                    rng,
                )
            )
            number += int(rng.integers(1, 6))
    extras = []
    if release == "1.11":
        for k in range(max(1, size // 50)):
            speaker = new_msp_speaker("test3", rng)
            extras.append(
                make_segment(
                    f"MSP-PODCAST_test3_{k + 1:04d}",
                    speaker,
                    "Unknown",
                    "Unknown",
                    "Test3",
                    rng.normal(0, 0.5, 3),
                    pool,
                    workers,
                    rng,
                )
            )
    return segments, extras


def new_msp_speaker(name: str, rng: np.random.Generator) -> Speaker:
    gender = "F" if rng.random() < 0.5 else "M"
    variants = FEMALE_VARIANTS if gender == "F" else MALE_VARIANTS
    return make_speaker(name, gender, variants[rng.integers(len(variants))], rng)


def make_segment(
    name: str,
    speaker: Speaker,
    speaker_id: str,
    gender: str,
    split: str,
    mood: np.ndarray,
    pool: list[list[str]],
    workers: Sequence[tuple[str, np.ndarray]],
    rng: np.random.Generator,
) -> Segment:
    """Plan one segment: latent (act, val, dom) on 1..7, rendering, raters."""
    act = 4 + mood[0] + rng.normal(0, 1.0)
    val = 4 + mood[1] + rng.normal(0, 1.0)
    dom = 4 + 0.6 * (act - 4) + 0.4 * mood[2] + rng.normal(0, 0.6)
    latent = np.clip(np.array([act, val, dom]), 1.3, 6.7)
    phrases = list(pool[rng.integers(len(pool))]) + list(pool[rng.integers(len(pool))])
    if rng.random() < 0.3:
        phrases.append(_pick(rng, TINT_PHRASES[tint_code(latent[0], latent[1])]))
    z = (latent - 4) / 3  # (arousal, valence, dominance) in [-1, 1]
    return Segment(
        name,
        speaker,
        speaker_id,
        gender,
        split,
        phrases,
        render_prosody(z, speaker, rng),
        draw_ratings(latent, workers, rng),
    )


def format_emo_detail(rating: Rating, style: str) -> str:
    """The ``EmoDetail`` string of ``labels_detailed.csv`` (v1.11).

    ``style`` is ``"full"``, ``"empty"`` (empty secondary field) or ``"missing"`` (no
    secondary field), three variants seen in the real files.

    Example:
        >>> r = Rating("WORKER00012345", "Angry", ["Angry", "Frustrated"], 5, 2, 5)
        >>> format_emo_detail(r, "full")
        'WORKER00012345; Angry; Angry,Frustrated; A:5.0; V:2.0; D:5.0;'
        >>> format_emo_detail(r, "missing")
        'WORKER00012345; Angry; A:5.0; V:2.0; D:5.0;'
    """
    fields = [rating.worker, rating.primary]
    if style == "full":
        fields.append(",".join(rating.secondary))
    elif style == "empty":
        fields.append("")
    fields += [f"A:{rating.act:.1f}", f"V:{rating.val:.1f}", f"D:{rating.dom:.1f}"]
    return "; ".join(fields) + ";"


def consensus_row(seg: Segment) -> list[str]:
    return [
        seg.file_name,
        seg.emo_class,
        format_mean(seg.mean("act")),
        format_mean(seg.mean("val")),
        format_mean(seg.mean("dom")),
        seg.speaker_id,
        seg.gender,
        seg.split,
    ]


CONSENSUS_HEADER = [
    "FileName",
    "EmoClass",
    "EmoAct",
    "EmoVal",
    "EmoDom",
    "SpkrID",
    "Gender",
    "Split_Set",
]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def write_msp_v111(root: Path, segments: list[Segment], rng: np.random.Generator) -> None:
    labels = root / "Labels"
    write_csv(
        labels / "labels_consensus.csv", CONSENSUS_HEADER, [consensus_row(s) for s in segments]
    )
    consensus = {}
    for s in segments:
        consensus[s.file_name] = {
            "EmoClass": s.emo_class,
            "EmoAct": float(format_mean(s.mean("act"))),
            "EmoVal": float(format_mean(s.mean("val"))),
            "EmoDom": float(format_mean(s.mean("dom"))),
            "SpkrID": int(s.speaker_id) if s.speaker_id.isdigit() else s.speaker_id,
            "Gender": s.gender,
            "Split_Set": s.split,
        }
    write_text(labels / "labels_consensus.json", json.dumps(consensus, indent=4) + "\n")
    styles = ("full", "empty", "missing")
    detailed = [
        [s.file_name, format_emo_detail(r, styles[rng.choice(3, p=[0.8, 0.15, 0.05])])]
        for s in segments
        for r in s.ratings
    ]
    write_csv(labels / "labels_detailed.csv", ["FileName", "EmoDetail"], detailed)
    for s in segments:
        write_text(root / "Transcripts" / f"{s.name}.txt", s.text + "\n")


def write_msp_v16(root: Path, segments: list[Segment]) -> None:
    write_csv(
        root / "Labels" / "labels_concensus.csv",
        CONSENSUS_HEADER,
        [consensus_row(s) for s in segments],
    )
    detailed = {
        s.file_name: {
            r.worker: {
                "EmoClass_Major": r.primary,
                "EmoClass_Second": ",".join(r.secondary),
                "EmoAct": float(r.act),
                "EmoVal": float(r.val),
                "EmoDom": float(r.dom),
            }
            for r in s.ratings
        }
        for s in segments
    }
    write_text(root / "Labels" / "labels_detailed.json", json.dumps(detailed, indent=4) + "\n")
    write_text(root / "Partitions.txt", "".join(f"{s.split}; {s.file_name}\n" for s in segments))


EVAL13_FILE = "Previous_releases_information/Partitions_1.3.txt"
EVAL13_SPLITS = {
    "Train": "Train",
    "Development": "Validation",
    "Validation": "Validation",
    "Test1": "Test",
}
EVAL13_SHARE = 0.6


def write_eval13_partitions(root: Path, segments: list[Segment], rng: np.random.Generator) -> None:
    """Writes the release 1.3 partitions: whole podcasts, about 60% of each partition's.

    Example:
        >>> import tempfile
        >>> seg = lambda name, split: Segment(name, None, "1", "Male", split, [], None, [])
        >>> root = Path(tempfile.mkdtemp())
        >>> segs = [seg("MSP-PODCAST_0001_0001", "Test1"), seg("MSP-PODCAST_0002_0001", "Test2")]
        >>> write_eval13_partitions(root, segs, np.random.default_rng(0))
        >>> (root / EVAL13_FILE).read_text()
        'Test; MSP-PODCAST_0001_0001.wav\\n'
    """
    podcasts: dict[str, list[str]] = {}
    for seg in segments:
        if seg.split in EVAL13_SPLITS:
            podcasts.setdefault(seg.split, [])
            podcast = seg.name.rsplit("_", 1)[0]
            if podcast not in podcasts[seg.split]:
                podcasts[seg.split].append(podcast)
    kept = set()
    for names in podcasts.values():
        n = max(1, round(EVAL13_SHARE * len(names)))
        kept.update(names[i] for i in sorted(rng.choice(len(names), n, replace=False)))
    lines = [
        f"{EVAL13_SPLITS[s.split]}; {s.file_name}\n"
        for s in segments
        if s.split in EVAL13_SPLITS and s.name.rsplit("_", 1)[0] in kept
    ]
    write_text(root / EVAL13_FILE, "".join(lines))


def generate_msp_podcast(
    out_dir,
    release: str = "1.11",
    seed: int = 0,
    size: int = 500,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate a synthetic MSP-Podcast release in ``<out_dir>/MSP-Podcast``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create the release in (beside its marker ``.synthetic_msp_podcast.json``).
    release : str
        ``"1.11"`` (``Audios/``, ``labels_consensus.csv``, detailed CSV) or ``"1.6"``
        (``Audio/``, ``Partitions.txt``, ``labels_concensus.csv``, detailed JSON).
    seed : int
        Seed of all random choices (same seed, same corpus).
    size : int
        Number of labelled segments (at least 8).
    workers : int, optional
        Synthesis processes (default: ``os.cpu_count()``).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Path
        ``<out_dir>/MSP-Podcast``.

    Example:
        >>> import csv, tempfile, shutil
        >>> out = tempfile.mkdtemp()
        >>> root = generate_msp_podcast(out, size=8, progress=False)
        >>> rows = list(csv.DictReader(open(root / "Labels/labels_consensus.csv")))
        >>> len(rows), all((root / "Audios" / r["FileName"]).is_file() for r in rows)
        (8, True)
        >>> generate_msp_podcast(out, release="2.0")
        Traceback (most recent call last):
        ...
        ValueError: unsupported MSP-Podcast release '2.0': choose from 1.11, 1.6
        >>> shutil.rmtree(out)
    """
    release = str(release)
    if release not in MSP_RELEASES:
        raise ValueError(
            f"unsupported MSP-Podcast release {release!r}: choose from {', '.join(MSP_RELEASES)}"
        )
    if int(size) < 8:
        raise ValueError(f"size must be at least 8 segments, got {size}")
    options = {
        "corpus": "msp-podcast",
        "release": release,
        "seed": int(seed),
        "size": int(size),
        "version": MSP_GENERATOR_VERSION,
    }

    def write(staging):
        return write_msp_podcast(staging, release, int(seed), int(size), workers, progress)

    title = f"MSP-Podcast {release}"
    return generate_once(out_dir, MSP_DIRNAME, MSP_MARKER, options, title, write)


def write_msp_podcast(staging: Path, release: str, seed: int, size: int, workers, progress):
    """Writes an MSP-Podcast release into ``staging``; returns what :func:`generate_once` logs."""
    segments, extras = plan_msp(seed, size, release)
    audio = staging / ("Audios" if release == "1.11" else "Audio")
    audio.mkdir()
    jobs = [
        SynthesisJob(
            str(audio / s.file_name), s.speaker.voice, build_ssml(s.phrases, s.prosody), s.prosody
        )
        for s in segments + extras
    ]
    run_jobs(jobs, f"MSP-Podcast {release}", workers, progress)
    if release == "1.11":
        write_msp_v111(staging, segments, np.random.default_rng([seed, 2, 9]))
    else:
        write_msp_v16(staging, segments)
    write_eval13_partitions(staging, segments, np.random.default_rng([seed, 2, 13]))
    stats = {
        "segments": len(segments),
        "unlabelled": len(extras),
        "splits": dict(Counter(s.split for s in segments)),
        "classes": dict(sorted(Counter(s.emo_class for s in segments).items())),
    }
    return f"{len(jobs)} segments", stats


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ser_modules.testing.synthetic",
        description=(
            "Generate small synthetic IEMOCAP / MSP-Podcast corpora (espeak-ng speech "
            "with emotional prosody) in the on-disk format of the real releases."
        ),
    )
    sub = parser.add_subparsers(dest="corpus", required=True)
    iemocap = sub.add_parser("iemocap", help="IEMOCAP_full_release layout")
    iemocap.add_argument("--out", required=True, help="output folder")
    iemocap.add_argument("--seed", type=int, default=0)
    iemocap.add_argument(
        "--per-speaker", type=int, default=40, help="utterances per speaker (10 speakers)"
    )
    msp = sub.add_parser("msp-podcast", help="MSP-Podcast layout (release 1.11 or 1.6)")
    msp.add_argument("--out", required=True, help="output folder")
    msp.add_argument("--release", choices=MSP_RELEASES, default="1.11")
    msp.add_argument("--seed", type=int, default=0)
    msp.add_argument("--size", type=int, default=500, help="number of labelled segments")
    for p in (iemocap, msp):
        p.add_argument("--workers", type=int, default=None, help="default: all cores")
        p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.corpus == "iemocap":
            root = generate_iemocap(
                args.out,
                seed=args.seed,
                per_speaker=args.per_speaker,
                workers=args.workers,
                progress=not args.no_progress,
            )
        else:
            root = generate_msp_podcast(
                args.out,
                release=args.release,
                seed=args.seed,
                size=args.size,
                workers=args.workers,
                progress=not args.no_progress,
            )
    except (RuntimeError, ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
