"""Atomic file writing: a file is either the old one or the complete new one, never partial.

Everything the recipes write and later trust (manifests, options, results, cached features)
goes through a temporary file in the same folder and ``os.replace``, so a run killed at any
moment leaves no half-written file behind.

Authors
 * ser-recipes contributors 2026
"""

import contextlib
import json
import os
import uuid
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it to ``path`` if the block succeeds.

    Arguments
    ---------
    path : str or pathlib.Path
        Destination (its folder is created if needed).

    Yields
    ------
    pathlib.Path
        The temporary path to write to.

    Example
    -------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('done', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(obj, path):
    """Writes ``obj`` as indented JSON to ``path`` atomically; NaN and infinities are refused.

    Arguments
    ---------
    obj : object
        JSON-serialisable object.
    path : str or pathlib.Path
        Destination.

    Example
    -------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "r.json"
    >>> write_json_atomic({"UA": 61.5}, target)
    >>> json.loads(target.read_text())
    {'UA': 61.5}
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as stream:
            json.dump(obj, stream, indent=2, allow_nan=False)
            stream.write("\n")


def read_json(path):
    """Reads a JSON file, naming the file in the error when it is not valid JSON.

    Arguments
    ---------
    path : str or pathlib.Path
        JSON file.

    Returns
    -------
    object
        The decoded content.

    Example
    -------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "bad.json"
    >>> _ = target.write_text("{truncated")
    >>> try:
    ...     read_json(target)
    ... except ValueError as error:
    ...     print(str(error).split(":")[0] == f"Invalid JSON in {target}")
    True
    """
    with open(path, encoding="utf-8") as stream:
        try:
            return json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(f"Invalid JSON in {path}: {error}") from error
