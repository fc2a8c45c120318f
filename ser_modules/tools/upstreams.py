"""The upstream models of an experiment as an export names them: Hub id, the commit trained
with (when known), or the local folder.

An upstream is a ``<name>_hub`` hyperparameter (the recipe's inference template declares which:
``ssl_hub``, ``hubert_hub``, ``wav2vec2_hub``). Its commit is known from, in this order: a
``<name>_revision`` (or ``revision``) hyperparameter; a source that is a snapshot folder of a
Hugging Face cache (``.../models--ORG--NAME/snapshots/SHA``, whose Hub id and commit the path
records); the download cache of the training run (the folder that SpeechBrain gives
``from_pretrained`` as ``cache_dir``: ``models--ORG--NAME/refs/main``, a hyperparameter that the
template declares too). Otherwise it is unknown and the export says so.

Authors
 * ser-recipes contributors 2026
"""

import re
from dataclasses import dataclass
from pathlib import Path

# A folder of a Hugging Face cache: .../models--ORG--NAME/snapshots/<40 hex digits>
SNAPSHOT = re.compile(
    r"models--(?P<org>[^/\\]+?)--(?P<name>[^/\\]+)[/\\]snapshots[/\\](?P<sha>[0-9a-f]{40})"
)
# A Hub model id: NAME or ORG/NAME (letters, digits, - _ .), not a path.
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Upstream:
    """One upstream of an experiment.

    Attributes
    ----------
    key : str
        Its hyperparameter (``ssl_hub``).
    source : str
        The value trained with (Hub id or folder).
    hub_id : str or None
        The Hub id (``None``: a local folder that is no Hub snapshot).
    revision : str or None
        The commit trained with (``None``: unknown).
    origin : str
        Where the commit (or its absence) comes from, for the model card.
    """

    key: str
    source: str
    hub_id: str = None
    revision: str = None
    origin: str = ""

    @property
    def revision_key(self):
        """The hyperparameter that records the commit: ``ssl_hub`` -> ``ssl_revision``."""
        return self.key[: -len("_hub")] + "_revision"


def cached_revision(cache_folder, hub_id):
    """The commit of ``hub_id`` in a Hugging Face download cache folder, or ``None``.

    Example
    -------
    >>> import tempfile, os
    >>> cache = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(cache, "models--org--name", "refs"))
    >>> _ = open(os.path.join(cache, "models--org--name", "refs", "main"), "w").write("a" * 40)
    >>> cached_revision(cache, "org/name") == "a" * 40, cached_revision(cache, "org/other")
    (True, None)
    """
    repo = Path(cache_folder) / f"models--{hub_id.replace('/', '--')}"
    ref = repo / "refs" / "main"
    if ref.is_file():
        sha = ref.read_text(encoding="utf-8").strip()
        return sha if COMMIT.match(sha) else None
    snapshots = [path.name for path in (repo / "snapshots").glob("*") if COMMIT.match(path.name)]
    return snapshots[0] if len(snapshots) == 1 else None


def find_upstreams(hparams, resolve=lambda path: Path(path), keys=None, download_folder=None):
    """The upstreams of an experiment (its hyperparameters ``keys`` that have a value, in the
    experiment's order), with their Hub ids and commits when they are known.

    Arguments
    ---------
    hparams : dict
        The experiment's resolved hyperparameters.
    resolve : callable
        Turns a path of the hyperparameters into a path to read (relative paths are relative
        to where training ran).
    keys : sequence of str, optional
        The hyperparameters that name the upstreams (default: every ``*_hub`` one).
    download_folder : str, optional
        The hyperparameter of the download cache of the training run (default: none).

    Example
    -------
    >>> sha = "0123456789abcdef0123456789abcdef01234567"
    >>> snapshot = f"/home/me/.cache/huggingface/hub/models--microsoft--wavlm-large/snapshots/{sha}"
    >>> [(up.key, up.hub_id, up.revision == sha) for up in find_upstreams({"ssl_hub": snapshot})]
    [('ssl_hub', 'microsoft/wavlm-large', True)]
    >>> up = find_upstreams({"hubert_hub": "facebook/hubert-large-ll60k", "ssl_folder": "/nowhere"},
    ...                     download_folder="ssl_folder")[0]
    >>> up.hub_id, up.revision, up.origin
    ('facebook/hubert-large-ll60k', None,
     'not recorded: no hubert_revision hyperparameter, and /nowhere holds no download of it')
    >>> find_upstreams({"ssl_hub": "/data/models/my_wavlm"})[0].hub_id is None
    True
    """
    upstreams = []
    keys = [
        key
        for key, value in hparams.items()
        if value and (key in keys if keys is not None else key.endswith("_hub"))
    ]
    for key in keys:
        source = str(hparams[key])
        upstream = Upstream(key, source)
        given = hparams.get(upstream.revision_key) or (
            hparams.get("revision") if len(keys) == 1 else None
        )
        snapshot = SNAPSHOT.search(source)
        if snapshot:
            upstream.hub_id = f"{snapshot['org']}/{snapshot['name']}"
        elif HUB_ID.match(source) and not resolve(source).exists():
            upstream.hub_id = source
        if given:
            upstream.revision, upstream.origin = (
                str(given),
                f"the {upstream.revision_key} hyperparameter",
            )
        elif snapshot:
            upstream.revision, upstream.origin = (
                snapshot["sha"],
                "the Hugging Face cache folder trained with",
            )
        elif upstream.hub_id and download_folder and hparams.get(download_folder):
            cache = resolve(hparams[download_folder])
            upstream.revision = cached_revision(cache, upstream.hub_id)
            upstream.origin = (
                f"the download cache of the training run ({hparams[download_folder]})"
                if upstream.revision
                else (
                    f"not recorded: no {upstream.revision_key} hyperparameter, and {cache} holds no"
                    " download of it"
                )
            )
        elif upstream.hub_id:
            upstream.origin = f"not recorded: no {upstream.revision_key} hyperparameter"
        else:
            upstream.origin = "a local folder, not a Hub model"
        upstreams.append(upstream)
    return upstreams
