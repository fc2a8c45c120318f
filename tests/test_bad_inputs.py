"""The bad-input catalogue (README, "Troubleshooting"): one test per case.

Every case ends in an error that names the file and the problem, or in a documented handling
that is logged; never in a silent drop or a crash deep inside torch. The IEMOCAP recipe is
tested for every case (data preparation and ``train.py``'s data pipeline), MSP-Podcast where
its files differ (label CSV / JSON). The corpora come from ``ser_modules.testing.synthetic`` and are
corrupted in private copies.

Cases also covered elsewhere: ``tests/test_iemocap_prepare.py`` and
``tests/test_msp_podcast_prepare.py`` (missing session folder, malformed EmoDetail, out of
range ratings of the detailed JSON, ...), ``tests/test_audio.py`` (unreadable files).
"""

import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from ser_modules.data.audio import AudioFileError, load_audio
from ser_modules.data.checks import (
    MissingSplitError,
    NonFiniteError,
    UnknownLabelError,
    apply_duration_limit,
    check_required_splits,
)
from ser_modules.nn.pooling import build_pooling
from ser_modules.nn.ssl_encoder import SSLEncoder
from ser_modules.testing.synthetic import generate_iemocap, generate_msp_podcast
from ser_modules.training.experiment import HparamsError, check_overrides, load_experiment
from ser_modules.training.feature_cache import FeatureCache
from tests.conftest import recipe_module, run_recipe

ROOT = Path(__file__).resolve().parents[1]
IEMOCAP_RECIPE = ROOT / "recipes" / "IEMOCAP"
IEMOCAP_HPARAMS = IEMOCAP_RECIPE / "hparams" / "wavlm_corr_att.yaml"
check_release = recipe_module("MSP-Podcast", "check_release")
iemocap_prepare = recipe_module("IEMOCAP", "iemocap_prepare")
msp_podcast_prepare = recipe_module("MSP-Podcast", "msp_podcast_prepare")

FOUR_CLASS = ("neu", "hap", "exc", "ang", "sad")
EMOTIONS = ["neu", "hap", "ang", "sad"]
TURN_RE = re.compile(r"^\[[0-9.]+ - [0-9.]+\]\t(\S+)\t(\w+)\t\[")
SPAN_RE = re.compile(r"^\[([0-9.]+) - ([0-9.]+)\]")
TEST_SESSION = 4  # 7 four-class turns in the generated corpus (seed 0, 4 per speaker)


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assets(tmp_path_factory, tiny_wavlm):
    """Small generated corpora (read-only) and a tiny random WavLM."""
    root = tmp_path_factory.mktemp("bad_inputs")
    return {
        "root": root,
        "iemocap": generate_iemocap(root / "iemocap", per_speaker=4, progress=False),
        "msp1.11": generate_msp_podcast(root / "msp1.11", release="1.11", size=16, progress=False),
        "msp1.6": generate_msp_podcast(root / "msp1.6", release="1.6", size=8, progress=False),
        "ssl": tiny_wavlm,
    }


@pytest.fixture
def iemocap(assets, tmp_path):
    """A private copy of the IEMOCAP corpus."""
    return Path(shutil.copytree(assets["iemocap"], tmp_path / "IEMOCAP_full_release"))


@pytest.fixture
def msp(assets, tmp_path):
    """A private copy of the MSP-Podcast 1.11 corpus."""
    return Path(shutil.copytree(assets["msp1.11"], tmp_path / "MSP-Podcast"))


@pytest.fixture
def logs(caplog):
    """caplog at INFO for every logger."""
    caplog.set_level(logging.INFO)
    return caplog


def turns(corpus):
    """``[(evaluation file, line number, utterance id, label)]`` of every turn line."""
    found = []
    for path in sorted(corpus.glob("Session[1-5]/dialog/EmoEvaluation/*.txt")):
        if path.name.startswith("."):
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = TURN_RE.match(line)
            if match:
                found.append((path, number, match[1], match[2]))
    return found


def four_class_turns(corpus, session=TEST_SESSION):
    """The four-class turns of a session, as :func:`turns`."""
    return [
        turn for turn in turns(corpus) if turn[3] in FOUR_CLASS and int(turn[2][3:5]) == session
    ]


def wav_of(corpus, utt):
    """Path of an utterance's wav."""
    dialog = utt.rsplit("_", 1)[0]
    return corpus / f"Session{int(utt[3:5])}" / "sentences" / "wav" / dialog / f"{utt}.wav"


def replace_line(path, number, new_line):
    """Replaces line ``number`` (1-based) of a text file."""
    lines = path.read_text().splitlines()
    lines[number - 1] = new_line
    path.write_text("\n".join(lines) + "\n")


def prepare(corpus, out, session=TEST_SESSION):
    """IEMOCAP manifests of a fold; returns ``{split: path}``."""
    return iemocap_prepare.prepare_iemocap(corpus, out, session)


@pytest.fixture(scope="module")
def iemocap_train():
    """``recipes/IEMOCAP/train.py`` as a module (under a name of its own)."""
    return recipe_module("IEMOCAP", "train")


def consensus(msp_root):
    """The consensus CSV of an MSP-Podcast copy."""
    return next((msp_root / "Labels").glob("labels_con*sus.csv"))


def turn_span(path, number):
    """``(start, end)`` of the turn line ``number`` of an evaluation file."""
    start, end = SPAN_RE.match(path.read_text().splitlines()[number - 1]).groups()
    return float(start), float(end)


def set_turn_span(corpus, utt, seconds):
    """Makes an utterance's turn line span ``seconds`` (as for a wav of that length in the
    release)."""
    path, number = next(
        (path, number) for path, number, turn_utt, _ in turns(corpus) if turn_utt == utt
    )
    line = path.read_text().splitlines()[number - 1]
    start, _ = turn_span(path, number)
    replace_line(path, number, SPAN_RE.sub(f"[{start:.4f} - {start + seconds:.4f}]", line))


def truncate_keeping_header(wav, keep=1 / 3):
    """Cuts a 16-bit mono wav to ``keep`` of its samples, header intact (an interrupted copy)."""
    frames = soundfile.info(wav).frames
    with open(wav, "r+b") as stream:
        stream.truncate(wav.stat().st_size - 2 * (frames - int(frames * keep)))


def write_wav(path, signal, rate=16000):
    """Writes float samples as 16-bit PCM (or float when they are not finite)."""
    subtype = "PCM_16" if np.isfinite(signal).all() else "FLOAT"
    soundfile.write(path, signal, rate, subtype=subtype)


# --------------------------------------------------------------------------------------------
# 1. Missing or empty data folder
# --------------------------------------------------------------------------------------------
def test_missing_or_empty_data_folder_iemocap(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(
        FileNotFoundError, match=f"IEMOCAP data_folder not found: {re.escape(str(missing))}"
    ):
        prepare(missing, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "empty" / "Session1"))):
        prepare(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_or_empty_data_folder_msp(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(
        FileNotFoundError, match=f"MSP-Podcast data_folder not found: {re.escape(str(missing))}"
    ):
        msp_podcast_prepare.prepare_msp_podcast(missing, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"audio folder not found \(tried .*empty/Audios"):
        msp_podcast_prepare.prepare_msp_podcast(tmp_path / "empty", tmp_path / "out")


def test_data_folder_not_given_names_the_hparams_file():
    with pytest.raises(
        HparamsError, match=rf"{re.escape(str(IEMOCAP_HPARAMS))}: data_folder has no value"
    ):
        check_overrides(IEMOCAP_HPARAMS, "test_session: 2")


# --------------------------------------------------------------------------------------------
# 2. Evaluation or label file truncated, or with missing columns
# --------------------------------------------------------------------------------------------
def test_evaluation_file_truncated_inside_a_turn_line(iemocap, tmp_path):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[: number - 1] + [lines[number - 1][:30]]))  # cut mid-line
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=rf"{re.escape(str(path))}:{number}: malformed turn line",
    ):
        prepare(iemocap, tmp_path / "out")


def test_evaluation_file_truncated_between_turns_is_logged(iemocap, tmp_path, logs):
    path, number, utt, _ = four_class_turns(iemocap)[-1]
    lines = path.read_text().splitlines()
    lost = sorted(
        str(wav_of(iemocap, match[1])) for match in map(TURN_RE.match, lines[number - 1 :]) if match
    )
    path.write_text("\n".join(lines[: number - 1]) + "\n")  # this turn and the next ones are lost
    manifests = prepare(iemocap, tmp_path / "out")
    assert utt not in json.loads(Path(manifests["test"]).read_text())
    message = next(
        r.getMessage() for r in logs.records if "named by no turn line" in r.getMessage()
    )
    assert message.startswith(
        f"IEMOCAP: {len(lost)} wavs are named by no turn line of the evaluation files"
    )
    assert lost[0] in message


def test_turn_line_with_missing_columns(iemocap, tmp_path):
    path, number, utt, label = four_class_turns(iemocap)[0]
    replace_line(path, number, f"[1.0 - 2.0]\t{utt}\t{label}")  # no [V, A, D]
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=rf"{re.escape(str(path))}:{number}: malformed turn line",
    ):
        prepare(iemocap, tmp_path / "out")


def test_msp_consensus_csv_truncated_inside_a_row(msp, tmp_path):
    path = consensus(msp)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1] + [",".join(lines[-1].split(",")[:3])]) + "\n")
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError,
        match=rf"{re.escape(str(path))}:{len(lines)}: 3 of 8 fields .*truncated or malformed row",
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


def test_msp_consensus_csv_truncated_between_rows_is_logged(msp, tmp_path, logs):
    """The lost rows are not in the manifests; check_release.py reports their wavs."""
    path = consensus(msp)
    lines = path.read_text().splitlines()
    lost = lines[-1].split(",")[0]
    path.write_text("\n".join(lines[:-1]) + "\n")
    manifests = msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")
    assert all(lost[:-4] not in json.loads(Path(p).read_text()) for p in manifests.values())
    assert lost in check_release.check_release(msp)["unlabelled_wavs"]
    assert re.search(
        rf"\d+ wavs in .*Audios have no consensus label .*{re.escape(lost)}", logs.text
    )


def test_msp_consensus_csv_with_a_missing_column(msp, tmp_path):
    path = consensus(msp)
    rows = [line.split(",") for line in path.read_text().splitlines()]
    column = rows[0].index("EmoVal")
    path.write_text("\n".join(",".join(r[:column] + r[column + 1 :]) for r in rows) + "\n")
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError,
        match=rf"{re.escape(str(path))}: missing column\(s\) EmoVal",
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


def test_msp_detailed_json_truncated(assets, tmp_path):
    root = Path(shutil.copytree(assets["msp1.6"], tmp_path / "MSP-Podcast"))
    path = root / "Labels" / "labels_detailed.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError, match=rf"{re.escape(str(path))}: not valid JSON"
    ):
        msp_podcast_prepare.prepare_msp_podcast(root, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# 3. A wav named in the labels is missing
# --------------------------------------------------------------------------------------------
def test_missing_wav_iemocap(iemocap, tmp_path):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    wav = wav_of(iemocap, utt)
    wav.unlink()
    with pytest.raises(
        FileNotFoundError,
        match=rf"Missing wav {re.escape(str(wav))} \(named by {re.escape(str(path))}:{number}\)",
    ):
        prepare(iemocap, tmp_path / "out")


def test_missing_wav_msp(msp, tmp_path):
    path = consensus(msp)
    lines = path.read_text().splitlines()
    wav = msp / "Audios" / lines[1].split(",")[0]
    wav.unlink()
    with pytest.raises(
        FileNotFoundError,
        match=rf"Missing wav {re.escape(str(wav))} \(named by {re.escape(str(path))}:2\)",
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


def test_wav_removed_after_preparation(iemocap, tmp_path):
    manifests = prepare(iemocap, tmp_path / "out")
    wav = Path(next(iter(json.loads(Path(manifests["test"]).read_text()).values()))["wav"])
    wav.unlink()
    with pytest.raises(AudioFileError, match=rf"Cannot read audio file {re.escape(str(wav))}"):
        load_audio(wav)


# --------------------------------------------------------------------------------------------
# 4. A corrupt wav
# --------------------------------------------------------------------------------------------
def test_corrupt_wav_iemocap(iemocap, tmp_path):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    wav = wav_of(iemocap, utt)
    wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=(
            rf"Unreadable or corrupt wav {re.escape(str(wav))} \(named by"
            rf" {re.escape(str(path))}:{number}\)"
        ),
    ):
        prepare(iemocap, tmp_path / "out")


def test_corrupt_wav_msp(msp, tmp_path):
    wav = msp / "Audios" / consensus(msp).read_text().splitlines()[1].split(",")[0]
    wav.write_bytes(b"not a wav at all")
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError, match=rf"corrupt wav {re.escape(str(wav))}"
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# 5. Another sample rate (resampled) or stereo (down-mixed)
# --------------------------------------------------------------------------------------------
def make_stereo_44k(wav):
    """Rewrites a 16 kHz mono wav as 44.1 kHz stereo; returns the original samples."""
    original, rate = soundfile.read(wav, dtype="float32")
    resampled = torchaudio.functional.resample(torch.from_numpy(original), rate, 44100).numpy()
    write_wav(wav, np.stack([resampled, 0.5 * resampled], axis=1), 44100)
    return original


def test_other_sample_rate_and_stereo_are_converted_and_logged(iemocap, tmp_path, logs):
    utt = four_class_turns(iemocap)[0][2]
    wav = wav_of(iemocap, utt)
    original = make_stereo_44k(wav)
    manifests = prepare(iemocap, tmp_path / "out")
    assert "IEMOCAP: 1 audio files are not mono at 16000 Hz" in logs.text
    assert f"{wav} (44100 Hz, 2 channels)" in logs.text
    entry = json.loads(Path(manifests["test"]).read_text())[utt]
    assert entry["duration"] == pytest.approx(len(original) / 16000, abs=1e-3)
    read = load_audio(wav)
    assert abs(len(read) - len(original)) <= 1
    # the channel average of (x, x / 2) resampled back: 0.75 x
    n = min(len(read), len(original))
    assert np.corrcoef(read[:n].numpy(), original[:n])[0, 1] > 0.99
    assert float(read.abs().max()) == pytest.approx(0.75 * float(np.abs(original).max()), rel=0.05)


def test_other_sample_rate_is_logged_msp(msp, tmp_path, logs):
    wav = msp / "Audios" / consensus(msp).read_text().splitlines()[1].split(",")[0]
    signal, _ = soundfile.read(wav)
    write_wav(wav, signal[::2], 8000)
    msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")
    assert re.search(
        rf"MSP-Podcast \w+: 1 audio files are not mono at 16000 Hz.*{re.escape(str(wav))} \(8000"
        r" Hz\)",
        logs.text,
    )


# --------------------------------------------------------------------------------------------
# 6. A silent or a 0.05 s utterance
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder(assets):
    return SSLEncoder(str(assets["ssl"]), save_path=str(assets["root"] / "hf_cache"))


def test_silent_utterance_goes_through_with_a_warning(encoder, tmp_path, logs):
    wav = tmp_path / "silent.wav"
    write_wav(wav, np.zeros(16000))
    signal = load_audio(wav)
    assert f"Audio file {wav} is silent" in logs.text
    hiddens = encoder(signal[None], torch.ones(1))
    assert torch.isfinite(hiddens).all()  # per-utterance normalisation of zeros: no NaN
    pooled = build_pooling("corr_att", hiddens.shape[-1])(hiddens[-1], torch.ones(1))
    assert torch.isfinite(pooled).all()


def test_utterance_of_50_ms_gives_two_frames(encoder, tmp_path, logs):
    wav = tmp_path / "short.wav"
    write_wav(wav, 0.1 * np.random.default_rng(0).standard_normal(800))
    signal = load_audio(wav)
    assert signal.shape == (800,) and "zero-padded" not in logs.text
    hiddens = encoder(signal[None], torch.ones(1))
    assert hiddens.shape[2] == 2 and torch.isfinite(hiddens).all()
    pooled = build_pooling("corr", hiddens.shape[-1])(hiddens[-1], torch.ones(1))
    assert torch.isfinite(pooled).all()


def test_utterance_shorter_than_the_cnn_receptive_field_is_padded(encoder, tmp_path, logs):
    wav = tmp_path / "tiny.wav"
    write_wav(wav, 0.1 * np.random.default_rng(0).standard_normal(160))  # 10 ms
    signal = load_audio(wav)
    assert signal.shape == (encoder.min_input_samples,)
    assert (
        f"Audio file {wav} holds 160 samples" in logs.text
        and "zero-padded to 400 samples" in logs.text
    )
    assert encoder(signal[None], torch.ones(1)).shape[2] == 1
    with pytest.raises(
        ValueError, match="Input of 160 samples: the CNN feature encoder needs at least 400"
    ):
        encoder(torch.zeros(1, 160), torch.ones(1))


# --------------------------------------------------------------------------------------------
# 7. An utterance longer than the configured maximum
# --------------------------------------------------------------------------------------------
def long_threshold(manifest):
    """A max_duration between the durations of a manifest (some utterances are longer)."""
    durations = sorted(
        entry["duration"] for entry in json.loads(Path(manifest).read_text()).values()
    )
    return round(durations[len(durations) * 2 // 3], 2)


def expected_long(manifest, max_duration):
    """``{utt: duration}`` longer than ``max_duration``, from the wav headers."""
    entries = json.loads(Path(manifest).read_text())
    return {
        utt: soundfile.info(e["wav"]).duration
        for utt, e in entries.items()
        if soundfile.info(e["wav"]).duration > max_duration
    }


@pytest.mark.parametrize("mode", ["crop", "skip"])
def test_long_utterances_are_listed_logged_and_cropped_or_skipped(assets, tmp_path, logs, mode):
    manifests = {k: str(v) for k, v in prepare(assets["iemocap"], tmp_path / "prep").items()}
    limit = long_threshold(manifests["train"])
    long_train = expected_long(manifests["train"], limit)
    assert long_train
    limited = apply_duration_limit(manifests, limit, mode)
    listing = tmp_path / "prep" / f"train_longer_than_{limit:g}s.txt"
    assert [line.split("\t")[0] for line in listing.read_text().splitlines()] == sorted(
        long_train, key=lambda u: (-long_train[u], u)
    )
    action = (
        "left out of training (long_utterance: skip)"
        if mode == "skip"
        else f"cropped to their first {limit:g} s"
    )
    assert (
        f"{len(long_train)} of {len(json.loads(Path(manifests['train']).read_text()))} utterances"
        f" of {manifests['train']} are longer than max_duration={limit:g} s and are {action};"
        f" listed in {listing}" in logs.text
    )
    train = json.loads(Path(limited["train"]).read_text())
    if mode == "skip":
        assert limited["train"] != manifests["train"] and not set(train) & set(long_train)
        assert len(train) == len(json.loads(Path(manifests["train"]).read_text())) - len(long_train)
    else:
        assert limited["train"] == manifests["train"] and set(long_train) <= set(train)
    for split in ("valid", "test"):  # never shortened: cropped
        assert limited[split] == manifests[split]


def test_long_utterances_are_cropped_by_the_data_pipeline(assets, tmp_path, iemocap_train):
    manifests = {k: str(v) for k, v in prepare(assets["iemocap"], tmp_path / "prep").items()}
    limit = long_threshold(manifests["test"])
    datasets = iemocap_train.dataio_prepare(
        {"emotions": EMOTIONS, "max_duration": limit}, manifests, cache=None
    )
    lengths = {item["id"]: len(item["sig"]) for item in datasets["test"]}
    entries = json.loads(Path(manifests["test"]).read_text())
    for utt, length in lengths.items():
        assert length == min(round(entries[utt]["duration"] * 16000), round(limit * 16000))
    assert max(lengths.values()) == round(limit * 16000)


def test_invalid_long_utterance_option(assets, tmp_path):
    manifests = prepare(assets["iemocap"], tmp_path / "prep")
    with pytest.raises(
        ValueError, match="long_utterance must be one of \\('crop', 'skip'\\), got 'drop'"
    ):
        apply_duration_limit(manifests, 3.0, "drop")


# --------------------------------------------------------------------------------------------
# 8. NaN or inf in features or audio
# --------------------------------------------------------------------------------------------
def test_nan_in_cached_features_names_the_entry_and_the_wav(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, 0.1 * np.random.default_rng(0).standard_normal(16000))
    cache = FeatureCache(tmp_path / "cache", "any-encoder")
    entry = cache.path_for(wav)
    entry.parent.mkdir(parents=True)
    torch.save(torch.tensor([[[1.0, float("nan")]], [[float("inf"), 0.0]]]).half(), entry)
    with pytest.raises(
        NonFiniteError,
        match=rf"Cached features {re.escape(str(entry))} of {re.escape(str(wav))} "
        r".*: 1 NaN and 1 infinite values \(of 4\)",
    ):
        cache.load(wav)


def test_nan_from_the_encoder_is_detected_at_extraction(tmp_path):
    class NaNEncoder(torch.nn.Module):
        def forward(self, wavs, lens):
            return torch.full((2, wavs.shape[0], wavs.shape[1] // 320, 3), float("nan"))

        def frame_lengths(self, lens, num_samples, num_frames):
            return lens

    wav = tmp_path / "a.wav"
    write_wav(wav, 0.1 * np.random.default_rng(0).standard_normal(16000))
    with pytest.raises(
        FloatingPointError, match=f"Non-finite features extracted from {re.escape(str(wav))}"
    ):
        FeatureCache(tmp_path / "cache", "nan-encoder").build(
            NaNEncoder(), [wav], progressbar=False
        )


def test_nan_hidden_states_of_the_upstream_name_the_utterances(iemocap_train):
    nan_upstream = SimpleNamespace(ssl=lambda wavs, lens: torch.full((3, 2, 4, 5), float("nan")))
    brain = SimpleNamespace(hparams=SimpleNamespace(use_feature_cache=False), modules=nan_upstream)
    batch = SimpleNamespace(
        id=["Ses04F_a_F000", "Ses04F_a_M001"], sig=(torch.zeros(2, 800), torch.ones(2))
    )
    with pytest.raises(
        NonFiniteError, match=r"Hidden states of Ses04F_a_F000, Ses04F_a_M001: 120 NaN"
    ):
        iemocap_train.EmotionBrain.compute_features(brain, batch)


def test_nan_or_inf_in_audio_names_the_file(tmp_path):
    for value in (float("nan"), float("inf")):
        wav = tmp_path / f"{value}.wav"
        signal = np.zeros(16000, dtype=np.float32)
        signal[100] = value
        write_wav(wav, signal)
        with pytest.raises(
            AudioFileError, match=rf"Audio file {re.escape(str(wav))} holds non-finite samples"
        ):
            load_audio(wav)


# --------------------------------------------------------------------------------------------
# 9. An unknown label
# --------------------------------------------------------------------------------------------
def test_unknown_iemocap_label_names_file_and_line(iemocap, tmp_path):
    path, number, utt, label = four_class_turns(iemocap)[0]
    line = path.read_text().splitlines()[number - 1]
    replace_line(path, number, line.replace(f"\t{label}\t", "\tjoy\t"))
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=rf"{re.escape(str(path))}:{number}: unknown emotion label 'joy' of {utt}",
    ):
        prepare(iemocap, tmp_path / "out")


def test_labels_outside_the_four_classes_are_dropped_with_counts(assets, tmp_path, logs):
    prepare(assets["iemocap"], tmp_path / "out")
    excluded = Counter(label for *_, label in turns(assets["iemocap"]) if label not in FOUR_CLASS)
    assert excluded
    line = next(r.getMessage() for r in logs.records if "excluded:" in r.getMessage())
    for label, count in excluded.items():
        assert f"{label} {count}" in line
    assert f"{sum(excluded.values())} excluded" in line


def test_unknown_label_in_a_manifest_names_the_manifest(assets, tmp_path, iemocap_train):
    manifests = {k: str(v) for k, v in prepare(assets["iemocap"], tmp_path / "prep").items()}
    entries = json.loads(Path(manifests["valid"]).read_text())
    utt = sorted(entries)[0]
    entries[utt]["emo"] = "fru"
    Path(manifests["valid"]).write_text(json.dumps(entries))
    with pytest.raises(
        UnknownLabelError, match=rf"{re.escape(manifests['valid'])}: utterance {utt} has emo 'fru'"
    ):
        iemocap_train.dataio_prepare(
            {"emotions": EMOTIONS, "max_duration": None}, manifests, cache=None
        )


@pytest.mark.parametrize(
    "value, problem", [("9", r"out of \[1, 7\]: '9'"), ("high", "is not a number: 'high'")]
)
def test_msp_rating_outside_1_to_7_or_not_numeric(msp, tmp_path, value, problem):
    path = consensus(msp)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[2].split(",")
    row[header.index("EmoAct")] = value
    lines[2] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError,
        match=rf"{re.escape(str(path))}:3: EmoAct of {re.escape(row[0])} {problem}",
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# 9b. A truncated wav, a malformed evaluator line, NaN in [V, A, D], a misspelt partition
# --------------------------------------------------------------------------------------------
def long_test_turn(corpus, at_least=2.0):
    """A four-class test turn of at least ``at_least`` seconds: ``(file, line, utt, wav, span)``."""
    for path, number, utt, _ in four_class_turns(corpus):
        start, end = turn_span(path, number)
        if end - start >= at_least:
            return path, number, utt, wav_of(corpus, utt), end - start
    raise AssertionError("no long enough turn")


def test_truncated_wav_with_an_intact_header_iemocap(iemocap, tmp_path):
    path, number, utt, wav, span = long_test_turn(iemocap)
    truncate_keeping_header(wav)
    assert soundfile.info(wav).duration == pytest.approx(
        span / 3, abs=0.01
    )  # what libsndfile reads, silently
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=(
            rf"Truncated wav {re.escape(str(wav))} \(named by {re.escape(str(path))}:{number}\):"
            r" its "
            rf"header declares {span:.2f} s of audio, the file holds {span / 3:.2f} s"
        ),
    ):
        prepare(iemocap, tmp_path / "out")
    assert not (tmp_path / "out" / "test.json").exists()


def test_truncated_wav_with_an_intact_header_msp(msp, tmp_path):
    path = consensus(msp)
    wav = msp / "Audios" / path.read_text().splitlines()[1].split(",")[0]
    seconds = soundfile.info(wav).duration
    truncate_keeping_header(wav)
    with pytest.raises(
        msp_podcast_prepare.MSPPodcastFormatError,
        match=(
            rf"Truncated wav {re.escape(str(wav))} \(named by {re.escape(str(path))}:2\): its"
            r" header "
            rf"declares {seconds:.2f} s of audio, the file holds {seconds / 3:.2f} s"
        ),
    ):
        msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")


def test_wav_shorter_than_its_turn_line_iemocap(iemocap, tmp_path):
    """A truncated file whose header was rewritten (e.g. re-encoded): the turn line tells."""
    path, number, utt, wav, span = long_test_turn(iemocap)
    signal, rate = soundfile.read(wav)
    write_wav(wav, signal[: len(signal) // 3])
    held = (len(signal) // 3) / rate
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=(
            rf"^1 wavs differ from the span of their turn line by more than duration_tolerance=1 s "
            rf"\(truncated or wrong files\?\), e.g. {re.escape(str(wav))} holds {held:.2f} s, "
            rf"{re.escape(str(path))}:{number} says {span:.2f} s"
        ),
    ):
        prepare(iemocap, tmp_path / "out")
    manifests = iemocap_prepare.prepare_iemocap(
        iemocap, tmp_path / "out", TEST_SESSION, duration_tolerance=None
    )
    assert (
        json.loads(Path(manifests["test"]).read_text())[utt]["duration"] == held
    )  # accepted on request


def evaluator_line_after(path, number):
    """Line number of the first ``C-E`` line after the turn line ``number``."""
    lines = path.read_text().splitlines()
    return next(k for k in range(number + 1, len(lines) + 1) if lines[k - 1].startswith("C-E"))


@pytest.mark.parametrize(
    "damage, problem",
    [
        (
            lambda line: line.replace(":", "", 1),
            "malformed evaluator line",
        ),  # C-E2<TAB>Neutral state;
        (lambda line: line.replace("C-E", "C-E ", 1), "malformed evaluator line"),  # C-E 2:
        (lambda line: line.split("\t")[0] + "\t\t()", "evaluator line without any category"),
    ],
)
def test_malformed_evaluator_line_names_file_and_line(iemocap, tmp_path, damage, problem):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    evaluator = evaluator_line_after(path, number)
    replace_line(path, evaluator, damage(path.read_text().splitlines()[evaluator - 1]))
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError, match=rf"{re.escape(str(path))}:{evaluator}: {problem}"
    ):
        prepare(iemocap, tmp_path / "out")


def test_unknown_evaluator_category_is_counted_in_a_warning(iemocap, tmp_path, logs):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    evaluator = evaluator_line_after(path, number)
    line = path.read_text().splitlines()[evaluator - 1]
    replace_line(
        path, evaluator, line.split("\t")[0] + "\tAngr;\t()"
    )  # a typo: that vote is not a class vote
    manifests = prepare(iemocap, tmp_path / "out")
    assert (
        "IEMOCAP: 1 evaluator categories are not IEMOCAP's (Angr 1): counted in n_votes, no class"
        f" vote; e.g. 'Angr' (turn at {path}:{number})" in logs.text
    )
    assert json.loads(Path(manifests["test"]).read_text())[utt]["n_evaluators"] >= 1


@pytest.mark.parametrize("vad", ["nan, 2.5000, 3.0000", "2.5000, inf, 3.0000"])
def test_nan_in_valence_arousal_dominance_names_file_and_line(iemocap, tmp_path, vad):
    path, number, utt, _ = four_class_turns(iemocap)[0]
    line = path.read_text().splitlines()[number - 1]
    replace_line(path, number, line[: line.rindex("[")] + f"[{vad}]")
    with pytest.raises(
        iemocap_prepare.IEMOCAPFormatError,
        match=rf"{re.escape(str(path))}:{number}: malformed \[valence, arousal, dominance\]: "
        rf"\[{vad}\] \(three finite numbers expected\)",
    ):
        prepare(iemocap, tmp_path / "out")


def test_misspelt_msp_partition_warns_once_and_the_recipe_refuses(msp, tmp_path, logs):
    path = consensus(msp)
    rows = [line.split(",") for line in path.read_text().splitlines()]
    column = rows[0].index("Split_Set")
    renamed = 0
    for row in rows[1:]:
        if row[column] == "Test1":
            row[column], renamed = "Test 1", renamed + 1
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    assert renamed > 1
    manifests = msp_podcast_prepare.prepare_msp_podcast(msp, tmp_path / "out")
    warnings = [r.getMessage() for r in logs.records if "Test 1" in r.getMessage()]
    assert warnings == [
        f"MSP-Podcast: unexpected partition name 'Test 1' ({renamed} files; expected Train, "
        "Development, Validation or Test<k>): written as test_1.json, which the recipe does not "
        "evaluate as a test split. Fix Split_Set / Partitions.txt if it is a misspelt partition"
    ]
    assert "test1" not in manifests and "test_1" in manifests
    with pytest.raises(
        MissingSplitError,
        match=rf"{re.escape(str(tmp_path / 'out'))}: no test1 manifest .*test_1 "
        r"holds partition 'Test 1' of the release",
    ):
        check_required_splits(manifests, ["train", "valid", "test1"], tmp_path / "out")


# --------------------------------------------------------------------------------------------
# 10. An override with a typo in a key name
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("--lrr=0.1", "--lr"),
        ("--number_of_epoch=3", "--number_of_epochs"),
        ("--devcie=cpu", "--device"),
    ],
)
def test_override_typo_names_the_file_and_suggests_the_key(typo, suggestion, tmp_path):
    argv = [str(IEMOCAP_HPARAMS), f"--data_folder={tmp_path}", typo]
    key = typo[2:].split("=")[0]
    with pytest.raises(
        HparamsError,
        match=rf"Unknown override --{key}: not a key of {re.escape(str(IEMOCAP_HPARAMS))}. "
        rf"Did you mean {suggestion}\b",
    ):
        load_experiment(argv, script=str(IEMOCAP_RECIPE / "train.py"))
    assert not list(tmp_path.iterdir())  # nothing was created


# --------------------------------------------------------------------------------------------
# End to end: one train.py run through every handled case
# --------------------------------------------------------------------------------------------
def test_train_runs_through_converted_silent_short_and_long_utterances(assets, iemocap, tmp_path):
    """44.1 kHz stereo, silent, 50 ms and 10 ms test utterances, long training ones skipped."""
    test_turns = four_class_turns(iemocap)
    stereo, silent, short, tiny = (wav_of(iemocap, turn[2]) for turn in test_turns[:4])
    make_stereo_44k(stereo)
    write_wav(silent, np.zeros(16000))
    write_wav(short, 0.1 * np.random.default_rng(1).standard_normal(800))
    write_wav(tiny, 0.1 * np.random.default_rng(2).standard_normal(160))
    for turn, seconds in zip(
        test_turns[1:4], (1.0, 0.05, 0.01)
    ):  # their turn lines say so, as in a release
        set_turn_span(iemocap, turn[2], seconds)
    clean = prepare(assets["iemocap"], tmp_path / "clean_prep")
    limit = long_threshold(clean["train"])
    experiment = tmp_path / "exp"
    args = [
        str(IEMOCAP_HPARAMS),
        f"--data_folder={iemocap}",
        f"--ssl_hub={assets['ssl']}",
        f"--experiment_folder={experiment}",
        f"--ssl_folder={tmp_path / 'hf_cache'}",
        f"--feature_cache_folder={tmp_path / 'feature_cache'}",
        f"--test_session={TEST_SESSION}",
        "--number_of_epochs=1",
        "--batch_size=8",
        "--projector_dim=16",
        "--noprogressbar",
        f"--max_duration={limit}",
        "--long_utterance=skip",
    ]
    run_recipe("IEMOCAP", args, tmp_path)
    fold = experiment / f"session{TEST_SESSION}"
    log = (fold / "log.txt").read_text()
    assert f"{stereo} (44100 Hz, 2 channels)" in log
    assert f"Audio file {silent} is silent" in log
    assert f"Audio file {tiny} holds 160 samples" in log
    long_train = expected_long(fold / "manifests" / "train.json", limit)
    assert f"{len(long_train)} of " in log and "left out of training (long_utterance: skip)" in log
    listed = (fold / "manifests" / f"train_longer_than_{limit:g}s.txt").read_text().splitlines()
    assert {line.split("\t")[0] for line in listed} == set(long_train)
    results = json.loads((fold / "test_results.json").read_text())
    assert results["num_samples"] == len(test_turns)  # every test utterance scored
    predictions = (fold / "predictions.csv").read_text()
    for turn in test_turns[:4]:
        assert turn[2] in predictions
