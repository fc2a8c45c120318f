"""Shared fixtures: tiny trained IEMOCAP and MSP-Podcast experiments and their exports
(used by the interface, publish and prediction CLI tests; trained once per session)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_recipe(recipe, hparams, args, cwd):
    """Runs a recipe's train.py in a subprocess; fails with its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    script = ROOT / "recipes" / recipe / "train.py"
    result = subprocess.run(
        [sys.executable, str(script), str(ROOT / "recipes" / recipe / "hparams" / hparams), *args],
        cwd=cwd, env=env, capture_output=True, text=True,
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
    run_recipe("IEMOCAP", "wavlm_corr_att.yaml", [
        f"--data_folder={iemocap}", f"--ssl_hub={wavlm}", f"--experiment_folder={root / 'iemocap_exp'}",
        f"--ssl_folder={root / 'hf'}", "--number_of_epochs=2", "--batch_size=8", "--projector_dim=16",
        "--test_session=2", "--use_feature_cache=False", "--noprogressbar",
    ], root)
    msp = generate_msp_podcast(root / "msp", release="1.11", size=64, progress=False)
    hubert = save_random_ssl_model("hubert", root / "tiny_hubert")
    run_recipe("MSP-Podcast", "hubert_tcgru.yaml", [
        f"--data_folder={msp}", f"--ssl_hub={hubert}", "--ssl_layer=2", f"--output_folder={root / 'msp_exp'}",
        f"--ssl_folder={root / 'hf'}", f"--feature_cache_folder={root / 'cache'}", "--number_of_epochs=2",
        "--conv_channels=8", "--gru_size=8", "--embedding_size=8", "--conv_stride=4", "--batch_size=16",
        "--noisy_test_splits=[]", "--noprogressbar",
    ], root)
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
