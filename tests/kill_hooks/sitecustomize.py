"""Test-only hook: SIGKILLs the Python process at a precise point of a recipe run.

``tests/test_interruption.py`` puts this folder on ``PYTHONPATH``, so Python imports this
module at start-up; it does nothing unless ``SER_KILL_AT`` is set to ``<point>:<n>``:

* ``prepare:n``: while the data preparation writes its ``n``-th JSON file of a ``manifests``
  folder (half the text is written, then the process is killed);
* ``cache:n``: while the feature cache writes its ``n``-th entry (half the bytes);
* ``batch:n``: at the start of the ``n``-th training batch (``Brain.fit_batch``);
* ``checkpoint:n``: while the ``n``-th checkpoint is saved, half-way through its second
  ``torch.save`` file;
* ``results:n``: while the ``n``-th ``test_results.json`` is written (half the text).

The process kills itself with ``SIGKILL``: nothing (``finally``, ``atexit``) runs after it, as
when a job is killed by a scheduler or a machine goes down.
"""

import io
import os
import signal

POINT, _, COUNT = os.environ.get("SER_KILL_AT", "").partition(":")
_seen = {}


def _reached(point):
    """Counts one event of ``point``; True at the ``COUNT``-th one of the armed point."""
    _seen[point] = _seen.get(point, 0) + 1
    return point == POINT and _seen[point] == int(COUNT)


def _half_write_and_die(path, data, mode):
    """Writes the first half of ``data`` to ``path``, then kills the process."""
    with open(path, mode) as handle:
        handle.write(data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)


def _install_json_hook():
    """Kills in ``json.dump`` into a manifest or a results file."""
    import json

    dump = json.dump

    def killing_dump(obj, stream, **kwargs):
        name = str(getattr(stream, "name", ""))
        point = "prepare" if os.path.basename(os.path.dirname(name)) == "manifests" else None
        point = "results" if ".test_results.json." in name else point
        if point and _reached(point):
            text = io.StringIO()
            dump(obj, text, **kwargs)
            _half_write_and_die(name, text.getvalue(), "w")
        return dump(obj, stream, **kwargs)

    json.dump = killing_dump


def _install_torch_hooks():
    """Kills in ``torch.save`` of a cache entry or of a checkpoint file, or in a batch."""
    import speechbrain as sb
    import torch

    save = torch.save
    checkpoints = []

    def killing_save(obj, path, *args, **kwargs):
        path_text = str(path)
        if ".pt." in os.path.basename(path_text) and path_text.endswith(".tmp"):
            if _reached("cache"):
                _serialised_half_and_die(obj, path)
        folder = os.path.basename(os.path.dirname(path_text))
        if folder.startswith("CKPT+"):
            if folder not in checkpoints:
                checkpoints.append(folder)
                _seen["files_in_checkpoint"] = 0
            _seen["files_in_checkpoint"] += 1
            if (
                POINT == "checkpoint"
                and len(checkpoints) == int(COUNT)
                and _seen["files_in_checkpoint"] == 2
            ):
                _serialised_half_and_die(obj, path)
        return save(obj, path, *args, **kwargs)

    def _serialised_half_and_die(obj, path):
        buffer = io.BytesIO()
        save(obj, buffer)
        _half_write_and_die(path, buffer.getvalue(), "wb")

    fit_batch = sb.Brain.fit_batch

    def killing_fit_batch(self, batch):
        if _reached("batch"):
            os.kill(os.getpid(), signal.SIGKILL)
        return fit_batch(self, batch)

    torch.save = killing_save
    sb.Brain.fit_batch = killing_fit_batch


if POINT:
    _install_json_hook()
    if POINT in ("cache", "batch", "checkpoint"):
        _install_torch_hooks()
