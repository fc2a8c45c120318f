"""Tests of ser_modules.data.manifests: the manifest plumbing of the data preparations
(options stamp written last, up-to-date check, stale manifests, wav header fields, split lines)."""

import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ser_modules.data import manifests as plumbing
from ser_modules.data.audio import AudioFileError
from ser_modules.data.manifests import (
    OPTIONS_FILE,
    describe_speakers,
    describe_split,
    drop_short,
    files_fingerprint,
    format_counts,
    label_fingerprint,
    log_rebuild,
    manifest_paths,
    manifests_up_to_date,
    prepare_once,
    read_stamp,
    recorded_manifests,
    stale_reasons,
    stamp_content,
    visible,
    wav_entries,
    write_manifests,
)

OPTIONS = {"data_folder": "/data/corpus", "seed": 0, "prep_version": 1}
MANIFESTS = {
    "train": {"a": {"wav": "/w/a.wav", "duration": 1.5}, "b": {"wav": "/w/b.wav", "duration": 2.0}},
    "valid": {"c": {"wav": "/w/c.wav", "duration": 0.5}},
    "test": {"d": {"wav": "/w/d.wav", "duration": 3.25}},
}


def stamp_of(folder):
    return json.loads((folder / OPTIONS_FILE).read_text())


# --------------------------------------------------------------------------------------------
# The stamp
# --------------------------------------------------------------------------------------------
def test_stamp_content_holds_options_sorted_names_and_optional_inputs():
    assert stamp_content(OPTIONS, ["valid", "train"]) == {
        **OPTIONS,
        "manifests": ["train", "valid"],
    }
    fingerprint = {"labels.csv": [1234, 1700000000123456789], "audio": [500, 987654]}
    assert stamp_content(OPTIONS, ["train"], inputs=fingerprint)["inputs"] == fingerprint
    assert "inputs" not in stamp_content(OPTIONS, ["train"])
    assert OPTIONS == {"data_folder": "/data/corpus", "seed": 0, "prep_version": 1}  # not modified


def test_write_manifests_writes_json_and_the_stamp(tmp_path):
    write_manifests(tmp_path / "out", MANIFESTS, OPTIONS, "Demo")
    folder = tmp_path / "out"
    assert sorted(p.name for p in folder.iterdir()) == [
        "prepare_options.json",
        "test.json",
        "train.json",
        "valid.json",
    ]
    for name, entries in MANIFESTS.items():
        assert json.loads((folder / f"{name}.json").read_text()) == entries
    # same bytes as json.dump(indent=2) + newline: what the preparations always wrote
    assert (folder / "train.json").read_text() == json.dumps(MANIFESTS["train"], indent=2) + "\n"
    assert stamp_of(folder) == stamp_content(OPTIONS, MANIFESTS)
    assert read_stamp(folder) == stamp_of(folder)


def test_manifests_are_written_in_order_and_the_stamp_last(tmp_path, monkeypatch):
    written = []
    real = plumbing.write_json_atomic
    monkeypatch.setattr(
        plumbing,
        "write_json_atomic",
        lambda obj, path: (written.append(path.name), real(obj, path)),
    )
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    assert written == ["train.json", "valid.json", "test.json", OPTIONS_FILE]


def test_interrupted_write_leaves_no_stamp(tmp_path, monkeypatch):
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    real = plumbing.write_json_atomic

    def failing(obj, path):
        if path.name == "valid.json":
            raise KeyboardInterrupt("killed while writing valid.json")
        real(obj, path)

    monkeypatch.setattr(plumbing, "write_json_atomic", failing)
    with pytest.raises(KeyboardInterrupt):
        write_manifests(tmp_path, MANIFESTS, dict(OPTIONS, seed=1), "Demo")
    assert not (tmp_path / OPTIONS_FILE).exists()
    assert not manifests_up_to_date(tmp_path, OPTIONS, ["train", "valid", "test"])
    assert not manifests_up_to_date(tmp_path, dict(OPTIONS, seed=1), ["train", "valid", "test"])


def test_stale_manifests_are_removed_and_logged(tmp_path, caplog):
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    (tmp_path / "notes.json").write_text("{}")  # not a manifest of the stamp: left alone
    with caplog.at_level(logging.INFO, logger=plumbing.logger.name):
        write_manifests(tmp_path, {"train": MANIFESTS["train"]}, OPTIONS, "Demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.json",
        "prepare_options.json",
        "train.json",
    ]
    assert f"Demo: removing stale manifest {tmp_path / 'test.json'}" in caplog.text
    assert f"Demo manifests train written to {tmp_path}" in caplog.text


# --------------------------------------------------------------------------------------------
# Up to date?
# --------------------------------------------------------------------------------------------
def test_up_to_date_after_writing_and_not_after_any_change(tmp_path):
    names = list(MANIFESTS)
    assert not manifests_up_to_date(tmp_path / "missing", OPTIONS, names)
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    assert manifests_up_to_date(tmp_path, OPTIONS, names)
    assert manifests_up_to_date(tmp_path, OPTIONS)  # names read from the stamp
    assert manifests_up_to_date(str(tmp_path), OPTIONS, reversed(names))
    assert not manifests_up_to_date(tmp_path, dict(OPTIONS, seed=1), names)
    assert not manifests_up_to_date(tmp_path, {**OPTIONS, "extra": None}, names)
    assert not manifests_up_to_date(tmp_path, OPTIONS, names[:2])
    assert not manifests_up_to_date(tmp_path, OPTIONS, names, inputs={"labels.csv": [1, 2]})
    (tmp_path / "valid.json").unlink()
    assert not manifests_up_to_date(tmp_path, OPTIONS, names)
    assert not manifests_up_to_date(tmp_path, OPTIONS)


def test_the_input_fingerprint_takes_part_in_the_check(tmp_path):
    inputs = {"labels.csv": [120, 1700000000]}
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo", inputs=inputs)
    assert stamp_of(tmp_path)["inputs"] == inputs
    assert manifests_up_to_date(tmp_path, OPTIONS, inputs=inputs)
    assert not manifests_up_to_date(tmp_path, OPTIONS)
    assert not manifests_up_to_date(tmp_path, OPTIONS, inputs={"labels.csv": [121, 1700000000]})


@pytest.mark.parametrize(
    "content", ["", "{truncated", "[1, 2]", '{"seed": 0}', '{"manifests": "train"}']
)
def test_unreadable_or_malformed_stamp_means_not_done(tmp_path, content):
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    (tmp_path / OPTIONS_FILE).write_text(content)
    assert read_stamp(tmp_path) is None
    assert not manifests_up_to_date(tmp_path, OPTIONS, list(MANIFESTS))
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")  # and a new preparation replaces it
    assert manifests_up_to_date(tmp_path, OPTIONS)


def test_manifest_paths(tmp_path):
    paths = manifest_paths(tmp_path, ["test1", "train"])
    assert list(paths) == ["test1", "train"]
    assert paths["train"] == tmp_path / "train.json"


# --------------------------------------------------------------------------------------------
# Entries and log lines
# --------------------------------------------------------------------------------------------
def test_wav_entries_read_durations_from_the_headers(tmp_path):
    lengths = {"a": 16000, "b": 12345, "c": 1}
    wavs = {}
    for name, n in lengths.items():
        soundfile.write(tmp_path / f"{name}.wav", np.zeros(n), 16000, subtype="PCM_16")
        wavs[tmp_path / f"{name}.wav"] = f"labels.csv:{len(wavs) + 2}"
    entries = wav_entries(wavs, "Demo")
    assert list(entries) == list(wavs)
    for wav, entry in entries.items():
        assert entry == {"wav": str(wav), "duration": lengths[wav.stem] / 16000}
        assert list(entry) == ["wav", "duration"]


def test_wav_entries_log_the_files_that_are_converted_when_read(tmp_path, caplog):
    soundfile.write(tmp_path / "ok.wav", np.zeros(1600), 16000)
    soundfile.write(tmp_path / "stereo8k.wav", np.zeros((800, 2)), 8000)
    with caplog.at_level(logging.WARNING):
        entries = wav_entries(
            {tmp_path / "ok.wav": "l:2", tmp_path / "stereo8k.wav": "l:3"}, "Demo train"
        )
    assert entries[tmp_path / "stereo8k.wav"]["duration"] == 0.1
    assert "Demo train: 1 audio files are not mono at 16000 Hz" in caplog.text
    assert f"{tmp_path / 'stereo8k.wav'} (8000 Hz, 2 channels)" in caplog.text


class DemoFormatError(ValueError):
    """A corpus-specific error class, as the preparations pass."""


def test_wav_entries_errors_name_the_wav_and_the_label_line(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(
        FileNotFoundError, match=rf"Missing wav {re.escape(str(missing))} \(named by labels.csv:7\)"
    ):
        wav_entries({missing: "labels.csv:7"}, "Demo", DemoFormatError)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(
        DemoFormatError, match=rf"corrupt wav {re.escape(str(corrupt))} \(named by labels.csv:9\)"
    ):
        wav_entries({corrupt: "labels.csv:9"}, "Demo", DemoFormatError)
    with pytest.raises(AudioFileError, match=re.escape(str(corrupt))):
        wav_entries({corrupt: "labels.csv:9"}, "Demo")


def test_describe_split_counts_labels_durations_and_hours():
    entries = {
        f"u{i}": {"duration": 900.0 + i, "emo": emo} for i, emo in enumerate(["neu", "sad", "neu"])
    }
    assert (
        describe_split(entries, "emo", ("neu", "hap", "sad"))
        == "3 utterances (neu 2, hap 0, sad 1), 900.00 s to 902.00 s, 0.75 h"
    )
    assert describe_split(entries) == "3 utterances, 900.00 s to 902.00 s, 0.75 h"
    assert describe_split({}, "emo", ("neu",)) == "0 utterances (neu 0)"


# --------------------------------------------------------------------------------------------
# Input fingerprints: a changed corpus is noticed, and the log says why
# --------------------------------------------------------------------------------------------
def test_label_fingerprint_follows_the_content_not_the_time(tmp_path):
    labels = tmp_path / "Labels" / "labels.csv"
    labels.parent.mkdir()
    labels.write_text("FileName,EmoAct\na.wav,4.0\n")
    first = label_fingerprint([labels], tmp_path)
    assert list(first) == ["Labels/labels.csv"]
    os.utime(
        labels, ns=(0, 10**9)
    )  # touched (e.g. copied without -p): same content, same fingerprint
    assert label_fingerprint([labels], tmp_path) == first
    labels.write_text("FileName,EmoAct\na.wav,4.5\n")  # same size, another value
    assert label_fingerprint([labels], tmp_path) != first
    outside = tmp_path.parent / f"{tmp_path.name}_list.txt"
    outside.write_text("a.wav\n")
    assert list(label_fingerprint([outside], tmp_path)) == [outside.as_posix()]


def test_files_fingerprint_follows_names_sizes_and_times(tmp_path):
    wavs = []
    for name in ("a", "b"):
        soundfile.write(tmp_path / f"{name}.wav", np.zeros(1600), 16000)
        wavs.append(tmp_path / f"{name}.wav")
    first = files_fingerprint(wavs, tmp_path)
    assert first["files"] == 2 and files_fingerprint(reversed(wavs), tmp_path) == first
    stat = wavs[0].stat()
    os.utime(wavs[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert files_fingerprint(wavs, tmp_path) != first
    assert files_fingerprint(wavs[:1], tmp_path)["files"] == 1


def test_stale_reasons_name_what_changed(tmp_path):
    inputs = {
        "labels": {"Labels/a.csv": "sha1:1", "Labels/b.csv": "sha1:2"},
        "audio": {"files": 4, "sha1": "x"},
    }
    assert stale_reasons(tmp_path, OPTIONS, list(MANIFESTS), inputs) == [
        "no finished preparation (no prepare_options.json)"
    ]
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo", inputs=inputs)
    assert stale_reasons(tmp_path, OPTIONS, list(MANIFESTS), inputs) == []
    changed = {
        "labels": {"Labels/a.csv": "sha1:9", "Labels/c.csv": "sha1:3"},
        "audio": {"files": 3, "sha1": "y"},
    }
    assert stale_reasons(tmp_path, dict(OPTIONS, seed=2), list(MANIFESTS), changed) == [
        "option seed: 0 -> 2",
        "audio changed: 4 -> 3 files (names, sizes or modification times)",
        "labels changed: Labels/a.csv",
        "labels added: Labels/c.csv",
        "labels removed: Labels/b.csv",
    ]
    (tmp_path / "valid.json").unlink()
    assert stale_reasons(tmp_path, OPTIONS, list(MANIFESTS), inputs) == [
        "missing manifest(s) valid.json"
    ]
    # a stamp written before the inputs were fingerprinted: rebuilt once
    write_manifests(tmp_path, MANIFESTS, OPTIONS, "Demo")
    assert stale_reasons(tmp_path, OPTIONS, list(MANIFESTS), inputs) == [
        "the previous preparation recorded no input fingerprint"
    ]


def test_log_rebuild_warns_when_finished_work_is_redone(caplog):
    with caplog.at_level(logging.INFO, logger=plumbing.logger.name):
        log_rebuild("Demo", "prep", ["no finished preparation (no prepare_options.json)"])
        log_rebuild("Demo", "prep", ["labels changed: Labels/a.csv", "option seed: 0 -> 2"])
    first, again = caplog.records
    assert (
        first.levelno == logging.INFO
        and first.getMessage()
        == "Demo: writing the manifests in prep: no finished preparation (no prepare_options.json)"
    )
    assert (
        again.levelno == logging.WARNING
        and again.getMessage()
        == "Demo: rebuilding the manifests in prep: labels changed: Labels/a.csv; option seed: 0"
        " -> 2"
    )


def truncate_wav(wav, keep=1 / 3):
    """Cuts a PCM wav to ``keep`` of its data, header intact (an interrupted copy)."""
    info = soundfile.info(wav)
    data_bytes = info.frames * 2 * info.channels
    with open(wav, "r+b") as stream:
        stream.truncate(wav.stat().st_size - data_bytes + int(data_bytes * keep) // 2 * 2)


def test_wav_entries_refuse_a_truncated_wav_with_an_intact_header(tmp_path):
    wav = tmp_path / "cut.wav"
    soundfile.write(wav, 0.1 * np.ones(int(4.15 * 16000)), 16000, subtype="PCM_16")
    truncate_wav(wav)
    assert soundfile.info(wav).duration == pytest.approx(
        1.383, abs=1e-3
    )  # what libsndfile reads, silently
    with pytest.raises(
        DemoFormatError,
        match=rf"Truncated wav {re.escape(str(wav))} \(named by labels.csv:4\): "
        r"its header declares 4.15 s of audio, the file holds 1.38 s",
    ):
        wav_entries({wav: "labels.csv:4"}, "Demo", DemoFormatError)


def test_wav_entries_progress_bar_can_be_hidden(tmp_path, capfd):
    wav = tmp_path / "a.wav"
    soundfile.write(wav, np.zeros(1600), 16000)
    wav_entries({wav: "l:2"}, "Demo", progressbar=False)
    assert "Reading Demo wav headers" not in capfd.readouterr().err
    wav_entries({wav: "l:2"}, "Demo")
    assert "Reading Demo wav headers" in capfd.readouterr().err


def test_prepare_once_builds_only_when_stale(tmp_path, caplog):
    calls = []

    def build():
        calls.append(1)
        return MANIFESTS

    inputs = {"labels": {"l.csv": "sha1:1"}}
    paths = prepare_once("Demo", tmp_path, OPTIONS, inputs, build, ["train", "valid", "test"])
    assert list(paths) == ["train", "valid", "test"] and len(calls) == 1
    with caplog.at_level(logging.INFO):
        again = prepare_once("Demo", tmp_path, OPTIONS, inputs, build)
    assert len(calls) == 1 and "Demo manifests in" in caplog.text and "up to date" in caplog.text
    assert again == recorded_manifests(tmp_path) and sorted(again) == ["test", "train", "valid"]
    prepare_once("Demo", tmp_path, OPTIONS, {"labels": {"l.csv": "sha1:2"}}, build)
    assert len(calls) == 2


def test_recorded_manifests_without_a_finished_preparation(tmp_path):
    with pytest.raises(FileNotFoundError, match="No finished data preparation"):
        recorded_manifests(tmp_path)


def test_drop_short_and_log_helpers(caplog):
    with caplog.at_level(logging.INFO):
        kept = drop_short(MANIFESTS, 1.0, "Demo")
    assert {name: sorted(entries) for name, entries in kept.items()} == {
        "train": ["a", "b"],
        "valid": [],
        "test": ["d"],
    }
    assert "Demo valid: 1 segments shorter than 1 s left out" in caplog.text
    assert drop_short(MANIFESTS, 0.0, "Demo") is MANIFESTS
    assert format_counts(Counter("aab")) == "a 2, b 1"
    entries = {"a": {"speaker": "1"}, "b": {"speaker": "Unknown"}, "c": {"speaker": "Unknown"}}
    assert describe_speakers(entries, "Unknown") == (
        "1 known speakers + 2 utterances of Unknown speakers"
    )
    assert [path.name for path in visible([Path(".DS_Store"), Path("a.wav")])] == ["a.wav"]
