"""Export (ser_modules.tools.publish, .bundle, .model_card) of finished experiments: files,
weights, hparams filled from the inference templates, model card, checkpoint averaging, Morais
models (reported model, fine-tuned and stage-1 upstreams; text models refused), modules found
by name, the inference-only custom_interface.py, and the push command up to the network
boundary."""

import ast
import errno
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from speechbrain.utils.checkpoints import Checkpointer

from ser_modules.tools import publish
from ser_modules.tools.bundle import bundle_source
from ser_modules.tools.declaration import declaration, split_template
from ser_modules.tools.model_card import CORPUS_LICENSES
from ser_modules.tools.publish import (
    PublishError,
    checkpoint_state,
    export,
    fill_template,
    push,
    read_resolved_hparams,
)
from ser_modules.training.checkpointing import AtomicCheckpointer

ROOT = Path(__file__).resolve().parents[1]
TRAINING_YAMLS = sorted(ROOT.glob("recipes/*/hparams/*.yaml"))
KIND_OF_INTERFACE = {
    "EmotionClassifier": "categorical",
    "DimensionalEmotionRegressor": "dimensional",
}


def best_model_state(folder, key):
    ckpt = Checkpointer(folder / "save").find_checkpoint(max_key=key)
    return torch.load(ckpt.paramfiles["model"], weights_only=True)


@pytest.mark.parametrize("kind,key", [("categorical", "UA"), ("dimensional", "ccc_mean")])
def test_export_writes_a_hub_ready_folder(trained_experiments, exported_models, kind, key):
    out, folder = exported_models[kind], trained_experiments[kind]
    for name in (
        "hyperparams.yaml",
        "custom_interface.py",
        "model.ckpt",
        "README.md",
        "example.wav",
    ):
        assert (out / name).stat().st_size > 0, name
    exported = torch.load(out / "model.ckpt", weights_only=True)
    for name, tensor in best_model_state(folder, key).items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(exported[name], tensor), name
    hparams = (out / "hyperparams.yaml").read_text()
    assert re.search(rf"^pretrained_path: someone/{kind}$", hparams, flags=re.M)
    card = (out / "README.md").read_text()
    assert ModelCard.load(out / "README.md").data.library_name == "speechbrain"
    assert f'foreign_class(source="someone/{kind}"' in card
    assert (folder / "command.txt").read_text().strip() in card
    assert "## Limitations and intended use" in card and "@inproceedings" in card
    assert "speechbrain: " in card and "torch: " in card


def test_categorical_card_reports_the_fold_results(trained_experiments, exported_models):
    results = json.loads((trained_experiments["categorical"] / "test_results.json").read_text())
    card = (exported_models["categorical"] / "README.md").read_text()
    assert f"UA {results['UA']:.2f}" in card and f"WA {results['WA']:.2f}" in card
    assert "session 2" in card
    assert (exported_models["categorical"] / "label_encoder.txt").read_text() == (
        trained_experiments["categorical"] / "save" / "label_encoder.txt"
    ).read_text()


def test_dimensional_card_reports_ccc_and_the_selection(trained_experiments, exported_models):
    results = json.loads(
        (trained_experiments["dimensional"] / "test_test1_results.json").read_text()
    )
    card = (exported_models["dimensional"] / "README.md").read_text()
    assert f"{results['ccc_mean']:.3f}" in card
    selection = json.loads((exported_models["dimensional"] / "feature_selection.json").read_text())
    state = torch.load(exported_models["dimensional"] / "model.ckpt", weights_only=True)
    assert state["selection.indices"].tolist() == selection["indices"]


def test_cross_validation_folder_needs_a_fold_and_its_table_goes_in_the_card(
    trained_experiments, tmp_path
):
    cv_folder = trained_experiments["categorical"].parent
    with pytest.raises(PublishError, match="holds the folds session2: choose one with --fold 2"):
        export(cv_folder, tmp_path / "no_fold")
    with pytest.raises(
        PublishError,
        match=(
            "--fold 7: .* has no trained fold session7; its trained folds are session2: "
            "use --fold 2"
        ),
    ):
        export(cv_folder, tmp_path / "out_of_range", fold=7)
    with pytest.raises(
        PublishError,
        match="--fold 2: .*session2 is the folder of one trained model .*: drop --fold",
    ):
        export(trained_experiments["categorical"], tmp_path / "fold_of_a_fold", fold=2)
    with pytest.raises(PublishError, match="--fold 1: .* holds no trained fold .*without --fold"):
        export(tmp_path, tmp_path / "not_a_cv_folder", fold=1)
    (cv_folder / "results.md").write_text(
        "# corr_att\n\n| experiment | UA mean (std) |\n| --- | --- |\n| corr_att | 61.00 (2.00) |\n"
    )
    try:
        out = export(cv_folder, tmp_path / "fold2", fold=2, no_sample_wav=True)
    finally:
        (cv_folder / "results.md").unlink()
    card = (out / "README.md").read_text()
    assert "| corr_att | 61.00 (2.00) |" in card
    assert not (out / "example.wav").exists()


def test_export_errors_name_the_folder(tmp_path):
    with pytest.raises(PublishError, match="is not a folder"):
        export(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "exp" / "save").mkdir(parents=True)
    with pytest.raises(PublishError, match=r"hyperparams.yaml is missing"):
        export(tmp_path / "exp", tmp_path / "out")
    (tmp_path / "exp" / "hyperparams.yaml").write_text(
        "lr: 0.1\ninference_template: inference/ssl_pooling.yaml\n"
    )
    with pytest.raises(PublishError, match="inference_template.yaml is missing"):
        export(tmp_path / "exp", tmp_path / "out")
    for template, missing in (
        ("IEMOCAP/hparams/inference/upstream_downstream.yaml", "test_results.json, save/label"),
        ("MSP-Podcast/hparams/inference/tcgru.yaml", "results.md, save/feature_selection.json"),
    ):
        shutil.copy(ROOT / "recipes" / template, tmp_path / "exp" / "inference_template.yaml")
        with pytest.raises(
            PublishError, match=f"{missing}.* missing: did the experiment finish its evaluation"
        ):
            export(tmp_path / "exp", tmp_path / "out")


def test_average_of_the_best_checkpoints(tmp_path):
    layer = torch.nn.Linear(2, 2)
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": layer})
    weights = []
    for step, score in enumerate((10.0, 30.0, 20.0, 99.0)):
        torch.nn.init.constant_(layer.weight, float(step))
        weights.append(layer.weight.detach().clone())
        checkpointer.save_checkpoint(meta={"UA": score}, name=f"step{step}")
    next(tmp_path.glob("*step3*")).joinpath(
        "model.ckpt"
    ).unlink()  # an incomplete checkpoint (interrupted run) is ignored
    state, note = checkpoint_state(tmp_path, "UA", average=2)
    assert torch.equal(state["weight"], (weights[1] + weights[2]) / 2)
    assert "average of the 2 best" in note and "step1" in note and "step2" in note
    best, note = checkpoint_state(tmp_path, "UA")
    assert torch.equal(best["weight"], weights[1]) and "best checkpoint" in note


def copy_with_checkpoints(folder, destination, key, shifts):
    """A copy of an experiment whose save/ holds its best checkpoint and, per ``shifts`` entry
    ``(name, weight shift, key value)``, a copy of it with every float weight of ``model`` shifted.
    """
    copy = shutil.copytree(folder, destination, ignore=shutil.ignore_patterns("manifests"))
    checkpointer = Checkpointer(copy / "save")
    best = checkpointer.find_checkpoint(max_key=key)
    for ckpt in checkpointer.list_checkpoints():
        if ckpt.path != best.path:
            shutil.rmtree(ckpt.path)
    for name, shift, value in shifts:
        fabricated = shutil.copytree(best.path, best.path.parent / f"CKPT+{name}")
        state = torch.load(fabricated / "model.ckpt", weights_only=True)
        torch.save(
            {k: v + shift if v.is_floating_point() else v for k, v in state.items()},
            fabricated / "model.ckpt",
        )
        meta = yaml.safe_load((fabricated / "CKPT.yaml").read_text())
        (fabricated / "CKPT.yaml").write_text(yaml.dump({**meta, key: value}))
    return copy, torch.load(best.paramfiles["model"], weights_only=True), best.meta[key]


def test_msp_export_averages_its_checkpoints(trained_experiments, exported_models, tmp_path):
    """Issue #13 row 8: ``export <MSP experiment> --average 2``: float weights averaged, the
    fitted integer indices kept as they are (int64, as the selection record), and the model loads
    and predicts."""
    folder, best, best_ccc = copy_with_checkpoints(
        trained_experiments["dimensional"], tmp_path / "msp", "ccc_mean", [("second", 1.0, -5.0)]
    )
    out = export(
        folder, tmp_path / "averaged", average=2, repo_id="someone/dimensional", no_sample_wav=True
    )
    state = torch.load(out / "model.ckpt", weights_only=True)
    assert set(state) == set(best)
    for key, value in best.items():
        expected = value + 0.5 if value.is_floating_point() else value
        assert state[key].dtype == value.dtype and torch.allclose(state[key], expected), key
    selection = json.loads((out / "feature_selection.json").read_text())
    assert state["selection.indices"].tolist() == selection["indices"]
    record = json.loads((out / "export.json").read_text())["checkpoint"]
    assert (
        record.startswith("average of the 2 best checkpoints on valid ccc_mean")
        and "CKPT+second" in record
    )
    from ser_modules.tools.predict import load_model

    wav = next(
        iter(
            json.loads(
                (trained_experiments["dimensional"] / "manifests" / "test1.json").read_text()
            ).values()
        )
    )
    [prediction] = load_model(str(out), savedir=tmp_path / "load").predict_files([wav["wav"]])
    values = torch.tensor(
        [prediction[dimension] for dimension in ("arousal", "valence", "dominance")]
    )
    assert torch.isfinite(values).all()
    with pytest.raises(
        PublishError,
        match=r"--average 3 asks for the 3 best checkpoints on valid ccc_mean, but it keeps "
        r"2 \(.*\): use --average 2 or less, or retrain keeping more \(--keep_checkpoints=N\)",
    ):
        export(folder, tmp_path / "too_many", average=3, no_sample_wav=True)
    for average in (0, -1):
        with pytest.raises(
            PublishError,
            match=(
                rf"--average {average}: give how many of the best checkpoints to average, 1 or more"
            ),
        ):
            export(folder, tmp_path / "zero", average=average)


def test_iemocap_export_says_which_option_keeps_more_checkpoints(trained_experiments, tmp_path):
    with pytest.raises(
        PublishError, match=r"--average 5 .* but it keeps [12] .*--keep_checkpoints=N"
    ):
        export(trained_experiments["categorical"], tmp_path / "out", average=5, no_sample_wav=True)


def test_a_full_disk_is_named_with_the_export_folder(trained_experiments, tmp_path, monkeypatch):
    def disk_full(obj, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(torch, "save", disk_full)
    out = tmp_path / "exported"
    with pytest.raises(
        PublishError,
        match=(
            rf"No space left on the device of {re.escape(str(out))} \(ENOSPC.*writing"
            r" .*model\.ckpt.*\): "
            "free space there or choose another folder"
        ),
    ):
        export(trained_experiments["categorical"], out, no_sample_wav=True)
    assert not (out / "model.ckpt").exists() and not (out / "export.json").exists()


# --------------------------------------------------------------------------------------------
# Model card: Hub metadata
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["categorical", "dimensional"])
def test_card_metadata_is_what_the_hub_indexes(trained_experiments, exported_models, kind):
    folder, out = trained_experiments[kind], exported_models[kind]
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    assert (
        data["license"] == "other"
        and data["license_link"] == "LICENSE.md"
        and data["inference"] is False
    )
    corpus = "IEMOCAP" if kind == "categorical" else "MSP-Podcast"
    assert data["license_name"] == f"{corpus.lower()}-research-only"
    licence = (out / "LICENSE.md").read_text()
    assert f"{corpus} research-only terms" in licence and "Apache-2.0" in licence
    assert "## License" in card.text and "research use" in card.text
    assert "base_model" not in data  # the tiny upstreams are local folders, not Hub models
    assert "unpinned" not in card.text and "a local folder (not a Hub model)" in card.text
    results = card.data.eval_results
    assert {result.metric_type for result in results} == set(data["metrics"])
    assert data["model-index"][0]["name"] == kind
    if kind == "categorical":
        assert data["pipeline_tag"] == "audio-classification"
        expected = json.loads((folder / "test_results.json").read_text())
        assert {(r.dataset_type, r.dataset_split, r.task_type) for r in results} == {
            ("iemocap", "session2", "audio-classification")
        }
        assert {r.metric_type: r.metric_value for r in results} == {
            key: expected[key] for key in ("UA", "WA", "F1")
        }
    else:
        assert "pipeline_tag" not in data
        splits = {}
        for path in folder.glob("test_*_results.json"):
            result = json.loads(path.read_text())
            splits[result["split"]] = {
                key: result[key]
                for key in ("ccc_arousal", "ccc_valence", "ccc_dominance", "ccc_mean")
            }
        found = {}
        for r in results:
            found.setdefault(r.dataset_split, {})[r.metric_type] = r.metric_value
        assert found == splits and {"test1", "test2"} <= set(found)


def test_upstream_commit_is_pinned_when_known_and_the_card_says_when_not(
    trained_experiments, tmp_path
):
    """A Hub upstream downloaded into ssl_folder: base_model is its id, the exported hyperparams
    record its commit after ssl_hub; without the download the card says it is unpinned."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    folder = shutil.copytree(trained_experiments["categorical"], tmp_path / "session2")
    cache = tmp_path / "pretrained_ssl"
    text = (folder / "hyperparams.yaml").read_text()
    text = re.sub(r"^ssl_hub: .*$", "ssl_hub: microsoft/wavlm-large", text, count=1, flags=re.M)
    (folder / "hyperparams.yaml").write_text(
        re.sub(r"^ssl_folder: .*$", f"ssl_folder: {cache}", text, count=1, flags=re.M)
    )
    (cache / "models--microsoft--wavlm-large" / "refs").mkdir(parents=True)
    (cache / "models--microsoft--wavlm-large" / "refs" / "main").write_text(sha)
    pinned = export(folder, tmp_path / "pinned", repo_id="someone/x", no_sample_wav=True)
    hparams = (pinned / "hyperparams.yaml").read_text()
    assert re.search(
        rf"^ssl_hub: microsoft/wavlm-large\nssl_revision: {sha}  # ", hparams, flags=re.M
    )
    card = ModelCard.load(pinned / "README.md")
    assert card.data.base_model == "microsoft/wavlm-large" and f"at commit `{sha}`" in card.text
    shutil.rmtree(cache)
    unpinned = export(folder, tmp_path / "unpinned", repo_id="someone/x", no_sample_wav=True)
    assert "_revision" not in (unpinned / "hyperparams.yaml").read_text()
    assert "unpinned, its commit is not recorded" in ModelCard.load(unpinned / "README.md").text


def test_bundle_refuses_two_different_definitions_of_a_name(tmp_path, monkeypatch):
    (tmp_path / "first_mod.py").write_text("def helper():\n    return 1\n")
    (tmp_path / "second_mod.py").write_text(
        "from ser_modules.nn.pooling import MeanPooling\n\ndef helper():\n    return 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    with pytest.raises(
        PublishError, match="helper is defined differently in first_mod and second_mod"
    ):
        bundle_source([("first_mod", "helper"), ("second_mod", "helper")])
    source = bundle_source([("second_mod", "helper")])
    assert "from ser_modules" not in source and "return 2" in source


# What each exported model's custom_interface.py must hold, and what it must not: the modules of
# the interfaces and of the objects its template names, with their ser_modules imports, only.
BUNDLED = {
    "categorical": (
        [
            "EmotionClassifier",
            "SSLEncoder",
            "WeightedLayerSum",
            "build_pooling",
            "AttentiveCorrelationPooling",
        ],
        ["TCGRU", "InputStandardizer", "FeatureSelection", "EcapaAggregator", "EarlyFusion"],
    ),
    "dimensional": (
        [
            "DimensionalEmotionRegressor",
            "SSLEncoder",
            "TCGRU",
            "InputStandardizer",
            "FeatureSelection",
        ],
        ["build_pooling", "WeightedLayerSum", "EcapaAggregator", "no_autocast"],
    ),
    "ft_hubert": (
        ["EmotionClassifier", "SSLEncoder", "EarlyFusion", "build_aggregator", "EcapaAggregator"],
        ["WeightedLayerSum", "TCGRU", "FeatureSelection"],
    ),
    "fbank_ecapa": (
        ["EmotionClassifier", "FbankUpstream", "EarlyFusion", "EcapaAggregator"],
        ["SSLEncoder", "TCGRU", "WeightedLayerSum", "FeatureSelection"],
    ),
}
MAX_LINES = 1000
# Training and fitting code that an inference bundle must not hold.
FITTING_CODE = re.compile(r"sklearn|backward|\bfit\b|\bfit_\w+|\.fit\(|optimizer|optim\.")


@pytest.fixture
def all_exports(exported_models, morais_exports):
    return {**exported_models, **morais_exports}


@pytest.mark.parametrize("kind", BUNDLED)
def test_custom_interface_is_self_contained_inference_code(all_exports, kind):
    source = (all_exports[kind] / "custom_interface.py").read_text()
    imported = [
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [None])
    ]
    assert imported and not [name for name in imported if name and name.startswith("ser_modules")]
    assert len(source.splitlines()) <= MAX_LINES
    assert not FITTING_CODE.findall(source), FITTING_CODE.findall(source)
    assert re.search(r"ser-recipes \S+\s+\(git \w+\)", source), (
        "the header names the version and commit"
    )
    namespace = {"__name__": "custom_interface_under_test"}
    exec(compile(source, "custom_interface.py", "exec"), namespace)
    bundled, absent = BUNDLED[kind]
    for name in bundled:
        assert name in namespace, name
    for name in absent:
        assert name not in namespace, f"{name} is not used by the {kind} model"


def test_autograd_functions_are_bundled_forward_only():
    """The correlation pooling's custom autograd Function becomes its forward pass, run directly:
    the same numbers as the training module."""
    from ser_modules.nn.pooling import AttentiveCorrelationPooling

    namespace = {"__name__": "bundle_under_test"}
    exec(bundle_source([("ser_modules.nn.pooling", "AttentiveCorrelationPooling")]), namespace)
    torch.manual_seed(0)
    module, bundled = (
        AttentiveCorrelationPooling(6, num_heads=2),
        namespace["AttentiveCorrelationPooling"](6, num_heads=2),
    )
    bundled.load_state_dict(module.state_dict())
    x, lengths = torch.randn(3, 20, 6), torch.tensor([1.0, 0.55, 0.2])
    with torch.no_grad():
        assert torch.equal(bundled.eval()(x, lengths), module.eval()(x, lengths))


def test_exported_hparams_are_the_filled_template(
    trained_experiments, all_exports, morais_experiments
):
    experiments = {**trained_experiments, **morais_experiments}
    expected_values = {  # overrides of the conftest runs, and sizes read from the weights
        "categorical": [
            "projector_dim: 16",
            "pooling: corr_att",
            "num_classes: 4",
            "ssl_folder: pretrained_ssl",
        ],
        "dimensional": [
            "ssl_layer: 2",
            "conv_channels: 8",
            "conv_stride: 4",
            "predict_spread: false",
        ],
        "ft_hubert": ["pooling: mean", "upstreams: [upstream]", "num_classes: 4"],
        "fbank_ecapa": [
            "ecapa_channels: [16, 16, 16, 16, 48]",
            "ecapa_lin_neurons: 16",
            "n_mels: 80",
        ],
    }
    for kind, values in expected_values.items():
        folder, out = experiments[kind], all_exports[kind]
        text = (out / "hyperparams.yaml").read_text()
        origin, body = text.split("\n", 2)[:2], text.split("\n", 2)[2]
        assert origin[0].startswith("# Exported by python -m ser_modules.tools.publish from ")
        template, declared = split_template((folder / "inference_template.yaml").read_text())
        assert declared.startswith("export:\n") and "export:" not in body
        hparams = read_resolved_hparams(folder / "hyperparams.yaml")
        state = torch.load(out / "model.ckpt", weights_only=True)
        assert body == fill_template(template, hparams, state, f"someone/{kind}")
        assert (
            "!new:ser_modules" not in body
            and "!name:ser_modules" not in body
            and "!apply:ser_modules" not in body
        )
        for value in values:
            assert re.search(rf"^{re.escape(value)}(\s|$)", body, flags=re.M), (kind, value)


def test_an_experiment_trained_before_templates_were_copied_says_which_file_to_copy(
    trained_experiments, exported_models, tmp_path
):
    """No look into a checkout: the error names the missing copy and the command that makes it;
    a copy made before the templates declared the export is refused the same way."""
    folder = shutil.copytree(trained_experiments["categorical"], tmp_path / "session2")
    copy = folder / "inference_template.yaml"
    template = copy.read_text()
    copy.unlink()
    with pytest.raises(PublishError) as error:
        export(folder, tmp_path / "out", no_sample_wav=True)
    assert str(error.value) == (
        f"{copy} is missing (the experiment was trained before the recipes copied their inference"
        " template into the experiment folder): copy the inference template that its training"
        f" yaml names there, e.g. cp <recipe>/hparams/inference/ssl_pooling.yaml {copy}"
    )
    copy.write_text(split_template(template)[0])
    with pytest.raises(
        PublishError,
        match=(
            r"declares nothing for the export \(no top-level export: mapping: copied before .*"
            r"cp <recipe>/hparams/inference/ssl_pooling.yaml .*inference_template.yaml"
        ),
    ):
        export(folder, tmp_path / "out", no_sample_wav=True)
    shutil.copy(ROOT / "recipes" / "IEMOCAP" / "hparams" / "inference" / "ssl_pooling.yaml", copy)
    out = export(folder, tmp_path / "out", repo_id="someone/categorical", no_sample_wav=True)
    new, old = (
        (path / "hyperparams.yaml").read_text().split("\n", 2)[2]
        for path in (out, exported_models["categorical"])
    )
    assert new == old


# Run in a process whose only ser_modules is the installed copy: no editable finder of the
# development install, no sys.path entry of a checkout (a folder with recipes/).
INSTALLED_ONLY = """
import runpy, sys
from pathlib import Path
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
sys.path[:] = [entry for entry in sys.path if not (Path(entry or ".") / "recipes").is_dir()]
import ser_modules
assert Path(ser_modules.__file__).is_relative_to(sys.argv[1]), ser_modules.__file__
sys.argv = ["ser-publish", *sys.argv[2:]]
runpy.run_module("ser_modules.tools.publish", run_name="__main__", alter_sys=True)
"""


def install_package(source, site, env):
    """``pip install`` (not editable, offline) of the package at ``source`` into ``site``; with
    a setuptools older than 70.1 and no ``wheel`` package (pip cannot build the wheel offline),
    the same files with setuptools directly: the packages and their metadata (egg-info)."""
    commands = [
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet"]
        + ["--target", str(site), str(source)],
        [sys.executable, "setup.py", "-q", "build", "--build-base", str(source / "build")]
        + ["--build-lib", str(site), "egg_info", "--egg-base", str(site)],
    ]
    for command in commands:
        result = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
        if result.returncode == 0:
            return
        assert "invalid command 'bdist_wheel'" in result.stdout + result.stderr, (
            result.stdout[-2000:] + result.stderr[-3000:]
        )
    raise AssertionError(result.stdout[-2000:] + result.stderr[-3000:])


def test_a_non_editable_install_exports_a_new_experiment(
    trained_experiments, exported_models, tmp_path
):
    """``pip install`` (not editable) of the package, then the export of an experiment from
    another folder: everything it needs comes from the experiment folder (the template copy and
    its declaration) and the installed package, nothing from a checkout."""
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(
        ROOT / "ser_modules", source / "ser_modules", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("setup.py", "README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, source / name)
    site = tmp_path / "site"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1")
    install_package(source, site, env)
    assert not (site / "recipes").exists() and (site / "ser_modules" / "tools").is_dir()
    shutil.rmtree(source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "installed_export"
    result = subprocess.run(
        [sys.executable, "-c", INSTALLED_ONLY, str(site), "export"]
        + [str(trained_experiments["categorical"]), "--out", str(out)]
        + ["--repo-id", "someone/categorical"],
        cwd=elsewhere,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {"exported": str(out)}
    reference = exported_models["categorical"]
    for name in ("hyperparams.yaml", "README.md"):
        new, old = ((path / name).read_text() for path in (out, reference))
        if name == "hyperparams.yaml":  # the origin lines name the (unknown) git commit
            new, old = new.split("\n", 2)[2], old.split("\n", 2)[2]
        else:
            new, old = (re.sub(r"\(git \w+\)", "", text) for text in (new, old))
        assert new == old, name
    exported, expected = (
        torch.load(path / "model.ckpt", weights_only=True) for path in (out, reference)
    )
    assert set(exported) == set(expected)
    assert all(torch.equal(exported[key], expected[key]) for key in expected)
    from ser_modules.tools.predict import load_model

    manifest = json.loads(
        (trained_experiments["categorical"] / "manifests" / "test.json").read_text()
    )
    wavs = [entry["wav"] for entry in manifest.values()][:2]
    predictions = [
        load_model(str(path), savedir=tmp_path / name).predict_files(wavs)
        for name, path in (("installed", out), ("reference", reference))
    ]
    assert predictions[0] == predictions[1]


def reorder_model_state(path):
    """Rewrites a saved ModuleDict state with its modules in reverse order (same tensors)."""
    state = torch.load(path, weights_only=True)
    modules = list(dict.fromkeys(key.split(".", 1)[0] for key in state))[::-1]
    torch.save(
        {key: state[key] for module in modules for key in state if key.split(".", 1)[0] == module},
        path,
    )
    return modules


def test_modules_are_found_by_name_not_by_position(trained_experiments, exported_models, tmp_path):
    folder = shutil.copytree(trained_experiments["categorical"], tmp_path / "session2")
    hparams = (folder / "hyperparams.yaml").read_text()
    block = re.search(r"^model: .*\n  modules:\n((?:    .*\n)+)", hparams, flags=re.M)
    entries = block.group(1).splitlines(keepends=True)
    assert len(entries) == 4, block.group(0)
    (folder / "hyperparams.yaml").write_text(
        hparams.replace(block.group(1), "".join(entries[::-1]))
    )
    orders = [reorder_model_state(path) for path in (folder / "save").glob("CKPT+*/model.ckpt")]
    assert orders and all(
        order == ["classifier", "pooling_layer", "projector", "layer_sum"] for order in orders
    )
    out = export(folder, tmp_path / "reordered", repo_id="someone/categorical", no_sample_wav=True)
    reordered = torch.load(out / "model.ckpt", weights_only=True)
    original = torch.load(exported_models["categorical"] / "model.ckpt", weights_only=True)
    assert list(reordered) != list(original) and set(reordered) == set(original)
    assert all(torch.equal(reordered[key], original[key]) for key in original)
    from ser_modules.tools.predict import load_model

    manifest = json.loads((folder / "manifests" / "test.json").read_text())
    wavs = [entry["wav"] for entry in manifest.values()][:3]
    predictions = [
        load_model(str(path), savedir=tmp_path / name).predict_files(wavs)
        for name, path in (("a", exported_models["categorical"]), ("b", out))
    ]
    assert predictions[0] == predictions[1]


# --------------------------------------------------------------------------------------------
# Upstream + downstream (Morais et al.) experiments
# --------------------------------------------------------------------------------------------
def test_stage1_export_holds_the_best_checkpoint_with_its_fine_tuned_upstream(
    morais_experiments, morais_exports
):
    folder = morais_experiments["ft_hubert"]
    assert json.loads((folder / "test_results.json").read_text())["reported_model"] == "best"
    best = Checkpointer(folder / "save").find_checkpoint(max_key="WA")
    exported = torch.load(morais_exports["ft_hubert"] / "model.ckpt", weights_only=True)
    expected = {
        **torch.load(best.paramfiles["model"], weights_only=True),
        **{
            f"upstream.{k}": v
            for k, v in torch.load(best.paramfiles["upstream"], weights_only=True).items()
        },
    }
    assert set(exported) == set(expected) and any(
        key.startswith("upstream.model.encoder.") for key in exported
    )
    assert all(torch.equal(exported[key], value) for key, value in expected.items())
    card = (morais_exports["ft_hubert"] / "README.md").read_text()
    assert (
        "Morais et al., ICASSP 2022" in card
        and "morais2022speech" in card
        and "best checkpoint" in card
    )


def test_stage2_export_holds_the_average_and_the_stage1_upstream(
    morais_experiments, morais_exports
):
    folder = morais_experiments["hubert_ecapa"]
    assert json.loads((folder / "test_results.json").read_text())["reported_model"] == "average"
    exported = torch.load(morais_exports["hubert_ecapa"] / "model.ckpt", weights_only=True)
    averaged = torch.load(folder / "save" / "averaged_model.ckpt", weights_only=True)
    stage1 = torch.load(
        morais_experiments["ft_hubert"] / "save" / "averaged_upstream.ckpt", weights_only=True
    )
    expected = {**averaged, **{f"upstream.{k}": v for k, v in stage1.items()}}
    assert set(exported) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(exported[key].double(), value.double(), atol=1e-7), key
    fbank = torch.load(morais_exports["fbank_ecapa"] / "model.ckpt", weights_only=True)
    assert {key.split(".", 1)[0] for key in fbank} == {"downstream", "classifier"}
    record = json.loads((morais_exports["hubert_ecapa"] / "export.json").read_text())
    assert (
        "average of the 2 best checkpoints on valid WA" in record["checkpoint"]
        and "(frozen)" in record["checkpoint"]
    )


@pytest.mark.parametrize(
    "path",
    [path for path in TRAINING_YAMLS if read_resolved_hparams(path)["inference_template"] is None],
    ids=lambda path: path.name,
)
def test_experiments_without_an_inference_template_are_refused(tmp_path, path):
    """The recipe's declaration (``inference_template: null``: BERT upstreams, the multimodal
    MSP-Podcast model) refuses the export, before any result file is looked for."""
    (tmp_path / "exp" / "save").mkdir(parents=True)
    shutil.copy(path, tmp_path / "exp" / "hyperparams.yaml")
    with pytest.raises(
        PublishError,
        match=(
            r"its recipe declares no inference template \(inference_template: null in"
            r" hyperparams.yaml\): the exported interfaces take audio and return emotions, .*"
            "cannot be exported"
        ),
    ):
        export(tmp_path / "exp", tmp_path / "out")


# --------------------------------------------------------------------------------------------
# Inference templates
# --------------------------------------------------------------------------------------------
def plain_keys(text):
    return [match["key"] for match in publish.PLAIN_VALUE.finditer(text)]


def module_names(hparams, key):
    value = hparams.get(key) or {}
    return set(value.get("modules", value))


@pytest.mark.parametrize("path", TRAINING_YAMLS, ids=lambda path: path.name)
def test_every_training_yaml_names_a_template_that_matches_it(path):
    hparams = read_resolved_hparams(path)
    if hparams["inference_template"] is None:
        assert "bert_hub" in hparams, "only models that read text have no inference template"
        return
    template_path = path.parent / hparams["inference_template"]
    assert template_path.parent.name == "inference" and template_path.is_file()
    text, _ = split_template(template_path.read_text())
    template = read_resolved_hparams(template_path)
    # what the export reads: the experiment's hyperparameters that the declaration names
    declared = declaration(template, template_path)
    assert declared.kind == KIND_OF_INTERFACE[template["interface_class"]]
    named = [*declared.upstreams, *declared.weights.values()]
    named += [declared.download_folder] if declared.download_folder else []
    assert set(named) <= set(hparams), set(named) - set(hparams)
    assert declared.card["dataset"] in CORPUS_LICENSES
    assert [item.target for item in declared.files] == (
        ["label_encoder.txt"] if declared.kind == "categorical" else ["feature_selection.json"]
    )
    assert re.search(
        r"^# Load the exported folder with\n#   speechbrain.inference.interfaces.foreign_class",
        text,
        flags=re.M,
    )
    assert template["interface_class"] in ("EmotionClassifier", "DimensionalEmotionRegressor")
    # the trained modules, objects of the training yaml by their names (fine-tuned upstreams added)
    assert module_names(hparams, "model") <= module_names(template, "model") <= set(hparams)
    family = [
        other
        for other in map(read_resolved_hparams, TRAINING_YAMLS)
        if other.get("inference_template") == hparams["inference_template"]
    ]
    known = (
        set().union(*family)
        | set(publish.STATE_FACTS)
        | {"pretrained_path", "interface_class", "sample_rate", "dimensions"}
    )
    assert set(plain_keys(text)) - known == set(), (
        "template keys that no training yaml of the family has"
    )


@pytest.fixture
def export_copy(exported_models, tmp_path):
    return shutil.copytree(exported_models["categorical"], tmp_path / "export")


def test_push_creates_the_repo_and_uploads_the_folder(export_copy, monkeypatch):
    calls = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(
        huggingface_hub,
        "create_repo",
        lambda repo_id, **kw: (
            calls.append(("create", repo_id, kw)) or f"https://huggingface.co/{repo_id}"
        ),
    )
    monkeypatch.setattr(
        huggingface_hub, "upload_folder", lambda **kw: calls.append(("upload", kw["repo_id"], kw))
    )
    url = push(export_copy, "alice/ser-wavlm", private=True, token="hf_test")
    assert url == "https://huggingface.co/alice/ser-wavlm"
    (_, repo, create), (_, uploaded, upload) = calls
    assert repo == uploaded == "alice/ser-wavlm"
    assert create["private"] is True and create["exist_ok"] is True and create["token"] == "hf_test"
    assert upload["folder_path"] == str(export_copy) and upload["token"] == "hf_test"
    assert "pretrained_path: alice/ser-wavlm\n" in (export_copy / "hyperparams.yaml").read_text()
    assert 'foreign_class(source="alice/ser-wavlm"' in (export_copy / "README.md").read_text()
    assert (
        ModelCard.load(export_copy / "README.md").data.to_dict()["model-index"][0]["name"]
        == "ser-wavlm"
    )


def test_push_warns_before_publishing_local_paths(export_copy, monkeypatch, caplog):
    """The conftest experiment trained on local folders (the data, the tiny upstream): the card's
    training command and the hyperparams name them, and the push says so before uploading."""
    order = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(
        huggingface_hub, "create_repo", lambda repo_id, **kw: order.append("create") or "url"
    )
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kw: order.append("upload"))
    monkeypatch.setattr(publish.logger, "warning", lambda *args: order.append(args[0] % args[1:]))
    push(export_copy, "alice/ser-wavlm", token="hf_test")
    warnings = order[: order.index("create")]
    ssl_hub = re.search(
        r"^ssl_hub: (.*)$", (export_copy / "hyperparams.yaml").read_text(), flags=re.M
    )[1]
    assert any("README.md would publish" in w for w in warnings), warnings
    assert any(
        "hyperparams.yaml would publish" in w and ssl_hub.split()[0] in w for w in warnings
    ), warnings
    assert not publish.local_paths(
        "ssl_hub: microsoft/wavlm-large\nsee https://huggingface.co/a/b and results/x/y\n"
    )


@pytest.mark.parametrize("command", ["export", "push"])
def test_command_line_options_are_kebab_case_and_named_after_the_installed_command(command, capsys):
    with pytest.raises(SystemExit):
        publish.main([command, "--help"])
    usage = capsys.readouterr().out
    assert usage.startswith(f"usage: ser-publish {command}")
    options = set(re.findall(r"--[\w-]+", usage))
    assert options and not [option for option in options if "_" in option]
    assert {"export": "--no-sample-wav", "push": "--commit-message"}[command] in options


def test_readme_documents_the_declared_ser_publish_command():
    assert re.search(
        r"[\"']ser-publish=ser_modules\.tools\.publish:main[\"']", (ROOT / "setup.py").read_text()
    )
    readme = (ROOT / "README.md").read_text()
    assert "ser-publish export " in readme and "ser-publish push " in readme
    section = readme.split("## Using a trained model")[1].split("\n## ")[0]
    assert not re.search(r"^python -m ser_modules\.tools\.publish", section, flags=re.M)


def test_push_without_login_is_a_clear_error(export_copy, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PublishError, match="Not logged in"):
        push(export_copy, "alice/ser-wavlm")


def test_push_offline_is_a_clear_error(export_copy, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE"):
        push(export_copy, "alice/ser-wavlm", token="hf_test")


def test_push_when_the_hub_is_unreachable_is_a_clear_error(export_copy, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "create_repo", unreachable)
    with pytest.raises(PublishError, match="Cannot reach the Hugging Face Hub"):
        push(export_copy, "alice/ser-wavlm", token="hf_test")


def test_push_refuses_an_incomplete_folder(tmp_path):
    (tmp_path / "hyperparams.yaml").write_text("x: 1\n")
    with pytest.raises(PublishError, match="model.ckpt"):
        push(tmp_path, "alice/x", token="hf_test")


def test_command_line_reports_errors_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit, match="is not a folder"):
        publish.main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
