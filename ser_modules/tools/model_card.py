"""The ``README.md`` model card of an export, built from the experiment's result files, and the
versions and commit an export records.

The card is a ``huggingface_hub.ModelCard``: its metadata (``ModelCardData``) is what the Hub
indexes: ``model-index`` with the test results (dataset, split, metric type ``UA`` / ``WA`` /
``F1``, or ``ccc_<dimension>`` per dimension, value), ``metrics``, ``pipeline_tag``
(``audio-classification`` for the categorical models; none for the dimensional ones, which no Hub
pipeline type describes), ``base_model`` (the upstream's Hub id), ``license`` (the corpus
terms: ``other``, see :data:`CORPUS_LICENSES`) and ``inference: false`` (a custom interface,
which the Hub's inference widgets cannot run).

Authors
 * ser-recipes contributors 2026
"""

import importlib.metadata
import platform
import re
import subprocess
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ser_modules.tools.errors import PublishError
from ser_modules.utils.constants import DIMENSIONS
from ser_modules.utils.files import read_json


def package_version():
    try:
        return importlib.metadata.version("ser-recipes")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit():
    try:
        root = Path(__file__).resolve().parents[1]
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return result.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def experiment_name(folder):
    """The experiment as an export names it: the last three components of its folder (no local
    path is published).

    Example
    -------
    >>> experiment_name("/home/me/results/wavlm-large/corr_att/seed1986/session1")
    'corr_att/seed1986/session1'
    """
    return "/".join(Path(folder).resolve().parts[-3:])


def versions():
    """Versions of the packages the model was exported with."""
    found = {
        "ser-recipes": f"{package_version()} (git {git_commit()})",
        "python": platform.python_version(),
    }
    for package in ("speechbrain", "torch", "torchaudio", "transformers"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


SPEECHBRAIN_CITATION = """@misc{speechbrain,
  title  = {{SpeechBrain}: A General-Purpose Speech Toolkit},
  author = {Mirco Ravanelli and Titouan Parcollet and Peter Plantinga and Aku Rouhe and others},
  year   = {2021},
  eprint = {2106.04624},
  archivePrefix = {arXiv}
}"""


def categorical_results(folder):
    """Markdown results of a categorical model (a fold of a cross-validation: its
    ``test_results.json``), with the cross-validation table when there is one."""
    fold = read_json(folder / "test_results.json")
    evaluated = f" ({fold['evaluated']})" if "evaluated" in fold else ""
    lines = [
        (
            f"This model is the fold that tests on session {fold['test_session']} (trained on the"
            f" other four sessions){evaluated}: WA {fold['WA']:.2f}, UA {fold['UA']:.2f}, macro-F1"
            f" {fold['F1']:.2f} (percent, {fold['num_samples']} test utterances)."
        ),
        "",
    ]
    cross_validation = folder.parent / "results.md"
    if cross_validation.exists():
        table = cross_validation.read_text(encoding="utf-8").split("\n", 1)[1].strip()
        lines += [
            "Leave-one-session-out cross-validation of the same configuration (all 5 folds):",
            "",
            table,
        ]
    else:
        lines.append(
            "(No results.md of the 5-fold cross-validation beside this fold: run"
            " cross_validate.py.)"
        )
    return "\n".join(lines)


def dimensional_results(folder):
    """Markdown results of a dimensional model (its ``results.md`` tables)."""
    return (folder / "results.md").read_text(encoding="utf-8").split("\n", 1)[1].strip()


# The usage line of the card per kind of model (the interface's method).
USAGE = {
    "categorical": 'probabilities, score, index, label = model.classify_file("example.wav")',
    "dimensional": (
        'model.predict_file("example.wav")  # {"arousal": ..., "valence": ..., "dominance": ...}'
    ),
}

# The card's notes on loading a model (after its usage lines).
USAGE_NOTES = (
    "Any sample rate and channel count is accepted (resampled to 16 kHz, downmixed to mono)."
    " Batches:\n`model.predict_batch(wavs, wav_lens)` with SpeechBrain relative lengths."
    ' Offline:\n`foreign_class(source=LOCAL_DIR, ..., overrides={"pretrained_path": LOCAL_DIR})`'
    " with `HF_HUB_OFFLINE=1`\n(the upstream architecture must then be in the Hugging Face cache,"
    " or its `*_hub` key overridden with a\nlocal folder). The `ser-predict` command of"
    " ser-recipes runs files, folders and manifests, with sliding\nwindows for long recordings."
)
# The card's limitation on the training data ({dataset}: the declared corpus).
TRAINING_DATA_LIMITS = (
    "- Trained on {dataset} only: acted or podcast English speech from a limited set of"
    " speakers.\n  Accuracy drops on other languages, accents, recording conditions, children's"
    " or pathological speech."
)


# The corpus terms that models trained on them follow (no open licence: `license: other`).
CORPUS_LICENSES = {
    "iemocap": {
        "license_name": "iemocap-research-only",
        "corpus": "IEMOCAP",
        "provider": (
            "the Signal Analysis and Interpretation Laboratory (SAIL) of the University of Southern"
            " California (USC)"
        ),
        "terms": (
            "a licence agreement for research use that each user signs with USC SAIL; the corpus is"
            " not openly redistributable"
        ),
    },
    "msp-podcast": {
        "license_name": "msp-podcast-research-only",
        "corpus": "MSP-Podcast",
        "provider": (
            "the Multimodal Signal Processing (MSP) Laboratory of The University of Texas at Dallas"
        ),
        "terms": (
            "a licence agreement that each user signs with The University of Texas at Dallas, whose"
            " academic terms allow research use only; the corpus is not openly redistributable"
        ),
    },
}
LICENSE_FILE = "LICENSE.md"
# Model-index entries: (metric type = key of the result file, pretty name).
CATEGORICAL_METRICS = (
    ("UA", "UA (unweighted accuracy: mean per-class recall, %)"),
    ("WA", "WA (weighted accuracy: overall accuracy, %)"),
    ("F1", "Macro-F1 (%)"),
)
DIMENSIONAL_METRICS = tuple((f"ccc_{dim}", f"CCC {dim}") for dim in DIMENSIONS) + (
    ("ccc_mean", "CCC mean"),
)
DATASET_NAMES = {"iemocap": "IEMOCAP", "msp-podcast": "MSP-Podcast"}
# Model-index task types: the Hub's audio-classification task for the categorical models; no
# Hub task describes regression of arousal / valence / dominance, so a descriptive type (no
# pipeline_tag).
TASKS = {
    "categorical": ("audio-classification", "Speech emotion recognition (4 classes)"),
    "dimensional": (
        "speech-emotion-recognition",
        "Dimensional speech emotion recognition (arousal, valence, dominance)",
    ),
}


def corpus_terms(dataset):
    """The terms of the corpus ``dataset`` (a key of :data:`CORPUS_LICENSES`, as the recipe's
    declaration names it)."""
    if dataset not in CORPUS_LICENSES:
        raise PublishError(
            f"the inference template's export: card names the dataset {dataset}, whose licence"
            f" terms the model card does not know (known: {', '.join(CORPUS_LICENSES)}): add them"
            " to ser_modules.tools.model_card.CORPUS_LICENSES"
        )
    return CORPUS_LICENSES[dataset]


def license_text(dataset):
    """The ``LICENSE.md`` of an export: the terms of the corpus the model was trained on.

    Example
    -------
    >>> print(license_text("msp-podcast").splitlines()[0])
    # Licence of this model: MSP-Podcast research-only terms
    """
    terms = corpus_terms(dataset)
    return f"""# Licence of this model: {terms["corpus"]} research-only terms

The weights in `model.ckpt` were trained on the {terms["corpus"]} corpus, which {terms["provider"]}
distributes under {terms["terms"]}. A model trained on it is therefore not published under an open
licence (such as Apache-2.0): the terms of that agreement apply to its use and redistribution.

- Use this model for research only, as the corpus terms allow.
- Before any other use, or before redistributing the model, read the {terms["corpus"]} licence
  agreement (it comes with the corpus) and ask its provider if it does not settle the question.
- Emotion predictions about people are sensitive: see the card's "Limitations and intended use".

The inference code (`custom_interface.py`) comes from ser-recipes, which is released under
Apache-2.0; that licence covers the code, not these weights. The upstream model (see the card's
`base_model`) has its own licence, which applies too.
"""


def eval_results(kind, dataset, folder):
    """The test results of an experiment as ``huggingface_hub.EvalResult`` entries.

    Categorical: the fold's test session (split ``session<k>``), UA, WA and macro-F1 in
    percent. Dimensional: each evaluated test split (``test_<split>_results.json``), the CCC
    of each dimension and their mean.
    """
    task_type, task_name = TASKS[kind]
    common = {
        "task_type": task_type,
        "task_name": task_name,
        "dataset_type": dataset,
        "dataset_name": DATASET_NAMES[dataset],
    }
    if kind == "categorical":
        fold = read_json(folder / "test_results.json")
        runs = [(f"session{fold['test_session']}", fold)]
        metrics = CATEGORICAL_METRICS
    else:
        runs = [
            (result.get("split", path.stem), result)
            for path in sorted(folder.glob("test_*_results.json"))
            for result in [read_json(path)]
        ]
        metrics = DIMENSIONAL_METRICS
    return [
        EvalResult(
            **common,
            dataset_split=split,
            metric_type=metric,
            metric_name=name,
            metric_value=result[metric],
        )
        for split, result in runs
        for metric, name in metrics
        if isinstance(result.get(metric), (int, float))
    ]


def model_name(repo_id):
    """The model's name in ``model-index``: the repository name.

    Example
    -------
    >>> model_name("alice/ser-wavlm-corr-att")
    'ser-wavlm-corr-att'
    """
    return repo_id.rstrip("/").split("/")[-1]


def card_data(declared, folder, repo_id, upstreams, sources):
    """The card's metadata (``huggingface_hub.ModelCardData``) of an experiment whose recipe
    declares ``declared`` (:class:`ser_modules.tools.declaration.Declaration`); ``sources``:
    the upstreams as the card names them (:func:`upstream_sources`)."""
    facts = declared.card
    results = eval_results(declared.kind, facts["dataset"], folder)
    hub_ids = [upstream.hub_id for upstream in upstreams if upstream.hub_id]
    terms = corpus_terms(facts["dataset"])
    return ModelCardData(
        library_name="speechbrain",
        language="en",
        license="other",
        license_name=terms["license_name"],
        license_link=LICENSE_FILE,
        datasets=[facts["dataset"]],
        tags=["speechbrain", *facts["tags"], *(source.split("/")[-1] for source in sources)],
        pipeline_tag="audio-classification" if declared.kind == "categorical" else None,
        base_model=(hub_ids[0] if len(hub_ids) == 1 else hub_ids) or None,
        metrics=list(dict.fromkeys(result.metric_type for result in results)),
        model_name=model_name(repo_id),
        eval_results=results or None,
        inference=False,
    )


class _Values(dict):
    """The experiment's values for a card text (``None`` for a key it does not have)."""

    def __missing__(self, key):
        return None


def card_text(text, hparams, **values):
    """A declared card text with ``{key}`` filled from the experiment's values.

    Example
    -------
    >>> card_text("{n_mels} log Mel filterbanks ({pooling})", {"n_mels": 80})
    '80 log Mel filterbanks (None)'
    """
    return text.format_map(_Values({**hparams, **values}))


def no_upstream_name(declared, hparams):
    """The upstream as the card names it when the experiment has no pretrained one (the
    declaration's ``card: upstream``, filled)."""
    return card_text(declared.card.get("upstream") or "no pretrained upstream", hparams)


def upstream_sources(upstreams, declared, hparams):
    """The upstreams as the card names them: Hub ids, local folders, or the declared name."""
    return [upstream.hub_id or upstream.source for upstream in upstreams] or [
        no_upstream_name(declared, hparams)
    ]


def upstream_lines(upstreams, declared, hparams):
    """Markdown lines on the upstreams: Hub id and commit, or why the commit is unknown."""
    if not upstreams:
        return [f"- Upstream: {no_upstream_name(declared, hparams)} (no pretrained model)."]
    lines = []
    for upstream in upstreams:
        name = f"`{upstream.hub_id}`" if upstream.hub_id else "a local folder (not a Hub model)"
        if upstream.revision:
            lines.append(
                f"- Upstream {name} (`{upstream.key}`) at commit `{upstream.revision}` (from"
                f" {upstream.origin}; recorded as `{upstream.revision_key}` in `hyperparams.yaml`)."
                " The interface loads the Hub's current revision of it: check that it is this"
                " commit."
            )
        elif upstream.hub_id:
            lines.append(
                f"- Upstream {name} (`{upstream.key}`): unpinned, its commit is {upstream.origin}."
                " The interface loads the Hub's current revision, which may differ from the one"
                " trained with."
            )
        else:
            lines.append(
                f"- Upstream {name} (`{upstream.key}`: `{upstream.source}`): override"
                f" `{upstream.key}` with the same model's Hub id or folder when loading."
            )
    return lines


def model_card(declared, folder, hparams, repo_id, checkpoint_note, example, classname, upstreams):
    """The ``README.md`` of the export: Hub metadata (:func:`card_data`), usage, results,
    training, licence, limitations.

    Arguments
    ---------
    declared : ser_modules.tools.declaration.Declaration
        What the recipe declares: the kind of model and the card's texts.
    folder : pathlib.Path
        The experiment folder (its result files and ``command.txt``).
    hparams : dict
        Its resolved hyperparameters.
    repo_id : str
        The Hub repository of the model.
    checkpoint_note : str
        Which checkpoints the weights are.
    example : str or None
        The example input shipped with the model.
    classname : str
        The interface class.
    upstreams : list
        :class:`ser_modules.tools.upstreams.Upstream` of the experiment.

    Returns
    -------
    str
        The card (``str`` of a ``huggingface_hub.ModelCard``).
    """
    facts = declared.card
    command = (
        (folder / "command.txt").read_text(encoding="utf-8").strip()
        if (folder / "command.txt").exists()
        else "(not recorded)"
    )
    results = (
        dimensional_results(folder)
        if declared.kind == "dimensional"
        else categorical_results(folder)
    )
    sources = upstream_sources(upstreams, declared, hparams)
    pipeline = card_text(facts["pipeline"], hparams, upstreams=" + ".join(sources))
    version_lines = "\n".join(f"- {name}: {version}" for name, version in versions().items())
    example_line = f"\n\nThe folder has an example input, `{example}`." if example else ""
    terms = corpus_terms(facts["dataset"])
    upstream_text = "\n".join(upstream_lines(upstreams, declared, hparams))
    loader = (
        f'model = foreign_class(source="{repo_id}", pymodule_file="custom_interface.py",'
        f' classname="{classname}")'
    )
    text = f"""
# {facts["title"]} speech emotion recognition: {" + ".join(sources)} ({facts["paper"]})

Task: {facts["task"]}.

Pipeline: {pipeline}. Trained with the ser-recipes SpeechBrain recipes; the weights are the
{checkpoint_note} of the experiment `{experiment_name(folder)}`.

{upstream_text}

## Usage

```python
from speechbrain.inference.interfaces import foreign_class

{loader}
{USAGE[declared.kind]}
```

{USAGE_NOTES}{example_line}

## Results

Protocol: {facts["protocol"]}

{results}

## Training

```bash
{command}
```

Versions:
{version_lines}

## License

`license: other` ({terms["license_name"]}): the model was trained on {terms["corpus"]}, which
{terms["provider"]} distributes under {terms["terms"]}. The model follows those terms (research use
only), not an open licence; see [{LICENSE_FILE}]({LICENSE_FILE}). The inference code
(`custom_interface.py`) is Apache-2.0 (ser-recipes); the upstream model has its own licence.

## Limitations and intended use

- Intended for research on speech emotion recognition. Emotion labels are perceived by annotators,
  not the speaker's felt state; predictions are uncertain and must not be used to make decisions
  about individuals (hiring, policing, health, credit...) or to monitor people without consent.
{TRAINING_DATA_LIMITS.format(dataset=facts["dataset"])}
- The corpus licence restricts the use of models trained on it (see License): check it before any
  use outside research.

## Citation

```bibtex
{facts["citation"]}

{SPEECHBRAIN_CITATION}
```
"""
    data = card_data(declared, folder, repo_id, upstreams, sources)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{text}"))


def set_card_repo_id(card_text, repo_id):
    """A card pointed to ``repo_id``: its usage line and its ``model-index`` name.

    Example
    -------
    >>> card = '---\\nlibrary_name: speechbrain\\n---\\nfoo(source="USER/NAME", x)\\n'
    >>> print(set_card_repo_id(card, "alice/ser"))
    ---
    library_name: speechbrain
    ---
    foo(source="alice/ser", x)
    <BLANKLINE>
    """
    card = ModelCard(card_text)
    if card.data.eval_results:
        card.data.model_name = model_name(repo_id)
    card.text = re.sub(
        r'(foreign_class\(|\()source="[^"]*"',
        lambda match: f'{match[1]}source="{repo_id}"',
        card.text,
    )
    return str(card)
