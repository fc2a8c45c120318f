"""The fitted input transforms of a model on frozen frames: standardiser and feature selection.

A recipe such as Mitra et al. (ICASSP 2024) standardises the frames of a frozen upstream per
channel (``ser_modules.nn.tc_gru.InputStandardizer``) and keeps a fraction of the channels
(``ser_modules.nn.selection.FeatureSelection``: CCS, MIS, PCA or none), both fitted on the
training split:

* :func:`utterance_statistics`: the training utterances' mean frames and targets, and the
  frame statistics of the standardiser;
* :func:`fit_input_transforms`: fits the selection on the standardised utterance means
  (:func:`ser_modules.objectives.saliency.fit_selection`) and records everything in one JSON
  file (written last, atomically; an existing one is reused: resume, ``--test_only``), with
  the lexical standardiser's statistics for a multimodal model;
* :func:`load_input_transforms`: fills the model's transforms from that file, refusing a file
  fitted for another selection, upstream or lexical streams.

Authors
 * ser-recipes contributors 2026
"""

import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ser_modules.data.checks import crop
from ser_modules.nn.selection import selection_method
from ser_modules.objectives.saliency import fit_selection
from ser_modules.training.lexical_streams import lexical_identity, lexical_statistics
from ser_modules.utils.constants import DIMENSIONS
from ser_modules.utils.files import read_json, write_json_atomic

logger = logging.getLogger(__name__)


def utterance_statistics(frame_source, train_manifest, progressbar=True, frame_limit=None):
    """Utterance means ``[N, C]``, targets ``[N, 3]`` and frame mean / std ``[C]`` of train.

    Arguments
    ---------
    frame_source : object
        Gives the frames ``[frames, channels]`` of an audio file: ``load(wav)`` (e.g.
        ``ser_modules.training.acoustic_streams.CachedFrames``).
    train_manifest : str
        The training manifest (entries with ``wav`` and the ratings of ``DIMENSIONS``).
    progressbar : bool
        Show a progress bar.
    frame_limit : int, optional
        Frames kept per utterance (``max_duration``), as in training.

    Returns
    -------
    tuple
        ``(means, targets, frame_mean, frame_std)``, float64 numpy arrays (population std).

    Example
    -------
    >>> import os, tempfile
    >>> from types import SimpleNamespace
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> ratings = {"arousal": 2, "valence": 3, "dominance": 4}
    >>> write_json_atomic({"u1": {"wav": "a", **ratings}, "u2": {"wav": "b", **ratings}}, path)
    >>> frames = {"a": torch.tensor([[0.0, 1.0], [2.0, 1.0]]), "b": torch.tensor([[4.0, 1.0]])}
    >>> means, targets, mean, std = utterance_statistics(
    ...     SimpleNamespace(load=frames.get), path, progressbar=False)
    >>> means.tolist(), targets.tolist(), mean.tolist(), std.tolist()
    ([[1.0, 1.0], [4.0, 1.0]], [[2.0, 3.0, 4.0], [2.0, 3.0, 4.0]], [2.0, 1.0], [1.632..., 0.0])
    """
    entries = read_json(train_manifest)
    means, targets = [], []
    total = total_sq = None
    frames = 0
    for entry in tqdm(entries.values(), desc="train utterance means", disable=not progressbar):
        feats = crop(frame_source.load(entry["wav"]), frame_limit).to(torch.float64)
        if total is None:
            total, total_sq = (
                torch.zeros(feats.shape[1], dtype=torch.float64),
                torch.zeros(feats.shape[1], dtype=torch.float64),
            )
        means.append(feats.mean(dim=0))
        total += feats.sum(dim=0)
        total_sq += (feats * feats).sum(dim=0)
        frames += feats.shape[0]
        targets.append([float(entry[d]) for d in DIMENSIONS])
    frame_mean = total / frames
    frame_std = (total_sq / frames - frame_mean**2).clamp(min=0).sqrt()
    return torch.stack(means).numpy(), np.asarray(targets), frame_mean.numpy(), frame_std.numpy()


def fit_input_transforms(path, hparams, frames, train_manifest, frame_limit=None, lexical=None):
    """Fits the standardiser and the selection on the train split and records them in
    ``path``, unless it exists: that one file records the step and is written last
    (atomically). With ``lexical``, the statistics of the lexical standardiser and
    :func:`~ser_modules.training.lexical_streams.lexical_identity` are recorded too.

    Arguments
    ---------
    path : str or pathlib.Path
        The record (JSON) of the fitted transforms.
    hparams : dict
        Reads ``model`` (its ``standardizer``), ``saliency``, ``keep_fraction``, ``seed``,
        ``mis_neighbors``, ``mis_max_samples``, ``mis_n_jobs``, ``noprogressbar``, and with
        ``lexical`` those of ``lexical_identity``.
    frames : object
        The frames of each audio file (see :func:`utterance_statistics`).
    train_manifest : str
        The training manifest.
    frame_limit : int, optional
        Frames kept per utterance (``max_duration``), as in training.
    lexical : dict, optional
        Audio path -> lexical vector (multimodal model).

    Example
    -------
    >>> import json, os, tempfile
    >>> from types import SimpleNamespace
    >>> from ser_modules.nn.tc_gru import InputStandardizer
    >>> folder = tempfile.mkdtemp()
    >>> entries = {f"u{i}": {"wav": f"{i}", "arousal": i, "valence": 1, "dominance": 2}
    ...            for i in range(1, 5)}
    >>> write_json_atomic(entries, os.path.join(folder, "train.json"))
    >>> frames = SimpleNamespace(load=lambda wav: torch.tensor([[float(wav), 1.0, -float(wav)]]))
    >>> hparams = {"model": {"standardizer": InputStandardizer()}, "saliency": "ccs",
    ...            "keep_fraction": 0.5, "seed": 0, "mis_neighbors": 3, "mis_max_samples": None,
    ...            "mis_n_jobs": 1, "noprogressbar": True}
    >>> path = os.path.join(folder, "selection.json")
    >>> fit_input_transforms(path, hparams, frames, os.path.join(folder, "train.json"))
    >>> record = json.load(open(path))
    >>> record["method"], record["input_size"], record["output_size"], record["frame_mean"]
    ('ccs', 3, 2, [2.5, 1.0, -2.5])
    """
    path = Path(path)
    if path.exists():
        logger.info("Reusing the fitted input transforms of %s", path)
        return
    progressbar = not hparams["noprogressbar"]
    means, targets, frame_mean, frame_std = utterance_statistics(
        frames, train_manifest, progressbar=progressbar, frame_limit=frame_limit
    )
    standardizer = hparams["model"]["standardizer"]
    standardizer.set_statistics(torch.from_numpy(frame_mean), torch.from_numpy(frame_std))
    standardized = (means - frame_mean) / standardizer.std.double().numpy()
    logger.info(
        "Fitting %s (keep %s) on %d training utterance means of %d dimensions",
        hparams["saliency"],
        hparams["keep_fraction"],
        *standardized.shape,
    )
    fitted = fit_selection(
        hparams["saliency"],
        standardized,
        targets,
        hparams["keep_fraction"],
        seed=hparams["seed"],
        n_neighbors=hparams["mis_neighbors"],
        max_samples=hparams["mis_max_samples"],
        n_jobs=hparams["mis_n_jobs"],
        progressbar=progressbar,
    )
    record = {
        "num_train_utterances": int(standardized.shape[0]),
        **fitted,
        "frame_mean": frame_mean,
        "frame_std": frame_std,
    }
    if lexical is not None:
        record.update(
            lexical_statistics(lexical, train_manifest), lexical_identity=lexical_identity(hparams)
        )
    write_json_atomic(
        {
            key: value.tolist() if isinstance(value, np.ndarray) else value
            for key, value in record.items()
        },
        path,
    )


def load_input_transforms(path, hparams):
    """Fills the model's standardiser and selection (and lexical standardiser) from ``path``.

    A record of another selection method or kept fraction, of another input size, without
    lexical statistics for a multimodal model, or of other lexical streams is an error
    asking for another ``output_folder``.

    Arguments
    ---------
    path : str or pathlib.Path
        The record written by :func:`fit_input_transforms`.
    hparams : dict
        Reads ``model`` (``standardizer``, ``selection``, optional ``lexical_standardizer``),
        ``saliency``, ``keep_fraction``, and with a lexical standardiser
        ``lexical_streams``, ``lexical_size`` and ``bert_hub``.

    Example
    -------
    >>> import json, os, tempfile
    >>> from ser_modules.nn.selection import FeatureSelection
    >>> from ser_modules.nn.tc_gru import InputStandardizer
    >>> path = os.path.join(tempfile.mkdtemp(), "selection.json")
    >>> write_json_atomic({"method": "ccs", "keep_fraction": 0.5, "input_size": 4,
    ...     "indices": [3, 1], "frame_mean": [0.0] * 4, "frame_std": [2.0] * 4}, path)
    >>> model = {"standardizer": InputStandardizer(), "selection": FeatureSelection(4, "ccs", 0.5)}
    >>> load_input_transforms(path, {"model": model, "saliency": "ccs", "keep_fraction": 0.5})
    >>> model["selection"].indices.tolist(), model["standardizer"].std.tolist()
    ([3, 1], [2.0, 2.0, 2.0, 2.0])
    >>> load_input_transforms(path, {"model": model, "saliency": "pca", "keep_fraction": 0.5})
    Traceback (most recent call last):
    ...
    ValueError: ... holds a ccs selection keeping 0.5, but the hparams ask for pca keeping 0.5: ...
    """
    record = read_json(path)
    method, keep = selection_method(hparams["saliency"]), hparams["keep_fraction"]
    if record["method"] != method or (
        method != "none" and abs(record["keep_fraction"] - keep) > 1e-9
    ):
        raise ValueError(
            f"{path} holds a {record['method']} selection keeping {record['keep_fraction']}, "
            f"but the hparams ask for {method} keeping {keep}: use another output_folder"
        )
    standardizer, selection = hparams["model"]["standardizer"], hparams["model"]["selection"]
    if record["input_size"] != selection.input_size:
        raise ValueError(
            f"{path} was fitted on {record['input_size']} dimensions, the upstream has"
            f" {selection.input_size}"
        )
    standardizer.set_statistics(
        *(torch.tensor(record[key], dtype=torch.float64) for key in ("frame_mean", "frame_std"))
    )
    selection.load_state_dict(
        {
            name: torch.tensor(record[name], dtype=buffer.dtype)
            for name, buffer in selection.state_dict().items()
        }
    )
    if "lexical_standardizer" in hparams["model"]:
        load_lexical_statistics(path, record, hparams)


def load_lexical_statistics(path, record, hparams):
    """Fills the lexical standardiser from ``record`` (see :func:`load_input_transforms`)."""
    if "lexical_mean" not in record:
        raise ValueError(
            f"{path} has no lexical statistics (an audio-only experiment): use another"
            " output_folder"
        )
    if record["lexical_identity"] != lexical_identity(hparams):
        raise ValueError(
            f"{path} was fitted on the lexical streams {record['lexical_identity']}, the"
            f" hparams ask for {lexical_identity(hparams)}: use another output_folder"
        )
    stats = [
        torch.tensor(record[key], dtype=torch.float64) for key in ("lexical_mean", "lexical_std")
    ]
    if stats[0].numel() != len(hparams["lexical_streams"]) * int(hparams["lexical_size"]):
        raise ValueError(
            f"{path} holds {stats[0].numel()} lexical dimensions, the hparams ask for"
            f" {len(hparams['lexical_streams'])} x {hparams['lexical_size']}: use another"
            " output_folder"
        )
    hparams["model"]["lexical_standardizer"].set_statistics(*stats)
