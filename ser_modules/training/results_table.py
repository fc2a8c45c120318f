"""Results tables: a title, notes and Markdown tables in ``results.md`` (and the main table in
a CSV file). The recipe chooses the columns, the rows and the words; this module only lays
them out and writes them atomically.

Authors
 * ser-recipes contributors 2026
"""

import csv

from ser_modules.utils.files import open_atomic


def markdown_table(columns, rows):
    """The lines of a Markdown table.

    Arguments
    ---------
    columns : list of str
        The header.
    rows : list of list
        The cells (formatted with ``str``).

    Returns
    -------
    list of str

    Example
    -------
    >>> print("\\n".join(markdown_table(["split", "CCC"], [["test1", "0.512"]])))
    | split | CCC |
    | --- | --- |
    | test1 | 0.512 |
    """
    lines = ["| " + " | ".join(str(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def results_markdown(title, columns, rows, notes=(), sections=()):
    """``# title``, the notes (one line each), the table, then each section
    (``## heading`` and its table).

    Arguments
    ---------
    title : str
        The title.
    columns, rows : list
        The main table (see :func:`markdown_table`).
    notes : list of str
        Lines between the title and the table.
    sections : list of tuple
        ``(heading, columns, rows)`` of further tables.

    Returns
    -------
    str

    Example
    -------
    >>> print(results_markdown("Demo", ["a"], [[1]], notes=["One note."],
    ...                        sections=[("More", ["b"], [[2]])]), end="")
    # Demo
    <BLANKLINE>
    One note.
    <BLANKLINE>
    | a |
    | --- |
    | 1 |
    <BLANKLINE>
    ## More
    <BLANKLINE>
    | b |
    | --- |
    | 2 |
    """
    lines = [f"# {title}", ""]
    if notes:
        lines += [*notes, ""]
    lines += markdown_table(columns, rows)
    for heading, section_columns, section_rows in sections:
        lines += ["", f"## {heading}", "", *markdown_table(section_columns, section_rows)]
    return "\n".join(lines) + "\n"


def write_results_table(path, title, columns, rows, notes=(), sections=(), csv_path=None):
    """Writes :func:`results_markdown` to ``path`` (and the main table to ``csv_path``);
    returns the Markdown text.

    Arguments
    ---------
    path : str or pathlib.Path
        The Markdown file (e.g. ``results.md``).
    title, columns, rows, notes, sections
        See :func:`results_markdown`.
    csv_path : str or pathlib.Path, optional
        Where the main table is also written as CSV.

    Returns
    -------
    str

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> text = write_results_table(os.path.join(folder, "results.md"), "Demo", ["split", "CCC"],
    ...     [["test1", "0.512"]], csv_path=os.path.join(folder, "results.csv"))
    >>> open(os.path.join(folder, "results.csv")).read().splitlines()
    ['split,CCC', 'test1,0.512']
    """
    text = results_markdown(title, columns, rows, notes, sections)
    with open_atomic(path) as handle:
        handle.write(text)
    if csv_path is not None:
        with open_atomic(csv_path) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerows([columns, *rows])
    return text
