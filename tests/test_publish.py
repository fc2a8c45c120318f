"""Export of finished experiments (files, weights, hparams, model card), checkpoint averaging,
the bundled custom_interface.py, and the push command up to the network boundary."""

import ast
import importlib
import json
import re

import huggingface_hub
import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from ser_modules.tools import publish
from ser_modules.training.checkpointing import AtomicCheckpointer
from ser_modules.tools.publish import PublishError, bundle_modules, checkpoint_state, export, push


def best_model_state(folder, key):
    ckpt = Checkpointer(folder / "save").find_checkpoint(max_key=key)
    return torch.load(ckpt.paramfiles["model"], weights_only=True)


@pytest.mark.parametrize("kind,key", [("categorical", "UA"), ("dimensional", "ccc_mean")])
def test_export_writes_a_hub_ready_folder(trained_experiments, exported_models, kind, key):
    out, folder = exported_models[kind], trained_experiments[kind]
    for name in ("hyperparams.yaml", "custom_interface.py", "model.ckpt", "README.md", "example.wav"):
        assert (out / name).stat().st_size > 0, name
    exported = torch.load(out / "model.ckpt", weights_only=True)
    for name, tensor in best_model_state(folder, key).items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(exported[name], tensor), name
    hparams = (out / "hyperparams.yaml").read_text()
    assert re.search(rf"^pretrained_path: someone/{kind}$", hparams, flags=re.M)
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: speechbrain\n")
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
    results = json.loads((trained_experiments["dimensional"] / "test_test1_results.json").read_text())
    card = (exported_models["dimensional"] / "README.md").read_text()
    assert f"{results['ccc_mean']:.3f}" in card
    selection = json.loads((exported_models["dimensional"] / "feature_selection.json").read_text())
    state = torch.load(exported_models["dimensional"] / "model.ckpt", weights_only=True)
    assert state["selection.indices"].tolist() == selection["indices"]


def test_cross_validation_folder_needs_a_fold_and_its_table_goes_in_the_card(trained_experiments, tmp_path):
    cv_folder = trained_experiments["categorical"].parent
    with pytest.raises(PublishError, match="--fold"):
        export(cv_folder, tmp_path / "no_fold")
    (cv_folder / "results.md").write_text("# corr_att\n\n| experiment | UA mean (std) |\n| --- | --- |\n| corr_att | 61.00 (2.00) |\n")
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
    (tmp_path / "exp" / "hyperparams.yaml").write_text("upstreams: [hubert]\n")
    with pytest.raises(PublishError, match="only experiments of"):
        export(tmp_path / "exp", tmp_path / "out")
    (tmp_path / "exp" / "hyperparams.yaml").write_text("pooling: corr_att\nlayer_norm_hidden_states: False\n")
    with pytest.raises(PublishError, match="test_results.json, save/label_encoder.txt missing: did the experiment"):
        export(tmp_path / "exp", tmp_path / "out")


def test_average_of_the_best_checkpoints(tmp_path):
    layer = torch.nn.Linear(2, 2)
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": layer})
    weights = []
    for step, score in enumerate((10.0, 30.0, 20.0, 99.0)):
        torch.nn.init.constant_(layer.weight, float(step))
        weights.append(layer.weight.detach().clone())
        checkpointer.save_checkpoint(meta={"UA": score}, name=f"step{step}")
    next(tmp_path.glob("*step3*")).joinpath("model.ckpt").unlink()  # an incomplete checkpoint (interrupted run) is ignored
    state, note = checkpoint_state(tmp_path, "UA", average=2)
    assert torch.equal(state["weight"], (weights[1] + weights[2]) / 2)
    assert "average of the 2 best" in note and "step1" in note and "step2" in note
    best, note = checkpoint_state(tmp_path, "UA")
    assert torch.equal(best["weight"], weights[1]) and "best checkpoint" in note


def test_bundle_refuses_two_different_definitions_of_a_name(tmp_path, monkeypatch):
    (tmp_path / "first_mod.py").write_text("def helper():\n    return 1\n")
    (tmp_path / "second_mod.py").write_text("from ser_modules.nn.pooling import MeanPooling\n\ndef helper():\n    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first, second = importlib.import_module("first_mod"), importlib.import_module("second_mod")
    with pytest.raises(PublishError, match="helper is defined differently in first_mod and second_mod"):
        bundle_modules([first, second])
    source = bundle_modules([second])
    assert "from ser_modules" not in source and "return 2" in source


def test_custom_interface_is_self_contained(exported_models):
    source = (exported_models["categorical"] / "custom_interface.py").read_text()
    imported = [
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [None])
    ]
    assert imported and not [name for name in imported if name and name.startswith("ser_modules")]
    namespace = {}
    exec(compile(source, "custom_interface.py", "exec"), namespace)
    for name in ("EmotionClassifier", "DimensionalEmotionRegressor", "SSLEncoder", "WeightedLayerSum",
                 "build_pooling", "TCGRU", "InputStandardizer", "FeatureSelection"):
        assert name in namespace, name


@pytest.fixture
def export_copy(exported_models, tmp_path):
    import shutil

    return shutil.copytree(exported_models["categorical"], tmp_path / "export")


def test_push_creates_the_repo_and_uploads_the_folder(export_copy, monkeypatch):
    calls = []
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, **kw: calls.append(("create", repo_id, kw)) or f"https://huggingface.co/{repo_id}")
    monkeypatch.setattr(huggingface_hub, "upload_folder", lambda **kw: calls.append(("upload", kw["repo_id"], kw)))
    url = push(export_copy, "alice/ser-wavlm", private=True, token="hf_test")
    assert url == "https://huggingface.co/alice/ser-wavlm"
    (_, repo, create), (_, uploaded, upload) = calls
    assert repo == uploaded == "alice/ser-wavlm"
    assert create["private"] is True and create["exist_ok"] is True and create["token"] == "hf_test"
    assert upload["folder_path"] == str(export_copy) and upload["token"] == "hf_test"
    assert "pretrained_path: alice/ser-wavlm\n" in (export_copy / "hyperparams.yaml").read_text()
    assert 'foreign_class(source="alice/ser-wavlm"' in (export_copy / "README.md").read_text()


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
