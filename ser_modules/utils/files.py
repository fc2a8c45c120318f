"""Atomic file writing and NaN-safe JSON: one implementation for the whole project.

A written file is either the old one or the complete new one, never partial.

Everything the recipes write and later trust (manifests, options, results, cached features)
goes through a temporary file in the same folder and ``os.replace``, so a run killed at any
moment leaves no half-written file behind.

Authors
 * ser-recipes contributors 2026
"""

import contextlib
import errno
import json
import math
import os
import uuid
from pathlib import Path


class DiskFullError(OSError):
    """No space left on the device of a folder being written (``ENOSPC``); names the folder."""


def is_disk_full(error):
    """Whether an exception is a full disk: ``OSError`` ``ENOSPC``, or the ``RuntimeError`` of
    ``torch.save`` whose message says so.

    Example
    -------
    >>> full = OSError(errno.ENOSPC, "No space left on device")
    >>> is_disk_full(full), is_disk_full(ValueError("x"))
    (True, False)
    """
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, RuntimeError) and "No space left on device" in str(error)


@contextlib.contextmanager
def disk_full_named(folder, what="writing"):
    """Turns a full disk inside the block into a :class:`DiskFullError` that names ``folder``
    and what was being written (other errors pass unchanged).

    Arguments
    ---------
    folder : str or pathlib.Path
        The folder being written.
    what : str
        What was being written, for the message.

    Example
    -------
    >>> try:
    ...     with disk_full_named("/data/results", "writing a checkpoint"):
    ...         raise OSError(errno.ENOSPC, "No space left on device")
    ... except DiskFullError as error:
    ...     print(error.strerror)
    No space left on the device of /data/results (ENOSPC) while writing a checkpoint: free space
    there, or write elsewhere (e.g. --results_folder=...)
    """
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError) as error:
        if not is_disk_full(error):
            raise
        message = (
            f"No space left on the device of {folder} (ENOSPC) while {what}: "
            "free space there, or write elsewhere (e.g. --results_folder=...)"
        )
        raise DiskFullError(errno.ENOSPC, message) from error


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
        with disk_full_named(path.parent, f"writing {path.name}"):
            yield tmp
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def open_atomic(path, mode="w"):
    """A file opened for writing, renamed to ``path`` once the block completes.

    Arguments
    ---------
    path : str or pathlib.Path
        Destination.
    mode : str
        ``"w"`` (text, UTF-8, universal newlines off, for CSV) or ``"wb"``.

    Example
    -------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "p.csv"
    >>> with open_atomic(target) as handle:
    ...     _ = handle.write("id,label\\n")
    >>> target.read_text()
    'id,label\\n'
    """
    text = "b" not in mode
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({"encoding": "utf-8", "newline": ""} if text else {})) as handle:
            yield handle


def torch_save_atomic(obj, path):
    """``torch.save`` of ``obj`` to ``path`` through a temporary file and a rename.

    Example
    -------
    >>> import tempfile, torch
    >>> target = Path(tempfile.mkdtemp()) / "state.pt"
    >>> torch_save_atomic({"w": torch.ones(2)}, target)
    >>> torch.load(target)["w"].tolist()
    [1.0, 1.0]
    """
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_wav_atomic(signal, path, sample_rate, subtype="PCM_16"):
    """Writes a mono or multichannel wav file atomically (``soundfile``; folders created).

    Arguments
    ---------
    signal : numpy.ndarray
        Samples ``[samples]`` or ``[samples, channels]`` (floats in [-1, 1] for PCM).
    path : str or pathlib.Path
        Destination.
    sample_rate : int
        Sample rate in Hz.
    subtype : str
        ``soundfile`` subtype: ``"PCM_16"`` (default) or ``"FLOAT"``.

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> target = Path(tempfile.mkdtemp()) / "noise" / "a.wav"
    >>> write_wav_atomic(numpy.full(160, 0.5), target, 16000)
    >>> audio, rate = soundfile.read(target)
    >>> audio.shape, rate, float(audio[0]), soundfile.info(str(target)).subtype
    ((160,), 16000, 0.5, 'PCM_16')
    """
    import soundfile

    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), signal, sample_rate, subtype=subtype, format="WAV")


def json_safe(value):
    """A copy of a JSON-like value with NaN and infinite floats replaced by ``None`` (null).

    Used for results that may be undefined, e.g. the recall of a class absent from a fold;
    numpy scalars are turned into Python numbers.

    Example
    -------
    >>> json_safe({"recall": {"neu": 0.5, "sad": float("nan")}, "bins": (1, float("inf"))})
    {'recall': {'neu': 0.5, 'sad': None}, 'bins': [1, None]}
    """
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
