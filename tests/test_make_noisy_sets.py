"""Tests of recipes/MSP-Podcast/make_noisy_sets.py: SNRs measured within the requested
ranges, seeding per utterance, idempotency, user-provided noise / RIR lists, generated banks."""

import doctest
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import recipe_module

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "MSP-Podcast"
mns = recipe_module("MSP-Podcast", "make_noisy_sets")

RANGES = ("20-30", "10-20", "0-10")


def _speech_like(rng, seconds):
    """A harmonic tone with a syllable-rate envelope and pauses (no corpus needed)."""
    t = np.arange(int(16000 * seconds)) / 16000
    f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.2 * voiced * envelope).astype(np.float32)


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("noisy_sets")
    rng = np.random.default_rng(0)
    manifest = {}
    for k in range(5):
        wav = root / "clean" / f"utt{k}.wav"
        wav.parent.mkdir(exist_ok=True)
        sf.write(wav, _speech_like(rng, rng.uniform(1.0, 2.5)), 16000, subtype="PCM_16")
        manifest[f"utt{k}"] = {
            "wav": str(wav),
            "duration": sf.info(str(wav)).duration,
            "arousal": 4.0,
            "valence": 3.0,
            "dominance": 5.0,
        }
    path = root / "test1.json"
    path.write_text(json.dumps(manifest))
    return root, path


@pytest.fixture(scope="module")
def generated(clean_set):
    """The sets written by the command line, with references, small generated banks."""
    root, manifest = clean_set
    out = root / "out"
    command = [
        sys.executable,
        str(RECIPE / "make_noisy_sets.py"),
        "--manifest",
        str(manifest),
        "--out_folder",
        str(out),
        "--write_references",
        "--num_rirs",
        "6",
        "--noises_per_type",
        "1",
        "--noprogressbar",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def measured_snr(entry, name, out):
    noisy, _ = sf.read(entry["wav"])
    reference, _ = sf.read(out / f"{name}_reference" / Path(entry["wav"]).name)
    return 10 * math.log10(np.mean(reference**2) / np.mean((noisy - reference) ** 2))


def test_snr_measured_within_the_requested_ranges(generated, clean_set):
    clean = json.loads(clean_set[1].read_text())
    for text in RANGES:
        low, high = map(float, text.split("-"))
        name = f"test1_snr{text}"
        entries = json.loads((generated / f"{name}.json").read_text())
        assert set(entries) == set(clean)
        for utt, entry in entries.items():
            snr = measured_snr(entry, name, generated)
            # 16-bit quantisation of the mixture is the only difference to the drawn SNR.
            assert low - 0.01 <= snr <= high + 0.01, (name, utt, snr)
            assert abs(snr - entry["snr"]) < 0.01
            assert entry["snr_range"] == [low, high]
            assert sf.info(entry["wav"]).frames == sf.info(clean[utt]["wav"]).frames
            assert {"arousal", "valence", "dominance", "duration"} <= set(entry)
            assert entry["clean_wav"] == clean[utt]["wav"] and 0 < entry["gain"] <= 1.0


def test_same_noise_and_rir_in_every_range_and_seeded_per_utterance(generated, clean_set, tmp_path):
    sets = [json.loads((generated / f"test1_snr{r}.json").read_text()) for r in RANGES]
    for utt in sets[0]:
        picks = {(s[utt]["noise"], s[utt]["rir"], s[utt]["noise_offset"]) for s in sets}
        assert len(picks) == 1
    # A manifest with a subset of the utterances gives the same draws for them.
    clean = json.loads(clean_set[1].read_text())
    subset = tmp_path / "test1.json"
    subset.write_text(json.dumps({utt: clean[utt] for utt in ("utt3", "utt1")}))
    noise_csv = generated / "noise_bank_seed0" / "noises.csv"
    rir_csv = generated / "rir_bank_seed0" / "rirs.csv"
    again = mns.make_noisy_sets(
        subset, tmp_path / "out", noise_csv=str(noise_csv), rir_csv=str(rir_csv), progressbar=False
    )
    for text, full in zip(RANGES, sets):
        part = json.loads(Path(again[f"test1_snr{text}"]).read_text())
        for utt, entry in part.items():
            for key in ("noise", "rir", "noise_offset", "snr", "gain"):
                assert entry[key] == full[utt][key]
            # Same draws give the same signal, up to one PCM16 step (multi-threaded FFT
            # convolution is not bit-reproducible across runs).
            np.testing.assert_allclose(
                sf.read(entry["wav"])[0], sf.read(full[utt]["wav"])[0], rtol=0, atol=1.5 / 32768
            )
    # Another seed draws other conditions.
    other = mns.make_noisy_sets(
        subset,
        tmp_path / "seed1",
        noise_csv=str(noise_csv),
        rir_csv=str(rir_csv),
        seed=1,
        progressbar=False,
    )
    first = json.loads(Path(other["test1_snr0-10"]).read_text())
    assert all(first[u]["snr"] != sets[2][u]["snr"] for u in first)


def test_second_run_writes_nothing(generated, clean_set):
    wavs = sorted((generated / "test1_snr0-10").glob("*.wav"))
    before = {path: path.stat().st_mtime_ns for path in wavs}
    manifest_mtime = (generated / "test1_snr0-10.json").stat().st_mtime_ns
    mns.make_noisy_sets(
        clean_set[1],
        generated,
        write_references=True,
        num_rirs=6,
        noises_per_type=1,
        progressbar=False,
    )
    assert {path: path.stat().st_mtime_ns for path in wavs} == before
    assert (generated / "test1_snr0-10.json").stat().st_mtime_ns == manifest_mtime


def test_user_lists_with_replacements_and_exclusion(clean_set, tmp_path):
    rng = np.random.default_rng(3)
    noise_dir, rir_dir = tmp_path / "musan", tmp_path / "rirs"
    noise_dir.mkdir()
    rir_dir.mkdir()
    sf.write(noise_dir / "fan.wav", 0.1 * rng.standard_normal(8000), 8000)  # resampled, looped
    sf.write(noise_dir / "street.wav", 0.1 * rng.standard_normal(40000), 16000)
    rir = np.zeros(4000)
    rir[100], rir[900], rir[2500] = 1.0, 0.4, 0.1
    sf.write(rir_dir / "small_room.wav", rir, 16000)
    noise_csv = tmp_path / "noise.csv"
    noise_csv.write_text(
        "ID,duration,wav,wav_format,wav_opts\n"
        "fan,1.0,$noise_folder/fan.wav,wav,\nstreet,2.5,$noise_folder/street.wav,wav,\n"
    )
    rir_csv = tmp_path / "rir.csv"
    rir_csv.write_text(
        f"ID,duration,wav,wav_format,wav_opts\nsmall_room,0.25,{rir_dir}/small_room.wav,wav,\n"
    )
    written = mns.make_noisy_sets(
        clean_set[1],
        tmp_path / "out",
        snr_ranges=["5-6"],
        noise_csv=str(noise_csv),
        rir_csv=str(rir_csv),
        replacements={"noise_folder": str(noise_dir)},
        write_references=True,
        progressbar=False,
    )
    assert list(written) == ["test1_snr5-6"]
    entries = json.loads(Path(written["test1_snr5-6"]).read_text())
    assert {e["noise"] for e in entries.values()} <= {"fan", "street"}
    assert {e["rir"] for e in entries.values()} == {"small_room"}
    assert not list((tmp_path / "out").glob("*_bank_*"))
    for entry in entries.values():
        assert 4.99 <= measured_snr(entry, "test1_snr5-6", tmp_path / "out") <= 6.01
    # A test noise that is also a training augmentation noise is refused.
    with pytest.raises(ValueError, match="training augmentation"):
        mns.make_noisy_sets(
            clean_set[1],
            tmp_path / "out2",
            noise_csv=str(noise_csv),
            rir_csv=str(rir_csv),
            replacements={"noise_folder": str(noise_dir)},
            exclude_csv=[str(noise_csv)],
            progressbar=False,
        )


def test_generated_noises_and_rooms():
    for kind in mns.NOISE_TYPES:
        noise = mns.generate_noise(kind, mns.seeded_rng(0, kind), seconds=2.0)
        assert noise.shape == (32000,) and np.isfinite(noise).all()
        assert abs(np.sqrt(np.mean(noise.astype(np.float64) ** 2)) - 0.1) < 1e-4
    with pytest.raises(ValueError):
        mns.generate_noise("babble", np.random.default_rng(0))
    # The simulated rooms decay at the requested RT60 (T20 of the Schroeder curve).
    ratios = []
    for k in range(8):
        room = mns.random_room(mns.seeded_rng(0, "room", k))
        rir = mns.shoebox_rir(**room).astype(np.float64)
        energy = np.cumsum(rir[::-1] ** 2)[::-1]
        decay = 10 * np.log10(energy / energy[0] + 1e-20)
        t20 = 3 * (np.argmax(decay < -25) - np.argmax(decay < -5)) / 16000
        ratios.append(t20 / room["rt60"])
    assert 0.8 < np.median(ratios) < 1.25, ratios


def test_rir_bank_is_reproducible_and_records_its_simulator(generated, tmp_path):
    bank = generated / "rir_bank_seed0"
    record = json.loads((bank / "rooms.json").read_text())
    assert record["simulator"] == mns.RIR_SIMULATOR and sorted(record["rooms"]) == [
        f"room{k:03d}" for k in range(6)
    ]
    again = mns.build_rir_bank(tmp_path / "bank", seed=0, count=2)
    for uid in ("room000", "room001"):
        np.testing.assert_array_equal(
            sf.read(tmp_path / "bank" / f"{uid}.wav")[0], sf.read(bank / f"{uid}.wav")[0]
        )
    assert [line.split(",")[0] for line in again.read_text().splitlines()] == [
        "ID",
        "room000",
        "room001",
    ]
    # A bank made by another simulator (or an older record) is simulated again.
    stale = tmp_path / "bank" / "room000.wav"
    sf.write(stale, np.zeros(100), 16000, subtype="FLOAT")
    (tmp_path / "bank" / "rooms.json").write_text(
        json.dumps({"simulator": "hand-written", "rooms": record["rooms"]})
    )
    mns.build_rir_bank(tmp_path / "bank", seed=0, count=2)
    np.testing.assert_array_equal(sf.read(stale)[0], sf.read(bank / "room000.wav")[0])


def test_csv_lists_errors_name_the_file(tmp_path):
    no_wav = tmp_path / "no_wav.csv"
    no_wav.write_text("ID,duration,path\nfan,1.0,/tmp/fan.wav\n")
    with pytest.raises(ValueError, match="no_wav.csv: missing column 'wav'"):
        mns.read_sb_csv(no_wav)
    no_id = tmp_path / "no_id.csv"
    no_id.write_text("duration,wav\n1.0,/tmp/fan.wav\n")
    with pytest.raises(ValueError, match="no_id.csv: .*'ID'"):
        mns.read_sb_csv(no_id)
    empty = tmp_path / "empty.csv"
    empty.write_text("ID,duration,wav,wav_format,wav_opts\n")
    with pytest.raises(ValueError, match="empty.csv lists no file"):
        mns.read_sb_csv(empty)


def test_snr_range_parsing():
    assert mns.parse_snr_range("-5-5") == (-5.0, 5.0)
    with pytest.raises(ValueError):
        mns.parse_snr_range("30-20")


def test_docstring_examples():
    result = doctest.testmod(mns, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
