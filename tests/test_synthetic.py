"""Tests of ser_modules.testing.synthetic: the generated corpora are parsed here with independent
code (regular expressions over the IEMOCAP text files, csv/json for MSP-Podcast), checked against
the formats of the real releases, and shown to be learnable from simple prosodic features."""

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ser_modules.testing import synthetic

REPO = Path(__file__).resolve().parents[1]
IEMOCAP_PER_SPEAKER = 12  # 120 turns
MSP_SIZE = 150

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


# ------------------------------------------------------------------------------------------
# Fixtures: small corpora, generated once per test session
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def iemocap_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("iemocap")
    return synthetic.generate_iemocap(out, seed=1, per_speaker=IEMOCAP_PER_SPEAKER, progress=False)


@pytest.fixture(scope="session")
def msp_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("msp111")
    return synthetic.generate_msp_podcast(
        out, release="1.11", seed=1, size=MSP_SIZE, progress=False
    )


@pytest.fixture(scope="session")
def msp16_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("msp16")
    return synthetic.generate_msp_podcast(out, release="1.6", seed=2, size=16, progress=False)


# ------------------------------------------------------------------------------------------
# Independent parsers
# ------------------------------------------------------------------------------------------
TURN = re.compile(
    r"^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t"
    r"(Ses0([1-5])([FM])_(impro\d\d|script\d\d_\d)_([FM])\d{3})\t"
    r"([a-z]{3})\t\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$"
)
CATEGORY = r"[A-Z][a-z]+(?: [a-z]+)?;"  # "Anger;", "Neutral state;"
CATEGORICAL = re.compile(rf"^C-([EFM]\d):\t((?:{CATEGORY} )*{CATEGORY})\t\((.*)\)$")
ATTRIBUTE = re.compile(r"^A-([EFM]\d):\tval (\d); act (\d); dom  (\d);\t\((.*)\)$")
TRANSCRIPT = re.compile(r"^(\S+) \[(\d{3}\.\d{4})-(\d{3}\.\d{4})\]: (.+)$")
NAME_TO_CODE = {
    "Neutral state": "neu",
    "Happiness": "hap",
    "Excited": "exc",
    "Anger": "ang",
    "Sadness": "sad",
    "Frustration": "fru",
    "Surprise": "sur",
    "Fear": "fea",
    "Disgust": "dis",
    "Other": "oth",
}


def parse_emo_evaluation(path):
    """Turns of one EmoEvaluation file: dicts with times, id, label, vad, votes, ratings."""
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
    assert lines[1] == ""
    turns, current = [], None
    for line in lines[2:]:
        if line == "":
            if current is not None:
                turns.append(current)
            current = None
            continue
        m = TURN.match(line)
        if m:
            assert current is None, f"no blank line before {line!r}"
            current = {
                "start": float(m[1]),
                "end": float(m[2]),
                "utt": m[3],
                "session": int(m[4]),
                "dialog_gender": m[5],
                "dialog": f"Ses0{m[4]}{m[5]}_{m[6]}",
                "speaker": m[7],
                "label": m[8],
                "vad": tuple(float(m[i]) for i in (9, 10, 11)),
                "votes": {},
                "ratings": {},
            }
            continue
        assert current is not None, f"line outside a turn: {line!r}"
        m = CATEGORICAL.match(line)
        if m:
            names = [n.strip() for n in m[2].split(";") if n.strip()]
            current["votes"][m[1]] = [NAME_TO_CODE[n] for n in names]
            continue
        m = ATTRIBUTE.match(line)
        assert m, f"unexpected line {line!r}"
        current["ratings"][m[1]] = tuple(int(m[i]) for i in (2, 3, 4))
    assert current is None, "the file must end with a blank line"
    return turns


def iemocap_turns(root):
    turns = []
    for path in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        if path.name.startswith("._"):
            continue
        file_turns = parse_emo_evaluation(path)
        assert all(t["dialog"] == path.stem for t in file_turns)
        turns += file_turns
    return turns


def iemocap_wav(root, turn):
    session = root / f"Session{turn['session']}"
    return session / "sentences" / "wav" / turn["dialog"] / f"{turn['utt']}.wav"


def assert_pcm16_mono_16k(path):
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), path
    return info.frames / info.samplerate


DETAIL = re.compile(
    r"^(WORKER\d{8}); ([A-Za-z]+); (?:([A-Za-z,]*); )?A:(\d\.\d); V:(\d\.\d); D:(\d\.\d);$"
)


def csv_lines(path):
    """The lines of a CSV file as lists of fields, the header first (columns by position)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def tree_digest(root):
    digest = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


# ------------------------------------------------------------------------------------------
# Simple prosodic features (energy, crude F0, spectral tilt, speech rate, pauses)
# ------------------------------------------------------------------------------------------
def prosodic_features(path, n_words):
    x, sr = sf.read(str(path))
    length, hop = 640, 160
    n = 1 + (len(x) - length) // hop
    frames = x[np.arange(length)[None, :] + hop * np.arange(n)[:, None]] * np.hanning(length)
    db = 10 * np.log10((frames**2).mean(1) + 1e-10)
    speech = db > db.max() - 30
    spec = np.abs(np.fft.rfft(frames, 1024)) ** 2
    freqs = np.fft.rfftfreq(1024, 1 / sr)
    # F0: autocorrelation of the low-passed frame, window-corrected; shortest strong peak
    ac = np.fft.irfft(spec * (freqs < 1000), 1024)[:, :300]
    window = np.fft.irfft(np.abs(np.fft.rfft(np.hanning(length), 1024)) ** 2, 1024)[:300]
    ac = (ac / window) / (ac[:, :1] / window[0] + 1e-12)
    lo, hi = 40, 229  # 400..70 Hz
    seg = ac[:, lo - 1 : hi + 1]
    mid = seg[:, 1:-1]
    best = mid.max(1, keepdims=True)
    peaks = (mid > seg[:, :-2]) & (mid >= seg[:, 2:]) & (mid >= 0.85 * best)
    voiced = speech & (best[:, 0] > 0.8) & peaks.any(1)
    f0 = np.log(sr / (lo + peaks.argmax(1)[voiced])) if voiced.sum() > 3 else np.zeros(4)
    half = len(f0) // 2
    high = spec[speech][:, freqs > 2000].sum(1) / (spec[speech].sum(1) + 1e-12)
    duration = len(x) / sr
    loud = db[speech]
    return np.array(
        [
            loud.mean(),
            loud.std(),
            np.percentile(loud, 95),
            speech.mean(),
            voiced.sum() / max(speech.sum(), 1),
            np.median(f0),
            np.percentile(f0, 75) - np.percentile(f0, 25),
            np.percentile(f0, 90) - np.percentile(f0, 10),
            np.median(f0[half:]) - np.median(f0[:half]),
            np.log(high.mean() + 1e-9),
            np.log(speech.sum() * hop / sr / n_words),
            np.log(duration / n_words),
            np.sum(np.diff(speech.astype(int)) == -1) / duration,
        ]
    )


def normalise_per_group(features, groups):
    features = features.copy()
    for group in set(groups):
        rows = groups == group
        features[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-9)
    return features


# ------------------------------------------------------------------------------------------
# IEMOCAP
# ------------------------------------------------------------------------------------------
def test_iemocap_layout_counts_and_wavs(iemocap_root):
    assert iemocap_root.name == "IEMOCAP_full_release"
    assert sorted(p.name for p in iemocap_root.iterdir()) == [f"Session{k}" for k in range(1, 6)]
    turns = iemocap_turns(iemocap_root)
    assert len(turns) == 10 * IEMOCAP_PER_SPEAKER
    assert len({t["utt"] for t in turns}) == len(turns)
    per_speaker = Counter((t["session"], t["speaker"]) for t in turns)
    assert per_speaker == {(k, g): IEMOCAP_PER_SPEAKER for k in range(1, 6) for g in "FM"}
    for session in range(1, 6):
        dialogs = {t["dialog"] for t in turns if t["session"] == session}
        assert any("_impro" in d for d in dialogs) and any("_script" in d for d in dialogs)
        assert {d[5] for d in dialogs} == {"F", "M"}  # dialogs named after both actors
    assert any(re.fullmatch(r"Ses0\d[FM]_script\d\d_\d_[FM]\d{3}", t["utt"]) for t in turns)
    for turn in turns:
        duration = assert_pcm16_mono_16k(iemocap_wav(iemocap_root, turn))
        assert abs(turn["end"] - turn["start"] - duration) < 2e-3, turn["utt"]


def test_iemocap_turn_times_are_consecutive(iemocap_root):
    by_dialog = defaultdict(list)
    for turn in iemocap_turns(iemocap_root):
        by_dialog[turn["dialog"]].append(turn)
    for turns in by_dialog.values():
        assert turns[0]["start"] > 0
        for before, after in zip(turns, turns[1:]):
            assert after["start"] > before["end"]


def test_iemocap_labels_votes_and_ratings(iemocap_root):
    turns = iemocap_turns(iemocap_root)
    labels = Counter(t["label"] for t in turns)
    assert {"neu", "hap", "exc", "ang", "sad"} <= set(labels)
    assert {"fru", "sur", "xxx", "oth"} <= set(labels)  # to be excluded by a recipe
    disagreements = 0
    for turn in turns:
        evaluators = {e: v for e, v in turn["votes"].items() if e.startswith("E")}
        assert len(evaluators) == 3
        counts = Counter(code for votes in evaluators.values() for code in set(votes))
        (top, n), *rest = counts.most_common()
        has_majority = 2 * n > len(evaluators) and not (rest and rest[0][1] == n)
        if turn["label"] == "xxx":
            assert not has_majority, turn["utt"]
        else:
            assert has_majority and top == turn["label"], turn["utt"]
        disagreements += len(counts) > 1
        assert set(turn["votes"]) - set(evaluators) <= {"F1", "M1"}
        attribute = [r for e, r in turn["ratings"].items() if e.startswith("E")]
        assert len(attribute) == 2 and all(1 <= x <= 5 for r in attribute for x in r)
        assert np.allclose(np.mean(attribute, axis=0), turn["vad"], atol=5e-5)
    assert 0.1 * len(turns) < disagreements < len(turns)
    assert any(set(t["votes"]) & {"F1", "M1"} for t in turns)  # self-evaluations


def test_iemocap_emotions_follow_valence_and_arousal_ratings(iemocap_root):
    by_label = defaultdict(list)
    for turn in iemocap_turns(iemocap_root):
        by_label[turn["label"]].append(turn["vad"])
    mean = {label: np.mean(v, axis=0) for label, v in by_label.items()}
    assert mean["hap"][0] > mean["neu"][0] > mean["ang"][0]  # valence
    assert mean["ang"][1] > mean["neu"][1] > mean["sad"][1]  # arousal
    assert mean["exc"][1] > mean["hap"][1]  # excited: a stronger happy


def test_iemocap_transcriptions_match_evaluations(iemocap_root):
    turns = {t["utt"]: t for t in iemocap_turns(iemocap_root)}
    seen = set()
    for path in iemocap_root.glob("Session*/dialog/transcriptions/*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = TRANSCRIPT.match(line)
            assert m, line
            turn = turns[m[1]]
            assert abs(float(m[2]) - turn["start"]) < 1e-3 and abs(float(m[3]) - turn["end"]) < 1e-3
            seen.add(m[1])
    assert seen == set(turns)


def test_iemocap_extra_folders_and_decoys(iemocap_root):
    listed = {iemocap_wav(iemocap_root, t) for t in iemocap_turns(iemocap_root)}
    for session in iemocap_root.iterdir():
        emo = session / "dialog" / "EmoEvaluation"
        for sub in ("Categorical", "Attribute"):
            assert any((emo / sub).glob("*.txt")), sub
        assert list(emo.glob("._*.txt"))
        with pytest.raises(UnicodeDecodeError):
            next(emo.glob("._*.txt")).read_text(encoding="utf-8")
        assert list(session.glob("sentences/ForcedAlignment/*/*.wdseg"))
        dialog_wav = next((session / "dialog" / "wav").glob("*.wav"))
        assert sf.info(str(dialog_wav)).channels == 2
        hidden = list(session.glob("sentences/wav/*/._*.wav"))
        assert hidden
        with pytest.raises(sf.LibsndfileError):
            sf.info(str(hidden[0]))
    globbed = set(iemocap_root.glob("Session*/sentences/wav/*/*.wav"))
    assert listed < globbed  # globbing wavs picks decoys up: read the evaluation files
    assert list(iemocap_root.glob("Session*/dialog/EmoEvaluation/Self-evaluation/*.txt"))


def test_iemocap_four_classes_are_learnable_from_prosody(iemocap_root):
    merge = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
    texts = {}
    for path in iemocap_root.glob("Session*/dialog/transcriptions/*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = TRANSCRIPT.match(line)
            texts[m[1]] = m[4]
    rows, labels, speakers = [], [], []
    for turn in iemocap_turns(iemocap_root):
        if turn["label"] not in merge:
            continue
        n_words = len(texts[turn["utt"]].split())
        rows.append(prosodic_features(iemocap_wav(iemocap_root, turn), n_words))
        labels.append(merge[turn["label"]])
        speakers.append(f"{turn['session']}{turn['speaker']}")
    features = normalise_per_group(np.array(rows), np.array(speakers))
    labels = np.array(labels)
    chance = max(Counter(labels).values()) / len(labels)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = cross_val_score(
        model, features, labels, cv=StratifiedKFold(4, shuffle=True, random_state=0)
    ).mean()
    assert chance < 0.4
    assert accuracy > 0.55, (accuracy, chance)


# ------------------------------------------------------------------------------------------
# MSP-Podcast
# ------------------------------------------------------------------------------------------
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


def check_consensus_rows(rows, splits):
    assert rows[0] == CONSENSUS_HEADER
    body = rows[1:]
    assert len({r[0] for r in body}) == len(body)
    for name, emo_class, act, val, dom, speaker, gender, split in body:
        assert re.fullmatch(r"MSP-PODCAST_\d{4}_\d{4}\.wav", name)
        assert emo_class in set("NHASUFDCOX")
        for value in (act, val, dom):
            assert re.fullmatch(r"[1-7]\.\d{1,6}", value), value
        assert speaker == "Unknown" or re.fullmatch(r"\d+", speaker)
        assert gender in {"Male", "Female", "Unknown"}
        assert split in splits
    assert {r[7] for r in body} == splits
    assert any(r[5] == "Unknown" for r in body) and any(r[5] != "Unknown" for r in body)
    assert {"N", "H", "X"} <= {r[1] for r in body}
    return {r[0]: r for r in body}


def check_ratings(consensus, ratings):
    """ratings: FileName -> list of (worker, act, val, dom) as floats."""
    assert set(ratings) == set(consensus)
    spreads = []
    for name, rows in ratings.items():
        assert 5 <= len(rows) <= 8
        assert len({w for w, *_ in rows}) == len(rows)
        values = np.array([r[1:] for r in rows])
        assert np.all(values == np.round(values)) and values.min() >= 1 and values.max() <= 7
        written = np.array([float(x) for x in consensus[name][2:5]])
        assert np.allclose(values.mean(axis=0), written, atol=5e-7, rtol=0), name
        spreads.append(values.std(axis=0).mean())
    assert min(spreads) < 0.5 < max(spreads)  # disagreement varies by utterance


def test_msp_v111_layout_and_labels(msp_root):
    assert msp_root.name == "MSP-Podcast"
    assert sorted(p.name for p in msp_root.iterdir()) == [
        "Audios",
        "Labels",
        "Previous_releases_information",
        "Transcripts",
    ]
    consensus = check_consensus_rows(
        csv_lines(msp_root / "Labels" / "labels_consensus.csv"),
        {"Train", "Development", "Test1", "Test2"},
    )
    assert len(consensus) == MSP_SIZE
    for name in consensus:
        assert 2.0 < assert_pcm16_mono_16k(msp_root / "Audios" / name) < 20.0
        text = (msp_root / "Transcripts" / name.replace(".wav", ".txt")).read_text(encoding="utf-8")
        assert text.strip() and text.count("\n") == 1
    unlabelled = {p.name for p in (msp_root / "Audios").glob("*.wav")} - set(consensus)
    assert unlabelled and all("test3" in name for name in unlabelled)
    as_json = json.loads((msp_root / "Labels" / "labels_consensus.json").read_text())
    assert set(as_json) == set(consensus)
    for name, entry in as_json.items():
        row = consensus[name]
        assert entry["EmoClass"] == row[1] and entry["Split_Set"] == row[7]
        assert entry["EmoAct"] == float(row[2]) and str(entry["SpkrID"]) == row[5]


def test_msp_v111_detailed_ratings(msp_root):
    consensus = {r[0]: r for r in csv_lines(msp_root / "Labels" / "labels_consensus.csv")[1:]}
    rows = csv_lines(msp_root / "Labels" / "labels_detailed.csv")
    assert rows[0] == ["FileName", "EmoDetail"]
    ratings, secondary = defaultdict(list), Counter()
    for name, detail in rows[1:]:
        m = DETAIL.match(detail)
        assert m, detail
        secondary["missing" if m[3] is None else "empty" if m[3] == "" else "full"] += 1
        ratings[name].append((m[1], float(m[4]), float(m[5]), float(m[6])))
    assert set(secondary) == {"full", "empty", "missing"}
    check_ratings(consensus, ratings)


def test_msp_v16_layout_and_labels(msp16_root):
    assert sorted(p.name for p in msp16_root.iterdir()) == [
        "Audio",
        "Labels",
        "Partitions.txt",
        "Previous_releases_information",
    ]
    labels = msp16_root / "Labels"
    assert sorted(p.name for p in labels.iterdir()) == [
        "labels_concensus.csv",
        "labels_detailed.json",
    ]
    consensus = check_consensus_rows(
        csv_lines(labels / "labels_concensus.csv"), {"Train", "Validation", "Test1"}
    )
    partitions = {}
    for line in (msp16_root / "Partitions.txt").read_text().splitlines():
        split, name = (x.strip() for x in line.split(";"))
        partitions[name] = split
    assert partitions == {name: row[7] for name, row in consensus.items()}
    for name in consensus:
        assert_pcm16_mono_16k(msp16_root / "Audio" / name)
    detailed = json.loads((labels / "labels_detailed.json").read_text())
    ratings = {
        name: [(w, r["EmoAct"], r["EmoVal"], r["EmoDom"]) for w, r in workers.items()]
        for name, workers in detailed.items()
    }
    assert all(re.fullmatch(r"WORKER\d{8}", w) for rows in ratings.values() for w, *_ in rows)
    assert all("EmoClass_Major" in r for workers in detailed.values() for r in workers.values())
    check_ratings(consensus, ratings)


@pytest.mark.parametrize(
    "root_fixture, current",
    [
        ("msp_root", {"Train": "Train", "Development": "Validation", "Test1": "Test"}),
        ("msp16_root", {"Train": "Train", "Validation": "Validation", "Test1": "Test"}),
    ],
)
def test_msp_release_13_partitions_are_whole_podcasts_of_the_current_ones(
    request, root_fixture, current
):
    root = request.getfixturevalue(root_fixture)
    consensus_file = next((root / "Labels").glob("labels_con*sus.csv"))
    split_of = {row[0]: row[7] for row in csv_lines(consensus_file)[1:]}
    listed = {}
    for line in (
        (root / "Previous_releases_information" / "Partitions_1.3.txt").read_text().splitlines()
    ):
        split, name = (part.strip() for part in line.split(";"))
        assert name not in listed
        listed[name] = split
    assert set(listed.values()) == {"Train", "Validation", "Test"}
    for name, split in listed.items():
        assert current[split_of[name]] == split  # Eval1.3 (Test) is a part of Test1 (Eval1.6)

    def podcast(name):
        return name.rsplit("_", 1)[0]

    kept = {podcast(name) for name in listed}
    assert {
        name for name in split_of if podcast(name) in kept and split_of[name] in current
    } == set(listed)
    for split in current:
        podcasts = {podcast(name) for name, s in split_of.items() if s == split}
        assert 0 < len(podcasts & kept) < len(podcasts) or len(podcasts) == 1


def test_msp_attributes_are_predictable_from_prosody(msp_root):
    rows = csv_lines(msp_root / "Labels" / "labels_consensus.csv")[1:]
    features = np.array(
        [
            prosodic_features(
                msp_root / "Audios" / r[0],
                len((msp_root / "Transcripts" / r[0].replace(".wav", ".txt")).read_text().split()),
            )
            for r in rows
        ]
    )
    targets = np.array([[float(x) for x in r[2:5]] for r in rows])
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
    predicted = cross_val_predict(
        model, features, targets, cv=KFold(5, shuffle=True, random_state=0)
    )
    r = [np.corrcoef(predicted[:, k], targets[:, k])[0, 1] for k in range(3)]
    act, val, dom = r
    assert act > 0.5 and val > 0.25 and dom > 0.4, r


# ------------------------------------------------------------------------------------------
# Idempotency, regeneration, determinism, errors, command line
# ------------------------------------------------------------------------------------------
def file_mtimes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_idempotent_then_regenerated_with_other_options(tmp_path):
    root = synthetic.generate_iemocap(tmp_path, seed=0, per_speaker=1, progress=False)
    marker = tmp_path / ".synthetic_iemocap.json"
    assert json.loads(marker.read_text())["options"]["per_speaker"] == 1
    before = file_mtimes(root)
    assert synthetic.generate_iemocap(tmp_path, seed=0, per_speaker=1, progress=False) == root
    assert file_mtimes(root) == before
    synthetic.generate_iemocap(tmp_path, seed=0, per_speaker=2, progress=False)
    assert len(iemocap_turns(root)) == 20
    assert json.loads(marker.read_text())["options"]["per_speaker"] == 2
    assert not list(tmp_path.glob(".*partial"))


def test_msp_release_change_regenerates(tmp_path):
    root = synthetic.generate_msp_podcast(tmp_path, release="1.11", size=8, progress=False)
    before = file_mtimes(root)
    assert synthetic.generate_msp_podcast(tmp_path, release="1.11", size=8, progress=False) == root
    assert file_mtimes(root) == before
    synthetic.generate_msp_podcast(tmp_path, release="1.6", size=8, progress=False)
    assert (root / "Audio").is_dir() and not (root / "Audios").exists()
    assert (root / "Labels" / "labels_concensus.csv").is_file()


def test_deterministic_for_a_seed(tmp_path):
    a = synthetic.generate_iemocap(tmp_path / "a", seed=5, per_speaker=1, progress=False)
    b = synthetic.generate_iemocap(tmp_path / "b", seed=5, per_speaker=1, progress=False)
    assert tree_digest(a) == tree_digest(b)
    texts = [
        [" ".join(t.phrases) for d in synthetic.plan_iemocap(seed, 1) for t in d.turns]
        for seed in (5, 6)
    ]
    assert texts[0] != texts[1]  # another seed, another corpus
    m1 = synthetic.generate_msp_podcast(tmp_path / "m1", seed=5, size=8, progress=False)
    m2 = synthetic.generate_msp_podcast(tmp_path / "m2", seed=5, size=8, progress=False)
    assert tree_digest(m1) == tree_digest(m2)


def test_refuses_to_overwrite_a_release_it_did_not_write(tmp_path):
    (tmp_path / "IEMOCAP_full_release").mkdir()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        synthetic.generate_iemocap(tmp_path, per_speaker=1, progress=False)


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unsupported MSP-Podcast release '2.0'"):
        synthetic.generate_msp_podcast(tmp_path, release="2.0")
    with pytest.raises(ValueError, match="per_speaker"):
        synthetic.generate_iemocap(tmp_path, per_speaker=0)
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["msp-podcast", "--out", str(tmp_path), "--release", "2.0"])
    assert exit_info.value.code == 2
    assert "invalid choice: '2.0'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_missing_espeak_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng"):
        synthetic.generate_iemocap(tmp_path / "out", per_speaker=1, progress=False)
    assert not (tmp_path / "out" / "IEMOCAP_full_release").exists()


def test_command_line(tmp_path, capsys):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ser_modules.testing.synthetic",
            "iemocap",
            "--out",
            str(tmp_path / "i"),
            "--seed",
            "3",
            "--per-speaker",
            "1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    root = Path(proc.stdout.strip().splitlines()[-1])
    assert root == tmp_path / "i" / "IEMOCAP_full_release"
    assert len(iemocap_turns(root)) == 10 and "generated in" in proc.stderr
    # the msp-podcast sub-command, in process (same entry point as `python -m`)
    code = synthetic.main(
        [
            "msp-podcast",
            "--out",
            str(tmp_path / "m"),
            "--release",
            "1.6",
            "--size",
            "8",
            "--no-progress",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m" / "MSP-Podcast")
    assert (tmp_path / "m" / "MSP-Podcast" / "Partitions.txt").is_file()
