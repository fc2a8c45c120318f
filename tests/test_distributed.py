"""The recipes under DDP: ``torchrun --nproc_per_node=2`` (gloo backend, CPU) on generated
corpora with tiny random upstreams. Checks that both processes extract their shard of the
feature cache, that each process trains on its own shard of the training data, and that the
main process alone writes the logs and results."""

import csv
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import TINY_TCGRU, logged_epochs, recipe_env

ROOT = Path(__file__).resolve().parents[1]
WORLD_SIZE = 2
EXTRACTED = re.compile(r"files extracted per process \(rank order\): \[(\d+), (\d+)\]")


def torchrun(script, args, cwd):
    """``python -m torch.distributed.run --standalone --nproc_per_node=2 script args``."""
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={WORLD_SIZE}",
    ]
    result = subprocess.run(
        [
            *launcher,
            str(script),
            *args,
            "--distributed_backend=gloo",
            "--device=cpu",
            "--noprogressbar",
        ],
        cwd=cwd,
        env=recipe_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def extracted_per_process(folder):
    """The per-process counts of the feature cache, from the experiment's log."""
    match = EXTRACTED.search((folder / "log.txt").read_text())
    assert match, "no per-process feature cache count in log.txt"
    return [int(count) for count in match.groups()]


def seen_ids(folder, rank):
    """``{epoch: [ids]}`` of the training batches of a process (``record_seen_ids``)."""
    seen = defaultdict(list)
    for line in (folder / f"seen_ids_rank{rank}.txt").read_text().splitlines():
        epoch, uid = line.split()
        seen[int(epoch)].append(uid)
    return seen


def test_iemocap_recipe_under_torchrun(tmp_path, iemocap_corpus, tiny_wavlm):
    corpus, ssl = iemocap_corpus, tiny_wavlm
    recipe = ROOT / "recipes" / "IEMOCAP"
    torchrun(
        recipe / "train.py",
        [
            str(recipe / "hparams" / "wavlm_corr_att.yaml"),
            f"--data_folder={corpus}",
            f"--ssl_hub={ssl}",
            f"--experiment_folder={tmp_path / 'results'}",
            f"--ssl_folder={tmp_path / 'hf_cache'}",
            f"--feature_cache_folder={tmp_path / 'feature_cache'}",
            "--test_session=4",
            "--number_of_epochs=2",
            "--batch_size=4",
            "--projector_dim=16",
            "--record_seen_ids=True",
        ],
        tmp_path,
    )
    fold = tmp_path / "results" / "session4"
    manifests = {
        split: json.loads((fold / "manifests" / f"{split}.json").read_text())
        for split in ("train", "valid", "test")
    }

    # Both processes extracted a share of the cache, every file once.
    counts = extracted_per_process(fold)
    assert min(counts) > 0 and sum(counts) == sum(len(m) for m in manifests.values())

    # Each process trained on its shard: together the whole training set, each utterance
    # once, except the few DistributedSampler repeats to give every process as many.
    train = set(manifests["train"])
    per_process = math.ceil(len(train) / WORLD_SIZE)
    padding = per_process * WORLD_SIZE - len(train)
    shards = [seen_ids(fold, rank) for rank in range(WORLD_SIZE)]
    assert sorted(shards[0]) == sorted(shards[1]) == [1, 2]
    for epoch in (1, 2):
        first, second = shards[0][epoch], shards[1][epoch]
        assert len(first) == len(second) == per_process
        assert set(first) | set(second) == train
        assert len(first) + len(second) - len(set(first) | set(second)) == padding
    assert shards[0][1] != shards[0][2]  # reshuffled at every epoch

    # The main process alone logged and wrote the results.
    assert logged_epochs(fold) == [1, 2]
    assert (fold / "train_log.txt").read_text().count("Epoch loaded") == 1
    assert [entry["epoch"] for entry in json.loads((fold / "history.json").read_text())] == [1, 2]
    results = json.loads((fold / "test_results.json").read_text())
    assert results["num_samples"] == len(manifests["test"])
    with open(fold / "predictions.csv") as handle:
        assert sorted(row["id"] for row in csv.DictReader(handle)) == sorted(manifests["test"])
    assert len(list((fold / "save").glob("CKPT+*"))) == 1


def test_msp_podcast_recipe_under_torchrun(tmp_path, msp_corpus, tiny_hubert):
    corpus, ssl = msp_corpus, tiny_hubert
    recipe = ROOT / "recipes" / "MSP-Podcast"
    output = tmp_path / "results"
    result = torchrun(
        recipe / "train.py",
        [
            str(recipe / "hparams" / "hubert_tcgru.yaml"),
            f"--data_folder={corpus}",
            f"--ssl_hub={ssl}",
            "--ssl_layer=2",
            f"--output_folder={output}",
            f"--ssl_folder={tmp_path / 'hf_cache'}",
            f"--feature_cache_folder={tmp_path / 'feature_cache'}",
            f"--noisy_folder={tmp_path / 'noisy_sets'}",
            "--number_of_epochs=2",
            *TINY_TCGRU,
        ],
        tmp_path,
    )
    assert min(extracted_per_process(output)) > 0
    assert logged_epochs(output) == [1, 2]
    assert (output / "save" / "feature_selection.json").exists()
    table = (output / "results.md").read_text()
    assert result.stdout.count("| test1 |") == 1  # the table is printed once, by the main process
    for split in ("test1", "test2", "test1_snr0-10"):
        assert f"| {split} |" in table
        assert json.loads((output / f"test_{split}_results.json").read_text())["num_samples"] > 0
