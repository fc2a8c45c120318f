"""End-to-end runs of the IEMOCAP recipe (train.py, cross_validate.py) on a generated corpus
with a tiny random WavLM: every pooling configuration, the uncached path, an interrupted and
resumed run, --test_only, the folder's identity and what "done" means (issue #13), --debug,
the 5-fold driver, and the hparams files."""

import csv
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from hyperpyyaml import load_hyperpyyaml

from ser_modules.utils.yaml_values import load_yaml_nodes
from tests.conftest import (
    logged_epochs,
    recipe_env,
    recipe_module,
    run_concurrently,
    run_recipe,
)

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "IEMOCAP"
HPARAMS = RECIPE / "hparams" / "wavlm_corr_att.yaml"
# Epochs of the interrupted run: killed at its first checkpoint, it must still be training.
RESUME_EPOCHS = 16


@pytest.fixture(scope="module")
def assets(tmp_path_factory, iemocap_corpus, tiny_wavlm):
    return {
        "root": tmp_path_factory.mktemp("iemocap_recipe"),
        "corpus": iemocap_corpus,
        "ssl": tiny_wavlm,
    }


def recipe_args(assets, experiment, *extra, epochs=2, cache="feature_cache"):
    root = assets["root"]
    return [
        str(HPARAMS),
        f"--data_folder={assets['corpus']}",
        f"--ssl_hub={assets['ssl']}",
        f"--experiment_folder={root / 'results' / experiment}",
        f"--ssl_folder={root / 'hf_cache'}",
        f"--feature_cache_folder={root / cache}",
        f"--number_of_epochs={epochs}",
        "--batch_size=8",
        "--projector_dim=16",
        "--noprogressbar",
        *extra,
    ]


def run_script(script, args, cwd, fails=False):
    """Runs a script of the recipe; it must succeed (or, with ``fails``, exit with an error)."""
    return run_recipe("IEMOCAP", args, cwd, script=script, fails=fails)


def check_fold_outputs(fold_folder):
    results = json.loads((fold_folder / "test_results.json").read_text())
    manifest = json.loads((fold_folder / "manifests" / "test.json").read_text())
    assert results["num_samples"] == len(manifest) > 0
    for key in ("WA", "UA", "F1"):
        assert 0.0 <= results[key] <= 100.0
    assert sum(map(sum, results["confusion_matrix"])) == len(manifest)
    assert abs(sum(results["layer_weights"]) - 1.0) < 1e-5
    with open(fold_folder / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["id"] for row in rows} == set(manifest)
    assert {row["target"] for row in rows} <= {"neu", "hap", "ang", "sad"}
    accuracy = 100.0 * sum(row["target"] == row["prediction"] for row in rows) / len(rows)
    assert abs(accuracy - results["WA"]) < 1e-6
    for png in ("confusion_matrix.png", "training_curves.png", "layer_weights.png"):
        assert (fold_folder / png).stat().st_size > 0
    assert (fold_folder / "save" / "label_encoder.txt").exists()
    return results


POOLING_CONFIGS = {
    "mean": ["--pooling=mean"],
    "mean_std": ["--pooling=mean_std"],
    "corr_pd0.25": ["--pooling=corr", "--channel_dropout=0.25"],
    "corr_att": ["--pooling=corr_att"],
    "corr_att_per_head_soft": [
        "--pooling=corr_att",
        "--per_head_attention=True",
        "--soft_labels=True",
    ],
    "mean_uncached": ["--pooling=mean", "--use_feature_cache=False"],
}


@pytest.fixture(scope="module")
def pooling_folds(assets, trained_experiments):
    """Fold 2 of every pooling configuration: ``{name: (command, fold folder)}``. corr_att is
    the session fixture's fold (the same command, uncached: the cached corr_att path is the
    cross-validation's); the others are trained here two at a time (a process per core), the
    first cached run alone filling the feature cache that the later ones read."""
    folds = {"corr_att": (None, trained_experiments["categorical"])}

    def train(name):
        args = recipe_args(assets, name, "--test_session=2", *POOLING_CONFIGS[name])
        run_script("train.py", args, assets["root"])
        folds[name] = (args, assets["root"] / "results" / name / "session2")

    first, *others = [name for name in POOLING_CONFIGS if name not in folds]
    uncached = [name for name in others if "--use_feature_cache=False" in POOLING_CONFIGS[name]]
    cached = [name for name in others if name not in uncached]
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [pool.submit(train, name) for name in (first, *uncached)]
        started[0].result()  # the feature cache is filled
        started += [pool.submit(train, name) for name in cached]
        for future in started:
            future.result()
    return folds


@pytest.mark.parametrize("name", POOLING_CONFIGS)
def test_every_pooling_trains_and_evaluates(pooling_folds, name):
    _, fold = pooling_folds[name]
    check_fold_outputs(fold)
    assert logged_epochs(fold) == [1, 2]


def test_interrupted_run_resumes(assets):
    args = recipe_args(assets, "resume", "--test_session=1", "--pooling=mean", epochs=RESUME_EPOCHS)
    fold = assets["root"] / "results" / "resume" / "session1"
    process = subprocess.Popen(
        [sys.executable, str(RECIPE / "train.py"), *args], cwd=assets["root"], env=recipe_env()
    )
    deadline = time.time() + 300
    while not list((fold / "save").glob("CKPT+*")) and time.time() < deadline:
        assert process.poll() is None, "the run ended before it was interrupted"
        time.sleep(0.2)
    process.kill()
    process.wait()
    interrupted_at = max(logged_epochs(fold))
    assert interrupted_at < RESUME_EPOCHS
    run_script("train.py", args, assets["root"])
    epochs = logged_epochs(fold)
    # No epoch is trained twice (except the one killed before its checkpoint) and all are done.
    assert epochs[-1] == RESUME_EPOCHS
    assert sorted(set(epochs)) == list(range(1, RESUME_EPOCHS + 1))
    assert len(epochs) <= RESUME_EPOCHS + 1
    check_fold_outputs(fold)


@pytest.fixture(scope="module")
def finished_fold(pooling_folds):
    """A trained and evaluated fold (mean_std pooling, session 2): its command and folder."""
    return pooling_folds["mean_std"]


def test_test_only_reevaluates_the_best_checkpoint(assets, finished_fold):
    args, fold = finished_fold
    first = json.loads((fold / "test_results.json").read_text())
    (fold / "test_results.json").unlink()
    command = (fold / "command.txt").read_text()
    run_script("train.py", [*args, "--test_only"], assets["root"])
    assert (fold / "command.txt").read_text() == command  # the command that trained the model
    again = json.loads((fold / "test_results.json").read_text())
    assert again["confusion_matrix"] == first["confusion_matrix"]
    assert again["UA"] == pytest.approx(first["UA"])


def test_a_finished_fold_refuses_other_hyperparameters(assets, finished_fold):
    """Issue #13 row 5: re-running a finished fold with --lr=0.05 --label_smoothing=0 used to
    re-evaluate the old checkpoint and rewrite hyperparams.yaml and command.txt to say lr 0.05."""
    args, fold = finished_fold
    files = (
        "hyperparams.yaml",
        "command.txt",
        "experiment.json",
        "test_results.json",
        "train_log.txt",
    )
    before = {name: (fold / name).read_bytes() for name in files}
    result = run_script(
        "train.py", [*args, "--lr=0.05", "--label_smoothing=0"], assets["root"], fails=True
    )
    assert "lr: 0.0001 -> 0.05" in result.stderr and "label_smoothing: 0.1 -> 0" in result.stderr
    assert "--overwrite_experiment=True" in result.stderr
    assert {name: (fold / name).read_bytes() for name in files} == before
    record = json.loads((fold / "experiment.json").read_text())
    assert record["training"] == {"completed": True, "end": "epoch limit", "epochs": 2}
    assert record["evaluation"]["finished"] is True


@pytest.mark.parametrize("option", ["--number_of_epochs=0", "--test_only"])
def test_an_untrained_model_is_never_evaluated(assets, option):
    """Issue #13 row 4: --number_of_epochs=0 and --test_only in a fresh folder used to
    evaluate a random model and write test_results.json."""
    epochs = 0 if option == "--number_of_epochs=0" else 2
    args = recipe_args(
        assets, "untrained", "--test_session=1", *([option] if epochs else []), epochs=epochs
    )
    result = run_script("train.py", args, assets["root"], fails=True)
    assert (
        "a run trains at least one epoch" if epochs == 0 else "--test_only: no checkpoint in"
    ) in result.stderr
    assert not (assets["root"] / "results" / "untrained").exists()


@pytest.fixture(scope="module")
def debug_fold(assets):
    """``train.py --debug`` on fold 3 of the cross-validation experiment, with its own cache."""
    args = [
        *recipe_args(assets, "cv", "--pooling=corr_att", cache="debug_cache"),
        "--test_session=3",
        "--debug",
    ]
    run_script("train.py", args, assets["root"])
    return assets["root"] / "results" / "cv" / "session3_debug"


def test_a_debug_run_never_looks_finished_and_caches_only_what_it_reads(assets, debug_fold):
    """Issue #13 row 4 (a --debug run left a folder with test_results.json that
    cross_validate.py took as done) and issue #15 item 3 (it cached the whole corpus)."""
    assert not (debug_fold.parent / "session3").exists()
    record = json.loads((debug_fold / "experiment.json").read_text())
    assert record["debug"] is True and record["evaluation"]["finished"] is False
    read = {
        split: json.loads((debug_fold / "debug_manifests" / f"{split}.json").read_text())
        for split in ("train", "valid", "test")
    }
    corpus = {
        uid
        for split in read
        for uid in json.loads((debug_fold / "manifests" / f"{split}.json").read_text())
    }
    cached = list((assets["root"] / "debug_cache").rglob("*.pt"))
    assert len(read["train"]) == 2 * 8  # debug_batches x batch_size
    assert len(cached) == sum(map(len, read.values())) < len(corpus)


@pytest.mark.parametrize(
    "option, hint",
    [
        ("--output_folder={root}/cv_out", "--experiment_folder=..."),
        ("--save_folder={root}/ckpt", "--experiment_folder=..."),
        ("--manifest_folder={root}/manifests", "--experiment_folder=..."),
        ("--test_session=2", "use --folds=N"),
    ],
)
def test_cross_validation_refuses_options_that_mix_folds(assets, option, hint):
    """Issue #13 rows 1-2: with --output_folder, fold 2 was "already done" with fold 1's results;
    with --save_folder, fold 2 resumed from fold 1's checkpoint, trained on its test data."""
    option = option.format(root=assets["root"])
    args = [*recipe_args(assets, "cv_mixed", "--pooling=mean"), "--folds=1,2", option]
    result = run_script("cross_validate.py", args, assets["root"], fails=True)
    assert f"{option.split('=')[0]}:" in result.stderr and hint in result.stderr
    assert not (assets["root"] / "results" / "cv_mixed").exists()
    assert not any(
        path.exists()
        for path in (assets["root"] / name for name in ("cv_out", "ckpt", "manifests"))
    )


def test_cross_validation_runs_five_folds_and_resumes(assets, debug_fold):
    args = recipe_args(assets, "cv", "--pooling=corr_att")
    result = run_script("cross_validate.py", args, assets["root"])
    # The --debug run of fold 3 (debug_fold) is no result: fold 3 is trained.
    assert "already done" not in result.stderr
    folder = assets["root"] / "results" / "cv"
    for session in range(1, 6):
        check_fold_outputs(folder / f"session{session}")
    with open(folder / "results.csv") as handle:
        rows = list(csv.reader(handle))
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5", "mean", "std"]
    uas = [float(row[3]) for row in rows[1:6]]
    assert float(rows[6][3]) == pytest.approx(sum(uas) / 5, abs=0.01)
    markdown = (folder / "results.md").read_text()
    assert "UA mean (std)" in markdown and "corr_att" in markdown
    assert "UA mean (std)" in result.stdout
    assert (folder / "confusion_matrix.png").stat().st_size > 0
    # A second call finds every fold done and trains nothing; other hyperparameters on the
    # same folders (at the same time): no fold is "done", and train.py refuses them.
    mtime = (folder / "session3" / "test_results.json").stat().st_mtime_ns
    again, other = run_concurrently(
        partial(run_script, "cross_validate.py", [*args, "--folds=3"], assets["root"]),
        partial(
            run_script,
            "cross_validate.py",
            [*args, "--folds=3", "--lr=0.05"],
            assets["root"],
            fails=True,
        ),
    )
    assert "already done" in again.stderr
    assert (folder / "session3" / "test_results.json").stat().st_mtime_ns == mtime
    assert "already done" not in other.stderr and "lr: 0.0001 -> 0.05" in other.stderr
    assert "Fold 3: train.py failed" in other.stderr
    assert (folder / "session3" / "test_results.json").stat().st_mtime_ns == mtime


def test_every_hparams_file_is_in_the_readme():
    readme = (ROOT / "README.md").read_text() + (RECIPE / "README.md").read_text()
    files = sorted((RECIPE / "hparams").glob("*.yaml"))
    assert files
    for path in files:
        assert f"hparams/{path.name}" in readme, f"{path.name} is not documented in a README"


def test_frozen_ssl_hparams_load_with_every_pooling(assets):
    for pooling in ("mean", "mean_std", "corr", "corr_att"):
        overrides = {
            "data_folder": str(assets["corpus"]),
            "ssl_hub": str(assets["ssl"]),
            "ssl_folder": str(assets["root"] / "hf_cache"),
            "experiment_folder": str(assets["root"] / "results" / "yaml_check"),
            "pooling": pooling,
        }
        with open(HPARAMS) as handle:
            hparams = load_hyperpyyaml(handle, overrides)
        assert hparams["classifier"].in_features == hparams["pooling_layer"].output_size
        assert hparams["layer_sum"].num_layers == 3


VOCABULARY = (
    "results_folder",
    "experiment_group",
    "experiment_name",
    "experiment_folder",
    "output_folder",
    "save_folder",
    "manifest_folder",
    "train_log",
    "lr",
    "max_grad_norm",
    "max_duration",
    "long_utterance",
    "number_of_epochs",
    "batch_size",
    "grad_accumulation_factor",
    "precision",
    "num_workers",
    "emotions",
    "model",
    "modules",
)


@pytest.mark.parametrize(
    "path", sorted((RECIPE / "hparams").glob("*.yaml")), ids=lambda path: path.stem
)
def test_hparams_files_speak_one_vocabulary(path):
    """The keys every IEMOCAP hparams file has, everything written under results_folder, and
    model = a ModuleDict of trained modules named as in modules (same order)."""
    text = path.read_text()
    document = load_yaml_nodes(path)
    assert [key for key in VOCABULARY if key not in document] == []
    assert "model_lr" not in document
    assert document["results_folder"] == "results"
    assert (
        document["experiment_folder"].value
        == "<results_folder>/<experiment_group>/<experiment_name>/seed<seed>"
    )
    for key in ("ssl_folder", "bert_folder", "feature_cache_folder"):
        if key in document:
            assert str(document[key].value).startswith("<results_folder>/"), key
    model = re.search(
        r"^model: !new:torch.nn.ModuleDict\n    modules:\n((?:        \w+: !ref <\w+>\n)+)",
        text,
        re.M,
    )
    names = re.findall(r"^        (\w+): !ref <(\w+)>", model.group(1), flags=re.M)
    assert all(name == target for name, target in names)
    modules = [name for name in document["modules"]]
    assert [name for name, _ in names] == [name for name in modules if name in dict(names)]


def test_results_path_names_a_local_upstream_by_its_folder(assets):
    """--ssl_hub=/abs/path/model puts 'model' (not the path) in the results path, also for the
    cross-validation driver, which resolves the paths without building the models."""
    cross_validate = recipe_module("IEMOCAP", "cross_validate")
    root = assets["root"] / "vocabulary"
    args = [
        f"--data_folder={assets['corpus']}",
        f"--ssl_hub={assets['ssl']}",
        f"--results_folder={root}",
    ]
    resolved = cross_validate.resolved_hparams(str(HPARAMS), args, session=4)
    expected = root / Path(assets["ssl"]).name / "corr_att_pd0.25" / "seed1986"
    assert Path(str(resolved["output_folder"])) == expected / "session4"
    assert str(resolved["feature_cache_folder"]) == f"{root}/feature_cache"
    overrides = {
        "data_folder": str(assets["corpus"]),
        "ssl_hub": str(assets["ssl"]),
        "results_folder": str(root),
        "ssl_folder": str(assets["root"] / "hf_cache"),
    }
    with open(HPARAMS) as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    assert Path(hparams["experiment_folder"]) == expected
    assert list(hparams["model"]) == ["layer_sum", "projector", "pooling_layer", "classifier"]
    trained = [
        p
        for name, module in hparams["modules"].items()
        if name != "ssl"
        for p in module.parameters()
    ]
    assert [id(p) for p in hparams["model"].parameters()] == [id(p) for p in trained]


def test_recipe_log_has_no_matplotlib_or_torchvision_lines(trained_experiments):
    """log.txt of a trained fold (SpeechBrain logs at DEBUG there) holds the run, not
    matplotlib's font search nor SpeechBrain's torchvision warning."""
    lines = (trained_experiments["categorical"] / "log.txt").read_text().splitlines()
    assert any(
        " - speechbrain.utils.train_logger - " in line and "test WA" in line for line in lines
    )
    noise = [
        line for line in lines if re.search(r" - matplotlib[\w.]* - |findfont|torchvision", line)
    ]
    assert noise == []
