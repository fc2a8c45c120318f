"""Shared fixtures: tiny trained IEMOCAP (train.py and train_upstream_downstream.py) and
MSP-Podcast experiments and their exports (used by the interface, publish and prediction CLI
tests; trained once per session)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_recipe(recipe, hparams, args, cwd, script="train.py"):
    """Runs a recipe's training script in a subprocess; fails with its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    script = ROOT / "recipes" / recipe / script
    result = subprocess.run(
        [sys.executable, str(script), str(ROOT / "recipes" / recipe / "hparams" / hparams), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="session")
def trained_experiments(tmp_path_factory):
    """A fold of the IEMOCAP recipe (uncached, so the recipe's own test predictions come from
    the waveforms as in the interface) and an MSP-Podcast experiment, with tiny random upstreams."""
    from ser_modules.testing.synthetic import generate_iemocap, generate_msp_podcast
    from ser_modules.testing.tiny_ssl import save_random_ssl_model

    root = tmp_path_factory.mktemp("trained")
    iemocap = generate_iemocap(root / "iemocap", per_speaker=6, progress=False)
    wavlm = save_random_ssl_model("wavlm", root / "tiny_wavlm")
    run_recipe(
        "IEMOCAP",
        "wavlm_corr_att.yaml",
        [
            f"--data_folder={iemocap}",
            f"--ssl_hub={wavlm}",
            f"--experiment_folder={root / 'iemocap_exp'}",
            f"--ssl_folder={root / 'hf'}",
            "--number_of_epochs=2",
            "--batch_size=8",
            "--projector_dim=16",
            "--test_session=2",
            "--use_feature_cache=False",
            "--noprogressbar",
        ],
        root,
    )
    msp = generate_msp_podcast(root / "msp", release="1.11", size=64, progress=False)
    hubert = save_random_ssl_model("hubert", root / "tiny_hubert")
    run_recipe(
        "MSP-Podcast",
        "hubert_tcgru.yaml",
        [
            f"--data_folder={msp}",
            f"--ssl_hub={hubert}",
            "--ssl_layer=2",
            f"--output_folder={root / 'msp_exp'}",
            f"--ssl_folder={root / 'hf'}",
            f"--feature_cache_folder={root / 'cache'}",
            "--number_of_epochs=2",
            "--conv_channels=8",
            "--gru_size=8",
            "--embedding_size=8",
            "--conv_stride=4",
            "--batch_size=16",
            "--noisy_test_splits=[]",
            "--noprogressbar",
        ],
        root,
    )
    return {
        "root": root,
        "iemocap_corpus": Path(iemocap),
        "categorical": root / "iemocap_exp" / "session2",
        "dimensional": root / "msp_exp",
    }


@pytest.fixture(scope="session")
def exported_models(trained_experiments):
    """Export folders of both experiments (``ser_modules.tools.publish.export``)."""
    from ser_modules.tools.publish import export

    root = trained_experiments["root"]
    return {
        kind: export(trained_experiments[kind], root / f"export_{kind}", repo_id=f"someone/{kind}")
        for kind in ("categorical", "dimensional")
    }


# Overrides of the Morais yamls for tiny models (as tests/test_upstream_downstream_recipe.py).
TINY_ECAPA = [
    "--ecapa_channels=[16, 16, 16, 16, 48]",
    "--ecapa_attention_channels=8",
    "--ecapa_lin_neurons=16",
    "--ecapa_res2net_scale=2",
    "--ecapa_se_channels=8",
]


@pytest.fixture(scope="session")
def morais_experiments(tmp_path_factory):
    """Fold 1 of three experiments of train_upstream_downstream.py (Morais et al.) with a tiny
    random HuBERT: stage 1 (morais_ft_hubert.yaml: fine-tuned upstream + mean pooling, reported
    model = best checkpoint) and two stage-2 runs reporting the average of the 2 best
    checkpoints, ECAPA on stage 1's frozen averaged upstream (morais_hubert_downstream.yaml
    --pooling=ecapa, cached features) and filterbanks + ECAPA (morais_fbank_ecapa.yaml)."""
    from ser_modules.testing.synthetic import generate_iemocap
    from ser_modules.testing.tiny_ssl import save_random_ssl_model

    root = tmp_path_factory.mktemp("morais")
    corpus = generate_iemocap(root / "iemocap", per_speaker=6, progress=False)
    hubert = save_random_ssl_model("hubert", root / "tiny_hubert")
    common = [
        f"--data_folder={corpus}",
        f"--results_folder={root / 'results'}",
        "--number_of_epochs=2",
        "--keep_checkpoints=2",
        "--batch_size=4",
        "--lr=0.01",
        "--noprogressbar",
    ]
    ssl = [f"--ssl_hub={hubert}", f"--ssl_folder={root / 'hf'}", "--upstream_lr=0.001"]
    runs = {
        "ft_hubert": ("morais_ft_hubert.yaml", ssl),
        "hubert_ecapa": (
            "morais_hubert_downstream.yaml",
            [*ssl, "--pooling=ecapa", *TINY_ECAPA, f"--feature_cache_folder={root / 'cache'}"],
        ),
        "fbank_ecapa": ("morais_fbank_ecapa.yaml", TINY_ECAPA),
    }
    for hparams, extra in runs.values():  # stage 1 first: stage 2 loads its averaged upstream
        run_recipe(
            "IEMOCAP", hparams, [*common, *extra], root, script="train_upstream_downstream.py"
        )
    return {name: root / "results" / "morais" / name / "seed1986" / "session1" for name in runs}


@pytest.fixture(scope="session")
def morais_exports(morais_experiments):
    """Export folders of the Morais experiments."""
    from ser_modules.tools.publish import export

    return {
        name: export(folder, folder.parents[4] / f"export_{name}", repo_id=f"someone/{name}")
        for name, folder in morais_experiments.items()
    }


# Frozen export folders (tests/fixtures/export_v0) are data read by test_publish_compat.py, not
# modules to collect: their bundled doctests refer to the package layout of their time.
collect_ignore_glob = ["fixtures/*"]
