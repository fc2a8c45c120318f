"""Tests of recipes/MSP-Podcast/msp_podcast_prepare.py on synthetic MSP-Podcast releases.

Both layouts (v1.11: ``Audios/``, ``labels_consensus.csv``, ``labels_detailed.csv``
with EmoDetail strings, ``Transcripts/``; v1.6: ``Audio/``, ``Partitions.txt``,
``labels_concensus.csv``, ``labels_detailed.json``) come from
``ser_modules.testing.synthetic.generate_msp_podcast``. Each corpus is generated once per
test session and never modified: destructive tests work on a copy.

The expected manifests are computed here independently of the module under test
(csv/json modules, an own EmoDetail regex, numpy statistics).
"""

import doctest
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_modules.testing.label_edits import read_csv, write_csv
from tests.conftest import generate_msp_releases, recipe_module

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "MSP-Podcast"

prep = recipe_module("MSP-Podcast", "msp_podcast_prepare")


RELEASES = ("1.11", "1.6")
SIZE = 60
EXPECTED_MANIFESTS = {
    "1.11": {"train", "valid", "test1", "test2", "eval1.3"},
    "1.6": {"train", "valid", "test1", "eval1.3"},
}
EVAL13_FILE = Path("Previous_releases_information") / "Partitions_1.3.txt"
SPLIT_TO_MANIFEST = {
    "Train": "train",
    "Development": "valid",
    "Validation": "valid",
    "Test1": "test1",
    "Test2": "test2",
    "Test3": "test3",
}
ATTRS = {"arousal": "EmoAct", "valence": "EmoVal", "dominance": "EmoDom"}
# Independent of the module under test: the three ratings at the end of EmoDetail.
RATINGS_RE = re.compile(r"A:(\d+(?:\.\d+)?); V:(\d+(?:\.\d+)?); D:(\d+(?:\.\d+)?);$")


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------
@pytest.fixture(scope="session")
def corpora(tmp_path_factory):
    """{release: root} of two small synthetic releases (shared, read-only)."""
    return generate_msp_releases(tmp_path_factory, dict.fromkeys(RELEASES, SIZE))


@pytest.fixture(scope="session")
def references(corpora):
    """{release: {utt: expected fields}} parsed independently of the module."""
    return {release: read_reference(root, release) for release, root in corpora.items()}


@pytest.fixture(scope="session")
def prepared(corpora, tmp_path_factory):
    """{release: {manifest name: manifest}} prepared once per release."""
    out = {}
    for release, root in corpora.items():
        save = tmp_path_factory.mktemp(f"prep{release}")
        prep.prepare_msp_podcast(root, save)
        out[release] = load_manifests(save)
    return out


@pytest.fixture(params=RELEASES)
def release(request):
    """Run a test on each release."""
    return request.param


def copy_corpus(corpora, release, tmp_path):
    """A private copy of one release for destructive tests."""
    return Path(shutil.copytree(corpora[release], tmp_path / "MSP-Podcast"))


def consensus_path(root):
    """The consensus CSV of either release."""
    for name in ("labels_consensus.csv", "labels_concensus.csv"):
        if (root / "Labels" / name).is_file():
            return root / "Labels" / name
    raise AssertionError(f"no consensus file in {root}")


def read_ratings(root, release):
    """{utt: [(a, v, d), ...]} from the detailed labels, parsed independently."""
    ratings = {}
    if release == "1.11":
        _, rows = read_csv(root / "Labels" / "labels_detailed.csv")
        for row in rows:
            match = RATINGS_RE.search(row["EmoDetail"])
            assert match, row
            ratings.setdefault(row["FileName"][:-4], []).append(tuple(map(float, match.groups())))
    else:
        data = json.loads((root / "Labels" / "labels_detailed.json").read_text())
        for file_name, workers in data.items():
            ratings[file_name[:-4]] = [
                (float(w["EmoAct"]), float(w["EmoVal"]), float(w["EmoDom"]))
                for w in workers.values()
            ]
    return ratings


def read_reference(root, release):
    """{utt: expected manifest fields + 'manifest'} of one release."""
    _, rows = read_csv(consensus_path(root))
    partitions = {}
    if release == "1.6":
        for line in (root / "Partitions.txt").read_text().splitlines():
            split, name = (part.strip() for part in line.split(";"))
            partitions[name] = split
    ratings = read_ratings(root, release)
    audio = root / ("Audios" if release == "1.11" else "Audio")
    reference = {}
    for row in rows:
        utt = row["FileName"][:-4]
        assert utt not in reference
        split = partitions.get(row["FileName"], row["Split_Set"])
        matrix = np.array(ratings[utt])
        reference[utt] = {
            "manifest": SPLIT_TO_MANIFEST[split],
            "split": split,
            "wav": str(audio / row["FileName"]),
            **{attr: float(row[col]) for attr, col in ATTRS.items()},
            **{f"{attr}_std": float(np.std(matrix[:, k])) for k, attr in enumerate(ATTRS)},
            "n_raters": len(matrix),
            "speaker": row["SpkrID"],
            "gender": row["Gender"],
            "emo_class": row["EmoClass"],
        }
    return reference


def load_manifests(save):
    """{name: manifest} of every ``*.json`` manifest in a folder."""
    return {
        path.stem: json.loads(path.read_text(), parse_constant=reject_constant)
        for path in sorted(Path(save).glob("*.json"))
        if path.name != prep.OPTIONS_FILE
    }


def reject_constant(name):
    """Fail on NaN / Infinity in a manifest."""
    raise AssertionError(f"non-JSON constant {name} in a manifest")


def mtimes(folder):
    """{file name: mtime_ns} of the files of a folder."""
    return {path.name: path.stat().st_mtime_ns for path in Path(folder).iterdir()}


def age_files(folder):
    """Set every file's mtime one hour back, so a rewrite is detectable."""
    for path in Path(folder).iterdir():
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3600 * 10**9))


def first_utt(references, release, manifest="train"):
    """A deterministic utterance id of a manifest."""
    return sorted(u for u, r in references[release].items() if r["manifest"] == manifest)[0]


# --------------------------------------------------------------------------
# Content of the manifests
# --------------------------------------------------------------------------
def test_split_files_per_layout(prepared, release):
    assert set(prepared[release]) == EXPECTED_MANIFESTS[release]


def partition_manifests(manifests):
    """The manifests of the release's partitions (eval1.3 re-uses test1 files)."""
    return {name: manifest for name, manifest in manifests.items() if name != "eval1.3"}


def test_every_labelled_utterance_once_in_its_split(prepared, references, release):
    seen = Counter(
        utt for manifest in partition_manifests(prepared[release]).values() for utt in manifest
    )
    assert set(seen) == set(references[release])
    assert set(seen.values()) == {1}
    for name, manifest in partition_manifests(prepared[release]).items():
        for utt in manifest:
            assert references[release][utt]["manifest"] == name, utt


def test_consensus_and_metadata_values(prepared, references, release):
    for manifest in prepared[release].values():
        for utt, entry in manifest.items():
            expected = references[release][utt]
            for key in (
                "arousal",
                "valence",
                "dominance",
                "speaker",
                "gender",
                "split",
                "emo_class",
                "wav",
            ):
                assert entry[key] == expected[key], (utt, key)
            for attr in ATTRS:
                assert isinstance(entry[attr], float) and 1.0 <= entry[attr] <= 7.0


def test_rater_std_and_count_computed_independently(prepared, references, release):
    for manifest in prepared[release].values():
        for utt, entry in manifest.items():
            expected = references[release][utt]
            assert entry["n_raters"] == expected["n_raters"] >= 5
            for attr in ATTRS:
                assert entry[f"{attr}_std"] == pytest.approx(expected[f"{attr}_std"], abs=1e-12)


def test_consensus_is_mean_of_the_ratings_in_the_generator(corpora, references, release):
    ratings = read_ratings(corpora[release], release)
    for utt, expected in references[release].items():
        means = np.mean(ratings[utt], axis=0)
        for k, attr in enumerate(ATTRS):
            assert expected[attr] == pytest.approx(means[k], abs=1e-6)


def test_durations_and_wav_paths(prepared, release):
    for manifest in prepared[release].values():
        for entry in manifest.values():
            assert os.path.isabs(entry["wav"]) and os.path.isfile(entry["wav"])
            info = sf.info(entry["wav"])
            assert entry["duration"] == info.frames / info.samplerate


def test_development_and_validation_map_to_valid(prepared, release):
    expected = {"1.11": "Development", "1.6": "Validation"}[release]
    assert {entry["split"] for entry in prepared[release]["valid"].values()} == {expected}


def test_unknown_speakers_are_kept(prepared, references, release):
    expected = sorted(u for u, r in references[release].items() if r["speaker"] == "Unknown")
    assert expected, "the synthetic corpus should contain Unknown speakers"
    found = sorted(
        utt
        for manifest in prepared[release].values()
        for utt, entry in manifest.items()
        if entry["speaker"] == "Unknown"
    )
    assert found == expected


def test_transcripts(prepared, corpora):
    root = corpora["1.11"]
    for manifest in prepared["1.11"].values():
        for utt, entry in manifest.items():
            text = (root / "Transcripts" / f"{utt}.txt").read_text().strip()
            assert text and entry["transcript"] == text
    assert all("transcript" not in e for m in prepared["1.6"].values() for e in m.values())


def test_entries_have_the_same_keys(prepared, release):
    keys = {frozenset(e) for m in prepared[release].values() for e in m.values()}
    assert len(keys) == 1
    required = {
        "wav",
        "duration",
        "arousal",
        "valence",
        "dominance",
        "arousal_std",
        "valence_std",
        "dominance_std",
        "n_raters",
        "speaker",
        "gender",
        "emo_class",
    }
    assert required <= set(next(iter(keys)))


def test_layout_and_counts_are_logged(corpora, references, release, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=prep.logger.name):
        prep.prepare_msp_podcast(corpora[release], tmp_path / "prep")
    text = caplog.text
    assert {"1.11": "v1.11+ layout", "1.6": "v1.6 layout"}[release] in text
    counts = Counter(r["manifest"] for r in references[release].values())
    for name, count in counts.items():
        assert f"MSP-Podcast {name}: {count} utterances" in text
    # the release audits (consensus vs rater mean, unlabelled wavs) are check_release.py's:
    # tests/test_check_release.py


def test_module_doctests():
    result = doctest.testmod(prep, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 10


# --------------------------------------------------------------------------
# Idempotency and options
# --------------------------------------------------------------------------
def test_second_identical_call_changes_nothing(corpora, tmp_path):
    save = tmp_path / "prep"
    first = prep.prepare_msp_podcast(corpora["1.11"], save)
    age_files(save)
    before = mtimes(save)
    second = prep.prepare_msp_podcast(corpora["1.11"], save)
    assert first == second
    assert mtimes(save) == before
    options = json.loads((save / prep.OPTIONS_FILE).read_text())
    assert options["manifests"] == sorted(EXPECTED_MANIFESTS["1.11"])
    assert options["data_folder"] == str(corpora["1.11"])


@pytest.mark.parametrize("change", [{"splits": ["train", "valid"]}, {"min_duration": 0.5}])
def test_changed_options_redo_the_work(corpora, tmp_path, change):
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(corpora["1.11"], save)
    age_files(save)
    before = mtimes(save)
    paths = prep.prepare_msp_podcast(corpora["1.11"], save, **change)
    after = mtimes(save)
    assert after["train.json"] > before["train.json"]
    assert after[prep.OPTIONS_FILE] > before[prep.OPTIONS_FILE]
    expected = set(change.get("splits", EXPECTED_MANIFESTS["1.11"]))
    assert set(paths) == expected
    assert {name[:-5] for name in after if name != prep.OPTIONS_FILE} == expected


def test_min_duration_drops_short_segments(corpora, prepared, tmp_path):
    durations = sorted(e["duration"] for m in prepared["1.11"].values() for e in m.values())
    threshold = durations[len(durations) // 2]
    prep.prepare_msp_podcast(corpora["1.11"], tmp_path, min_duration=threshold)
    kept = [e["duration"] for m in load_manifests(tmp_path).values() for e in m.values()]
    assert len(kept) == sum(d >= threshold for d in durations) and min(kept) >= threshold


def test_other_data_folder_redoes_the_work(corpora, tmp_path):
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(corpora["1.11"], save)
    prep.prepare_msp_podcast(corpora["1.6"], save)
    assert {p.stem for p in save.glob("*.json")} == EXPECTED_MANIFESTS["1.6"] | {"prepare_options"}
    entry = next(iter(load_manifests(save)["train"].values()))
    assert "/Audio/" in entry["wav"]


def test_missing_options_file_or_manifest_redoes_the_work(corpora, tmp_path):
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(corpora["1.6"], save)
    (save / "valid.json").unlink()
    prep.prepare_msp_podcast(corpora["1.6"], save)
    assert (save / "valid.json").is_file()
    age_files(save)
    before = mtimes(save)
    (save / prep.OPTIONS_FILE).unlink()
    prep.prepare_msp_podcast(corpora["1.6"], save)
    assert mtimes(save)["train.json"] > before["train.json"]


def test_invalid_options(corpora, tmp_path):
    with pytest.raises(ValueError, match="test9"):
        prep.prepare_msp_podcast(corpora["1.6"], tmp_path, splits=["train", "test9"])
    with pytest.raises(ValueError, match="min_duration"):
        prep.prepare_msp_podcast(corpora["1.6"], tmp_path, min_duration=-1)
    with pytest.raises(ValueError, match="splits"):
        prep.prepare_msp_podcast(corpora["1.6"], tmp_path, splits="train")


def test_command_line(corpora, prepared, tmp_path):
    save = tmp_path / "cli"
    result = subprocess.run(
        [
            sys.executable,
            str(RECIPE / "msp_podcast_prepare.py"),
            "--data_folder",
            str(corpora["1.6"]),
            "--save_folder",
            str(save),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "v1.6 layout" in result.stderr
    assert load_manifests(save) == prepared["1.6"]


# --------------------------------------------------------------------------
# Eval1.3: the test set of release 1.3, with this release's labels
# --------------------------------------------------------------------------
def release_13_test_files(root):
    """Utterance ids of the Test lines of the release 1.3 partitions, parsed independently."""
    lines = (root / EVAL13_FILE).read_text().splitlines()
    return {
        name.strip()[:-4]
        for split, name in (line.split(";") for line in lines)
        if split.strip() == "Test"
    }


def test_eval13_holds_the_release_13_test_files_with_this_releases_labels(
    prepared, corpora, references, release
):
    expected = release_13_test_files(corpora[release])
    assert expected and expected < set(prepared[release]["test1"])  # Eval1.3 is a part of Eval1.6
    eval13 = prepared[release]["eval1.3"]
    assert list(eval13) == sorted(expected)
    for utt, entry in eval13.items():
        assert entry == prepared[release]["test1"][utt]
        assert entry["arousal"] == references[release][utt]["arousal"]


def test_eval13_from_a_given_list(corpora, references, tmp_path, caplog):
    chosen = sorted(u for u, r in references["1.11"].items() if r["manifest"] == "train")[:3]
    listing = tmp_path / "eval13.txt"
    listing.write_text(
        "".join(f"{utt}.wav\n" for utt in chosen) + "Test; MSP-PODCAST_9999_0001.wav\n"
    )
    with caplog.at_level(logging.WARNING, logger=prep.logger.name):
        paths = prep.prepare_msp_podcast(
            corpora["1.11"], tmp_path / "prep", eval13_partitions=listing
        )
    assert list(load_manifests(tmp_path / "prep")["eval1.3"]) == chosen
    assert Path(paths["eval1.3"]).name == "eval1.3.json"
    assert (
        f"MSP-Podcast eval1.3: 1 of the 4 files listed in {listing} are left out: 1 have no row and"
        " 0 no complete consensus value in this release, e.g. MSP-PODCAST_9999_0001" in caplog.text
    )
    stamp = json.loads((tmp_path / "prep" / prep.OPTIONS_FILE).read_text())
    assert stamp["eval13_partitions"] == str(listing) and str(listing) in stamp["inputs"]["labels"]
    listing.write_text(f"{chosen[0]}.wav\n")  # another list: rebuilt
    prep.prepare_msp_podcast(corpora["1.11"], tmp_path / "prep", eval13_partitions=listing)
    assert list(load_manifests(tmp_path / "prep")["eval1.3"]) == chosen[:1]
    with pytest.raises(FileNotFoundError, match="eval13_partitions not found: .*nowhere.txt"):
        prep.prepare_msp_podcast(
            corpora["1.11"], tmp_path / "prep", eval13_partitions=tmp_path / "nowhere.txt"
        )


def test_no_eval13_without_the_release_13_partitions(corpora, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    shutil.rmtree(root / "Previous_releases_information")
    paths = prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert set(paths) == EXPECTED_MANIFESTS["1.6"] - {"eval1.3"}
    with pytest.raises(
        ValueError, match=r"splits \['eval1.3'\] not found .*give them with eval13_partitions"
    ):
        prep.prepare_msp_podcast(root, tmp_path / "prep", splits=["test1", "eval1.3"])


def test_eval13_can_be_chosen_or_left_out_with_splits(corpora, prepared, tmp_path):
    paths = prep.prepare_msp_podcast(corpora["1.6"], tmp_path / "a", splits=["eval1.3"])
    assert (
        set(paths) == {"eval1.3"}
        and load_manifests(tmp_path / "a")["eval1.3"] == prepared["1.6"]["eval1.3"]
    )
    assert set(
        prep.prepare_msp_podcast(corpora["1.6"], tmp_path / "b", splits=["train", "test1"])
    ) == {"train", "test1"}


@pytest.mark.parametrize("line", ["Test; ", "Test; a.wav; b.wav", "; MSP-PODCAST_0001_0001.wav"])
def test_malformed_release_13_partition_line(corpora, tmp_path, line):
    root = copy_corpus(corpora, "1.11", tmp_path)
    path = root / EVAL13_FILE
    n_lines = len(path.read_text().splitlines())
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(
        prep.MSPPodcastFormatError, match=re.escape(f"{path}:{n_lines + 1}: expected")
    ):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


def test_release_13_partitions_without_test_files(corpora, tmp_path):
    root = copy_corpus(corpora, "1.11", tmp_path)
    path = root / EVAL13_FILE
    path.write_text(
        "".join(
            line + "\n" for line in path.read_text().splitlines() if not line.startswith("Test")
        )
    )
    with pytest.raises(
        prep.MSPPodcastFormatError, match=re.escape(f"{path}: no Test partition line")
    ):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


# --------------------------------------------------------------------------
# A changed release is noticed (the stamp fingerprints the inputs)
# --------------------------------------------------------------------------
def test_fixed_label_file_rebuilds_the_manifests_and_says_why(
    corpora, references, release, tmp_path, caplog
):
    root = copy_corpus(corpora, release, tmp_path)
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(root, save)
    utt = first_utt(references, release)
    header, rows = read_csv(consensus_path(root))
    row = next(r for r in rows if r["FileName"] == f"{utt}.wav")
    row["EmoAct"] = "6.5" if row["EmoAct"] != "6.5" else "1.5"
    write_csv(consensus_path(root), header, rows)
    with caplog.at_level(logging.INFO, logger=prep.logger.name):
        prep.prepare_msp_podcast(root, save)
    assert load_manifests(save)["train"][utt]["arousal"] == float(row["EmoAct"])
    relative = consensus_path(root).relative_to(root).as_posix()
    assert (
        f"MSP-Podcast: rebuilding the manifests in {save}: labels changed: {relative}"
        in caplog.text
    )
    assert "up to date" not in caplog.text


def test_replaced_wav_or_transcript_rebuilds_the_manifests(corpora, references, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(root, save)
    utt = first_utt(references, "1.11")
    (root / "Transcripts" / f"{utt}.txt").write_text("A corrected transcript.\n")
    with caplog.at_level(logging.WARNING, logger=prep.logger.name):
        prep.prepare_msp_podcast(root, save)
    assert load_manifests(save)["train"][utt]["transcript"] == "A corrected transcript."
    assert "transcripts changed: 60 -> 60 files" in caplog.text
    wav = root / "Audios" / f"{utt}.wav"
    signal, rate = sf.read(wav)
    sf.write(wav, signal[:rate], rate, subtype="PCM_16")
    prep.prepare_msp_podcast(root, save)
    assert load_manifests(save)["train"][utt]["duration"] == 1.0


def test_touched_label_files_keep_the_manifests(corpora, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(root, save)
    age_files(save)
    before = mtimes(save)
    for path in (consensus_path(root), root / "Partitions.txt", root / EVAL13_FILE):
        path.write_bytes(path.read_bytes())  # same content, new modification time
    prep.prepare_msp_podcast(root, save)
    assert mtimes(save) == before


def test_progress_bars_can_be_hidden(corpora, tmp_path, capfd):
    prep.prepare_msp_podcast(corpora["1.6"], tmp_path / "quiet", progressbar=False)
    assert "wav headers" not in capfd.readouterr().err
    prep.main(
        [
            "--data_folder",
            str(corpora["1.6"]),
            "--save_folder",
            str(tmp_path / "cli"),
            "--noprogressbar",
        ]
    )
    assert "wav headers" not in capfd.readouterr().err
    prep.prepare_msp_podcast(corpora["1.6"], tmp_path / "bar")
    assert "Reading MSP-Podcast train wav headers" in capfd.readouterr().err


# --------------------------------------------------------------------------
# Label edge cases (on copies)
# --------------------------------------------------------------------------
def test_file_without_detailed_ratings_kept_with_zero_raters(corpora, references, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    utt = first_utt(references, "1.11")
    path = root / "Labels" / "labels_detailed.csv"
    header, rows = read_csv(path)
    write_csv(path, header, [row for row in rows if row["FileName"] != f"{utt}.wav"])
    with caplog.at_level(logging.WARNING, logger=prep.logger.name):
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    entry = load_manifests(tmp_path / "prep")["train"][utt]
    assert entry["n_raters"] == 0
    assert entry["arousal_std"] == entry["valence_std"] == entry["dominance_std"] == 0.0
    assert entry["arousal"] == references["1.11"][utt]["arousal"]
    assert "1 labelled files have no rating" in caplog.text and utt in caplog.text


def test_nan_and_repeated_ratings_are_left_out(corpora, references, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    utt = first_utt(references, "1.11")
    path = root / "Labels" / "labels_detailed.csv"
    header, rows = read_csv(path)
    first = next(row for row in rows if row["FileName"] == f"{utt}.wav")
    worker = first["EmoDetail"].split(";")[0]
    rows.append(
        {"FileName": f"{utt}.wav", "EmoDetail": "WORKER99999999; Sad; ; A:nan; V:2.0; D:2.0;"}
    )
    rows.append({"FileName": f"{utt}.wav", "EmoDetail": f"{worker}; Sad; A:7.0; V:7.0; D:7.0;"})
    write_csv(path, header, rows)
    with caplog.at_level(logging.WARNING, logger=prep.logger.name):
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    entry = load_manifests(tmp_path / "prep")["train"][utt]
    expected = references["1.11"][utt]
    assert entry["n_raters"] == expected["n_raters"]
    assert entry["arousal_std"] == pytest.approx(expected["arousal_std"], abs=1e-12)
    assert "1 rating rows" in caplog.text and "NaN" in caplog.text
    assert "repeat a worker" in caplog.text


def test_consensus_differing_from_the_rater_mean_is_kept(corpora, references, tmp_path):
    """The mismatch itself is counted and logged by check_release.py
    (tests/test_check_release.py)."""
    root = copy_corpus(corpora, "1.6", tmp_path)
    utt = first_utt(references, "1.6", "test1")
    path = consensus_path(root)
    header, rows = read_csv(path)
    for row in rows:
        if row["FileName"] == f"{utt}.wav":
            new = float(row["EmoVal"]) + (0.5 if float(row["EmoVal"]) < 6 else -0.5)
            row["EmoVal"] = f"{new:.6f}"
    write_csv(path, header, rows)
    prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert load_manifests(tmp_path / "prep")["test1"][utt]["valence"] == pytest.approx(new)


def test_partitions_file_wins_over_split_set(corpora, references, tmp_path):
    """v1.6: a file whose Split_Set disagrees with Partitions.txt goes where Partitions.txt says
    (the disagreement is reported by check_release.py)."""
    root = copy_corpus(corpora, "1.6", tmp_path)
    utt = first_utt(references, "1.6", "test1")
    header, rows = read_csv(consensus_path(root))
    for row in rows:
        if row["FileName"] == f"{utt}.wav":
            row["Split_Set"] = "Train"
    write_csv(consensus_path(root), header, rows)
    prep.prepare_msp_podcast(root, tmp_path / "prep")
    manifests = load_manifests(tmp_path / "prep")
    assert utt in manifests["test1"] and utt not in manifests["train"]


def add_test3_file(root, **labels):
    """Append MSP-PODCAST_test3_0001.wav (partition Test3, unknown speaker) with ``labels``
    (EmoClass, EmoAct, EmoVal, EmoDom) to the consensus labels of ``root``."""
    path = consensus_path(root)
    header, rows = read_csv(path)
    rows.append(
        dict(
            FileName="MSP-PODCAST_test3_0001.wav",
            **labels,
            SpkrID="Unknown",
            Gender="Unknown",
            Split_Set="Test3",
        )
    )
    write_csv(path, header, rows)


def test_labelled_test3_gets_its_manifest(corpora, tmp_path):
    root = copy_corpus(corpora, "1.11", tmp_path)
    add_test3_file(root, EmoClass="N", EmoAct="4.0", EmoVal="3.5", EmoDom="4.5")
    detailed = root / "Labels" / "labels_detailed.csv"
    header, rows = read_csv(detailed)
    for worker, a, v, d in (("WORKER1", 3, 3, 4), ("WORKER2", 5, 4, 5)):
        rows.append(
            {
                "FileName": "MSP-PODCAST_test3_0001.wav",
                "EmoDetail": f"{worker}; Neutral; ; A:{a}.0; V:{v}.0; D:{d}.0;",
            }
        )
    write_csv(detailed, header, rows)
    paths = prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert set(paths) == EXPECTED_MANIFESTS["1.11"] | {"test3"}
    entry = load_manifests(tmp_path / "prep")["test3"]["MSP-PODCAST_test3_0001"]
    assert entry["n_raters"] == 2 and entry["arousal_std"] == 1.0 and entry["valence_std"] == 0.5


def test_unlabelled_test3_is_skipped_with_a_log_line(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    add_test3_file(root, EmoClass="", EmoAct="", EmoVal="", EmoDom="")
    with caplog.at_level(logging.INFO, logger=prep.logger.name):
        paths = prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert set(paths) == EXPECTED_MANIFESTS["1.11"]
    assert "partition Test3 (1 files) has no labels" in caplog.text


# --------------------------------------------------------------------------
# Errors (on copies)
# --------------------------------------------------------------------------
def test_missing_data_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        prep.prepare_msp_podcast(missing, tmp_path / "prep")


@pytest.mark.parametrize("label_file", ["consensus", "detailed"])
def test_missing_label_file(corpora, release, tmp_path, label_file):
    root = copy_corpus(corpora, release, tmp_path)
    victim = (
        consensus_path(root)
        if label_file == "consensus"
        else next((root / "Labels").glob("labels_detailed.*"))
    )
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(victim))):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


def test_missing_audio_folder(corpora, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    shutil.rmtree(root / "Audio")
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "Audio"))):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


def test_label_folder_spelled_as_no_release_does(corpora, tmp_path):
    """Every release has ``Labels/``; other spellings are not guessed, the error names the paths
    tried."""
    root = copy_corpus(corpora, "1.11", tmp_path)
    (root / "Labels").rename(root / "labels")
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(root / "Labels" / "labels_consensus.csv"))
    ):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


@pytest.mark.parametrize("columns", [("SpkrID",), ("EmoDom", "Gender")])
def test_csv_with_missing_columns(corpora, release, tmp_path, columns):
    root = copy_corpus(corpora, release, tmp_path)
    path = consensus_path(root)
    header, rows = read_csv(path)
    header = [name for name in header if name not in columns]
    write_csv(path, header, [{k: row[k] for k in header} for row in rows])
    with pytest.raises(prep.MSPPodcastFormatError) as error:
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert str(path) in str(error.value)
    assert all(column in str(error.value) for column in columns)


def test_detailed_csv_without_emodetail_column(corpora, tmp_path):
    root = copy_corpus(corpora, "1.11", tmp_path)
    path = root / "Labels" / "labels_detailed.csv"
    path.write_text(path.read_text().replace("FileName,EmoDetail", "FileName,Detail", 1))
    with pytest.raises(prep.MSPPodcastFormatError, match=r"labels_detailed\.csv.*EmoDetail"):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


def test_missing_wav(corpora, references, release, tmp_path):
    root = copy_corpus(corpora, release, tmp_path)
    utt = first_utt(references, release, "valid")
    wav = Path(references[release][utt]["wav"].replace(str(corpora[release]), str(root)))
    wav.unlink()
    with pytest.raises(FileNotFoundError) as error:
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert str(wav) in str(error.value) and consensus_path(root).name in str(error.value)


def test_corrupt_wav(corpora, references, release, tmp_path):
    root = copy_corpus(corpora, release, tmp_path)
    utt = first_utt(references, release, "test1")
    wav = Path(references[release][utt]["wav"].replace(str(corpora[release]), str(root)))
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + b"\x00" * 40)
    with pytest.raises(prep.MSPPodcastFormatError, match=re.escape(str(wav))):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


@pytest.mark.parametrize(
    "detail",
    [
        "WORKER00000001; Sad; A:3.0; D:3.0;",  # no valence
        "WORKER00000001; Sad; ; A:three; V:2.0; D:2.0;",  # not a number
        "Sad; Depressed",  # no ratings at all
    ],
)
def test_malformed_emodetail(corpora, references, tmp_path, detail):
    root = copy_corpus(corpora, "1.11", tmp_path)
    utt = first_utt(references, "1.11", "test2")
    path = root / "Labels" / "labels_detailed.csv"
    header, rows = read_csv(path)
    for row in rows:
        if row["FileName"] == f"{utt}.wav":
            row["EmoDetail"] = detail
            break
    write_csv(path, header, rows)
    with pytest.raises(prep.MSPPodcastFormatError) as error:
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    message = str(error.value)
    assert str(path) in message and f"{utt}.wav" in message and repr(detail) in message


def test_out_of_range_rating_in_detailed_json(corpora, references, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    utt = first_utt(references, "1.6")
    path = root / "Labels" / "labels_detailed.json"
    data = json.loads(path.read_text())
    worker = next(iter(data[f"{utt}.wav"]))
    data[f"{utt}.wav"][worker]["EmoAct"] = 9.0
    path.write_text(json.dumps(data))
    with pytest.raises(prep.MSPPodcastFormatError) as error:
        prep.prepare_msp_podcast(root, tmp_path / "prep")
    assert all(s in str(error.value) for s in (str(path), f"{utt}.wav", worker, "EmoAct"))


def test_malformed_partitions_line(corpora, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    path = root / "Partitions.txt"
    path.write_text(path.read_text() + "Train MSP-PODCAST_9999_0001.wav\n")
    with pytest.raises(prep.MSPPodcastFormatError, match=re.escape(f"{path}:")):
        prep.prepare_msp_podcast(root, tmp_path / "prep")


def test_error_keeps_previous_manifests_untouched(corpora, references, tmp_path):
    root = copy_corpus(corpora, "1.11", tmp_path)
    save = tmp_path / "prep"
    prep.prepare_msp_podcast(root, save)
    age_files(save)
    before = mtimes(save)
    (root / "Audios" / f"{first_utt(references, '1.11')}.wav").unlink()
    with pytest.raises(FileNotFoundError):
        prep.prepare_msp_podcast(root, save, min_duration=0.1)
    assert mtimes(save) == before
