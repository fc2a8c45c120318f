"""The ser-predict command: files, folders and manifests, JSON lines and CSV, batching, a 60 s
recording on sliding windows with its timeline plot, and clear errors for bad inputs."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from ser_modules.tools.predict import PredictionInputError, collect_inputs, main, parse_overrides


@pytest.fixture(scope="module")
def session_folder(trained_experiments):
    folders = sorted((trained_experiments["iemocap_corpus"] / "Session1" / "sentences" / "wav").iterdir())
    return next(folder for folder in folders if not folder.name.startswith("."))


@pytest.fixture(scope="module")
def long_recording(session_folder, tmp_path_factory):
    """60 s made of the folder's utterances, repeated."""
    paths = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))
    pieces = [soundfile.read(path, dtype="float32")[0] for path in paths]
    signal = np.tile(np.concatenate(pieces), 60 * 16000 // sum(map(len, pieces)) + 1)[: 60 * 16000]
    path = tmp_path_factory.mktemp("long") / "long.wav"
    soundfile.write(path, signal, 16000)
    return path


def test_folder_to_csv_and_jsonl(exported_models, session_folder, tmp_path):
    wavs = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))  # macOS metadata
    main([str(session_folder), "--model", str(exported_models["categorical"]), "--batch-size", "3",
          "--output", str(tmp_path / "out.csv"), "--no-progress"])
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [p.stem for p in wavs]
    for row in rows:
        probabilities = [float(row[f"p_{label}"]) for label in ("neu", "hap", "ang", "sad")]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == ("neu", "hap", "ang", "sad")[int(np.argmax(probabilities))]
        assert float(row["duration"]) == pytest.approx(soundfile.info(row["file"]).duration, abs=1e-3)
    main([str(session_folder), "--model", str(exported_models["categorical"]), "--batch-size", "1",
          "--output", str(tmp_path / "out.jsonl"), "--no-progress"])
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in records] == [row["label"] for row in rows]  # batch size does not matter
    for record, row in zip(records, rows):
        assert record["probabilities"]["hap"] == pytest.approx(float(row["p_hap"]), abs=1e-5)


def test_manifest_with_the_dimensional_model(trained_experiments, exported_models, tmp_path):
    manifest = trained_experiments["dimensional"] / "manifests" / "test1.json"
    main([str(manifest), "--model", str(exported_models["dimensional"]), "--output", str(tmp_path / "o.jsonl"),
          "--no-progress"])
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(json.loads(manifest.read_text()))
    assert all({"arousal", "valence", "dominance"} <= set(r) for r in records)


def test_sliding_windows_on_a_60_second_recording(exported_models, long_recording, tmp_path):
    main([str(long_recording), "--model", str(exported_models["categorical"]), "--window", "4", "--hop", "2",
          "--output", str(tmp_path / "timeline.csv"), "--plot", str(tmp_path / "timeline.png"), "--no-progress"])
    with open(tmp_path / "timeline.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    starts = [float(row["start"]) for row in rows]
    assert starts == pytest.approx([2.0 * i for i in range(29)])
    assert float(rows[-1]["end"]) == pytest.approx(60.0)
    assert all(float(row["end"]) - float(row["start"]) == pytest.approx(4.0) for row in rows)
    assert (tmp_path / "timeline.png").stat().st_size > 10000


def test_the_console_script_is_installed(exported_models, long_recording):
    script = Path(sys.executable).parent / "ser-predict"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--window" in result.stdout


def test_bad_inputs_are_named(exported_models, tmp_path):
    with pytest.raises(PredictionInputError, match="nothing.wav does not exist"):
        collect_inputs([tmp_path / "nothing.wav"])
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(PredictionInputError, match="empty_folder holds no audio file"):
        collect_inputs([tmp_path / "empty_folder"])
    (tmp_path / "bad.json").write_text(json.dumps({"u1": {"path": "x.wav"}}))
    with pytest.raises(PredictionInputError, match="bad.json: every entry of a manifest needs a 'wav' field"):
        collect_inputs([tmp_path / "bad.json"])
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wav")
    with pytest.raises(SystemExit, match="corrupt.wav .*cannot be read as audio"):
        main([str(tmp_path / "corrupt.wav"), "--model", str(exported_models["categorical"]), "--no-progress"])
    with pytest.raises(PredictionInputError, match="expected key=value"):
        parse_overrides(["ssl_hub"])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "corrupt.wav"), "--model", "x", "--plot", "t.png"])  # --plot needs --window
    with pytest.raises(SystemExit):
        main([str(tmp_path / "corrupt.wav"), "--model", "x", "--window", "0"])


def test_manifest_with_a_morais_model_after_the_others(exported_models, morais_exports, morais_experiments, tmp_path):
    """One process loads exports of three kinds in turn (each custom_interface.py holds only its
    model's code): each runs its own."""
    manifest = morais_experiments["fbank_ecapa"] / "manifests" / "test.json"
    outputs = {}
    for name, model in (("categorical", exported_models["categorical"]), ("dimensional", exported_models["dimensional"]),
                        ("fbank", morais_exports["fbank_ecapa"]), ("again", exported_models["categorical"])):
        main([str(manifest), "--model", str(model), "--output", str(tmp_path / f"{name}.jsonl"), "--no-progress"])
        outputs[name] = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert [r["id"] for r in outputs["fbank"]] == list(json.loads(manifest.read_text()))
    assert all(set(r["probabilities"]) == {"neu", "hap", "ang", "sad"} for r in outputs["fbank"])
    assert all({"arousal", "valence", "dominance"} <= set(r) for r in outputs["dimensional"])
    assert outputs["again"] == outputs["categorical"]
