"""Export a finished experiment as a Hugging Face Hub model folder, and push it.

Export (a fold folder of the IEMOCAP recipe ``train.py``, a cross-validation folder with
``--fold``, or an output folder of the MSP-Podcast recipe)::

    python -m ser_modules.tools.publish export EXP_DIR --out DIR [--fold 1] [--average 5] [--repo-id USER/NAME]

writes ``DIR`` with: the inference ``hyperparams.yaml`` (an overridable ``pretrained_path``),
``model.ckpt`` (the best checkpoint on the validation metric, or the average of the best
``--average`` ones), ``label_encoder.txt`` (categorical) or ``feature_selection.json``
(dimensional: the record of the selection, method, kept indices and scores; the buffers the
model applies are inside ``model.ckpt``), a self-contained
``custom_interface.py`` (the interfaces and the layers they need, for ``foreign_class`` with
plain ``speechbrain``), an example wav, and a ``README.md`` model card generated from the
experiment's result files.

Push (token from ``hf auth login`` or ``HF_TOKEN``)::

    python -m ser_modules.tools.publish push DIR --repo-id USER/NAME [--private]

Authors
 * ser-recipes contributors 2026
"""

import argparse
import ast
import datetime
import importlib.metadata
import inspect
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import soundfile
import torch
import yaml
from speechbrain.utils.checkpoints import average_checkpoints

from ser_modules.inference import interfaces
from ser_modules.nn import layer_weighting, masking, pooling, precision, selection, ssl_encoder, tc_gru
from ser_modules.data.audio import SAMPLE_RATE, load_audio
from ser_modules.training.checkpoint_averaging import best_checkpoints
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.utils.files import read_json, write_json_atomic

logger = logging.getLogger(__name__)

# Modules copied into custom_interface.py, dependencies first.
BUNDLED_MODULES = (masking, precision, ssl_encoder, layer_weighting, pooling, tc_gru, selection, interfaces)
EXPORT_FILES = ("hyperparams.yaml", "custom_interface.py", "model.ckpt", "README.md")
CLASS_NAMES = {"categorical": "EmotionClassifier", "dimensional": "DimensionalEmotionRegressor"}
SELECTION_KEYS = {"categorical": "UA", "dimensional": "ccc_mean"}
# Files of a finished experiment that the export reads, besides the checkpoints.
RESULT_FILES = {
    "categorical": ("test_results.json", "save/label_encoder.txt"),
    "dimensional": ("results.md", "save/feature_selection.json"),
}
DEFAULT_REPO_ID = "USER/NAME"
# Arrays of an MSP-Podcast feature_selection.json that model.ckpt holds too (not exported twice).
MODEL_ARRAYS = ("frame_mean", "frame_std", "mean", "components")


class PublishError(RuntimeError):
    """An experiment folder cannot be exported, or an export folder cannot be pushed."""


# ----------------------------------------------------------------------------------------------
# Reading the experiment
# ----------------------------------------------------------------------------------------------
class _TagIgnoringLoader(yaml.SafeLoader):
    """Reads a resolved HyperPyYAML file as plain data (``!new:`` and friends are dropped)."""


def _construct_untagged(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_TagIgnoringLoader.add_multi_constructor("!", _construct_untagged)


def read_resolved_hparams(path):
    """The plain values of a resolved ``hyperparams.yaml`` (as written in experiment folders).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "hyperparams.yaml")
    >>> _ = open(path, "w").write("lr: 0.1\\nopt: !name:torch.optim.Adam\\n    lr: 0.1\\n")
    >>> read_resolved_hparams(path)
    {'lr': 0.1, 'opt': {'lr': 0.1}}
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_TagIgnoringLoader)
    except FileNotFoundError:
        raise PublishError(f"{path} is missing: is this a finished experiment folder?") from None
    except yaml.YAMLError as error:
        raise PublishError(f"{path} is not readable YAML: {error}") from None


def experiment_folder(exp_dir, fold=None):
    """The folder of one trained model: ``exp_dir`` itself, or its ``session<fold>``."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise PublishError(f"{exp_dir} is not a folder")
    if fold is not None:
        exp_dir = exp_dir / f"session{fold}"
    elif not (exp_dir / "save").is_dir():
        folds = sorted(path.name for path in exp_dir.glob("session*") if (path / "save").is_dir())
        if folds:
            raise PublishError(f"{exp_dir} holds the folds {', '.join(folds)}: choose one with --fold N")
    if not (exp_dir / "save").is_dir():
        raise PublishError(f"{exp_dir} has no save/ folder with checkpoints: is it an experiment folder?")
    return exp_dir


def experiment_kind(folder, hparams):
    """``categorical`` (IEMOCAP train.py) or ``dimensional`` (MSP-Podcast train.py)."""
    if "saliency" in hparams and "ssl_layer" in hparams:
        return "dimensional"
    if "pooling" in hparams and "layer_norm_hidden_states" in hparams:
        return "categorical"
    raise PublishError(
        f"{folder}: only experiments of recipes/IEMOCAP/train.py and recipes/MSP-Podcast/train.py can be "
        "exported (this hyperparams.yaml has neither a pooling nor a saliency section)"
    )


def checkpoint_state(save_folder, key, average=1):
    """The ``model`` state of the best checkpoint on ``key``, or the mean of the best ``average``.

    Returns
    -------
    tuple
        ``(state_dict, description)``, the description naming the checkpoints used.
    """
    checkpointer = AtomicCheckpointer(save_folder)  # complete checkpoints only
    checkpoints = best_checkpoints(checkpointer, key, average)
    checkpoints = [ckpt for ckpt in checkpoints if "model" in ckpt.paramfiles]
    if not checkpoints:
        raise PublishError(f"{save_folder} has no checkpoint with a 'model' file and a {key} value")
    names = ", ".join(f"{ckpt.path.name} ({key} {ckpt.meta.get(key, float('nan')):.3f})" for ckpt in checkpoints)
    if len(checkpoints) < average:
        logger.warning("Asked to average %d checkpoints, %s keeps %d", average, save_folder, len(checkpoints))
    if len(checkpoints) == 1:
        state = torch.load(checkpoints[0].paramfiles["model"], map_location="cpu", weights_only=True)
        return state, f"best checkpoint on valid {key}: {names}"
    state = average_checkpoints(checkpoints, "model")
    return state, f"average of the {len(checkpoints)} best checkpoints on valid {key}: {names}"


# ----------------------------------------------------------------------------------------------
# Inference hyperparameters
# ----------------------------------------------------------------------------------------------
def _yaml_value(value):
    """A scalar or a flow list as YAML text."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...").strip()


def _header(kind, hparams, folder, repo_id):
    return f"""# ############################################################################
# Inference hyperparameters of a ser-recipes {kind} emotion model
# Upstream: {hparams['ssl_hub']}
# Exported by ser_modules.tools.publish from {folder} on {datetime.date.today()}
# Load with speechbrain.inference.interfaces.foreign_class(source=<pretrained_path>,
#   pymodule_file="custom_interface.py", classname="{CLASS_NAMES[kind]}")
# ############################################################################

# Where model.ckpt (and label_encoder.txt) are: this repository, or a local folder.
pretrained_path: {repo_id}
interface_class: {CLASS_NAMES[kind]}

# The frozen SSL upstream (a Hugging Face id or a local folder) and its download folder.
ssl_hub: {hparams['ssl_hub']}
ssl_folder: pretrained_ssl
sample_rate: {SAMPLE_RATE}

ssl: !new:custom_interface.SSLEncoder
    source: !ref <ssl_hub>
    save_path: !ref <ssl_folder>
    freeze: True
    output_all_hiddens: True
"""


def categorical_hparams(hparams, state, folder, repo_id):
    """The inference ``hyperparams.yaml`` of an IEMOCAP (attentive) correlation pooling model."""
    num_layers = state["layer_sum.weights"].shape[0]
    projector_out, projector_in = state["projector.weight"].shape
    num_classes = state["classifier.weight"].shape[0]
    return _header("categorical", hparams, folder, repo_id) + f"""
emotions: {_yaml_value(list(hparams['emotions']))}

layer_sum: !new:custom_interface.WeightedLayerSum
    num_layers: {num_layers}
    layer_norm: {hparams['layer_norm_hidden_states']}

projector: !new:torch.nn.Linear
    in_features: {projector_in}
    out_features: {projector_out}

pooling_layer: !apply:custom_interface.build_pooling
    name: {hparams['pooling']}
    input_size: {projector_out}
    channel_dropout: {hparams['channel_dropout']}
    num_heads: {hparams['attention_heads']}
    per_head: {hparams['per_head_attention']}

classifier: !new:torch.nn.Linear
    in_features: !apply:getattr [!ref <pooling_layer>, output_size]
    out_features: {num_classes}

modules:
    ssl: !ref <ssl>
    layer_sum: !ref <layer_sum>
    projector: !ref <projector>
    pooling_layer: !ref <pooling_layer>
    classifier: !ref <classifier>

model: !new:torch.nn.ModuleDict
    modules:
        layer_sum: !ref <layer_sum>
        projector: !ref <projector>
        pooling_layer: !ref <pooling_layer>
        classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
        label_encoder: !ref <label_encoder>
    paths:
        model: !ref <pretrained_path>/model.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def dimensional_hparams(hparams, state, folder, repo_id):
    """The inference ``hyperparams.yaml`` of an MSP-Podcast saliency + TC-GRU model."""
    predict_spread = any(name.startswith("head.spread_output") for name in state)
    return _header("dimensional", hparams, folder, repo_id) + f"""
ssl_layer: {hparams['ssl_layer']}
dimensions: [arousal, valence, dominance]
# The head predicts (y - label_offset) / label_scale; the interface returns y (1..7).
label_offset: {hparams['label_offset']}
label_scale: {hparams['label_scale']}

standardizer: !new:custom_interface.InputStandardizer

selection: !new:custom_interface.FeatureSelection
    input_size: !apply:getattr [!ref <ssl>, hidden_size]
    method: {hparams['saliency']}
    keep_fraction: {hparams['keep_fraction']}

head: !new:custom_interface.TCGRU
    input_size: !apply:getattr [!ref <selection>, output_size]
    conv_channels: {hparams['conv_channels']}
    kernel_size: {hparams['conv_kernel']}
    conv_stride: {hparams['conv_stride']}
    gru_size: {hparams['gru_size']}
    gru_layers: {hparams['gru_layers']}
    embedding_size: {hparams['embedding_size']}
    num_outputs: 3
    dropout: {hparams['dropout']}
    readout: {hparams['readout']}
    predict_spread: {predict_spread}

modules:
    ssl: !ref <ssl>
    standardizer: !ref <standardizer>
    selection: !ref <selection>
    head: !ref <head>

model: !new:torch.nn.ModuleDict
    modules:
        standardizer: !ref <standardizer>
        selection: !ref <selection>
        head: !ref <head>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        model: !ref <model>
    paths:
        model: !ref <pretrained_path>/model.ckpt
"""


def selection_record(path):
    """The fitted selection of an MSP-Podcast experiment without the arrays ``model.ckpt`` holds
    (frame statistics, PCA mean and components): method, sizes, kept indices, scores.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "feature_selection.json")
    >>> write_json_atomic({"method": "pca", "mean": [0.0], "components": [[1.0]], "frame_std": [1.0]}, path)
    >>> selection_record(path)
    {'method': 'pca'}
    """
    return {key: value for key, value in read_json(path).items() if key not in MODEL_ARRAYS}


# ----------------------------------------------------------------------------------------------
# custom_interface.py
# ----------------------------------------------------------------------------------------------
def bundle_modules(modules=BUNDLED_MODULES):
    """One Python source holding ``modules`` without their imports of each other.

    Raises ``PublishError`` if two modules define the same top-level name differently.

    Example
    -------
    >>> source = bundle_modules([pooling, interfaces])
    >>> "class EmotionClassifier" in source and "from ser_modules" not in source
    True
    """
    parts, defined = [], {}
    for module in modules:
        source = inspect.getsource(module)
        tree = ast.parse(source)
        lines = source.splitlines()
        for node in reversed(tree.body):
            if _is_internal_import(node) or _is_dunder_all(node):
                del lines[node.lineno - 1 : node.end_lineno]
        _check_no_clash(module.__name__, tree, defined)
        parts.append(f"# {'=' * 90}\n# {module.__name__}\n# {'=' * 90}\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _is_internal_import(node):
    return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ser_modules")


def _is_dunder_all(node):
    return isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets)


def _check_no_clash(module_name, tree, defined):
    """Records the top-level definitions of a module; the same name twice must be the same code."""
    for node in tree.body:
        names = []
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.Assign) and not _is_dunder_all(node):
            names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        for name in names:
            code = ast.dump(node)
            if name in defined and defined[name][1] != code:
                raise PublishError(f"{name} is defined differently in {defined[name][0]} and {module_name}")
            defined[name] = (module_name, code)


def custom_interface_source():
    """``custom_interface.py``: the interfaces with every layer their hyperparams name."""
    names = ", ".join(module.__name__ for module in BUNDLED_MODULES)
    header = f'''"""Inference interfaces of ser-recipes models, self-contained for ``foreign_class``.

Generated by ``python -m ser_modules.tools.publish export`` (ser-recipes {_package_version()}) from
{names}. Needs only ``speechbrain`` (and the packages it installs).

Usage::

    from speechbrain.inference.interfaces import foreign_class
    model = foreign_class(source="USER/NAME", pymodule_file="custom_interface.py",
                          classname="EmotionClassifier")  # or DimensionalEmotionRegressor
"""

'''
    return header + bundle_modules()


# ----------------------------------------------------------------------------------------------
# Example wav and model card
# ----------------------------------------------------------------------------------------------
def write_example_wav(folder, out, sample_wav=None):
    """Writes ``example.wav`` (16 kHz mono) from ``sample_wav`` or the first test utterance."""
    if sample_wav is None:
        manifests = sorted((folder / "manifests").glob("test*.json"))
        entries = read_json(manifests[0]) if manifests else {}
        if not entries:
            logger.warning("No test manifest in %s: no example wav written (use --sample-wav)", folder)
            return None
        sample_wav = entries[sorted(entries)[0]]["wav"]
        logger.warning(
            "example.wav is a test utterance of the corpus (%s): check that its licence allows you to "
            "redistribute it, or pass --sample-wav / --no-sample-wav",
            sample_wav,
        )
    soundfile.write(out / "example.wav", load_audio(sample_wav).numpy(), SAMPLE_RATE, subtype="PCM_16")
    return "example.wav"


def _package_version():
    try:
        return importlib.metadata.version("ser-recipes")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _git_commit():
    try:
        root = Path(__file__).resolve().parents[1]
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return result.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def versions():
    """Versions of the packages the model was exported with."""
    found = {"ser-recipes": f"{_package_version()} (git {_git_commit()})", "python": platform.python_version()}
    for package in ("speechbrain", "torch", "torchaudio", "transformers"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


CITATIONS = {
    "categorical": """@inproceedings{kakouros2023attentive,
  title     = {Speech-Based Emotion Recognition with Self-Supervised Models Using Attentive Channel-Wise Correlations and Label Smoothing},
  author    = {Kakouros, Sofoklis and Stafylakis, Themos and Mo{\\v{s}}ner, Ladislav and Burget, Luk{\\'a}{\\v{s}}},
  booktitle = {Proc. IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2023}
}""",
    "dimensional": """@inproceedings{mitra2024salient,
  title     = {Investigating Salient Representations and Label Variance in Dimensional Speech Emotion Analysis},
  author    = {Mitra, Vikramjit and Nie, Jingping and Azemi, Erdrin},
  booktitle = {Proc. IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2024}
}""",
    "speechbrain": """@misc{speechbrain,
  title  = {{SpeechBrain}: A General-Purpose Speech Toolkit},
  author = {Mirco Ravanelli and Titouan Parcollet and Peter Plantinga and Aku Rouhe and others},
  year   = {2021},
  eprint = {2106.04624},
  archivePrefix = {arXiv}
}""",
}


def categorical_results(folder):
    """Markdown results of an IEMOCAP fold, with the cross-validation table when there is one."""
    fold = read_json(folder / "test_results.json")
    lines = [
        f"This model is the fold that tests on session {fold['test_session']} (trained on the other four "
        f"sessions): WA {fold['WA']:.2f}, UA {fold['UA']:.2f}, macro-F1 {fold['F1']:.2f} (percent, "
        f"{fold['num_samples']} test utterances).",
        "",
    ]
    cross_validation = folder.parent / "results.md"
    if cross_validation.exists():
        table = cross_validation.read_text(encoding="utf-8").split("\n", 1)[1].strip()
        lines += ["Leave-one-session-out cross-validation of the same configuration (all 5 folds):", "", table]
    else:
        lines.append("(No results.md of the 5-fold cross-validation beside this fold: run cross_validate.py.)")
    return "\n".join(lines)


def dimensional_results(folder):
    """Markdown results of an MSP-Podcast experiment (its ``results.md`` tables)."""
    return (folder / "results.md").read_text(encoding="utf-8").split("\n", 1)[1].strip()


CARD_FACTS = {
    "categorical": {
        "task": "speech emotion recognition (4 classes: neutral, happy + excited, angry, sad)",
        "datasets": "iemocap",
        "tags": ["audio-classification", "speech-emotion-recognition", "IEMOCAP"],
        "pipeline": "frozen SSL upstream (all hidden states) -> softmax-weighted layer sum -> linear projector "
        "-> {pooling} pooling -> linear classifier, trained with label-smoothed cross-entropy",
        "protocol": "IEMOCAP, 4 classes, leave-one-session-out (5 folds); validation = 20% of the training sessions; "
        "checkpoint chosen on validation UA. WA = overall accuracy, UA = mean per-class recall.",
        "paper": "Kakouros et al., ICASSP 2023",
        "usage": 'probabilities, score, index, label = model.classify_file("example.wav")',
    },
    "dimensional": {
        "task": "dimensional speech emotion recognition (arousal, valence, dominance on the 1-7 scale)",
        "datasets": "msp-podcast",
        "tags": ["audio-regression", "speech-emotion-recognition", "MSP-Podcast"],
        "pipeline": "frozen SSL upstream (hidden state {ssl_layer}) -> per-channel standardisation -> {saliency} "
        "selection of the input dimensions -> TC-GRU head, trained with the weighted CCC loss "
        "(target variance: {loss_mode})",
        "protocol": "MSP-Podcast official partitions; model selected on the validation mean CCC; CCC on the 1-7 scale.",
        "paper": "Mitra, Nie and Azemi, ICASSP 2024",
        "usage": 'model.predict_file("example.wav")  # {"arousal": ..., "valence": ..., "dominance": ...}',
    },
}


def model_card(kind, folder, hparams, repo_id, checkpoint_note, example):
    """The ``README.md`` of the export: front matter, usage, results, training, limitations."""
    facts = CARD_FACTS[kind]
    command = (folder / "command.txt").read_text(encoding="utf-8").strip() if (folder / "command.txt").exists() else "(not recorded)"
    results = categorical_results(folder) if kind == "categorical" else dimensional_results(folder)
    pipeline = facts["pipeline"].format(**{key: hparams.get(key) for key in ("pooling", "ssl_layer", "saliency", "loss_mode")})
    version_lines = "\n".join(f"- {name}: {version}" for name, version in versions().items())
    tags = "\n".join(f"- {tag}" for tag in ["speechbrain", *facts["tags"], str(hparams["ssl_hub"]).split("/")[-1]])
    example_line = f'\n\nThe folder has an example input, `{example}`.' if example else ""
    return f"""---
library_name: speechbrain
license: apache-2.0
language: en
datasets:
- {facts['datasets']}
tags:
{tags}
---

# {kind.capitalize()} speech emotion recognition: {hparams['ssl_hub']} ({facts['paper']})

Task: {facts['task']}.

Pipeline: {pipeline}. Trained with the ser-recipes SpeechBrain recipes; the weights are the
{checkpoint_note} of the experiment `{folder.name}`.

## Usage

```python
from speechbrain.inference.interfaces import foreign_class

model = foreign_class(source="{repo_id}", pymodule_file="custom_interface.py", classname="{CLASS_NAMES[kind]}")
{facts['usage']}
```

Any sample rate and channel count is accepted (resampled to 16 kHz, downmixed to mono). Batches:
`model.predict_batch(wavs, wav_lens)` with SpeechBrain relative lengths; padding does not change the
predictions. Offline: `foreign_class(source=LOCAL_DIR, ..., overrides={{"pretrained_path": LOCAL_DIR,
"ssl_hub": LOCAL_SSL_DIR}})` with `HF_HUB_OFFLINE=1`. The `ser-predict` command of ser-recipes runs
files, folders and manifests, with sliding windows for long recordings.{example_line}

## Results

Protocol: {facts['protocol']}

{results}

## Training

```bash
{command}
```

Versions:
{version_lines}

## Limitations and intended use

- Intended for research on speech emotion recognition. Emotion labels are perceived by annotators,
  not the speaker's felt state; predictions are uncertain and must not be used to make decisions
  about individuals (hiring, policing, health, credit...) or to monitor people without consent.
- Trained on {facts['datasets']} only: acted or podcast English speech from a limited set of speakers.
  Accuracy drops on other languages, accents, recording conditions, children's or pathological speech.
- The corpus licence may restrict the use of models trained on it: check it before any use outside
  research.

## Citation

```bibtex
{CITATIONS[kind]}

{CITATIONS['speechbrain']}
```
"""


# ----------------------------------------------------------------------------------------------
# Export and push
# ----------------------------------------------------------------------------------------------
def export(exp_dir, out, fold=None, average=1, repo_id=DEFAULT_REPO_ID, sample_wav=None, no_sample_wav=False):
    """Writes a Hub-ready model folder from a finished experiment folder.

    Arguments
    ---------
    exp_dir : str
        An IEMOCAP fold folder (or its cross-validation folder, with ``fold``) or an
        MSP-Podcast output folder.
    out : str
        The export folder (created; existing export files are replaced).
    fold : int, optional
        Test session of the fold to export from a cross-validation folder.
    average : int
        Average the ``average`` best checkpoints (those the recipe kept).
    repo_id : str
        The Hub repository the card and ``pretrained_path`` point to.
    sample_wav : str, optional
        Audio file written as ``example.wav`` (default: the first test utterance).
    no_sample_wav : bool
        Write no ``example.wav``.

    Returns
    -------
    pathlib.Path
        The export folder.
    """
    folder = experiment_folder(exp_dir, fold)
    hparams = read_resolved_hparams(folder / "hyperparams.yaml")
    kind = experiment_kind(folder, hparams)
    missing = [name for name in RESULT_FILES[kind] if not (folder / name).is_file()]
    if missing:
        raise PublishError(f"{folder}: {', '.join(missing)} missing: did the experiment finish its evaluation?")
    state, checkpoint_note = checkpoint_state(folder / "save", SELECTION_KEYS[kind], average)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state, out / "model.ckpt")
    if kind == "categorical":
        shutil.copy(folder / "save" / "label_encoder.txt", out / "label_encoder.txt")
        inference = categorical_hparams(hparams, state, folder, repo_id)
    else:
        write_json_atomic(selection_record(folder / "save" / "feature_selection.json"), out / "feature_selection.json")
        inference = dimensional_hparams(hparams, state, folder, repo_id)
    (out / "hyperparams.yaml").write_text(inference, encoding="utf-8")
    (out / "custom_interface.py").write_text(custom_interface_source(), encoding="utf-8")
    example = None if no_sample_wav else write_example_wav(folder, out, sample_wav)
    card = model_card(kind, folder, hparams, repo_id, checkpoint_note, example)
    (out / "README.md").write_text(card, encoding="utf-8")
    write_json_atomic({"experiment": str(folder.resolve()), "kind": kind, "checkpoint": checkpoint_note}, out / "export.json")
    logger.info("Exported %s (%s) to %s", folder, checkpoint_note, out)
    return out


def set_repo_id(folder, repo_id):
    """Points ``pretrained_path`` and the card's usage line of an export folder to ``repo_id``."""
    folder = Path(folder)
    hparams = (folder / "hyperparams.yaml").read_text(encoding="utf-8")
    hparams = re.sub(r"^pretrained_path: .*$", f"pretrained_path: {repo_id}", hparams, count=1, flags=re.M)
    (folder / "hyperparams.yaml").write_text(hparams, encoding="utf-8")
    card = (folder / "README.md").read_text(encoding="utf-8")
    card = re.sub(r'foreign_class\(source="[^"]*"', f'foreign_class(source="{repo_id}"', card)
    (folder / "README.md").write_text(card, encoding="utf-8")


def check_export_folder(folder):
    """Fails, naming the missing files, unless ``folder`` is a complete export."""
    folder = Path(folder)
    missing = [name for name in EXPORT_FILES if not (folder / name).is_file()]
    if missing:
        raise PublishError(f"{folder} is not an export folder: {', '.join(missing)} missing (run the export command first)")


def hub_token(token=None):
    """The Hub token: given, or from ``HF_TOKEN`` / ``hf auth login``; a clear error if none."""
    import huggingface_hub

    token = token or huggingface_hub.get_token()
    if not token:
        raise PublishError("Not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN (or pass --token)")
    return token


def push(folder, repo_id, private=False, token=None, commit_message=None):
    """Creates the Hub repository if needed and uploads the export folder.

    Returns
    -------
    str
        The URL of the repository.
    """
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check_export_folder(folder)
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise PublishError("HF_HUB_OFFLINE is set: the Hub cannot be reached; unset it to push")
    token = hub_token(token)
    set_repo_id(folder, repo_id)
    try:
        url = huggingface_hub.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True)
        huggingface_hub.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            token=token,
            repo_type="model",
            commit_message=commit_message or "Upload ser-recipes model",
            ignore_patterns=["export.json"],
        )
    except OfflineModeIsEnabled as error:
        raise PublishError(f"Offline mode is enabled ({error}): unset HF_HUB_OFFLINE to push") from None
    except HfHubHTTPError as error:
        raise PublishError(f"The Hub refused the push to {repo_id}: {error}") from None
    except Exception as error:
        if not _is_network_error(error):
            raise
        raise PublishError(f"Cannot reach the Hugging Face Hub to push {repo_id} (offline?): {error}") from None
    logger.info("Pushed %s to %s", folder, url)
    return str(url)


def _is_network_error(error):
    """Connection failures: ``OSError`` or the HTTP client's transport errors (httpx, requests)."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return isinstance(error, OSError) or bool(names & {"TransportError", "RequestError", "ConnectionError"})


def parse_args(argv):
    """The ``export`` and ``push`` sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m ser_modules.tools.publish", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporter = commands.add_parser("export", help="write a Hub-ready folder from an experiment folder")
    exporter.add_argument("exp_dir", help="fold folder (IEMOCAP), cross-validation folder with --fold, or MSP output folder")
    exporter.add_argument("--out", required=True, help="export folder")
    exporter.add_argument("--fold", type=int, default=None, help="test session of the fold to export (1-5)")
    exporter.add_argument("--average", type=int, default=1, help="average the N best kept checkpoints")
    exporter.add_argument("--repo-id", default=DEFAULT_REPO_ID, help="Hub repository named in the card and hparams")
    exporter.add_argument("--sample-wav", default=None, help="audio file shipped as example.wav")
    exporter.add_argument("--no-sample-wav", action="store_true", help="ship no example.wav")
    pusher = commands.add_parser("push", help="upload an export folder to the Hugging Face Hub")
    pusher.add_argument("folder", help="export folder")
    pusher.add_argument("--repo-id", required=True, help="USER/NAME")
    pusher.add_argument("--private", action="store_true", help="create a private repository")
    pusher.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the login cache)")
    return parser.parse_args(argv)


def main(argv=None):
    """Command-line entry point."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "export":
            out = export(args.exp_dir, args.out, args.fold, args.average, args.repo_id, args.sample_wav, args.no_sample_wav)
            print(json.dumps({"exported": str(out)}))
        else:
            print(json.dumps({"pushed": push(args.folder, args.repo_id, args.private, args.token)}))
    except PublishError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
