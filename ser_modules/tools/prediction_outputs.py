"""Outputs of ``ser-predict``: strict JSON lines, CSV, the MSP-Podcast challenge submission, and
the partial file that keeps finished work.

Every input gives records (one per file, or one per window); a record has ``error`` (``None``,
or the message of a file that could not be predicted) and ``flags`` (``silent``, ``short``,
``clipped``). With an output file, the records of each finished batch are appended at once to
``<output>.partial.jsonl``; when all inputs are done the output is written in input order
(atomically: it is complete or absent) and the partial file is deleted. A run that stops
leaves the partial file and no output: finished work is kept, and no incomplete table looks
like a complete one.

JSON lines are strict JSON (a NaN or infinite value is refused, never written as a bare
``NaN``); CSV flattens ``probabilities`` to ``p_<label>`` columns, ``embedding`` to
``emb_<i>`` columns and ``flags`` to ``;``-separated names. The ``msp-challenge`` format is
the submission CSV of the MSP-Podcast challenge, ``FileName,EmoAct,EmoVal,EmoDom`` (wav
basename, arousal, valence, dominance); it has no room for errors, which are reported on the
console only (and by the exit status of ``ser-predict``).

Authors
 * ser-recipes contributors 2026
"""

import csv
import json
import logging
import sys
from pathlib import Path

from ser_modules.tools.prediction_inputs import PredictionInputError
from ser_modules.utils.constants import DIMENSIONS, MSP_RATING_COLUMNS
from ser_modules.utils.files import open_atomic

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("jsonl", "csv", "msp-challenge")
MSP_CHALLENGE_COLUMNS = ["FileName"] + [MSP_RATING_COLUMNS[dimension] for dimension in DIMENSIONS]


def flatten(record):
    """A record as one CSV row: ``p_<label>``, ``emb_<i>`` and ``;``-joined ``flags``.

    Example
    -------
    >>> flatten({"id": "a", "label": "hap", "probabilities": {"hap": 0.9, "sad": 0.1},
    ...          "flags": ["silent", "short"], "error": None, "embedding": [0.5, 0.25]})
    {'id': 'a', 'label': 'hap', 'flags': 'silent;short', 'error': None, 'p_hap': 0.9,
     'p_sad': 0.1, 'emb_0': 0.5, 'emb_1': 0.25}
    """
    flat = {
        key: value for key, value in record.items() if key not in ("probabilities", "embedding")
    }
    if isinstance(flat.get("flags"), list):
        flat["flags"] = ";".join(flat["flags"])
    flat.update({f"p_{label}": p for label, p in record.get("probabilities", {}).items()})
    flat.update({f"emb_{i}": value for i, value in enumerate(record.get("embedding", []))})
    return flat


def csv_columns(rows):
    """The columns of flattened rows in order of appearance, ``flags``, ``error`` and the
    embedding last (an error row of the first input does not reorder them).

    Example
    -------
    >>> csv_columns(
    ...     [{"id": "a", "error": "bad"}, {"id": "b", "label": "hap", "error": None, "emb_0": 1.0}]
    ... )
    ['id', 'label', 'error', 'emb_0']
    """
    columns = list(dict.fromkeys(key for row in rows for key in row))
    last = [c for c in ("flags", "error") if c in columns] + [
        c for c in columns if c.startswith("emb_")
    ]
    return [c for c in columns if c not in last] + last or ["id"]


def msp_challenge_row(record):
    """A dimensional record as a row of the MSP-Podcast challenge submission.

    Example
    -------
    >>> msp_challenge_row({"file": "/data/Audios/MSP-PODCAST_0002_0033.wav", "arousal": 4.5,
    ...                    "valence": 3.0, "dominance": 4.0})
    {'FileName': 'MSP-PODCAST_0002_0033.wav', 'EmoAct': 4.5, 'EmoVal': 3.0, 'EmoDom': 4.0}
    """
    return {
        "FileName": Path(record["file"]).name,
        **{MSP_RATING_COLUMNS[dimension]: record[dimension] for dimension in DIMENSIONS},
    }


def check_msp_challenge_inputs(inputs):
    """Fails if two inputs share a file name: the submission names files by their basename."""
    seen = {}
    for _uid, path in inputs:
        name = Path(path).name
        if name in seen:
            raise PredictionInputError(
                f"{seen[name]} and {path} share the file name {name}: the msp-challenge format"
                " names files by their basename; predict them in separate runs"
            )
        seen[name] = path


def write_records(records, handle, output_format):
    """Writes the records as JSON lines, CSV or the MSP-Podcast challenge submission.

    Example
    -------
    >>> import io
    >>> handle = io.StringIO()
    >>> write_records([{"id": "a", "label": "hap", "probabilities": {"hap": 1.0}}], handle, "csv")
    >>> handle.getvalue().splitlines()
    ['id,label,p_hap', 'a,hap,1.0']
    """
    if output_format == "jsonl":
        for record in records:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
        return
    if output_format == "msp-challenge":
        rows, columns = (
            [msp_challenge_row(r) for r in records if r.get("error") is None],
            MSP_CHALLENGE_COLUMNS,
        )
    else:
        rows = [flatten(record) for record in records]
        columns = csv_columns(rows)
    writer = csv.DictWriter(handle, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)


class RecordSink:
    """Collects the records of each input as it finishes; writes them in input order at the end.

    Arguments
    ---------
    output : str or None
        Output file; ``None``: standard output (written at the end, no partial file).
    output_format : str
        One of :data:`OUTPUT_FORMATS`.
    num_inputs : int
        Number of inputs (records are kept by input index).

    Example
    -------
    >>> import tempfile
    >>> output = Path(tempfile.mkdtemp()) / "p.jsonl"
    >>> with RecordSink(output, "jsonl", 2) as sink:
    ...     sink.add(1, [{"id": "b", "error": None}])
    ...     partial = sink.partial.read_text()
    ...     sink.add(0, [{"id": "a", "error": None}])
    ...     records = sink.finish()
    >>> partial, output.read_text().splitlines(), sink.partial.exists()
    ('{"id": "b", "error": null}\\n',
     ['{"id": "a", "error": null}', '{"id": "b", "error": null}'], False)
    """

    def __init__(self, output, output_format, num_inputs):
        self.output = Path(output) if output else None
        self.output_format = output_format
        self.by_input = [None] * num_inputs
        self.partial = (
            self.output.with_name(self.output.name + ".partial.jsonl") if self.output else None
        )
        self.handle = None

    def __enter__(self):
        if self.partial is not None:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.handle = open(self.partial, "x", encoding="utf-8")
            except FileExistsError:
                raise PredictionInputError(
                    f"{self.partial} holds the records of an unfinished run of ser-predict: move it"
                    f" away (or delete it) before writing {self.output} again"
                ) from None
        return self

    def add(self, index, records):
        """Keeps the records of input ``index`` (appended to the partial file at once)."""
        self.by_input[index] = records
        if self.handle is not None:
            for record in records:
                self.handle.write(json.dumps(record, allow_nan=False) + "\n")
            self.handle.flush()

    def finish(self):
        """Writes all records in input order; returns them."""
        records = [record for records in self.by_input for record in records or []]
        if self.output is None:
            write_records(records, sys.stdout, self.output_format)
            return records
        with open_atomic(self.output) as handle:
            write_records(records, handle, self.output_format)
        self.handle.close()
        self.partial.unlink()
        logger.info("%d records written to %s", len(records), self.output)
        return records

    def __exit__(self, kind, error, traceback):
        if self.handle is not None and not self.handle.closed:
            self.handle.close()
            done = sum(records is not None for records in self.by_input)
            logger.error(
                "Stopped: the records of the %d of %d inputs finished are kept in %s",
                done,
                len(self.by_input),
                self.partial,
            )
        return False
