"""Reading a release's label files: the first of the spellings a release uses, CSV files whose
rows are checked against their header, and required fields, every error naming the file (and
line).

Authors
 * ser-recipes contributors 2026
"""

import csv


def find_first(folder, names, what, want_dir=False):
    """The first existing ``folder/<name>`` among ``names``; the error names every candidate.

    Arguments
    ---------
    folder : pathlib.Path
        Where to look.
    names : sequence of str
        The spellings the releases use, in order of preference.
    what : str
        What is looked for (for the error message).
    want_dir : bool
        Look for a folder instead of a file.

    Returns
    -------
    pathlib.Path

    Example
    -------
    >>> from pathlib import Path
    >>> find_first(Path("/nowhere"), ("Audios", "Audio"), "MSP-Podcast audio folder", want_dir=True)
    Traceback (most recent call last):
    ...
    FileNotFoundError: MSP-Podcast audio folder not found (tried /nowhere/Audios, /nowhere/Audio)
    """
    candidates = [folder / name for name in names]
    for path in candidates:
        if path.is_dir() if want_dir else path.is_file():
            return path
    raise FileNotFoundError(f"{what} not found (tried {', '.join(map(str, candidates))})")


def read_csv_rows(path, required, error=ValueError):
    """``([(line number, row dict)], column names)`` of a CSV file with the required columns.

    Arguments
    ---------
    path : str or pathlib.Path
        The CSV file (a UTF-8 byte-order mark is accepted).
    required : sequence of str
        Columns the header must have.
    error : type
        Exception raised for a missing column or a row with a wrong number of fields.

    Returns
    -------
    tuple

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.csv")
    >>> _ = open(path, "w").write("FileName,EmoAct\\na.wav,4.0\\nb.wav\\n")
    >>> try:
    ...     read_csv_rows(path, ["FileName", "EmoAct"])
    ... except ValueError as failure:
    ...     print(str(failure).replace(path, "labels.csv"))
    labels.csv:3: 1 of 2 fields (no EmoAct): truncated or malformed row
    """
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in required if name not in columns]
        if missing:
            raise error(
                f"{path}: missing column(s) {', '.join(missing)} (found:"
                f" {', '.join(columns) or 'no header'})"
            )
        reader.fieldnames = columns
        rows = [
            (reader.line_num, check_field_count(row, path, reader.line_num, error))
            for row in reader
        ]
    return rows, columns


def check_field_count(row, path, line, error=ValueError):
    """A ``csv.DictReader`` row, checked to have as many fields as the header.

    Example
    -------
    >>> check_field_count({"FileName": "a.wav", "EmoAct": None}, "c.csv", 9)
    Traceback (most recent call last):
    ...
    ValueError: c.csv:9: 1 of 2 fields (no EmoAct): truncated or malformed row
    """
    if None in row:
        raise error(
            f"{path}:{line}: {len(row) - 1 + len(row[None])} fields for "
            f"{len(row) - 1} columns: malformed row (unquoted comma?)"
        )
    absent = [column for column, value in row.items() if value is None]
    if absent:
        raise error(
            f"{path}:{line}: {len(row) - len(absent)} of {len(row)} fields "
            f"(no {', '.join(absent)}): truncated or malformed row"
        )
    return row


def required_field(row, column, where, error=ValueError):
    """The stripped value of ``column`` in a CSV row; an ``error`` naming ``where`` when empty.

    Example
    -------
    >>> required_field({"FileName": " a.wav "}, "FileName", "c.csv:2")
    'a.wav'
    >>> required_field({"FileName": ""}, "FileName", "c.csv:3")
    Traceback (most recent call last):
    ...
    ValueError: c.csv:3: empty FileName
    """
    value = (row.get(column) or "").strip()
    if not value:
        raise error(f"{where}: empty {column}")
    return value
