"""Tests of recipes/MSP-Podcast/check_release.py: the audits of an MSP-Podcast release that the
preparation does not need (consensus vs rater mean, Partitions.txt vs Split_Set, wavs without
labels, ratings without consensus), on synthetic releases of both layouts (copied before any
change)."""

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ser_modules.testing.label_edits import read_csv, write_csv
from tests.conftest import generate_msp_releases, recipe_module

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "MSP-Podcast"

audit = recipe_module("MSP-Podcast", "check_release")
prep = recipe_module("MSP-Podcast", "msp_podcast_prepare")


SIZES = {"1.11": 20, "1.6": 12}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """{release: root} of two small synthetic releases (shared, read-only)."""
    return generate_msp_releases(tmp_path_factory, SIZES)


def copy_corpus(corpora, release, tmp_path):
    return Path(shutil.copytree(corpora[release], tmp_path / "MSP-Podcast"))


def consensus_path(root):
    return next((root / "Labels").glob("labels_con*sus.csv"))


def generated_test3_wavs(root):
    """The unlabelled Test3 wavs of a generated 1.11 release (no consensus row), independently."""
    return sorted(path.name for path in (root / "Audios").glob("MSP-PODCAST_test3_*.wav"))


def first_file(root, split_set):
    """File name of the first consensus row of a ``Split_Set``."""
    return sorted(
        row["FileName"]
        for row in read_csv(consensus_path(root))[1]
        if row["Split_Set"] == split_set
    )[0]


def edit_consensus_row(root, name, edit):
    """Apply ``edit`` (a function of a row dict) to the consensus row of the file ``name``,
    rewrite the consensus file and return what ``edit`` returned."""
    header, rows = read_csv(consensus_path(root))
    [row] = [row for row in rows if row["FileName"] == name]
    result = edit(row)
    write_csv(consensus_path(root), header, rows)
    return result


# --------------------------------------------------------------------------------------------
# A release as generated
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("release", list(SIZES))
def test_generated_release_has_only_the_expected_findings(corpora, release, caplog):
    with caplog.at_level(logging.INFO):
        findings = audit.check_release(corpora[release])
    assert findings["consensus_mismatches"] == []
    assert (
        f"the consensus of all {SIZES[release]} files equals the mean of their detailed ratings"
        in caplog.text
    )
    assert findings["partition_conflicts"] == [] and findings["partitions_without_labels"] == {}
    assert findings["ratings_without_labels"] == []
    assert findings["unexpected_partitions"] == {} and findings["eval13_without_labels"] == []
    if release == "1.11":
        expected = generated_test3_wavs(corpora[release])
        assert expected and findings["unlabelled_wavs"] == expected
        assert (
            f"{len(expected)} wavs in {corpora[release] / 'Audios'} have no consensus label"
            in caplog.text
        )
        assert "MSP-PODCAST_test3_0001.wav" in caplog.text  # unlabelled wav reported
    else:
        assert findings["unlabelled_wavs"] == []
    assert {"1.11": "v1.11+ layout", "1.6": "v1.6 layout"}[release] in caplog.text


def test_unexpected_partition_names_and_unlabelled_eval13_files(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    header, rows = read_csv(consensus_path(root))
    renamed = [row["FileName"] for row in rows if row["Split_Set"] == "Test2"]
    for row in rows:
        row["Split_Set"] = "Test 2" if row["Split_Set"] == "Test2" else row["Split_Set"]
    eval13 = root / "Previous_releases_information" / "Partitions_1.3.txt"
    lost = next(
        line.split("; ")[1] for line in eval13.read_text().splitlines() if line.startswith("Test; ")
    )
    rows = [row for row in rows if row["FileName"] != lost]
    write_csv(consensus_path(root), header, rows)
    with caplog.at_level(logging.INFO):
        findings = audit.check_release(root)
    assert renamed and findings["unexpected_partitions"] == {"Test 2": len(renamed)}
    assert (
        f"unexpected partition name 'Test 2' ({len(renamed)} files in {consensus_path(root)}"
        in caplog.text
    )
    assert findings["eval13_without_labels"] == [lost[:-4]]
    assert f"1 Eval1.3 files of {eval13} have no complete consensus value" in caplog.text


def test_the_preparation_no_longer_runs_the_audits(corpora, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        prep.prepare_msp_podcast(corpora["1.11"], tmp_path / "prep")
    assert "equals the mean" not in caplog.text and "MSP-PODCAST_test3_0001" not in caplog.text


# --------------------------------------------------------------------------------------------
# Findings on edited copies
# --------------------------------------------------------------------------------------------
def test_consensus_mismatch_is_counted_and_logged(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.6", tmp_path)
    name = first_file(root, "Test1")

    def shift_valence(row):
        new = float(row["EmoVal"]) + (0.5 if float(row["EmoVal"]) < 6 else -0.5)
        row["EmoVal"] = f"{new:.6f}"
        return new

    new = edit_consensus_row(root, name, shift_valence)
    with caplog.at_level(logging.WARNING):
        findings = audit.check_release(root)
    assert f"1 of {SIZES['1.6']} files (1 values)" in caplog.text
    assert f"{name} valence" in caplog.text
    [(gap, file_name, attr, consensus, mean, n_raters)] = findings["consensus_mismatches"]
    assert (file_name, attr, consensus) == (name, "valence", pytest.approx(new))
    assert gap == pytest.approx(0.5, abs=1e-5) and abs(consensus - mean) == gap and n_raters >= 5


def test_consensus_written_with_few_decimals_is_not_a_mismatch(corpora, tmp_path):
    """0.01 plus half a unit of the last decimal written: ``4.0`` stands for a mean of
    3.95..4.05."""
    root = copy_corpus(corpora, "1.11", tmp_path)
    header, rows = read_csv(consensus_path(root))
    for row in rows:
        row["EmoAct"] = f"{float(row['EmoAct']):.1f}"
    write_csv(consensus_path(root), header, rows)
    assert audit.check_release(root)["consensus_mismatches"] == []


def test_partitions_file_disagreeing_with_split_set(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.6", tmp_path)
    name = first_file(root, "Test1")
    edit_consensus_row(root, name, lambda row: row.update(Split_Set="Train"))
    with open(root / "Partitions.txt", "a", encoding="utf-8") as stream:
        stream.write("Test2; MSP-PODCAST_9999_0001.wav\nTest2; MSP-PODCAST_9999_0002.wav\n")
    with caplog.at_level(logging.INFO):
        findings = audit.check_release(root)
    assert findings["partition_conflicts"] == [(name, "Test1", "Train")]
    assert findings["partitions_without_labels"] == {"Test2": 2}
    assert re.search(
        rf"1 files have another partition in .*Partitions.txt than in the Split_Set column .*"
        rf"{re.escape(name)} \(Test1 vs Train\)",
        caplog.text,
    )
    assert (
        "2 files of Test2 in" in caplog.text and "have no consensus label (not used)" in caplog.text
    )


def test_rated_files_without_consensus_value(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    name = first_file(root, "Train")
    edit_consensus_row(root, name, lambda row: row.update(EmoAct="", EmoVal="", EmoDom=""))
    with caplog.at_level(logging.INFO):
        findings = audit.check_release(root)
    assert findings["ratings_without_labels"] == [name[:-4]]
    assert re.search(r"1 rated files of .*labels_detailed.csv have no consensus value", caplog.text)


def test_wavs_lost_from_a_truncated_label_file(corpora, tmp_path, caplog):
    root = copy_corpus(corpora, "1.11", tmp_path)
    lines = consensus_path(root).read_text().splitlines()
    consensus_path(root).write_text("\n".join(lines[:-2]) + "\n")
    lost = sorted(line.split(",")[0] for line in lines[-2:])
    findings = audit.check_release(root)
    assert set(lost) <= set(findings["unlabelled_wavs"])
    assert len(findings["unlabelled_wavs"]) == len(generated_test3_wavs(root)) + 2
    assert sorted(findings["ratings_without_labels"]) == [name[:-4] for name in lost]


def test_malformed_label_file_is_an_error_naming_it(corpora, tmp_path):
    root = copy_corpus(corpora, "1.6", tmp_path)
    path = root / "Labels" / "labels_detailed.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(
        prep.MSPPodcastFormatError, match=rf"{re.escape(str(path))}: not valid JSON"
    ):
        audit.check_release(root)


def test_command_line(corpora):
    result = subprocess.run(
        [sys.executable, str(RECIPE / "check_release.py"), "--data_folder", str(corpora["1.11"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "v1.11+ layout" in result.stderr
    assert f"{len(generated_test3_wavs(corpora['1.11']))} wavs in" in result.stderr
    assert "equals the mean of their detailed ratings" in result.stderr


def test_module_doctests():
    import doctest

    result = doctest.testmod(audit, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 5
