#!/usr/bin/env python3
"""Audits of an MSP-Podcast release that the manifests do not need (run on demand).

``msp_podcast_prepare.py`` writes correct manifests without these checks; they tell how far a
copy of the release departs from what the preparation assumes:

* consensus vs raters: files whose consensus (``EmoAct``, ``EmoVal``, ``EmoDom``) differs from
  the mean of their detailed ratings by more than ``0.01`` plus half a unit of the last
  decimal written (the preparation keeps the consensus);
* ``Partitions.txt`` vs the ``Split_Set`` column (v1.6): files listed in another partition
  (the preparation uses ``Partitions.txt``), and listed files without consensus row;
* wavs of the audio folder that no consensus row names (Test3, or rows lost when a label file
  was truncated at a line boundary);
* rated files of the detailed labels without consensus value;
* partition names other than Train, Development, Validation, Test<k> (e.g. ``Test 1``), with
  their number of files (the preparation writes them under a name of their own, which the
  recipe does not evaluate);
* files of the release 1.3 test set (Eval1.3, see ``msp_podcast_prepare.py``) without a
  complete consensus value in this release (left out of ``eval1.3.json``).

Each finding is logged (count and worst or first few) and returned.

Example
-------
> python check_release.py --data_folder /data/MSP-Podcast

Authors
 * ser-recipes contributors 2026
"""

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # also when imported by path
from msp_podcast_prepare import (  # noqa: E402
    N_EXAMPLES,
    detect_layout,
    is_expected_partition,
    rater_statistics,
    read_consensus,
    read_detailed,
    read_eval13,
    read_partitions,
    utterance_id,
)

from ser_modules.utils.constants import DIMENSIONS  # noqa: E402

logger = logging.getLogger(__name__)

AGREEMENT_TOLERANCE = 0.01


def check_release(data_folder, eval13_partitions=None):
    """Runs every audit on a release; logs and returns the findings.

    Arguments
    ---------
    data_folder : str or path-like
        Root of the release (as for ``prepare_msp_podcast``).
    eval13_partitions : str or path-like, optional
        The release 1.3 partitions (as for ``prepare_msp_podcast``; None: looked up).

    Returns
    -------
    dict
        ``consensus_mismatches`` (see :func:`consensus_mismatches`), ``partition_conflicts``
        (``(file, Partitions.txt, Split_Set)``), ``partitions_without_labels`` (partition ->
        count), ``unlabelled_wavs`` (file names), ``ratings_without_labels`` (utterance ids),
        ``unexpected_partitions`` (partition name -> count), ``eval13_without_labels``
        (utterance ids).

    Example
    -------
    >>> check_release("MSP-Podcast")["unlabelled_wavs"][:1]  # doctest: +SKIP
    ['MSP-PODCAST_test3_0001.wav']
    """
    layout = detect_layout(Path(data_folder), eval13_partitions)
    rows = read_consensus(layout.consensus)
    partitions = read_partitions(layout.partitions) if layout.partitions else {}
    ratings = read_detailed(layout.detailed)
    labelled = [row for row in rows if None not in row["values"].values()]
    findings = {
        "consensus_mismatches": consensus_mismatches(
            labelled, rater_statistics(labelled, ratings, layout.detailed)
        ),
        "partition_conflicts": partition_conflicts(rows, partitions),
        "partitions_without_labels": partitions_without_labels(partitions, rows),
        "unlabelled_wavs": unlabelled_wavs(layout.audio_dir, rows),
        "ratings_without_labels": sorted(set(ratings) - {row["utt"] for row in labelled}),
        "unexpected_partitions": unexpected_partitions(rows, partitions),
        "eval13_without_labels": (
            sorted(set(read_eval13(layout.eval13)) - {row["utt"] for row in labelled})
            if layout.eval13
            else []
        ),
    }
    log_findings(findings, layout, len(labelled))
    return findings


def agreement_tolerance(text):
    """Tolerance between a consensus value as written and the rater mean.

    Example
    -------
    >>> round(agreement_tolerance("3.777778"), 7), round(agreement_tolerance("4.0"), 7)
    (0.0100005, 0.06)
    >>> agreement_tolerance("4")
    0.01
    """
    decimals = len(text.split(".", 1)[1]) if "." in text else None
    half_unit = 0.5 * 10.0**-decimals if decimals is not None else 0.0
    return AGREEMENT_TOLERANCE + half_unit


def consensus_mismatches(rows, stats):
    """The consensus values that differ from the mean of the file's ratings.

    Arguments
    ---------
    rows : list of dict
        Labelled consensus rows (see ``msp_podcast_prepare.read_consensus``).
    stats : dict
        Utterance id -> rater statistics (see ``msp_podcast_prepare.rater_statistics``).

    Returns
    -------
    list of tuple
        ``(abs difference, file name, attribute, consensus, mean, n_raters)``, worst first.

    Example
    -------
    >>> row = {"utt": "a", "file_name": "a.wav", "values": {"arousal": 4.0, "valence": 3.0,
    ...        "dominance": 2.0}, "texts": {"arousal": "4.0", "valence": "3.0", "dominance": "2.0"}}
    >>> stats = {"a": {"n_raters": 2, "arousal_mean": 4.0, "valence_mean": 3.5,
    ...                "dominance_mean": 2.0}}
    >>> consensus_mismatches([row], stats)
    [(0.5, 'a.wav', 'valence', 3.0, 3.5, 2)]
    """
    mismatches = []
    for row in rows:
        summary = stats[row["utt"]]
        for attr in DIMENSIONS if summary["n_raters"] else ():
            gap = abs(row["values"][attr] - summary[f"{attr}_mean"])
            if gap > agreement_tolerance(row["texts"][attr]):
                mismatches.append(
                    (
                        gap,
                        row["file_name"],
                        attr,
                        row["values"][attr],
                        summary[f"{attr}_mean"],
                        summary["n_raters"],
                    )
                )
    return sorted(mismatches, key=lambda item: (-item[0], item[1], item[2]))


def partition_conflicts(rows, partitions):
    """``(file name, partition in Partitions.txt, Split_Set)`` of the files where they differ.

    Example
    -------
    >>> row = {"utt": "a", "file_name": "a.wav", "split_set": "Test1"}
    >>> partition_conflicts([row], {"a": "Train"})
    [('a.wav', 'Train', 'Test1')]
    """
    return [
        (row["file_name"], partitions[row["utt"]], row["split_set"])
        for row in rows
        if partitions.get(row["utt"])
        and row["split_set"]
        and partitions[row["utt"]] != row["split_set"]
    ]


def partitions_without_labels(partitions, rows):
    """``{partition: number of files of Partitions.txt without consensus row}``.

    Example
    -------
    >>> partitions_without_labels({"a": "Train", "b": "Test2"}, [{"utt": "a"}])
    {'Test2': 1}
    """
    known = {row["utt"] for row in rows}
    return dict(
        sorted(Counter(split for utt, split in partitions.items() if utt not in known).items())
    )


def unexpected_partitions(rows, partitions):
    """``{partition: number of files}`` of the partition names that are not the release's.

    Example
    -------
    >>> rows = [{"utt": "a", "split_set": "Test 1"}, {"utt": "b", "split_set": "Test1"},
    ...         {"utt": "c", "split_set": ""}]
    >>> unexpected_partitions(rows, {"c": "Dev"})
    {'Dev': 1, 'Test 1': 1}
    """
    names = Counter(partitions.get(row["utt"]) or row["split_set"] for row in rows)
    return {
        name: count
        for name, count in sorted(names.items())
        if name and not is_expected_partition(name)
    }


def unlabelled_wavs(audio_dir, rows):
    """Sorted names of the wavs of ``audio_dir`` that no consensus row names (hidden files aside).

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("a.wav", "b.wav", "._b.wav"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> unlabelled_wavs(folder, [{"utt": "a"}])
    ['b.wav']
    """
    named = {row["utt"] for row in rows}
    return sorted(
        entry.name
        for entry in os.scandir(audio_dir)
        if entry.name.lower().endswith(".wav")
        and not entry.name.startswith(".")
        and utterance_id(entry.name) not in named
    )


def log_findings(findings, layout, n_labelled):
    """Logs each finding: count and the first (or worst) few."""
    mismatches = findings["consensus_mismatches"]
    if mismatches:
        worst = "; ".join(
            f"{name} {attr} consensus {value:g} vs mean {mean:.4f} of {n} raters"
            for _, name, attr, value, mean, n in mismatches[:N_EXAMPLES]
        )
        logger.warning(
            "MSP-Podcast: %d of %d files (%d values) have a consensus in %s that differs "
            "from the mean of their ratings in %s (the preparation keeps the consensus); "
            "worst: %s",
            len({item[1] for item in mismatches}),
            n_labelled,
            len(mismatches),
            layout.consensus,
            layout.detailed,
            worst,
        )
    else:
        logger.info(
            "MSP-Podcast: the consensus of all %d files equals the mean of their detailed ratings",
            n_labelled,
        )
    if findings["partition_conflicts"]:
        examples = "; ".join(
            f"{name} ({listed} vs {split_set})"
            for name, listed, split_set in findings["partition_conflicts"][:N_EXAMPLES]
        )
        logger.warning(
            "MSP-Podcast: %d files have another partition in %s than in the Split_Set "
            "column of %s (the preparation uses %s), e.g. %s",
            len(findings["partition_conflicts"]),
            layout.partitions,
            layout.consensus,
            layout.partitions.name,
            examples,
        )
    for split, count in findings["partitions_without_labels"].items():
        logger.info(
            "MSP-Podcast: %d files of %s in %s have no consensus label (not used)",
            count,
            split,
            layout.partitions,
        )
    if findings["unlabelled_wavs"]:
        logger.info(
            "MSP-Podcast: %d wavs in %s have no consensus label (e.g. Test3) and are not "
            "used, e.g. %s",
            len(findings["unlabelled_wavs"]),
            layout.audio_dir,
            ", ".join(findings["unlabelled_wavs"][:N_EXAMPLES]),
        )
    for name, count in findings["unexpected_partitions"].items():
        logger.warning(
            "MSP-Podcast: unexpected partition name %r (%d files in %s / %s): not evaluated as a"
            " test split by the recipe",
            name,
            count,
            layout.consensus,
            layout.partitions or "no Partitions.txt",
        )
    if findings["eval13_without_labels"]:
        logger.warning(
            "MSP-Podcast: %d Eval1.3 files of %s have no complete consensus value in %s (left out "
            "of eval1.3.json), e.g. %s",
            len(findings["eval13_without_labels"]),
            layout.eval13,
            layout.consensus,
            ", ".join(findings["eval13_without_labels"][:N_EXAMPLES]),
        )
    if findings["ratings_without_labels"]:
        logger.info(
            "MSP-Podcast: %d rated files of %s have no consensus value in %s (not used)",
            len(findings["ratings_without_labels"]),
            layout.detailed,
            layout.consensus,
        )


def main(argv=None):
    """Runs :func:`check_release` from the command line (findings go to the log)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data_folder", required=True, help="root of the MSP-Podcast release")
    parser.add_argument(
        "--eval13_partitions", default=None, help="release 1.3 partitions (default: looked up)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    check_release(args.data_folder, args.eval13_partitions)


if __name__ == "__main__":
    sys.exit(main())
