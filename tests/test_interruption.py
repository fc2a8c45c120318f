"""Interruption safety of the IEMOCAP recipe: a real ``train.py`` process is SIGKILLed during
the data preparation, the feature caching, an epoch, a checkpoint's writing and the results'
writing (``tests/kill_hooks/sitecustomize.py`` kills it at the chosen point), then the same
command is run again: it must finish with exactly the results of an uninterrupted run.

The runs use correlation pooling with channel dropout (p_d = 0.25) and shuffled batches, so
a resumed run only matches when the random generators' states are restored too."""

import json
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import recipe_env

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "recipes" / "IEMOCAP" / "train.py"
HPARAMS = ROOT / "recipes" / "IEMOCAP" / "hparams" / "wavlm_corr_att.yaml"
KILL_HOOKS = Path(__file__).resolve().parent / "kill_hooks"
EPOCHS = 3  # 26 training utterances, batches of 8: 4 batches per epoch


@pytest.fixture(scope="module")
def assets(tmp_path_factory, iemocap_corpus, tiny_wavlm):
    return {
        "root": tmp_path_factory.mktemp("interruption"),
        "corpus": iemocap_corpus,
        "ssl": tiny_wavlm,
    }


def command(assets, name, cache):
    root = assets["root"]
    return [
        sys.executable,
        str(SCRIPT),
        str(HPARAMS),
        f"--data_folder={assets['corpus']}",
        f"--ssl_hub={assets['ssl']}",
        f"--experiment_folder={root / 'results' / name}",
        f"--ssl_folder={root / 'hf_cache'}",
        f"--feature_cache_folder={root / cache}",
        f"--number_of_epochs={EPOCHS}",
        "--batch_size=8",
        "--projector_dim=16",
        "--pooling=corr",
        "--channel_dropout=0.25",
        "--noprogressbar",
    ]


def run(args, cwd, kill_at=None):
    env = recipe_env(KILL_HOOKS)
    env.pop("SER_KILL_AT", None)
    if kill_at:
        env["SER_KILL_AT"] = kill_at
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def outputs(fold):
    return (
        json.loads((fold / "test_results.json").read_text()),
        (fold / "predictions.csv").read_text(),
    )


def epochs_logged(fold):
    log = fold / "train_log.txt"
    return (
        [int(e) for e in re.findall(r"^epoch: (\d+)", log.read_text(), flags=re.M)]
        if log.exists()
        else []
    )


def killed_state(fold, cache):
    """What a killed run left behind (to check that it was killed where it was meant to)."""
    checkpoints = sorted((fold / "save").glob("CKPT+*"))
    return {
        "options_written": (fold / "manifests" / "prepare_options.json").exists(),
        "manifest_tmp_files": len(list((fold / "manifests").glob(".*.tmp"))),
        "cache_entries": len(list(cache.glob("*/*/*.pt"))),
        "cache_tmp_files": len(list(cache.glob("*/*/.*.tmp"))),
        "epochs_logged": epochs_logged(fold),
        "checkpoints_with_meta": [(folder / "CKPT.yaml").exists() for folder in checkpoints],
        "results_written": (fold / "test_results.json").exists(),
    }


# kill point -> SER_KILL_AT, and what the killed run must have left.
KILL_POINTS = {
    # while valid.json is written (train.json done): no options file, a half-written temp file
    "prepare": (
        "prepare:2",
        {"options_written": False, "manifest_tmp_files": 1, "epochs_logged": []},
    ),
    # in the second batch of files (41 in all): no checkpoint yet
    "cache": (
        "cache:12",
        {"options_written": True, "cache_tmp_files": 1, "checkpoints_with_meta": []},
    ),
    # second batch of epoch 2
    "batch": ("batch:6", {"epochs_logged": [1], "checkpoints_with_meta": [True]}),
    # epoch 2's checkpoint, half-way through its second file: no meta file yet
    "checkpoint": (
        "checkpoint:2",
        {"epochs_logged": [1, 2], "checkpoints_with_meta": [True, False]},
    ),
    # training done, test_results.json half-written
    "results": ("results:1", {"epochs_logged": [1, 2, 3], "results_written": False}),
}


def kill_then_rerun(assets, point):
    """Runs the recipe killed at ``point``, then the same command again."""
    root = assets["root"]
    cache = root / (
        "cache_killed" if point == "cache" else "cache_reference"
    )  # only "cache" extracts
    args = command(assets, f"killed_{point}", cache.name)
    fold = root / "results" / f"killed_{point}" / "session1"
    killed = run(args, root, kill_at=KILL_POINTS[point][0])
    state = killed_state(fold, cache)
    return {"killed": killed, "state": state, "rerun": run(args, root), "fold": fold}


@pytest.fixture(scope="module")
def runs(assets):
    """The uninterrupted reference run and every killed + rerun pair, two at a time (the
    reference fills the feature cache that all but the "cache" scenario reuse)."""
    root = assets["root"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        reference = pool.submit(run, command(assets, "reference", "cache_reference"), root)
        pending = {"cache": pool.submit(kill_then_rerun, assets, "cache")}
        reference = reference.result()
        pending.update(
            {
                point: pool.submit(kill_then_rerun, assets, point)
                for point in KILL_POINTS
                if point != "cache"
            }
        )
        results = {point: future.result() for point, future in pending.items()}
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    return {"reference": outputs(root / "results" / "reference" / "session1"), **results}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_run_resumes_to_the_uninterrupted_results(runs, point):
    killed, rerun, fold = runs[point]["killed"], runs[point]["rerun"], runs[point]["fold"]
    assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:] + killed.stderr[-2000:]
    state = runs[point]["state"]
    expected = KILL_POINTS[point][1]
    assert {key: state[key] for key in expected} == expected
    if point == "cache":
        assert 0 < state["cache_entries"] < 41

    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    results, predictions = outputs(fold)
    assert results == runs["reference"][0]
    assert predictions == runs["reference"][1]
    assert sorted(set(epochs_logged(fold))) == list(range(1, EPOCHS + 1))
    history = json.loads((fold / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    # The incomplete checkpoint of the "checkpoint" scenario was removed by the rerun.
    assert all((folder / "CKPT.yaml").exists() for folder in (fold / "save").glob("CKPT+*"))
