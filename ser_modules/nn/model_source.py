"""Where a pretrained upstream comes from: a Hugging Face Hub id or a local folder.

``--ssl_hub`` (``--wav2vec2_hub``, ``--hubert_hub``, ``--bert_hub``) takes either. Given a
local path that does not exist, ``transformers`` reads it as a Hub id: the run fails with a
repo-id error, or waits for the network (~30 s offline) before failing without naming the
path. :func:`check_model_source` fails at once instead, naming the path.

A source *looks like a local path* (:func:`looks_like_local_path`) when it

* starts with ``/``, ``./``, ``../`` or ``~`` (or is ``.`` / ``..``), or contains ``\\``;
* has more than one ``/`` (a Hub id is ``name`` or ``namespace/name``);
* is ``first/second`` and ``first`` is an existing local folder (``data/tiny_wavlm`` run
  from the folder that holds ``data/``).

Anything else (``microsoft/wavlm-large``, ``bert-base-uncased``) is a Hub id, unless a folder
of that name exists here, which ``transformers`` then loads.

Authors
 * ser-recipes contributors 2026
"""

import os

__all__ = ["looks_like_local_path", "check_model_source"]

LOCAL_PREFIXES = ("/", "./", "../", "~")


def looks_like_local_path(source):
    """Whether ``source`` names a local folder rather than a Hub id (see the module docstring).

    Arguments
    ---------
    source : str or os.PathLike
        The ``*_hub`` option.

    Returns
    -------
    bool

    Example
    -------
    >>> looks_like_local_path("microsoft/wavlm-large"), looks_like_local_path("bert-base-uncased")
    (False, False)
    >>> looks_like_local_path("/models/wavlm"), looks_like_local_path("./wavlm")
    (True, True)
    >>> looks_like_local_path("~/models/wavlm"), looks_like_local_path("results/models/wavlm")
    (True, True)
    """
    source = os.fspath(source)
    if source in (".", "..") or source.startswith(LOCAL_PREFIXES) or "\\" in source:
        return True
    parts = source.split("/")
    if len(parts) > 2:
        return True
    return len(parts) == 2 and os.path.isdir(parts[0])


def check_model_source(source, what="pretrained model"):
    """Returns ``source`` (``~`` expanded) after checking that a local path is a folder.

    Arguments
    ---------
    source : str or os.PathLike
        Hub id or local folder.
    what : str
        What the source is, for the message (e.g. ``"SSL upstream"``).

    Returns
    -------
    str
        The source to load.

    Raises
    ------
    FileNotFoundError
        ``source`` looks like a local path (:func:`looks_like_local_path`) and is no folder.

    Example
    -------
    >>> check_model_source("microsoft/wavlm-large")
    'microsoft/wavlm-large'
    >>> check_model_source("/no/such/wavlm", "SSL upstream")
    Traceback (most recent call last):
    ...
    FileNotFoundError: SSL upstream /no/such/wavlm: no such folder (/no/such/wavlm). ...
    """
    source = os.fspath(source)
    if not looks_like_local_path(source):
        return source
    path = os.path.expanduser(source)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{what} {source}: no such folder ({os.path.abspath(path)}). A local path (starting "
            "with /, ./, ../ or ~, or with more than one /) must be the folder of a Hugging Face "
            "model (config.json and the weights); give an existing folder, or a Hub id "
            "(name or namespace/name, e.g. microsoft/wavlm-large)"
        )
    return path
