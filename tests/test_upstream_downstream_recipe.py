"""End-to-end runs of the upstream + downstream recipe (Morais et al., ICASSP 2022, Table 1
experiments 1-11) on a generated corpus with tiny random wav2vec 2.0, HuBERT and BERT models:
stage 1 through cross_validate.py (2 folds), an interrupted and resumed fine-tuning run, every
stage-2 and baseline experiment, checkpoint averaging checked on the saved files, and the
averaged model re-evaluated independently."""

import csv
import json
import re
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from ruamel.yaml import YAML

from ser_modules.data.audio import load_audio
from ser_modules.nn.ssl_encoder import SSLEncoder
from ser_modules.testing.tiny_bert import iemocap_transcripts, save_random_bert_model
from ser_modules.testing.tiny_ssl import save_random_ssl_model
from ser_modules.training.feature_cache import FeatureCache, module_fingerprint
from tests.conftest import logged_epochs, read_csv, recipe_env, recipe_module, run_concurrently

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "IEMOCAP"
SCRIPT = RECIPE / "train_upstream_downstream.py"
EPOCHS = 3
NUM_AVERAGED = 2
RESUME_EPOCHS = 4
MODEL_LR = 0.01
UPSTREAM_LR = 0.001
GRAD_ACCUMULATION = 2

# Table 1 experiment -> "morais_<experiment_name>" (stage 1 of BERT is not a numbered
# experiment): the hparams file of that name, or a file of ROWS with the row's overrides.
EXPERIMENTS = {
    1: "morais_ft_wav2vec2",
    2: "morais_ft_hubert",
    3: "morais_wav2vec2_mean",
    4: "morais_hubert_mean",
    5: "morais_wav2vec2_ecapa",
    6: "morais_hubert_ecapa",
    7: "morais_early_fusion_ecapa",
    8: "morais_late_fusion_ecapa",
    9: "morais_fbank_ecapa",
    10: "morais_bert_ecapa",
    11: "morais_fbank_bert_late_fusion",
}
STAGE2 = ["morais_ft_bert", *(EXPERIMENTS[n] for n in range(3, 12))]
# The experiments of a shared hparams file: (file, the row's overrides), as in the README.
ROWS = {
    "morais_wav2vec2_mean": ("morais_wav2vec2_downstream", {}),
    "morais_hubert_mean": ("morais_hubert_downstream", {}),
    "morais_wav2vec2_ecapa": ("morais_wav2vec2_downstream", {"pooling": "ecapa"}),
    "morais_hubert_ecapa": ("morais_hubert_downstream", {"pooling": "ecapa"}),
}
TINY_ECAPA = {
    "ecapa_channels": [16, 16, 16, 16, 48],
    "ecapa_attention_channels": 8,
    "ecapa_lin_neurons": 16,
    "ecapa_res2net_scale": 2,
    "ecapa_se_channels": 8,
}


@pytest.fixture(scope="module")
def assets(tmp_path_factory, iemocap_corpus, tiny_hubert):
    root = tmp_path_factory.mktemp("morais")
    return {
        "root": root,
        "corpus": iemocap_corpus,
        "wav2vec2": save_random_ssl_model("wav2vec2", root / "tiny_wav2vec2"),
        "hubert": tiny_hubert,
        "bert": save_random_bert_model(root / "tiny_bert", iemocap_transcripts(iemocap_corpus)),
    }


def hparams_path(name):
    """The hparams file of an experiment (:data:`EXPERIMENTS`)."""
    return RECIPE / "hparams" / f"{ROWS.get(name, (name,))[0]}.yaml"


def overrides_for(name, assets):
    """The hparams overrides of an experiment (its row's, :data:`ROWS`) for the tiny models and
    the test folders."""
    root = assets["root"]
    values = {
        **ROWS.get(name, (name, {}))[1],
        "data_folder": str(assets["corpus"]),
        "results_folder": str(root / "results"),
        "number_of_epochs": EPOCHS,
        "keep_checkpoints": NUM_AVERAGED,
        "batch_size": 4,
        # large learning rates: the tiny models must change between epochs
        "lr": MODEL_LR,
    }
    if name != "morais_fbank_ecapa":
        values["upstream_lr"] = UPSTREAM_LR
    ssl = {"ssl_folder": str(root / "hf_cache")}
    cache = {"feature_cache_folder": str(root / "feature_cache")}
    bert = {"bert_hub": str(assets["bert"]), "bert_folder": str(root / "hf_cache")}
    if name.startswith("morais_ft_"):  # stage 1: with gradient accumulation
        values["grad_accumulation_factor"] = GRAD_ACCUMULATION
    if name == "morais_ft_bert":
        values.update(bert)
    elif name.startswith("morais_ft_"):
        values.update(ssl, ssl_hub=str(assets[name[len("morais_ft_") :]]))
    else:
        values.update(TINY_ECAPA)
        if "fusion_ecapa" in name:
            values.update(
                {**ssl, **cache},
                wav2vec2_hub=str(assets["wav2vec2"]),
                hubert_hub=str(assets["hubert"]),
            )
        elif name.startswith(("morais_wav2vec2", "morais_hubert")):
            values.update({**ssl, **cache}, ssl_hub=str(assets[name.split("_")[1]]))
        if "bert" in name.split("_"):
            values.update(bert)
    return values


def recipe_args(name, assets, **extra):
    overrides = {**overrides_for(name, assets), **extra}  # "--key=value": parsed as YAML
    args = [f"--{key}={value}" for key, value in overrides.items()]
    return [str(hparams_path(name)), *args, "--noprogressbar"]


def start_python(args, cwd, log_name):
    """Starts ``python args`` in the background, output (stdout + stderr) to ``<log_name>.log``."""
    log_path = Path(cwd) / f"{log_name}.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=recipe_env(), stdout=log, stderr=subprocess.STDOUT
    )
    process.log, process.log_path = log, log_path
    return process


def finish_python(process):
    """Waits for a process of ``start_python``; fails the test with its errors; returns its
    output."""
    process.wait()
    process.log.close()
    text = process.log_path.read_text()
    if process.returncode != 0:
        errors = [line for line in text.splitlines() if "Error" in line]
        pytest.fail("\n".join([f"{process.args} failed:", text[-5000:], *errors[-5:]]))
    return text


def run_python(args, cwd, log_name):
    return finish_python(start_python(args, cwd, log_name))


def fold_folder(assets, name, session=1):
    experiment = name[len("morais_") :]
    return assets["root"] / "results" / "morais" / experiment / "seed1986" / f"session{session}"


def check_fold_outputs(folder, reported):
    """The files cross_validate.py reads, and both evaluations."""
    results = json.loads((folder / "test_results.json").read_text())
    manifest = json.loads((folder / "manifests" / "test.json").read_text())
    assert results["reported_model"] == reported
    chosen = results["best_single" if reported == "best" else "average"]
    for key in ("WA", "UA", "F1", "confusion_matrix", "num_samples", "evaluated"):
        assert results[key] == chosen[key]
    assert results["num_samples"] == len(manifest) > 0
    assert sum(map(sum, results["confusion_matrix"])) == len(manifest)
    assert results["best_single"]["evaluated"].startswith("best checkpoint (epoch ")
    assert results["average"]["evaluated"] == f"average of {NUM_AVERAGED} checkpoints"
    assert len(results["averaged_checkpoints"]) == NUM_AVERAGED
    rows = read_csv(folder / "predictions.csv")
    assert {row["id"] for row in rows} == set(manifest)
    accuracy = 100.0 * sum(row["target"] == row["prediction"] for row in rows) / len(rows)
    assert accuracy == pytest.approx(results["WA"])
    for model in ("best", "average"):
        scores = read_csv(folder / f"test_scores_{model}.csv")
        assert [row["id"] for row in scores] == [row["id"] for row in rows]
    for png in ("confusion_matrix.png", "training_curves.png"):
        assert (folder / png).stat().st_size > 0
    assert (folder / SCRIPT.name).exists()  # the experiment folder holds the script's copy
    assert (folder / "save" / "averaged_model.ckpt").exists()
    return results


# --------------------------------------------------------------------------------------------
# Stage 1
# --------------------------------------------------------------------------------------------
def interrupt_and_resume(assets):
    """Experiment 2 (fold 1), killed after its first checkpoint and run again."""
    name = "morais_ft_hubert"
    args = [str(SCRIPT), *recipe_args(name, assets, number_of_epochs=RESUME_EPOCHS)]
    folder = fold_folder(assets, name)
    first = folder / "save" / "CKPT+epoch-001"
    process = start_python(args, assets["root"], "interrupted_run")
    deadline = time.time() + 300
    while not (first / "upstream_scheduler.ckpt").exists() and time.time() < deadline:
        if process.poll() is not None:
            finish_python(process)
            pytest.fail("the run ended before it was interrupted")
        time.sleep(0.05)
    time.sleep(0.3)  # let the checkpoint's last file be written
    assert process.poll() is None, "the run ended before it was interrupted"
    process.kill()
    process.wait()
    process.log.close()
    interrupted = logged_epochs(folder)
    run_python(args, assets["root"], "resumed_run")
    return {"folder": folder, "interrupted": interrupted}


@pytest.fixture(scope="module")
def stage1(assets):
    """Experiment 1 on folds 1 and 2 through the cross-validation driver (in the background),
    and experiment 2 on fold 1, interrupted and resumed."""
    args = recipe_args("morais_ft_wav2vec2", assets)
    driver = [str(RECIPE / "cross_validate.py"), *args, f"--train_script={SCRIPT}", "--folds=1,2"]
    cross_validation = start_python(driver, assets["root"], "cross_validation")
    try:
        resumed = interrupt_and_resume(assets)
    finally:
        output = finish_python(cross_validation)
    return {"cross_validation_output": output, **resumed}


@pytest.fixture(scope="module")
def stage1_wav2vec2(stage1):
    return stage1["cross_validation_output"]


@pytest.fixture(scope="module")
def stage1_hubert_resumed(stage1):
    return stage1


def test_experiment1_cross_validation_over_two_folds(assets, stage1_wav2vec2):
    folder = assets["root"] / "results" / "morais" / "ft_wav2vec2" / "seed1986"
    fold_results = [check_fold_outputs(folder / f"session{s}", reported="best") for s in (1, 2)]
    with open(folder / "results.csv") as handle:
        rows = list(csv.reader(handle))
    assert [row[0] for row in rows[1:]] == ["1", "2", "mean", "std"]
    mean_wa = sum(result["WA"] for result in fold_results) / 2
    assert float(rows[3][2]) == pytest.approx(mean_wa, abs=0.01)
    markdown = (folder / "results.md").read_text()
    assert "UA mean (std)" in markdown and "WA mean (std)" in markdown
    assert "ft_wav2vec2" in markdown and "UA mean (std)" in stage1_wav2vec2
    for session in (1, 2):
        save = folder / f"session{session}" / "save"
        assert (save / "averaged_upstream.ckpt").exists()  # exported for stage 2
        assert logged_epochs(folder / f"session{session}") == list(range(1, EPOCHS + 1))
        record = json.loads((folder / f"session{session}" / "experiment.json").read_text())
        assert record["training"]["completed"] and record["evaluation"]["finished"]
        assert record["hparams"]["grad_accumulation_factor"] == GRAD_ACCUMULATION
    # The same command again: both folds are finished runs of it (the driver and train.py
    # agree on the identity, --grad_accumulation_factor included), nothing is trained.
    args = recipe_args("morais_ft_wav2vec2", assets)
    reports = ("average", "best_single")
    again, *outputs = run_concurrently(  # the drivers, two at a time
        partial(run_python, driver_args(args), assets["root"], "cross_validation_again"),
        *(
            partial(
                run_python,
                [*driver_args(args), f"--report={report}"],
                assets["root"],
                f"report_{report}",
            )
            for report in reports
        ),
    )
    assert again.count("already done") == 2
    # Issue #14 item 3: any stored evaluation is summarised without retraining, beside the
    # reported one (rows 3-4 of Morais et al. read as stage 1's own averaged model).
    summary = markdown
    for report, output in zip(reports, outputs):
        assert output.count("already done") == 2 and f"evaluation: {report}" in output
        with open(folder / f"results_{report}.csv") as handle:
            rows = list(csv.reader(handle))
        means = [sum(result[report][m] for result in fold_results) / 2 for m in ("WA", "UA")]
        assert [float(value) for value in rows[3][2:4]] == pytest.approx(means, abs=0.01)
        assert (folder / f"confusion_matrix_{report}.png").stat().st_size > 0
    assert (folder / "results.md").read_text() == summary  # the reported summary is kept


def driver_args(args):
    """The cross-validation driver's command line for folds 1 and 2 of stage 1."""
    return [str(RECIPE / "cross_validate.py"), *args, f"--train_script={SCRIPT}", "--folds=1,2"]


def test_an_untrained_model_is_never_evaluated(assets):
    """Issue #13 row 4 for train_upstream_downstream.py: --number_of_epochs=0 is an error."""
    args = recipe_args(
        "morais_fbank_ecapa",
        assets,
        number_of_epochs=0,
        results_folder=assets["root"] / "untrained",
    )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=assets["root"],
        env=recipe_env(),
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode != 0
        and "number_of_epochs=0: a run trains at least one epoch" in result.stderr
    )
    assert not (assets["root"] / "untrained").exists()


def test_checkpoint_average_is_the_parameter_mean_of_the_n_best(assets, stage1_wav2vec2):
    folder = fold_folder(assets, "morais_ft_wav2vec2")
    results = json.loads((folder / "test_results.json").read_text())
    averaged = results["averaged_checkpoints"]
    record = json.loads((folder / "save" / "averaged_checkpoints.json").read_text())
    assert record["checkpoints"] == averaged and record["selection_key"] == "valid WA"
    assert record["averaged_modules"] == ["upstream", "model"]
    # the N best on validation accuracy only
    history = json.loads((folder / "history.json").read_text())
    valid_wa = {entry["epoch"]: entry["valid"]["WA"] for entry in history}
    chosen = [row["epoch"] for row in averaged]
    assert len(set(chosen)) == NUM_AVERAGED
    assert min(valid_wa[e] for e in chosen) >= max(
        [valid_wa[e] for e in valid_wa if e not in chosen], default=-1.0
    )
    assert all(row["valid_WA"] == pytest.approx(valid_wa[row["epoch"]]) for row in averaged)
    # averaged files == mean of the checkpoint files, upstream and downstream
    for module in ("upstream", "model"):
        average = torch.load(folder / "save" / f"averaged_{module}.ckpt")
        states = [
            torch.load(folder / "save" / row["checkpoint"] / f"{module}.ckpt") for row in averaged
        ]
        assert set(average) == set(states[0])
        differs = False
        for key, value in average.items():
            if not value.is_floating_point():
                continue
            mean = sum(state[key].double() for state in states) / len(states)
            assert torch.allclose(value.double(), mean, atol=1e-7), f"{module}: {key}"
            differs |= not torch.equal(states[0][key], states[1][key])
        assert differs, f"{module}: the averaged checkpoints are identical"


def test_averaged_model_is_the_one_evaluated(assets, stage1_wav2vec2):
    """Re-evaluates each test utterance alone with the saved averaged weights."""
    name = "morais_ft_wav2vec2"
    folder = fold_folder(assets, name)
    overrides = {**overrides_for(name, assets), "test_session": 1}
    with open(hparams_path(name)) as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    hparams["upstream"].load_state_dict(torch.load(folder / "save" / "averaged_upstream.ckpt"))
    hparams["model"].load_state_dict(torch.load(folder / "save" / "averaged_model.ckpt"))
    for module in hparams["modules"].values():
        module.eval()
    manifest = json.loads((folder / "manifests" / "test.json").read_text())
    scores = {
        model: {
            row["id"]: [float(v) for k, v in row.items() if k != "id"]
            for row in read_csv(folder / f"test_scores_{model}.csv")
        }
        for model in ("best", "average")
    }
    max_gap = 0.0
    with torch.no_grad():
        for uid, entry in manifest.items():
            wav = load_audio(entry["wav"])[None]
            lens = torch.ones(1)
            feats = hparams["upstream"](wav, lens)
            frame_lens = hparams["upstream"].frame_lengths(lens, wav.shape[1], feats.shape[1])
            logits = hparams["classifier"](hparams["downstream"]([(feats, frame_lens)]))
            log_probs = torch.log_softmax(logits, dim=-1)[0]
            assert torch.allclose(log_probs, torch.tensor(scores["average"][uid]), atol=1e-4), uid
            gap = (log_probs - torch.tensor(scores["best"][uid])).abs().max()
            max_gap = max(max_gap, float(gap))
    assert max_gap > 1e-2, "the best checkpoint and the average gave the same scores"


def test_experiment2_fine_tuning_resumes_with_its_schedulers(assets, stage1_hubert_resumed):
    folder = stage1_hubert_resumed["folder"]
    assert 1 <= max(stage1_hubert_resumed["interrupted"]) < RESUME_EPOCHS
    epochs = logged_epochs(folder)
    assert sorted(set(epochs)) == list(range(1, RESUME_EPOCHS + 1)) and epochs[-1] == RESUME_EPOCHS
    assert len(epochs) <= RESUME_EPOCHS + 1  # at most the killed epoch is trained twice
    results = check_fold_outputs(folder, reported="best")
    assert results["experiment"] == "ft_hubert"
    # both schedulers continued: the learning rates of every epoch follow one schedule
    train = len(json.loads((folder / "manifests" / "train.json").read_text()))
    steps_per_epoch = (train // 4) // GRAD_ACCUMULATION  # drop_last batches of 4
    total = RESUME_EPOCHS * steps_per_epoch
    warmup = round(0.1 * total)
    log = (folder / "train_log.txt").read_text()
    for group, lr0 in (("upstream", UPSTREAM_LR), ("model", MODEL_LR)):
        logged = {
            int(epoch): float(lr)
            for epoch, lr in re.findall(
                rf"^epoch: (\d+), .*lr_{group}: ([0-9.e+-]+)", log, flags=re.M
            )
        }
        for epoch, lr in logged.items():
            step = epoch * steps_per_epoch
            expected = lr0 * (total + 1 - step) / (total + 1 - warmup)
            assert lr == pytest.approx(expected, rel=0.01), (group, epoch)
    last = sorted((folder / "save").glob("CKPT+epoch-*"))[-1]
    for group in ("upstream", "model"):
        state = torch.load(last / f"{group}_scheduler.ckpt")
        assert state["current_step"] == total
        assert (last / f"{group}_optimizer.ckpt").exists()


# --------------------------------------------------------------------------------------------
# Stage 2 and baselines
# --------------------------------------------------------------------------------------------
RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import train_upstream_downstream as recipe
for argv in json.loads(sys.argv[2]):
    recipe.main(argv)
"""


@pytest.fixture(scope="module")
def downstream_runs(assets, stage1):
    """Stage 1 of BERT, experiments 3-11 (fold 1), in two processes (one import each): the
    speech SSL experiments (which share the feature caches) and the others."""
    groups = {
        "ssl": [name for name in STAGE2 if re.search(r"wav2vec2|hubert|fusion_ecapa", name)],
        "fbank_bert": [
            name for name in STAGE2 if not re.search(r"wav2vec2|hubert|fusion_ecapa", name)
        ],
    }
    processes = [
        start_python(
            [
                "-c",
                RUNNER,
                str(RECIPE),
                json.dumps([recipe_args(n, assets, test_session=1) for n in names]),
            ],
            assets["root"],
            f"downstream_{group}",
        )
        for group, names in groups.items()
    ]
    for process in processes:
        finish_python(process)


@pytest.mark.parametrize("name", STAGE2)
def test_downstream_experiments(assets, downstream_runs, name):
    folder = fold_folder(assets, name)
    reported = "best" if name == "morais_ft_bert" else "average"
    results = check_fold_outputs(folder, reported=reported)
    assert logged_epochs(folder) == list(range(1, EPOCHS + 1))
    # SpeechBrain's resolved copy of the hparams file, with the row's overrides
    saved = YAML(typ="rt").load((folder / "hyperparams.yaml").read_text())
    expected = {"experiment_name": name[len("morais_") :], **ROWS.get(name, (name, {}))[1]}
    assert {key: saved[key] for key in expected} == expected
    with open(hparams_path(name)) as handle:
        stage1 = set(
            re.findall(r"^(?:\w+_)?stage1_experiment: ([\w/]+)", handle.read(), flags=re.M)
        )
    pretrained = results["pretrained_upstreams"]
    assert len(pretrained) == len(stage1)
    for path in pretrained.values():  # stage 1's averaged upstream of the same fold
        parts = Path(
            path
        ).parts  # <results>/morais/<stage1 experiment>/seed<seed>/session1/save/<file>
        assert parts[-6] == "morais" and parts[-5] in stage1 and parts[-3] == "session1"
        assert Path(path).name == "averaged_upstream.ckpt" and Path(path).exists()
    model = torch.load(folder / "save" / "averaged_model.ckpt")
    frozen_upstream_saved = list((folder / "save").glob("averaged_upstream*.ckpt"))
    assert frozen_upstream_saved == [] or name == "morais_ft_bert"
    if "ecapa" in name or "late_fusion" in name:
        assert any(".ecapa.blocks." in key for key in model)
    if "late_fusion" in name:
        assert any(key.startswith("downstream.aggregators.1.") for key in model)


def test_stage2_features_come_from_the_averaged_stage1_upstream(assets, downstream_runs):
    """The feature cache of experiments 3-8 is keyed by the averaged upstream's weights."""
    for kind in ("wav2vec2", "hubert"):
        encoder = SSLEncoder(
            str(assets[kind]), save_path=str(assets["root"] / "hf_cache"), output_all_hiddens=False
        )
        stage1 = fold_folder(assets, f"morais_ft_{kind}") / "save" / "averaged_upstream.ckpt"
        encoder.load_state_dict(torch.load(stage1))
        cache = FeatureCache(
            assets["root"] / "feature_cache", f"{module_fingerprint(encoder)}:last_hidden_state"
        )
        manifests = fold_folder(assets, f"morais_{kind}_mean") / "manifests"
        utterances = sum(
            len(json.loads((manifests / f"{s}.json").read_text()))
            for s in ("train", "valid", "test")
        )
        assert len(list(cache.folder.glob("*/*.pt"))) == utterances > 0
        # The stage-2 folder records the weights it started from (a retrained stage 1 is noticed).
        record = json.loads(
            (fold_folder(assets, f"morais_{kind}_mean") / "experiment.json").read_text()
        )
        assert record["inputs"]["pretrained_upstream"] == module_fingerprint(encoder)


def test_early_and_late_fusion_use_both_upstreams(assets, downstream_runs):
    for name in ("morais_early_fusion_ecapa", "morais_late_fusion_ecapa"):
        results = json.loads((fold_folder(assets, name) / "test_results.json").read_text())
        assert set(results["pretrained_upstreams"]) == {"hubert", "wav2vec2"}
    early = torch.load(
        fold_folder(assets, "morais_early_fusion_ecapa") / "save" / "averaged_model.ckpt"
    )
    first_conv = [
        v
        for k, v in early.items()
        if k.startswith("downstream.aggregator.ecapa.blocks.0.conv") and k.endswith("weight")
    ]
    assert first_conv[0].shape[1] == 64  # 32 + 32 channels, concatenated


# --------------------------------------------------------------------------------------------
# Hparams files and helpers
# --------------------------------------------------------------------------------------------
def test_every_morais_hparams_file_loads_and_is_in_the_readme(assets):
    readme = (RECIPE / "README.md").read_text()
    files = sorted((RECIPE / "hparams").glob("morais_*.yaml"))
    experiments = [*STAGE2, EXPERIMENTS[1], EXPERIMENTS[2]]
    assert {path.stem for path in files} == {hparams_path(name).stem for name in experiments}
    for path in files:
        assert f"hparams/{path.name}" in readme, f"{path.name} is not in recipes/IEMOCAP/README.md"
    for name in experiments:
        with open(hparams_path(name)) as handle:
            hparams = load_hyperpyyaml(handle, overrides_for(name, assets))
        assert set(hparams["upstreams"]) <= set(hparams["modules"])
        assert {"downstream", "classifier"} <= set(hparams["modules"])
        for key in ("checkpointer", "model", "emotions", "experiment_folder"):
            assert key in hparams
        assert f"morais_{hparams['experiment_name']}" == name  # the results folder's name
    for number, name in EXPERIMENTS.items():  # the README's command of each row
        row = re.search(rf"^\| {number} \|.*$", readme, flags=re.M)
        file, overrides = ROWS.get(name, (name, {}))
        command = " ".join([f"hparams/{file}.yaml", *(f"--{k}={v}" for k, v in overrides.items())])
        assert row and f"{command} $OPTS`" in row.group(0), f"experiment {number}: {command}"


def test_missing_stage1_upstream_is_a_clear_error(tmp_path):
    recipe = recipe_module("IEMOCAP", "train_upstream_downstream")
    hparams = {"pretrained_upstreams": {"upstream": str(tmp_path / "missing.ckpt")}}
    with pytest.raises(FileNotFoundError, match="stage 1"):
        recipe.load_pretrained_upstreams(hparams, {"upstream": torch.nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="not an upstream"):
        recipe.load_pretrained_upstreams(
            {"pretrained_upstreams": {"other": "x"}}, {"upstream": None}
        )
    options = {"train_dataloader_opts": {"batch_size": 4, "drop_last": True}, "number_of_epochs": 3}
    assert recipe.optimizer_steps(options, 26, 1) == 18
    assert recipe.optimizer_steps(options, 26, 4) == 3
    # Under DDP each process steps on its shard: 13 of 26 (drop_last), 13 of 25 (padded).
    assert recipe.optimizer_steps(options, 26, 1, world_size=2) == 3 * 3
    assert (
        recipe.optimizer_steps(
            {**options, "train_dataloader_opts": {"batch_size": 4}}, 25, 1, world_size=2
        )
        == 3 * 4
    )
