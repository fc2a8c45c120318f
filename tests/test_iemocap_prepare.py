"""Tests of recipes/IEMOCAP/iemocap_prepare.py on a synthetic IEMOCAP release.

The corpus comes from ``ser_modules.testing.synthetic.generate_iemocap`` (same on-disk
layout as the real ``IEMOCAP_full_release``). It is generated once per test
session and never modified: destructive tests work on a copy.
"""

import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import recipe_module

prep = recipe_module("IEMOCAP", "iemocap_prepare")

from ser_modules.testing import synthetic  # noqa: E402

FOUR_CLASS = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
SPLIT_NAMES = ("train", "valid", "test")
# Independent of the module under test: a plain regex over the turn lines.
TURN_RE = re.compile(r"^\[[0-9.]+ - [0-9.]+\]\t(\S+)\t(\w+)\t\[")


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Path of a small synthetic IEMOCAP_full_release (shared, read-only)."""
    root = synthetic.generate_iemocap(tmp_path_factory.mktemp("iemocap"), seed=0, per_speaker=8)
    return Path(root)


@pytest.fixture(scope="session")
def reference(corpus):
    """{utt: raw label} of all turn lines, parsed independently."""
    labels = {}
    for path in sorted(corpus.glob("Session[1-5]/dialog/EmoEvaluation/*.txt")):
        if path.name.startswith("."):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = TURN_RE.match(line)
            if match:
                assert match[1] not in labels, f"duplicate {match[1]}"
                labels[match[1]] = match[2]
    return labels


@pytest.fixture(scope="session")
def four_class(reference):
    """{utt: 4-class label} expected in the manifests."""
    return {utt: FOUR_CLASS[lab] for utt, lab in reference.items() if lab in FOUR_CLASS}


@pytest.fixture(scope="session")
def folds(corpus, tmp_path_factory):
    """Manifests of the 5 folds (random dev split), prepared once."""
    out = {}
    for session in range(1, 6):
        save = tmp_path_factory.mktemp(f"fold{session}")
        prep.prepare_iemocap(corpus, save, session)
        out[session] = load_splits(save)
    return out


@pytest.fixture
def corpus_copy(corpus, tmp_path):
    """A private copy of the corpus for destructive tests."""
    return Path(shutil.copytree(corpus, tmp_path / "IEMOCAP_full_release"))


def load_splits(save_folder):
    """Load train/valid/test manifests of a folder."""
    return {
        split: json.loads((Path(save_folder) / f"{split}.json").read_text())
        for split in SPLIT_NAMES
    }


def session_of(utt):
    """Session number from an utterance id (Ses03M_... -> 3)."""
    return int(utt[3:5])


def four_class_turn(corpus, four_class):
    """(evaluation file, utterance id, wav path) of one 4-class turn."""
    utt = sorted(four_class)[len(four_class) // 2]
    dialog = utt.rsplit("_", 1)[0]
    session_dir = corpus / f"Session{session_of(utt)}"
    return (
        session_dir / "dialog" / "EmoEvaluation" / f"{dialog}.txt",
        utt,
        session_dir / "sentences" / "wav" / dialog / f"{utt}.wav",
    )


def mtimes(save_folder):
    """{file name: mtime_ns} of a folder."""
    return {path.name: path.stat().st_mtime_ns for path in Path(save_folder).iterdir()}


# --------------------------------------------------------------------------
# Corpus sanity (the test relies on these properties of the generator)
# --------------------------------------------------------------------------
def test_corpus_has_all_labels_and_decoys(corpus, reference):
    labels = set(reference.values())
    assert {"neu", "hap", "exc", "ang", "sad"} <= labels
    assert labels - set(FOUR_CLASS), "the corpus should hold excluded labels too"
    assert {session_of(utt) for utt in reference} == {1, 2, 3, 4, 5}
    # decoys the preparation must skip: AppleDouble files and per-evaluator subfolders
    assert list(corpus.glob("Session*/dialog/EmoEvaluation/._*.txt"))
    assert list(corpus.glob("Session*/dialog/EmoEvaluation/*/*.txt"))


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------
@pytest.mark.parametrize("session", [1, 2, 3, 4, 5])
def test_fold_partitions_four_class_utterances(folds, four_class, session):
    splits = folds[session]
    ids = {split: set(entries) for split, entries in splits.items()}
    assert not ids["train"] & ids["valid"]
    assert not ids["train"] & ids["test"]
    assert not ids["valid"] & ids["test"]
    assert ids["train"] | ids["valid"] | ids["test"] == set(four_class)
    assert ids["test"] == {utt for utt in four_class if session_of(utt) == session}
    for split in ("train", "valid"):
        assert all(session_of(utt) != session for utt in ids[split])
    n_train_sessions = len(ids["train"]) + len(ids["valid"])
    assert len(ids["train"]) == int(0.8 * n_train_sessions + 1e-9)  # SUPERB floor
    assert abs(len(ids["valid"]) / n_train_sessions - 0.2) < 1.0 / n_train_sessions + 1e-9


def test_valid_ratio_is_respected(corpus, tmp_path, four_class):
    prep.prepare_iemocap(corpus, tmp_path, 3, valid_ratio=0.35, seed=4)
    splits = load_splits(tmp_path)
    n = len(splits["train"]) + len(splits["valid"])
    assert len(splits["train"]) == int(0.65 * n + 1e-9)


def test_speaker_dev_split_is_speaker_disjoint(corpus, tmp_path, four_class):
    prep.prepare_iemocap(corpus, tmp_path, 2, dev_split="speaker", seed=1)
    splits = load_splits(tmp_path)
    speakers = {
        split: {e["speaker"] for e in entries.values()} for split, entries in splits.items()
    }
    assert not speakers["train"] & speakers["valid"]
    assert speakers["test"] == {"Ses02_F", "Ses02_M"}
    assert len(speakers["valid"]) == 2  # round(0.2 * 8 training speakers)
    assert len(speakers["train"]) == 6
    all_ids = set().union(*(set(entries) for entries in splits.values()))
    assert all_ids == set(four_class)


def test_labels_exc_merged_and_excluded_absent(folds, reference):
    entries = {utt: e for splits in folds[1].values() for utt, e in splits.items()}
    for utt, label in reference.items():
        if label == "exc":
            assert entries[utt]["emo"] == "hap"
            assert entries[utt]["label_raw"] == "exc"
        elif label in FOUR_CLASS:
            assert entries[utt]["emo"] == label
        else:
            assert utt not in entries
    assert {e["emo"] for e in entries.values()} == {"neu", "hap", "ang", "sad"}


def test_entry_fields_and_types(folds):
    for entries in folds[4].values():
        for utt, entry in entries.items():
            wav = Path(entry["wav"])
            assert wav.is_absolute() and wav.is_file() and wav.stem == utt
            assert isinstance(entry["duration"], float) and entry["duration"] > 0
            assert entry["emo"] in ("neu", "hap", "ang", "sad")
            gender = re.search(r"_([FM])\d{3}$", utt)[1]
            assert entry["gender"] == gender
            assert isinstance(entry["session"], int) and entry["session"] == session_of(utt)
            assert entry["speaker"] == f"Ses{session_of(utt):02d}_{gender}"
            assert set(entry["votes"]) == {"neu", "hap", "ang", "sad"}
            assert all(isinstance(v, int) and v >= 0 for v in entry["votes"].values())
            assert isinstance(entry["n_votes"], int) and isinstance(entry["n_evaluators"], int)
            assert entry["n_votes"] >= sum(entry["votes"].values())
            assert max(entry["votes"].values()) <= entry["n_evaluators"]
            assert isinstance(entry["transcript"], str) and entry["transcript"]
            # the turn label is the evaluators' majority (exc counts as hap)
            assert 2 * entry["votes"][entry["emo"]] > entry["n_evaluators"]
            for key in ("valence", "arousal", "dominance"):
                assert isinstance(entry[key], float)


def test_duration_equals_soundfile_header(folds):
    for entries in folds[5].values():
        for entry in list(entries.values())[:20]:
            assert entry["duration"] == sf.info(entry["wav"]).duration


def test_votes_counted_per_evaluator(tmp_path):
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\texc\t[3.5000, 3.0000, 2.5000]\n"
        "C-E1:\tHappiness; Excited;\t()\n"
        "C-E2:\tExcited; Surprise;\t(very; happy)\n"
        "C-E3:\tNeutral state;\t()\n"
        "C-F1:\tAnger;\t()\n"
        "A-E1:\tval 3; act 2; dom  2;\t()\n\n"
        "[9.0 - 10.5]\tSes01F_impro01_M001\tfru\t[2.0000, 3.0000, 3.0000]\n"
        "C-E1:\tFrustration; Anger;\t()\n"
        "C-E2:\tOther:annoyed;\t()\n"
    )
    first, second = prep.parse_evaluation_file(path, 1)
    assert first["utt"] == "Ses01F_impro01_F000" and first["gender"] == "F"
    assert prep.count_votes(first["categories"]) == ({"neu": 1, "hap": 2, "ang": 0, "sad": 0}, 5)
    assert second["gender"] == "M" and second["label"] == "fru"
    assert prep.count_votes(second["categories"]) == ({"neu": 0, "hap": 0, "ang": 1, "sad": 0}, 3)


def test_seed_determinism(corpus, tmp_path, folds):
    prep.prepare_iemocap(corpus, tmp_path / "same", 1, seed=0)
    assert load_splits(tmp_path / "same") == folds[1]
    prep.prepare_iemocap(corpus, tmp_path / "other", 1, seed=123)
    other = load_splits(tmp_path / "other")
    assert set(other["valid"]) != set(folds[1]["valid"])
    assert set(other["test"]) == set(folds[1]["test"])


# --------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------
def test_second_identical_call_rewrites_nothing(corpus, tmp_path):
    prep.prepare_iemocap(corpus, tmp_path, 1)
    before = mtimes(tmp_path)
    assert set(before) == {"train.json", "valid.json", "test.json", prep.OPTIONS_FILE}
    prep.prepare_iemocap(str(corpus), str(tmp_path), 1, valid_ratio=0.2, dev_split="random")
    assert mtimes(tmp_path) == before


@pytest.mark.parametrize(
    "change",
    [
        {"test_session": 2},
        {"valid_ratio": 0.3},
        {"dev_split": "speaker"},
        {"seed": 7},
    ],
)
def test_changed_options_redo_the_work(corpus, tmp_path, change):
    options = {"test_session": 1, "valid_ratio": 0.2, "dev_split": "random", "seed": 0}
    prep.prepare_iemocap(corpus, tmp_path, **options)
    first = load_splits(tmp_path)
    options.update(change)
    prep.prepare_iemocap(corpus, tmp_path, **options)
    recorded = json.loads((tmp_path / prep.OPTIONS_FILE).read_text())
    assert {key: recorded[key] for key in options} == options
    second = load_splits(tmp_path)
    assert set(second["valid"]) != set(first["valid"])
    if "test_session" in change:
        assert {e["session"] for e in second["test"].values()} == {2}


def test_changed_data_folder_redoes_the_work(corpus, tmp_path):
    prep.prepare_iemocap(corpus, tmp_path / "out", 1)
    link = tmp_path / "link_to_release"
    link.symlink_to(corpus, target_is_directory=True)
    prep.prepare_iemocap(link, tmp_path / "out", 1)
    entries = load_splits(tmp_path / "out")["test"]
    assert all(entry["wav"].startswith(str(link)) for entry in entries.values())


def test_missing_options_file_redoes_the_work(corpus, tmp_path):
    prep.prepare_iemocap(corpus, tmp_path, 1)
    (tmp_path / prep.OPTIONS_FILE).unlink()
    (tmp_path / "valid.json").write_text("{}")  # e.g. an interrupted run
    prep.prepare_iemocap(corpus, tmp_path, 1)
    assert load_splits(tmp_path)["valid"]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


# --------------------------------------------------------------------------
# A changed corpus is noticed (the stamp fingerprints the inputs)
# --------------------------------------------------------------------------
def turn_line(eval_file, utt):
    """The turn line of an utterance in its evaluation file."""
    return next(line for line in eval_file.read_text().splitlines() if f"\t{utt}\t" in line)


def test_fixed_evaluation_file_rebuilds_the_manifests_and_says_why(
    corpus_copy, four_class, tmp_path, caplog
):
    eval_file, utt, _ = four_class_turn(corpus_copy, four_class)
    session = session_of(utt)
    prep.prepare_iemocap(corpus_copy, tmp_path, session)
    assert load_splits(tmp_path)["test"][utt]["emo"] == four_class[utt]
    line = turn_line(eval_file, utt)
    fixed = "sad" if four_class[utt] != "sad" else "neu"
    label = line.split("\t")[2]
    eval_file.write_text(
        eval_file.read_text().replace(line, line.replace(f"\t{label}\t", f"\t{fixed}\t"))
    )
    caplog.set_level(logging.INFO)
    prep.prepare_iemocap(corpus_copy, tmp_path, session)
    assert load_splits(tmp_path)["test"][utt]["emo"] == fixed
    relative = eval_file.relative_to(corpus_copy).as_posix()
    warning = next(r for r in caplog.records if "rebuilding the manifests" in r.getMessage())
    assert warning.levelno == logging.WARNING
    assert (
        warning.getMessage()
        == f"IEMOCAP: rebuilding the manifests in {tmp_path}: labels changed: {relative}"
    )
    assert "up to date" not in caplog.text


def test_replaced_wav_and_transcription_rebuild_the_manifests(corpus_copy, four_class, tmp_path):
    eval_file, utt, wav = four_class_turn(corpus_copy, four_class)
    prep.prepare_iemocap(corpus_copy, tmp_path, session_of(utt))
    signal, rate = sf.read(wav)
    sf.write(
        wav, signal[: len(signal) - 1600], rate, subtype="PCM_16"
    )  # 0.1 s shorter, within the tolerance
    prep.prepare_iemocap(corpus_copy, tmp_path, session_of(utt))
    assert load_splits(tmp_path)["test"][utt]["duration"] == (len(signal) - 1600) / rate
    transcription = eval_file.parent.parent / "transcriptions" / eval_file.name
    lines = [
        line.replace("]: ", "]: Corrected: ", 1) if line.startswith(f"{utt} ") else line
        for line in transcription.read_text().splitlines()
    ]
    transcription.write_text("\n".join(lines) + "\n")
    prep.prepare_iemocap(corpus_copy, tmp_path, session_of(utt))
    assert load_splits(tmp_path)["test"][utt]["transcript"].startswith("Corrected: ")


def test_touched_label_files_keep_the_manifests(corpus_copy, four_class, tmp_path, caplog):
    eval_file, utt, _ = four_class_turn(corpus_copy, four_class)
    prep.prepare_iemocap(corpus_copy, tmp_path, 1)
    before = mtimes(tmp_path)
    eval_file.write_text(eval_file.read_text())  # same content, new modification time
    caplog.set_level(logging.INFO)
    prep.prepare_iemocap(corpus_copy, tmp_path, 1)
    assert mtimes(tmp_path) == before and "up to date, skipping" in caplog.text


def test_progress_bar_can_be_hidden(corpus, tmp_path, capfd):
    prep.prepare_iemocap(corpus, tmp_path / "quiet", 1, progressbar=False)
    assert "wav headers" not in capfd.readouterr().err
    prep.main(
        [
            "--data_folder",
            str(corpus),
            "--save_folder",
            str(tmp_path / "cli"),
            "--test_session",
            "1",
            "--noprogressbar",
        ]
    )
    assert "wav headers" not in capfd.readouterr().err
    prep.prepare_iemocap(corpus, tmp_path / "bar", 1)
    assert "Reading IEMOCAP wav headers" in capfd.readouterr().err


def test_command_line(corpus, tmp_path):
    prep.main(
        [
            "--data_folder",
            str(corpus),
            "--save_folder",
            str(tmp_path),
            "--test_session",
            "5",
            "--dev_split",
            "speaker",
            "--seed",
            "3",
        ]
    )
    splits = load_splits(tmp_path)
    assert {e["session"] for e in splits["test"].values()} == {5}


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
def assert_no_manifest(save_folder):
    assert not (Path(save_folder) / "train.json").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"test_session": 0}, "test_session"),
        ({"test_session": 6}, "test_session"),
        ({"test_session": "1"}, "test_session"),
        ({"test_session": True}, "test_session"),
        ({"test_session": 1, "valid_ratio": 0.0}, "valid_ratio"),
        ({"test_session": 1, "valid_ratio": 1.0}, "valid_ratio"),
        ({"test_session": 1, "dev_split": "speakers"}, "dev_split"),
        ({"test_session": 1, "seed": 1.5}, "seed"),
        ({"test_session": 1, "duration_tolerance": -1.0}, "duration_tolerance"),
        ({"test_session": 1, "duration_tolerance": float("nan")}, "duration_tolerance"),
    ],
)
def test_invalid_options_raise(corpus, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        prep.prepare_iemocap(corpus, tmp_path, **kwargs)
    assert_no_manifest(tmp_path)


def test_missing_data_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        prep.prepare_iemocap(missing, tmp_path / "out", 1)
    assert_no_manifest(tmp_path / "out")


def test_missing_session_folder(corpus_copy, tmp_path):
    shutil.rmtree(corpus_copy / "Session3")
    with pytest.raises(FileNotFoundError, match=re.escape(str(corpus_copy / "Session3"))):
        prep.prepare_iemocap(corpus_copy, tmp_path / "out", 1)
    assert_no_manifest(tmp_path / "out")


def test_missing_wav_named_by_evaluation_file(corpus_copy, four_class, tmp_path):
    eval_file, utt, wav = four_class_turn(corpus_copy, four_class)
    wav.unlink()
    with pytest.raises(FileNotFoundError) as error:
        prep.prepare_iemocap(corpus_copy, tmp_path / "out", 1)
    assert str(wav) in str(error.value) and str(eval_file) in str(error.value)
    assert_no_manifest(tmp_path / "out")


def test_corrupt_wav(corpus_copy, four_class, tmp_path):
    _, _, wav = four_class_turn(corpus_copy, four_class)
    wav.write_bytes(b"this is not a wav file" * 10)
    with pytest.raises(prep.IEMOCAPFormatError, match=re.escape(str(wav))):
        prep.prepare_iemocap(corpus_copy, tmp_path / "out", 1)
    assert_no_manifest(tmp_path / "out")


def test_malformed_turn_line(corpus_copy, four_class, tmp_path):
    eval_file, utt, _ = four_class_turn(corpus_copy, four_class)
    text = eval_file.read_text()
    line = next(line for line in text.splitlines() if f"\t{utt}\t" in line)
    eval_file.write_text(text.replace(line, line.split("\t[")[0]))  # drop [v, a, d]
    with pytest.raises(prep.IEMOCAPFormatError, match=re.escape(str(eval_file))):
        prep.prepare_iemocap(corpus_copy, tmp_path / "out", 1)
    assert_no_manifest(tmp_path / "out")


def test_evaluation_file_without_turn_lines(corpus_copy, four_class, tmp_path):
    eval_file, _, _ = four_class_turn(corpus_copy, four_class)
    eval_file.write_text("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n")
    with pytest.raises(prep.IEMOCAPFormatError, match=re.escape(str(eval_file))):
        prep.prepare_iemocap(corpus_copy, tmp_path / "out", 1)
    assert_no_manifest(tmp_path / "out")


def test_error_keeps_previous_manifests_untouched(corpus_copy, four_class, tmp_path):
    out = tmp_path / "out"
    prep.prepare_iemocap(corpus_copy, out, 1)
    before = mtimes(out)
    _, _, wav = four_class_turn(corpus_copy, four_class)
    wav.unlink()
    with pytest.raises(FileNotFoundError):
        prep.prepare_iemocap(corpus_copy, out, 2)
    assert mtimes(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["train.json", "valid.json", "test.json", prep.OPTIONS_FILE]
    )


def test_counts_are_logged(corpus, tmp_path, reference, caplog):
    caplog.set_level(logging.INFO, logger=prep.logger.name)
    prep.prepare_iemocap(corpus, tmp_path, 1)
    text = caplog.text
    excluded = Counter(label for label in reference.values() if label not in FOUR_CLASS)
    for label, count in excluded.items():
        assert f"{label} {count}" in text
    for split in SPLIT_NAMES:
        pattern = rf"IEMOCAP {split}: \d+ utterances \(neu \d+, hap \d+, ang \d+, sad \d+\)"
        assert re.search(pattern, text)
