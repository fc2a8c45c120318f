"""End-to-end runs of recipes/MSP-Podcast/train.py on generated MSP-Podcast corpora (both
release layouts) with a tiny random HuBERT: every saliency method (CCS, MIS, PCA, none) and
every loss mode (none, aux, kl_gauss, sample), the noisy + reverberant test sets, resuming,
--test_only with the saved selection, the folder's identity, and the hparams files; the multimodal
model (hparams/mitra_multimodal.yaml) with a tiny random HubertForCTC and a tiny BERT."""

import csv
import json
import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from ser_modules.data.text import normalize_text
from ser_modules.nn.bert_encoder import BertEncoder
from ser_modules.nn.ctc_asr import CTCTranscriber
from ser_modules.nn.multimodal import MultimodalTCGRU
from ser_modules.nn.tc_gru import TCGRU, count_parameters
from ser_modules.testing.synthetic import generate_msp_podcast
from ser_modules.testing.tiny_bert import save_random_bert_model
from ser_modules.testing.tiny_ssl import build_tiny_hubert_ctc
from ser_modules.training.feature_cache import module_fingerprint
from ser_modules.training.text_embeddings import TextEmbeddingCache
from ser_modules.training.transcription import TranscriptCache, transcriber_fingerprint
from tests import conftest
from tests.conftest import TINY_TCGRU, logged_epochs, run_concurrently

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "MSP-Podcast"
HPARAMS = RECIPE / "hparams" / "hubert_tcgru.yaml"
NOISY = ("test1_snr20-30", "test1_snr10-20", "test1_snr0-10")


@pytest.fixture(scope="module")
def assets(tmp_path_factory, msp_corpus, tiny_hubert):
    root = tmp_path_factory.mktemp("msp_recipe")
    return {
        "root": root,
        "1.11": msp_corpus,
        "1.6": generate_msp_podcast(root / "v1.6", release="1.6", size=56, progress=False),
        "ssl": tiny_hubert,
    }


def recipe_args(assets, experiment, release="1.11", *extra):
    root = assets["root"]
    return [
        str(HPARAMS),
        f"--data_folder={assets[release]}",
        f"--ssl_hub={assets['ssl']}",
        "--ssl_layer=2",
        f"--output_folder={root / 'results' / experiment}",
        f"--ssl_folder={root / 'hf_cache'}",
        f"--feature_cache_folder={root / 'feature_cache'}",
        f"--noisy_folder={root / 'noisy_sets'}",
        "--number_of_epochs=2",
        "--noprogressbar",
        *TINY_TCGRU,
        *extra,
    ]


def with_epochs(args, epochs):
    return [arg for arg in args if not arg.startswith("--number_of_epochs=")] + [
        f"--number_of_epochs={epochs}"
    ]


# run_recipe(args, cwd, fails=False): recipes/MSP-Podcast/train.py in a subprocess.
run_recipe = partial(conftest.run_recipe, "MSP-Podcast")


def split_results(folder, split):
    return json.loads((folder / f"test_{split}_results.json").read_text())


def manifest_of(folder, split, assets):
    if split.startswith("test1_snr"):
        return json.loads((assets["root"] / "noisy_sets" / f"{split}.json").read_text())
    return json.loads((folder / "manifests" / f"{split}.json").read_text())


def check_outputs(folder, assets, splits, method, mode, keep):
    """Checks every output file of a finished run and returns the results per split."""
    results = {}
    for split in splits:
        manifest = manifest_of(folder, split, assets)
        r = split_results(folder, split)
        assert r["num_samples"] == len(manifest) > 0
        values = [r[f"ccc_{d}"] for d in ("arousal", "valence", "dominance")]
        assert all(-1.0 <= v <= 1.0 for v in values)
        assert r["ccc_mean"] == pytest.approx(sum(values) / 3)
        for dim, counts in r["mse_per_bin"]["count"].items():
            assert sum(counts) == len(manifest)
            assert all(m is None or m >= 0 for m in r["mse_per_bin"]["mse"][dim])
        assert ("spread_ccc" in r) == (mode in ("aux", "kl_gauss"))
        with open(folder / f"predictions_{split}.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert {row["id"] for row in rows} == set(manifest)
        for row in rows:
            target = manifest[row["id"]]
            assert float(row["target_valence"]) == pytest.approx(target["valence"])
        assert (folder / f"mse_per_bin_{split}.png").stat().st_size > 0
        results[split] = r
    table = (folder / "results.md").read_text()
    rows = re.findall(r"^\| (test\S*) \| (w/o|w \(\w+\)) \| (\w+) \|", table, flags=re.M)
    assert [row[0] for row in rows] == list(splits)
    assert {row[1] for row in rows} == {"w/o" if mode == "none" else f"w ({mode})"}
    assert {row[2] for row in rows} == {method.upper()}
    for png in ("training_curves.png",):
        assert (folder / png).stat().st_size > 0
    # The fitted selection, saved once: method, kept dimensions, reused by the checkpointed model.
    save = folder / "save"
    assert sorted(path.name for path in save.iterdir() if not path.name.startswith("CKPT+")) == [
        "feature_selection.json"
    ]
    info = json.loads((save / "feature_selection.json").read_text())
    assert info["method"] == method and info["input_size"] == 32
    assert info["output_size"] == (32 if method == "none" else round(keep * 32))
    size = json.loads((folder / "model_size.json").read_text())
    head = TCGRU(
        info["output_size"],
        conv_channels=8,
        conv_stride=4,
        gru_size=8,
        embedding_size=8,
        predict_spread=mode in ("aux", "kl_gauss"),
    )
    assert size["head_parameters"] == count_parameters(head)
    assert (size["relative_size_reduction_percent"] > 0) == (info["output_size"] < 32)
    checkpoint = next(save.glob("CKPT+*"))
    state = torch.load(checkpoint / "model.ckpt", map_location="cpu", weights_only=True)
    buffers = {"ccs": ["indices"], "mis": ["indices"], "pca": ["mean", "components"], "none": []}[
        method
    ]
    assert {key.split(".")[0] for key in state} == {
        "standardizer",
        "head",
        *(["selection"] if buffers else []),
    }
    for name in buffers:  # the selection is in the checkpoint, as fitted
        assert torch.equal(
            state[f"selection.{name}"],
            torch.tensor(info[name], dtype=state[f"selection.{name}"].dtype),
        )
    assert torch.equal(
        state["standardizer.mean"], torch.tensor(info["frame_mean"], dtype=torch.float32)
    )
    return results


def training_commands(assets, models):
    """The command of every training run of this module's tests."""
    root = assets["root"]
    debug = [
        *recipe_args(assets, "debug", "1.11", "--noisy_test_splits=[]"),
        "--debug",
        "--debug_batches=1",
        f"--feature_cache_folder={root / 'debug_cache'}",
    ]
    return {
        # CCS + kl_gauss on v1.11, with the noisy + reverberant test sets.
        "ccs_kl": recipe_args(
            assets,
            "ccs_kl",
            "1.11",
            "--saliency=ccs",
            "--keep_fraction=0.8",
            "--loss_mode=kl_gauss",
        ),
        # One MIS process (the scores do not depend on it: tests/test_saliency.py).
        "mis_aux_v16": recipe_args(
            assets,
            "mis_aux_v16",
            "1.6",
            "--saliency=mis",
            "--keep_fraction=0.6",
            "--loss_mode=aux",
            "--noisy_test_splits=[]",
            "--mis_n_jobs=1",
        ),
        "pca_sample": recipe_args(
            assets,
            "pca_sample",
            "1.11",
            "--saliency=pca",
            "--keep_fraction=0.4",
            "--loss_mode=sample",
            "--noisy_test_splits=[]",
            "--readout=last",
        ),
        "none_none": recipe_args(
            assets,
            "none_none",
            "1.11",
            "--saliency=none",
            "--keep_fraction=1.0",
            "--loss_mode=none",
        ),
        "debug": [
            arg for arg in debug if arg != f"--feature_cache_folder={root / 'feature_cache'}"
        ],
        "multimodal": multimodal_args(
            assets,
            models,
            "multimodal",
            "1.11",
            "--saliency=ccs",
            "--keep_fraction=0.6",
            "--loss_mode=aux",
        ),
    }


@pytest.fixture(scope="module")
def runs(assets, multimodal_assets):
    """Every training run of this module's tests, two at a time (a process per core):
    ``{"commands": {name: args}, "results": {name: completed process}, "noisy": (a noisy wav,
    its mtime)}``. ccs_kl (which fills the feature cache of v1.11 and writes the noisy sets)
    beside mis_aux_v16 (v1.6), then the others, which read that cache and those sets; the noisy
    wav's mtime is taken before none_none reuses them."""
    commands = training_commands(assets, multimodal_assets)
    results = {}

    def train(name):
        results[name] = run_recipe(commands[name], assets["root"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        started = [pool.submit(train, name) for name in ("ccs_kl", "mis_aux_v16")]
        started[0].result()
        noisy_wav = next((assets["root"] / "noisy_sets" / "test1_snr0-10").glob("*.wav"))
        noisy = (noisy_wav, noisy_wav.stat().st_mtime_ns)
        started += [
            pool.submit(train, name) for name in ("none_none", "pca_sample", "multimodal", "debug")
        ]
        for future in started:
            future.result()
    return {"commands": commands, "results": results, "noisy": noisy}


@pytest.fixture(scope="module")
def ccs_run(assets, runs):
    """CCS + kl_gauss on v1.11, with the noisy + reverberant test sets."""
    args = runs["commands"]["ccs_kl"]
    return args, assets["root"] / "results" / "ccs_kl", runs["results"]["ccs_kl"]


def test_ccs_kl_gauss_with_noisy_sets(assets, ccs_run):
    args, folder, result = ccs_run
    splits = ("test1", "test2", *NOISY)
    check_outputs(folder, assets, splits, "ccs", "kl_gauss", 0.8)
    assert logged_epochs(folder) == [1, 2]
    assert "| test1_snr0-10 |" in result.stdout  # the table is printed
    assert re.search(
        r"Downstream model: \d+ parameters \([\d.]+ MB fp32\)", result.stderr + result.stdout
    )
    clean = manifest_of(folder, "test1", assets)
    for name in NOISY:
        low, high = map(float, name.split("snr")[1].split("-"))
        noisy = manifest_of(folder, name, assets)
        assert set(noisy) == set(clean)
        assert all(low <= e["snr"] <= high and e["noise"] and e["rir"] for e in noisy.values())


def test_resume_then_test_only_reuse_the_selection(assets, ccs_run):
    args, folder, _ = ccs_run
    selection_file = folder / "save" / "feature_selection.json"
    fitted = selection_file.stat().st_mtime_ns
    # The same command again: resumes from the checkpoint, finds the training complete (no
    # epoch trained), keeps the selection.
    run_recipe(args, assets["root"])
    assert logged_epochs(folder) == [1, 2]
    assert selection_file.stat().st_mtime_ns == fitted
    first = {split: split_results(folder, split) for split in ("test1", "test2", *NOISY)}
    for split in first:
        (folder / f"test_{split}_results.json").unlink()
    run_recipe([*args, "--test_only"], assets["root"])
    assert selection_file.stat().st_mtime_ns == fitted
    assert logged_epochs(folder) == [1, 2]
    for split, before in first.items():
        again = split_results(folder, split)
        for key in (
            "ccc_arousal",
            "ccc_valence",
            "ccc_dominance",
            "ccc_mean",
            "num_samples",
            "epoch",
        ):
            assert again[key] == before[key], (split, key)


def test_a_finished_run_refuses_other_hyperparameters(assets, ccs_run):
    """Issue #13 rows 4-5 for MSP-Podcast: the run is recorded finished (early stop or epoch
    limit, then every test split evaluated); another command on its folder (more epochs,
    another lr) is refused without touching it; --test_only needs a checkpoint."""
    args, folder, _ = ccs_run
    record = json.loads((folder / "experiment.json").read_text())
    assert record["training"]["completed"] is True and record["evaluation"]["finished"] is True
    assert "results.md" in record["evaluation"]["results"]
    before = {
        name: (folder / name).read_bytes()
        for name in ("hyperparams.yaml", "command.txt", "results.md")
    }
    fresh = [*recipe_args(assets, "never_trained", "1.11", "--noisy_test_splits=[]"), "--test_only"]
    *others, untrained = run_concurrently(  # three refused commands, two at a time
        *(
            partial(run_recipe, command, assets["root"], fails=True)
            for command in (with_epochs(args, 3), [*args, "--lr=0.05"], fresh)
        )
    )
    for result in others:
        assert "was made by another command" in result.stderr
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert "--test_only: no checkpoint in" in untrained.stderr
    assert not (assets["root"] / "results" / "never_trained").exists()


def test_a_debug_run_writes_beside_the_experiment_and_reads_a_few_batches(assets, runs):
    folder = assets["root"] / "results" / "debug_debug"
    assert not (assets["root"] / "results" / "debug").exists()
    record = json.loads((folder / "experiment.json").read_text())
    assert record["debug"] is True and record["evaluation"]["finished"] is False
    read = [json.loads(path.read_text()) for path in (folder / "debug_manifests").glob("*.json")]
    assert len(json.loads((folder / "debug_manifests" / "train.json").read_text())) == 16  # 1 batch
    corpus = sum(
        len(json.loads((folder / "manifests" / f"{split}.json").read_text()))
        for split in ("train", "valid", "test1", "test2")
    )
    wavs = {
        entry["wav"] for manifest in read for entry in manifest.values()
    }  # eval1.3 is part of test1
    assert len(list((assets["root"] / "debug_cache").rglob("*.pt"))) == len(wavs) < corpus


def test_mis_aux_on_the_v16_layout(assets, runs):
    folder = assets["root"] / "results" / "mis_aux_v16"
    assert json.loads((folder / "manifests" / "prepare_options.json").read_text())["manifests"] == [
        "eval1.3",
        "test1",
        "train",
        "valid",
    ]
    results = check_outputs(folder, assets, ("test1",), "mis", "aux", 0.6)
    assert all(-1 <= v <= 1 for v in results["test1"]["spread_ccc"].values())
    # Eval1.3 (the release 1.3 test set) is evaluated beside Eval1.6 (test1), in the table too.
    eval13 = manifest_of(folder, "eval1.3", assets)
    assert 0 < len(eval13) < len(manifest_of(folder, "test1", assets))
    assert split_results(folder, "eval1.3")["num_samples"] == len(eval13)
    assert "| eval1.3 |" in (folder / "results.md").read_text()


def test_pca_sample(assets, runs):
    check_outputs(
        assets["root"] / "results" / "pca_sample", assets, ("test1", "test2"), "pca", "sample", 0.4
    )


def test_full_input_ccc_loss_reuses_the_noisy_sets(assets, runs):
    noisy_wav, written = runs["noisy"]  # after ccs_kl wrote them, before none_none
    result = runs["results"]["none_none"]
    folder = assets["root"] / "results" / "none_none"
    check_outputs(folder, assets, ("test1", "test2", *NOISY), "none", "none", 1.0)
    assert noisy_wav.stat().st_mtime_ns == written
    assert "up to date" in result.stderr + result.stdout
    assert "| 100% (32/32) | - |" in (folder / "results.md").read_text()


@pytest.fixture(scope="module")
def multimodal_assets(assets):
    """A tiny random HubertForCTC (HuBERT_A) and a tiny BERT knowing the corpus's words."""
    texts = [path.read_text() for path in (Path(assets["1.11"]) / "Transcripts").glob("*.txt")]
    root = assets["root"]
    return {
        "ctc": build_tiny_hubert_ctc(root / "tiny_ctc"),
        "bert": save_random_bert_model(root / "tiny_bert", texts),
    }


def test_hparams_file_loads_and_is_documented(assets, multimodal_assets):
    readme = (RECIPE / "README.md").read_text()
    files = sorted((RECIPE / "hparams").glob("*.yaml"))
    assert files
    for path in files:
        assert f"hparams/{path.name}" in readme, f"{path.name} is not documented in the README"
        overrides = {
            "data_folder": str(assets["1.11"]),
            "ssl_hub": str(assets["ssl"]),
            "ssl_folder": str(assets["root"] / "hf_cache"),
        }
        if re.search(r"^asr_hub:", path.read_text(), flags=re.M):
            overrides["asr_hub"] = str(multimodal_assets["ctc"])
        with open(path) as handle:
            hparams = load_hyperpyyaml(handle, overrides)
        assert hparams["batch_size"] == 64 and hparams["lr"] == 0.0005
        assert hparams["compute_cost"].ccc_loss.weights.tolist() == pytest.approx([1 / 3] * 3)
        assert "checkpointer" in hparams and "head" in hparams
        # The shared vocabulary: one results root, the trained part declared as a ModuleDict.
        results = hparams["results_folder"]
        for key in (
            "feature_cache_folder",
            "noisy_folder",
            "output_folder",
        ):  # ssl_folder is overridden here
            assert str(hparams[key]).startswith(f"{results}/"), key
        assert (
            hparams["upstream_tag"] == Path(assets["ssl"]).name
            and hparams["experiment_group"] == hparams["upstream_tag"]
        )
        assert hparams["output_folder"] == hparams["experiment_folder"]
        assert hparams["max_grad_norm"] == 5.0 and hparams["grad_accumulation_factor"] == 1
        assert hparams["max_duration"] is None and hparams["long_utterance"] == "crop"
        lexical = ["lexical_standardizer"] if hparams.get("lexical_streams") else []
        assert list(hparams["model"].keys()) == ["standardizer", "selection", *lexical]
        assert hparams["checkpointer"].recoverables["model"] is hparams["model"]
        selection = hparams["model"]["selection"]
        assert selection.input_size == 32 * len(hparams.get("acoustic_streams") or [hparams["ssl"]])
        assert (
            hparams["head"]().input_size
            == selection.output_size
            == round(0.8 * selection.input_size)
        )


def multimodal_args(assets, models, experiment, release, *extra):
    root = assets["root"]
    return [
        str(RECIPE / "hparams" / "mitra_multimodal.yaml"),
        f"--data_folder={assets[release]}",
        f"--ssl_hub={assets['ssl']}",
        f"--asr_hub={models['ctc']}",
        "--ssl_layer=2",
        "--asr_layer=2",
        f"--bert_hub={models['bert']}",
        "--bert_layer=2",
        "--lexical_size=32",
        f"--output_folder={root / 'results' / experiment}",
        f"--ssl_folder={root / 'hf_cache'}",
        f"--bert_folder={root / 'hf_cache'}",
        f"--feature_cache_folder={root / 'feature_cache'}",
        f"--transcript_cache_folder={root / 'transcript_cache'}",
        f"--text_embedding_cache_folder={root / 'text_cache'}",
        "--noisy_test_splits=[]",
        "--number_of_epochs=2",
        "--noprogressbar",
        *TINY_TCGRU,
        *extra,
    ]


def test_multimodal_model(assets, multimodal_assets, runs):
    """HuBERT_L + HuBERT_A frames (CCS over both), BERT of the CTC and the release transcripts
    joined before the embedding layer: trained, evaluated, and every part recorded."""
    folder = assets["root"] / "results" / "multimodal"
    for split in ("test1", "test2"):
        manifest = manifest_of(folder, split, assets)
        assert split_results(folder, split)["num_samples"] == len(manifest)
        with open(folder / f"predictions_{split}.csv") as handle:
            assert {row["id"] for row in csv.DictReader(handle)} == set(manifest)
    table = (folder / "results.md").read_text()
    assert (
        table.startswith("# MSP-Podcast: multimodal")
        and "| test2 | w (aux) | CCS | 59% (38/64) |" in table
    )
    # The selection is over the two acoustic streams; the lexical statistics are those of the
    # BERT embeddings of the normalised CTC and release transcripts of train, in this order.
    info = json.loads((folder / "save" / "feature_selection.json").read_text())
    assert (info["input_size"], info["output_size"]) == (64, 38)
    ctc = TranscriptCache(
        assets["root"] / "transcript_cache",
        transcriber_fingerprint(CTCTranscriber(str(multimodal_assets["ctc"]))),
    )
    bert = BertEncoder(str(multimodal_assets["bert"]), freeze=True)
    texts = TextEmbeddingCache(assets["root"] / "text_cache", module_fingerprint(bert))
    train = json.loads((folder / "manifests" / "train.json").read_text()).values()
    lexical = torch.stack(
        [
            torch.cat(
                [
                    texts.load(normalize_text(ctc.load(e["wav"]))),
                    texts.load(normalize_text(e["transcript"])),
                ]
            )
            for e in train
        ]
    ).double()
    assert torch.allclose(
        torch.tensor(info["lexical_mean"], dtype=torch.float64), lexical.mean(0), atol=1e-6
    )
    assert torch.allclose(
        torch.tensor(info["lexical_std"], dtype=torch.float64),
        lexical.std(0, unbiased=False),
        atol=1e-6,
    )
    assert all(ctc.load(e["wav"]) for e in train)  # every file was transcribed (random letters)
    # The checkpoint holds the whole model; the recorded size is that of the multimodal head.
    state = torch.load(
        next((folder / "save").glob("CKPT+*")) / "model.ckpt", map_location="cpu", weights_only=True
    )
    assert {key.split(".")[0] for key in state} == {
        "standardizer",
        "selection",
        "lexical_standardizer",
        "head",
    }
    assert tuple(state["head.embedding.weight"].shape) == (8, 8 + 2 * 32)
    assert torch.equal(
        state["lexical_standardizer.mean"], torch.tensor(info["lexical_mean"], dtype=torch.float32)
    )
    head = MultimodalTCGRU(
        38,
        [32, 32],
        conv_channels=8,
        conv_stride=4,
        gru_size=8,
        embedding_size=8,
        predict_spread=True,
    )
    size = json.loads((folder / "model_size.json").read_text())
    assert size["head_parameters"] == count_parameters(head)


def test_multimodal_model_needs_the_release_transcripts(assets, multimodal_assets):
    """A release without Transcripts/ (the v1.6 layout) is refused before any feature is
    extracted, naming the manifest and the way out."""
    args = multimodal_args(assets, multimodal_assets, "multimodal_v16", "1.6")
    result = run_recipe(args, assets["root"], fails=True)
    output = result.stdout + result.stderr
    assert "ValueError: " in output, output[-3000:]
    message = re.search(r"ValueError: (.*)", output).group(1)
    assert "multimodal_v16/manifests/" in message and "have no transcript field" in message
    assert "--second_transcripts=<CTC model id or folder>" in message
    assert (
        "feature cache:" not in output and "transcripts:" not in output
    )  # nothing extracted or transcribed
    assert not (
        assets["root"] / "results" / "multimodal_v16" / "save" / "feature_selection.json"
    ).exists()
