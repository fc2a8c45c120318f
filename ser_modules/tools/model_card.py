"""The ``README.md`` model card of an export, built from the experiment's result files, and the
versions and commit an export records.

Authors
 * ser-recipes contributors 2026
"""

import importlib.metadata
import platform
import subprocess
from pathlib import Path

from ser_modules.utils.files import read_json


def package_version():
    try:
        return importlib.metadata.version("ser-recipes")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit():
    try:
        root = Path(__file__).resolve().parents[1]
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return result.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def versions():
    """Versions of the packages the model was exported with."""
    found = {"ser-recipes": f"{package_version()} (git {git_commit()})", "python": platform.python_version()}
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
    "upstream_downstream": """@inproceedings{morais2022speech,
  title     = {Speech Emotion Recognition Using Self-Supervised Features},
  author    = {Morais, Edmilson and Hoory, Ron and Zhu, Weizhong and Gat, Itai and Damasceno, Matheus and Aronowitz, Hagai},
  booktitle = {Proc. IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2022}
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
    evaluated = f" ({fold['evaluated']})" if "evaluated" in fold else ""
    lines = [
        f"This model is the fold that tests on session {fold['test_session']} (trained on the other four "
        f"sessions){evaluated}: WA {fold['WA']:.2f}, UA {fold['UA']:.2f}, macro-F1 {fold['F1']:.2f} (percent, "
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


IEMOCAP_FACTS = {
    "task": "speech emotion recognition (4 classes: neutral, happy + excited, angry, sad)",
    "datasets": "iemocap",
    "tags": ["audio-classification", "speech-emotion-recognition", "IEMOCAP"],
    "usage": 'probabilities, score, index, label = model.classify_file("example.wav")',
}
CARD_FACTS = {
    "categorical": {
        **IEMOCAP_FACTS,
        "pipeline": "frozen SSL upstream (all hidden states) -> softmax-weighted layer sum -> linear projector "
        "-> {pooling} pooling -> linear classifier, trained with label-smoothed cross-entropy",
        "protocol": "IEMOCAP, 4 classes, leave-one-session-out (5 folds); validation = 20% of the training sessions; "
        "checkpoint chosen on validation UA. WA = overall accuracy, UA = mean per-class recall.",
        "paper": "Kakouros et al., ICASSP 2023",
    },
    "upstream_downstream": {
        **IEMOCAP_FACTS,
        "pipeline": "upstream(s) {upstreams} (fine-tuned SSL encoders or filterbanks) -> downstream ({pooling} "
        "aggregator) -> linear classifier, trained with cross-entropy",
        "protocol": "IEMOCAP, 4 classes, leave-one-session-out (5 folds); validation = 20% of the training sessions; "
        "the reported model is the best checkpoint or the average of the best ones on validation WA, as the "
        "experiment's reported_model says. WA = overall accuracy, UA = mean per-class recall.",
        "paper": "Morais et al., ICASSP 2022",
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


def upstream_sources(hparams):
    """The upstream models of an experiment (Hub ids or folders), or what replaces them.

    Example
    -------
    >>> upstream_sources({"hubert_hub": "facebook/hubert-large-ll60k", "wav2vec2_hub": "x/w2v", "lr": 1})
    ['facebook/hubert-large-ll60k', 'x/w2v']
    >>> upstream_sources({"n_mels": 80})
    ['80 log Mel filterbanks']
    """
    sources = [str(value) for key, value in hparams.items() if key.endswith("_hub") and value]
    return sources or [f"{hparams.get('n_mels', 80)} log Mel filterbanks"]


def model_card(kind, folder, hparams, repo_id, checkpoint_note, example, classname):
    """The ``README.md`` of the export: front matter, usage, results, training, limitations."""
    facts = CARD_FACTS[kind]
    command = (folder / "command.txt").read_text(encoding="utf-8").strip() if (folder / "command.txt").exists() else "(not recorded)"
    results = dimensional_results(folder) if kind == "dimensional" else categorical_results(folder)
    sources = upstream_sources(hparams)
    keys = ("pooling", "ssl_layer", "saliency", "loss_mode")
    pipeline = facts["pipeline"].format(upstreams=" + ".join(sources), **{key: hparams.get(key) for key in keys})
    version_lines = "\n".join(f"- {name}: {version}" for name, version in versions().items())
    tags = "\n".join(f"- {tag}" for tag in ["speechbrain", *facts["tags"], *(s.split("/")[-1] for s in sources)])
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

# {kind.replace('_', ' + ').capitalize()} speech emotion recognition: {' + '.join(sources)} ({facts['paper']})

Task: {facts['task']}.

Pipeline: {pipeline}. Trained with the ser-recipes SpeechBrain recipes; the weights are the
{checkpoint_note} of the experiment `{'/'.join(folder.resolve().parts[-3:])}`.

## Usage

```python
from speechbrain.inference.interfaces import foreign_class

model = foreign_class(source="{repo_id}", pymodule_file="custom_interface.py", classname="{classname}")
{facts['usage']}
```

Any sample rate and channel count is accepted (resampled to 16 kHz, downmixed to mono). Batches:
`model.predict_batch(wavs, wav_lens)` with SpeechBrain relative lengths. Offline:
`foreign_class(source=LOCAL_DIR, ..., overrides={{"pretrained_path": LOCAL_DIR}})` with `HF_HUB_OFFLINE=1`
(the upstream architecture must then be in the Hugging Face cache, or its `*_hub` key overridden with a
local folder). The `ser-predict` command of ser-recipes runs files, folders and manifests, with sliding
windows for long recordings.{example_line}

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
