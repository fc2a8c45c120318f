"""The exported interfaces loaded with plain speechbrain (foreign_class, HF_HUB_OFFLINE=1, the
ser_modules package made unimportable) give the recipes' own test predictions (train.py,
train_upstream_downstream.py and the MSP-Podcast recipe); batching, padding, resampling,
downmixing and determinism of the interfaces; sliding windows."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from ser_modules.inference.interfaces import window_bounds
from tests.conftest import run_concurrently

LOAD_AND_PREDICT = textwrap.dedent("""
    import json, os, sys
    sys.modules["ser_modules"] = None  # the export must not need this project's package
    from speechbrain.inference.interfaces import foreign_class
    source, classname, savedir, manifest = sys.argv[1:5]
    model = foreign_class(source=source, pymodule_file="custom_interface.py", classname=classname,
                          savedir=savedir, overrides={"pretrained_path": source})
    entries = json.load(open(manifest))
    ids = sorted(entries)
    results = model.predict_files([entries[uid]["wav"] for uid in ids], batch_size=4)
    print("RESULTS" + json.dumps(dict(zip(ids, results))))
""")


def predict_offline(export_folder, classname, savedir, manifest):
    """Predictions of the export on a manifest's files, in a process without ser_modules."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_AND_PREDICT,
            str(export_folder),
            classname,
            str(savedir),
            str(manifest),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=savedir.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS"))
    return json.loads(line[len("RESULTS") :])


def read_rows(path):
    with open(path, newline="") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def offline_predictions(
    trained_experiments, exported_models, morais_experiments, morais_exports, tmp_path_factory
):
    """``{name: predictions}`` of every export on its fold's test manifest, each made by
    :func:`predict_offline` (a fresh process without ser_modules), two at a time."""
    root = tmp_path_factory.mktemp("offline")
    test = Path("manifests") / "test.json"
    jobs = {
        "categorical": (exported_models, "EmotionClassifier", trained_experiments, test),
        "dimensional": (
            exported_models,
            "DimensionalEmotionRegressor",
            trained_experiments,
            Path("manifests") / "test1.json",
        ),
        **{
            name: (morais_exports, "EmotionClassifier", morais_experiments, test)
            for name in ("ft_hubert", "hubert_ecapa", "fbank_ecapa")
        },
    }
    calls = []
    for name, (exports, classname, experiments, manifest) in jobs.items():
        (root / name).mkdir()
        calls.append(
            partial(
                predict_offline,
                exports[name],
                classname,
                root / name / "savedir",
                experiments[name] / manifest,
            )
        )
    return dict(zip(jobs, run_concurrently(*calls)))


def assert_classifier_matches_recipe(results, fold, tolerance):
    """The export's predictions (loaded offline in a fresh process) are the recipe's test
    labels and probabilities (predictions.csv, p_<label> columns) within ``tolerance``."""
    recipe = read_rows(fold / "predictions.csv")
    assert set(results) == set(recipe) and len(results) > 0
    for uid, result in results.items():
        assert result["label"] == recipe[uid]["prediction"]
        for label, probability in result["probabilities"].items():
            assert probability == pytest.approx(float(recipe[uid][f"p_{label}"]), abs=tolerance)


def test_categorical_round_trip_matches_the_recipe_evaluation(
    trained_experiments, offline_predictions
):
    assert_classifier_matches_recipe(
        offline_predictions["categorical"], trained_experiments["categorical"], 1e-5
    )


def test_dimensional_round_trip_matches_the_recipe_evaluation(
    trained_experiments, offline_predictions
):
    folder = trained_experiments["dimensional"]
    results = offline_predictions["dimensional"]
    recipe = read_rows(folder / "predictions_test1.csv")
    assert set(results) == set(recipe) and len(results) > 0
    for uid, result in results.items():
        assert set(result) == {"arousal", "valence", "dominance"}
        for dimension, value in result.items():
            # The recipe reads float16 cached features; the interface computes them in float32.
            assert value == pytest.approx(float(recipe[uid][f"pred_{dimension}"]), abs=2e-3)


@pytest.fixture(scope="module")
def classifier(exported_models, tmp_path_factory):
    from ser_modules.tools.predict import load_model

    return load_model(
        str(exported_models["categorical"]), savedir=tmp_path_factory.mktemp("savedir")
    )


@pytest.fixture(scope="module")
def test_wavs(trained_experiments):
    entries = json.loads(
        (trained_experiments["categorical"] / "manifests" / "test.json").read_text()
    )
    return [entries[uid]["wav"] for uid in sorted(entries)][:4]


def test_padding_in_a_batch_does_not_change_predictions(classifier, test_wavs):
    signals = [classifier.load_audio(path) for path in test_wavs]
    assert len({len(s) for s in signals}) > 1, "the test needs utterances of different lengths"
    alone = torch.cat([classifier.classify_batch(s.unsqueeze(0))[0] for s in signals])
    padded = torch.zeros(len(signals), max(len(s) for s in signals))
    for row, signal in enumerate(signals):
        padded[row, : len(signal)] = signal
    lengths = torch.tensor([len(s) / padded.shape[1] for s in signals])
    batched, score, index, labels = classifier.classify_batch(padded, lengths)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)
    assert torch.allclose(batched.sum(dim=1), torch.ones(len(signals)))
    assert labels == classifier.hparams.label_encoder.decode_torch(index)
    assert torch.equal(score, batched.max(dim=1).values)


def test_predictions_are_deterministic(classifier, test_wavs):
    first = classifier.classify_file(test_wavs[0])[0]
    again = classifier.classify_file(test_wavs[0])[0]
    assert torch.equal(first, again)


def test_files_at_another_rate_and_stereo_are_resampled_and_downmixed(
    classifier, test_wavs, tmp_path
):
    signal, rate = soundfile.read(test_wavs[0], dtype="float32")
    assert rate == 16000
    upsampled = torchaudio.functional.resample(torch.from_numpy(signal), 16000, 44100).numpy()
    stereo = tmp_path / "stereo_44k.wav"
    soundfile.write(stereo, np.stack([upsampled, upsampled], axis=1), 44100, subtype="FLOAT")
    loaded = classifier.load_audio(str(stereo))
    assert loaded.dim() == 1 and abs(len(loaded) - len(signal)) <= 1
    assert (
        torch.corrcoef(
            torch.stack([loaded[: len(signal) - 1], torch.from_numpy(signal)[: len(signal) - 1]])
        )[0, 1]
        > 0.99
    )
    probabilities = classifier.classify_file(str(stereo))[0]
    reference = classifier.classify_file(test_wavs[0])[0]
    # Resampling twice (16 -> 44.1 -> 16 kHz) is not lossless: close, not equal.
    torch.testing.assert_close(probabilities, reference, atol=1e-2, rtol=0)


def test_timeline_windows_cover_the_signal(classifier, test_wavs):
    signal = classifier.load_audio(test_wavs[0])
    rows = classifier.predict_timeline(signal, window=1.0, hop=0.5, batch_size=3)
    bounds = window_bounds(len(signal), 16000, 8000)
    assert [(round(r["start"] * 16000), round(r["end"] * 16000)) for r in rows] == bounds
    assert rows[-1]["end"] == pytest.approx(len(signal) / 16000)
    second = rows[1]
    begin, end = bounds[1]
    expected = classifier.predict_batch(signal[begin:end].unsqueeze(0))[0]
    assert second["label"] == expected["label"]
    assert second["score"] == pytest.approx(expected["score"], abs=1e-5)


def test_window_bounds_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="positive"):
        window_bounds(100, 0, 10)


def test_utterances_shorter_than_the_receptive_field_are_zero_padded(classifier, test_wavs):
    signal = classifier.load_audio(test_wavs[0])[:160]  # 0.01 s
    padded = torch.nn.functional.pad(signal, (0, 240))
    short = classifier.classify_batch(signal.unsqueeze(0))[0]
    torch.testing.assert_close(short, classifier.classify_batch(padded.unsqueeze(0))[0])
    batch = torch.stack([padded, classifier.load_audio(test_wavs[1])[:400]])
    in_batch = classifier.classify_batch(batch, torch.tensor([160 / 400, 1.0]))[0]
    torch.testing.assert_close(in_batch[:1], short, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Upstream + downstream (Morais et al.) exports
# --------------------------------------------------------------------------------------------
def test_morais_stage1_round_trip_matches_the_recipe_evaluation(
    morais_experiments, offline_predictions
):
    """Fine-tuned HuBERT (best checkpoint) -> mean pooling -> classifier, run by EmotionClassifier
    through its upstream name: the recipe's own test probabilities."""
    assert_classifier_matches_recipe(
        offline_predictions["ft_hubert"], morais_experiments["ft_hubert"], 1e-4
    )


@pytest.mark.parametrize("name", ["hubert_ecapa", "fbank_ecapa"])
def test_morais_stage2_exports_load_and_predict(morais_experiments, offline_predictions, name):
    """ECAPA on stage 1's averaged upstream, and filterbanks + ECAPA (averaged checkpoints).
    Close to the recipe, not equal: the recipe read float16 cached frames (HuBERT), and ECAPA's
    convolutions see the padding of a batch."""
    folder = morais_experiments[name]
    results = offline_predictions[name]
    recipe = read_rows(folder / "predictions.csv")
    assert set(results) == set(recipe) and len(results) > 0
    for uid, result in results.items():
        assert set(result["probabilities"]) == {"neu", "hap", "ang", "sad"}
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        for label, probability in result["probabilities"].items():
            assert probability == pytest.approx(float(recipe[uid][f"p_{label}"]), abs=1e-2)


def test_an_export_without_a_module_it_needs_is_a_clear_error(morais_exports, tmp_path):
    import shutil

    from ser_modules.tools.predict import load_model

    broken = shutil.copytree(morais_exports["fbank_ecapa"], tmp_path / "broken")
    text = (broken / "hyperparams.yaml").read_text()
    (broken / "hyperparams.yaml").write_text(
        text.replace("upstreams: [upstream]", "upstreams: [fbank]")
    )
    with pytest.raises(ValueError, match="EmotionClassifier: hyperparams.yaml has no module fbank"):
        load_model(str(broken), savedir=tmp_path / "savedir")


# --------------------------------------------------------------------------------------------
# Embeddings of the dimensional interface
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def regressor(exported_models, tmp_path_factory):
    from ser_modules.tools.predict import load_model

    return load_model(
        str(exported_models["dimensional"]), savedir=tmp_path_factory.mktemp("savedir")
    )


def test_dimensional_embeddings_are_what_the_head_regresses_from(regressor, test_wavs):
    """``encode_batch`` gives the TC-GRU's utterance embedding: one per utterance whatever the
    padding, and the whole head (``head(frames, lengths)``) maps the same frames to the same
    ratings as the output layer applied to the embedding."""
    signals = [regressor.load_audio(path) for path in test_wavs]
    padded = torch.zeros(len(signals), max(len(s) for s in signals))
    for row, signal in enumerate(signals):
        padded[row, : len(signal)] = signal
    lengths = torch.tensor([len(s) / padded.shape[1] for s in signals])
    embeddings = regressor.encode_batch(padded, lengths)
    assert embeddings.shape == (len(signals), regressor.mods.head.embedding.out_features)
    alone = torch.cat([regressor.encode_batch(s.unsqueeze(0)) for s in signals])
    torch.testing.assert_close(embeddings, alone, atol=1e-5, rtol=1e-4)
    wavs, wav_lens = regressor.prepare_batch(padded, lengths)
    with torch.no_grad():
        hiddens, frame_lens = regressor.hidden_states(wavs, wav_lens)
        frames = regressor.mods.selection(
            regressor.mods.standardizer(hiddens[regressor.hparams.ssl_layer])
        )
        whole_head = regressor.mods.head(frames, frame_lens)
    whole_head = whole_head[0] if isinstance(whole_head, tuple) else whole_head
    expected = whole_head * regressor.hparams.label_scale + regressor.hparams.label_offset
    torch.testing.assert_close(regressor.regress_batch(padded, lengths), expected)
    values = regressor.predict_embeddings(embeddings)
    torch.testing.assert_close(
        torch.tensor([[v[d] for d in regressor.hparams.dimensions] for v in values]), expected
    )
