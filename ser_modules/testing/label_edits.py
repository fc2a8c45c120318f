"""Helpers of the tests that edit the label files of a generated corpus (bad-input cases).

Authors
 * ser-recipes contributors 2026
"""

import csv


def read_csv(path):
    """``(header, list of row dicts)`` of a CSV file.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.csv")
    >>> write_csv(path, ["FileName", "EmoAct"], [{"FileName": "a.wav", "EmoAct": "4.0"}])
    >>> read_csv(path)
    (['FileName', 'EmoAct'], [{'FileName': 'a.wav', 'EmoAct': '4.0'}])
    """
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        return list(reader.fieldnames), list(reader)


def write_csv(path, header, rows):
    """Writes row dicts under ``header`` (``\\n`` line ends, as the releases)."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
