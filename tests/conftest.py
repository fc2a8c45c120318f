"""Shared test helpers and fixtures.

Helpers (plain functions, imported by the test modules with ``from tests.conftest import ...``:
pytest registers this file as ``tests.conftest`` under ``--import-mode=importlib``, so the
import finds this very module): :func:`recipe_env`, :func:`run_recipe`, :func:`logged_epochs`,
:func:`read_csv`, :func:`recipe_module` (a recipe's script imported as a module),
:func:`run_concurrently` (recipe runs two at a time), :func:`generate_msp_releases` and the
override lists ``TINY_TCGRU`` and ``TINY_ECAPA``.

Session fixtures, made once and shared read-only: the generated corpora (``iemocap_corpus``,
``msp_corpus``) and tiny random upstreams (``tiny_wavlm``, ``tiny_hubert``); tiny trained
IEMOCAP (train.py and train_upstream_downstream.py) and MSP-Podcast experiments and their
exports (used by the recipe, interface, publish and prediction CLI tests)."""

import csv
import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def recipe_env(*pythonpath, **variables):
    """The environment of a recipe subprocess: this checkout first on PYTHONPATH (then
    ``pythonpath``), one OpenMP thread, the Hugging Face hub offline; ``variables`` added."""
    path = os.pathsep.join(str(folder) for folder in (ROOT, *pythonpath))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **variables,
    }


def run_recipe(recipe, args, cwd, script="train.py", fails=False):
    """Runs ``recipes/<recipe>/<script> args`` (args: the hparams file, then the overrides) in a
    subprocess; it must succeed (with ``fails``: exit with an error); returns the completed
    process (``stdout``, ``stderr`` as text)."""
    result = subprocess.run(
        [sys.executable, str(RECIPES / recipe / script), *map(str, args)],
        cwd=cwd,
        env=recipe_env(),
        capture_output=True,
        text=True,
    )
    assert (result.returncode != 0) == fails, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_concurrently(*jobs):
    """Calls ``jobs`` (functions of no argument) two at a time, in threads: the recipe runs
    they start are processes of one thread each (``OMP_NUM_THREADS=1``), so two of them keep
    both cores of a small machine busy. Returns their results in order, or raises the first
    job's error once every job has ended."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]


def logged_epochs(folder):
    """The epochs of ``folder/train_log.txt``, in the order they were logged."""
    text = (Path(folder) / "train_log.txt").read_text()
    return [int(epoch) for epoch in re.findall(r"^epoch: (\d+)", text, flags=re.M)]


def read_csv(path):
    """The rows of a CSV file with a header, as dicts."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# Script names found in both recipes (train.py) are imported as <recipe>_<name>.
_SHARED_NAMES = {path.stem for path in (RECIPES / "IEMOCAP").glob("*.py")} & {
    path.stem for path in (RECIPES / "MSP-Podcast").glob("*.py")
}


def recipe_module(recipe, name):
    """``recipes/<recipe>/<name>.py`` as a module, imported once per session. A name that
    is one recipe's only (``iemocap_prepare``, ``make_noisy_sets``, ...) is imported under that
    name, as the recipe's own scripts import it; one found in both recipes (``train``) as
    ``<recipe>_<name>`` (``iemocap_train``, ``msp_podcast_train``). The recipe's folder is put
    on ``sys.path`` for the imports between its scripts."""
    folder = RECIPES / recipe
    module_name = name
    if name in _SHARED_NAMES:
        module_name = f"{recipe.lower().replace('-', '_')}_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(module_name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


# --------------------------------------------------------------------------------------------
def generate_msp_releases(tmp_path_factory, sizes):
    """``{release: root}`` of small generated MSP-Podcast releases (seed 0), one per item of
    ``sizes`` (``{release: number of segments}``), each in a new temporary folder."""
    from ser_modules.testing.synthetic import generate_msp_podcast

    return {
        release: Path(
            generate_msp_podcast(
                tmp_path_factory.mktemp(f"msp{release}"),
                release=release,
                seed=0,
                size=size,
                progress=False,
            )
        )
        for release, size in sizes.items()
    }


# Overrides of hubert_tcgru.yaml for a tiny TC-GRU head (the MSP-Podcast recipe tests).
TINY_TCGRU = [
    "--conv_channels=8",
    "--gru_size=8",
    "--embedding_size=8",
    "--conv_stride=4",
    "--batch_size=16",
]


# Generated corpora and tiny upstreams: made once, read by every test that needs them
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="session")
def iemocap_corpus(shared_folder):
    """A generated IEMOCAP (6 utterances per speaker, seed 0); read-only."""
    from ser_modules.testing.synthetic import generate_iemocap

    return Path(generate_iemocap(shared_folder / "iemocap", per_speaker=6, progress=False))


@pytest.fixture(scope="session")
def msp_corpus(shared_folder):
    """A generated MSP-Podcast 1.11 (64 segments, seed 0); read-only."""
    from ser_modules.testing.synthetic import generate_msp_podcast

    return Path(
        generate_msp_podcast(shared_folder / "msp", release="1.11", size=64, progress=False)
    )


@pytest.fixture(scope="session")
def tiny_wavlm(shared_folder):
    """A tiny random WavLM (``save_random_ssl_model``); read-only."""
    from ser_modules.testing.tiny_ssl import save_random_ssl_model

    return Path(save_random_ssl_model("wavlm", shared_folder / "tiny_wavlm"))


@pytest.fixture(scope="session")
def tiny_hubert(shared_folder):
    """A tiny random HuBERT (``save_random_ssl_model``); read-only."""
    from ser_modules.testing.tiny_ssl import save_random_ssl_model

    return Path(save_random_ssl_model("hubert", shared_folder / "tiny_hubert"))


@pytest.fixture(scope="session")
def trained_experiments(tmp_path_factory, iemocap_corpus, msp_corpus, tiny_wavlm, tiny_hubert):
    """A fold of the IEMOCAP recipe (uncached, so the recipe's own test predictions come from
    the waveforms as in the interface) and an MSP-Podcast experiment, with tiny random upstreams;
    both trained at once."""
    root = tmp_path_factory.mktemp("trained")
    iemocap = partial(
        run_recipe,
        "IEMOCAP",
        [
            RECIPES / "IEMOCAP" / "hparams" / "wavlm_corr_att.yaml",
            f"--data_folder={iemocap_corpus}",
            f"--ssl_hub={tiny_wavlm}",
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
    msp = partial(
        run_recipe,
        "MSP-Podcast",
        [
            RECIPES / "MSP-Podcast" / "hparams" / "hubert_tcgru.yaml",
            f"--data_folder={msp_corpus}",
            f"--ssl_hub={tiny_hubert}",
            "--ssl_layer=2",
            f"--output_folder={root / 'msp_exp'}",
            f"--ssl_folder={root / 'hf'}",
            f"--feature_cache_folder={root / 'cache'}",
            "--number_of_epochs=2",
            *TINY_TCGRU,
            "--noisy_test_splits=[]",
            "--noprogressbar",
        ],
        root,
    )
    run_concurrently(iemocap, msp)
    return {
        "root": root,
        "iemocap_corpus": iemocap_corpus,
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
def morais_experiments(tmp_path_factory, iemocap_corpus, tiny_hubert):
    """Fold 1 of three experiments of train_upstream_downstream.py (Morais et al.) with a tiny
    random HuBERT: stage 1 (morais_ft_hubert.yaml: fine-tuned upstream + mean pooling, reported
    model = best checkpoint) and two stage-2 runs reporting the average of the 2 best
    checkpoints, ECAPA on stage 1's frozen averaged upstream (morais_hubert_downstream.yaml
    --pooling=ecapa, cached features) and filterbanks + ECAPA (morais_fbank_ecapa.yaml); the last
    one trained beside stage 1."""
    root = tmp_path_factory.mktemp("morais")
    common = [
        f"--data_folder={iemocap_corpus}",
        f"--results_folder={root / 'results'}",
        "--number_of_epochs=2",
        "--keep_checkpoints=2",
        "--batch_size=4",
        "--lr=0.01",
        "--noprogressbar",
    ]
    ssl = [f"--ssl_hub={tiny_hubert}", f"--ssl_folder={root / 'hf'}", "--upstream_lr=0.001"]
    runs = {
        "ft_hubert": ("morais_ft_hubert.yaml", ssl),
        "hubert_ecapa": (
            "morais_hubert_downstream.yaml",
            [*ssl, "--pooling=ecapa", *TINY_ECAPA, f"--feature_cache_folder={root / 'cache'}"],
        ),
        "fbank_ecapa": ("morais_fbank_ecapa.yaml", TINY_ECAPA),
    }
    jobs = {
        name: partial(
            run_recipe,
            "IEMOCAP",
            [RECIPES / "IEMOCAP" / "hparams" / hparams, *common, *extra],
            root,
            script="train_upstream_downstream.py",
        )
        for name, (hparams, extra) in runs.items()
    }
    run_concurrently(jobs["ft_hubert"], jobs["fbank_ecapa"])
    jobs["hubert_ecapa"]()  # stage 2 loads stage 1's averaged upstream
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
