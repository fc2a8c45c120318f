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
from tests.conftest import read_csv


def run_predict(inputs, model, output, *options):
    """``ser-predict inputs --model model [options] --output output --no-progress``."""
    main([str(inputs), "--model", str(model), *options, "--output", str(output), "--no-progress"])


@pytest.fixture(scope="module")
def session_folder(trained_experiments):
    folders = sorted(
        (trained_experiments["iemocap_corpus"] / "Session1" / "sentences" / "wav").iterdir()
    )
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
    wavs = sorted(
        p for p in session_folder.glob("*.wav") if not p.name.startswith("._")
    )  # macOS metadata
    run_predict(
        session_folder, exported_models["categorical"], tmp_path / "out.csv", "--batch-size", "3"
    )
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [p.stem for p in wavs]
    for row in rows:
        probabilities = [float(row[f"p_{label}"]) for label in ("neu", "hap", "ang", "sad")]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == ("neu", "hap", "ang", "sad")[int(np.argmax(probabilities))]
        assert float(row["duration"]) == pytest.approx(
            soundfile.info(row["file"]).duration, abs=1e-3
        )
    run_predict(
        session_folder, exported_models["categorical"], tmp_path / "out.jsonl", "--batch-size", "1"
    )
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in records] == [
        row["label"] for row in rows
    ]  # batch size does not matter
    for record, row in zip(records, rows):
        assert record["probabilities"]["hap"] == pytest.approx(float(row["p_hap"]), abs=1e-5)


def test_manifest_with_the_dimensional_model(trained_experiments, exported_models, tmp_path):
    manifest = trained_experiments["dimensional"] / "manifests" / "test1.json"
    run_predict(manifest, exported_models["dimensional"], tmp_path / "o.jsonl")
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(json.loads(manifest.read_text()))
    assert all({"arousal", "valence", "dominance"} <= set(r) for r in records)


def test_sliding_windows_on_a_60_second_recording(exported_models, long_recording, tmp_path):
    run_predict(
        long_recording,
        exported_models["categorical"],
        tmp_path / "timeline.csv",
        "--window",
        "4",
        "--hop",
        "2",
        "--plot",
        str(tmp_path / "timeline.png"),
    )
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


def test_bad_inputs_are_named(exported_models, tmp_path, capsys):
    with pytest.raises(PredictionInputError, match="nothing.wav does not exist"):
        collect_inputs([tmp_path / "nothing.wav"])
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(PredictionInputError, match="empty_folder holds no audio file"):
        collect_inputs([tmp_path / "empty_folder"])
    (tmp_path / "bad.json").write_text(json.dumps({"u1": {"path": "x.wav"}}))
    with pytest.raises(
        PredictionInputError, match="bad.json: every entry of a manifest needs a 'wav' field"
    ):
        collect_inputs([tmp_path / "bad.json"])
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wav")
    capsys.readouterr()
    with pytest.raises(
        SystemExit
    ) as stop:  # the file's record holds the error; the exit status says it failed
        main(
            [
                str(tmp_path / "corrupt.wav"),
                "--model",
                str(exported_models["categorical"]),
                "--no-progress",
            ]
        )
    assert stop.value.code not in (0, None)
    assert json.loads(capsys.readouterr().out)["error"].startswith(
        f"{tmp_path / 'corrupt.wav'} (input corrupt) cannot be read as audio"
    )
    with pytest.raises(PredictionInputError, match="expected key=value"):
        parse_overrides(["ssl_hub"])
    with pytest.raises(SystemExit):
        main(
            [str(tmp_path / "corrupt.wav"), "--model", "x", "--plot", "t.png"]
        )  # --plot needs --window
    with pytest.raises(SystemExit):
        main([str(tmp_path / "corrupt.wav"), "--model", "x", "--window", "0"])


def test_manifest_with_a_morais_model_after_the_others(
    exported_models, morais_exports, morais_experiments, tmp_path
):
    """One process loads exports of three kinds in turn (each custom_interface.py holds only its
    model's code): each runs its own."""
    manifest = morais_experiments["fbank_ecapa"] / "manifests" / "test.json"
    outputs = {}
    for name, model in (
        ("categorical", exported_models["categorical"]),
        ("dimensional", exported_models["dimensional"]),
        ("fbank", morais_exports["fbank_ecapa"]),
        ("again", exported_models["categorical"]),
    ):
        run_predict(manifest, model, tmp_path / f"{name}.jsonl")
        outputs[name] = [
            json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()
        ]
    assert [r["id"] for r in outputs["fbank"]] == list(json.loads(manifest.read_text()))
    assert all(set(r["probabilities"]) == {"neu", "hap", "ang", "sad"} for r in outputs["fbank"])
    assert all({"arousal", "valence", "dominance"} <= set(r) for r in outputs["dimensional"])
    assert outputs["again"] == outputs["categorical"]


# --------------------------------------------------------------------------------------------
# Finished work is kept (issue #13 item 5); options as people use them (issue #15 item 4)
# --------------------------------------------------------------------------------------------
CLASSES = ("neu", "hap", "ang", "sad")


def strict_json_lines(path):
    """Records of a JSON lines file; bare NaN / Infinity (not JSON) fail the test."""

    def reject(constant):
        raise AssertionError(f"{path}: {constant} is not JSON")

    return [json.loads(line, parse_constant=reject) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def four_inputs(session_folder, tmp_path):
    """A folder of three utterances and, last, a file named .wav that is not audio."""
    import shutil

    folder = tmp_path / "inputs"
    folder.mkdir()
    wavs = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))[:3]
    for name, wav in zip("abc", wavs):
        shutil.copy(wav, folder / f"{name}.wav")
    (folder / "d.wav").write_bytes(b"RIFF this is a text file, not a wav")
    return folder


def test_a_file_that_is_not_audio_is_recorded_and_the_others_predicted(
    exported_models, four_inputs, tmp_path
):
    """Issue #13 row 6: the last of 4 batches fails; the 3 predictions and the error are written."""
    from ser_modules.tools import predict

    output = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as stop:
        run_predict(four_inputs, exported_models["categorical"], output, "--batch-size", "1")
    assert stop.value.code == predict.EXIT_SOME_INPUTS_FAILED != 0
    rows = read_csv(output)
    assert [row["id"] for row in rows] == ["a", "b", "c", "d"]
    assert all(row["label"] in CLASSES and row["error"] == "" for row in rows[:3])
    assert rows[3]["label"] == "" and rows[3]["p_hap"] == ""
    assert "d.wav" in rows[3]["error"] and "cannot be read as audio" in rows[3]["error"]
    assert not (tmp_path / "out.csv.partial.jsonl").exists()


def test_finished_batches_are_kept_when_the_run_stops(
    exported_models, four_inputs, tmp_path, monkeypatch
):
    """A run interrupted at its third batch leaves the records of the first two on disk."""
    from ser_modules.tools import predict

    (four_inputs / "d.wav").unlink()
    load = predict.load_model

    def load_then_stop_at_the_third_batch(*args, **kwargs):
        model = load(*args, **kwargs)
        original, calls = model.predict_signals, []

        def predict_signals(*a, **k):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return original(*a, **k)

        model.predict_signals = predict_signals
        return model

    monkeypatch.setattr(predict, "load_model", load_then_stop_at_the_third_batch)
    output = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        run_predict(four_inputs, exported_models["categorical"], output, "--batch-size", "1")
    assert not output.exists()  # never a table that looks complete
    kept = strict_json_lines(tmp_path / "out.csv.partial.jsonl")
    assert len(kept) == 2 and {r["id"] for r in kept} < {"a", "b", "c"}
    assert all(r["label"] in CLASSES and r["error"] is None for r in kept)
    with pytest.raises(
        SystemExit, match="out.csv.partial.jsonl holds the records of an unfinished run"
    ):
        main(
            [
                str(four_inputs),
                "--model",
                str(exported_models["categorical"]),
                "--output",
                str(output),
            ]
        )


def test_nan_or_infinite_audio_is_an_error_for_that_file_and_json_stays_strict(
    exported_models, session_folder, tmp_path
):
    """Issue #13 row 7: a float wav with one NaN sample gave NaN probabilities and bare NaN."""
    wav = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))[0]
    signal = soundfile.read(wav, dtype="float32")[0]
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name, bad in (("a_nan", np.nan), ("b_inf", np.inf), ("c_fine", None)):
        damaged = signal.copy()
        if bad is not None:
            damaged[len(damaged) // 2] = bad
        soundfile.write(folder / f"{name}.wav", damaged, 16000, subtype="FLOAT")
    with pytest.raises(SystemExit) as stop:
        run_predict(folder, exported_models["categorical"], tmp_path / "o.jsonl")
    assert stop.value.code not in (0, None)
    nan, inf, fine = strict_json_lines(tmp_path / "o.jsonl")
    assert (
        "a_nan.wav" in nan["error"]
        and "1 NaN and 0 infinite" in nan["error"]
        and "label" not in nan
    )
    assert (
        "b_inf.wav" in inf["error"]
        and "0 NaN and 1 infinite" in inf["error"]
        and "label" not in inf
    )
    assert fine["error"] is None and fine["label"] in CLASSES


def test_silent_and_short_inputs_are_flagged_and_ratings_clipped(
    exported_models, session_folder, tmp_path
):
    wav = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))[0]
    signal = soundfile.read(wav, dtype="float32")[0]
    assert len(signal) > 16000
    folder = tmp_path / "inputs"
    folder.mkdir()
    soundfile.write(folder / "a_speech.wav", signal, 16000)
    soundfile.write(folder / "b_silent.wav", np.zeros(32000, dtype="float32"), 16000)
    soundfile.write(folder / "c_short.wav", signal[:4800], 16000)  # 0.3 s
    model = str(exported_models["dimensional"])
    run_predict(folder, model, tmp_path / "o.jsonl")
    speech, silent, short = strict_json_lines(tmp_path / "o.jsonl")
    unclipped = [
        [flag for flag in record["flags"] if flag != "clipped"]
        for record in (speech, silent, short)
    ]
    assert unclipped == [
        [],
        ["silent"],
        ["short"],
    ]  # (the tiny random model's ratings may leave the scale)
    # Predictions pushed far above the scale (label_offset 1000) are clipped to 7 and flagged;
    # --no-clip keeps them.
    run_predict(folder, model, tmp_path / "high.csv", "--override", "label_offset=1000")
    run_predict(folder, model, tmp_path / "raw.csv", "--override", "label_offset=1000", "--no-clip")
    for clipped, raw in zip(read_csv(tmp_path / "high.csv"), read_csv(tmp_path / "raw.csv")):
        assert all(
            float(raw[d]) > 7 and float(clipped[d]) == 7.0
            for d in ("arousal", "valence", "dominance")
        )
        assert "clipped" in clipped["flags"].split(";") and "clipped" not in raw["flags"].split(";")


def test_bad_options_are_clear_and_fast(exported_models, session_folder, tmp_path, capsys):
    """Issue #13 item 7: --batch-size 0, a local --model path that does not exist, and
    --precision fp16 on a CPU."""
    wav = str(next(session_folder.glob("*.wav")))
    with pytest.raises(SystemExit):
        main([wav, "--model", str(exported_models["categorical"]), "--batch-size", "0"])
    assert "--batch-size must be a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no_such_export does not exist"):
        main([wav, "--model", str(tmp_path / "no_such_export")])
    with pytest.raises(SystemExit, match="no_such_export does not exist"):
        main([wav, "--model", "./no_such_export"])
    with pytest.raises(SystemExit, match="hyperparams.yaml is a file: give the export folder"):
        main([wav, "--model", str(exported_models["categorical"] / "hyperparams.yaml")])
    with pytest.raises(SystemExit, match="--precision fp16 needs a GPU"):
        main(
            [
                wav,
                "--model",
                str(exported_models["categorical"]),
                "--device",
                "cpu",
                "--precision",
                "fp16",
            ]
        )


def test_every_option_is_kebab_case():
    from ser_modules.tools.predict import build_parser

    options = [name for action in build_parser()._actions for name in action.option_strings]
    assert "--batch-size" in options and all("_" not in name for name in options)


def test_device_auto_takes_the_gpu_when_there_is_one(monkeypatch):
    import torch

    from ser_modules.tools.predict import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"


def test_batches_are_sorted_by_length_and_outputs_kept_in_input_order(
    exported_models, session_folder, tmp_path, monkeypatch
):
    from ser_modules.tools import predict

    wavs = sorted(p for p in session_folder.glob("*.wav") if not p.name.startswith("._"))
    lengths = [soundfile.info(p).frames for p in wavs]
    assert lengths != sorted(lengths, reverse=True), (
        "the test needs inputs not already sorted by length"
    )
    load, batches = predict.load_model, []

    def recording_batches(*args, **kwargs):
        model = load(*args, **kwargs)
        original = model.predict_signals

        def predict_signals(signals, *a, **k):
            batches.append([len(signal) for signal in signals])
            return original(signals, *a, **k)

        model.predict_signals = predict_signals
        return model

    monkeypatch.setattr(predict, "load_model", recording_batches)
    run_predict(
        session_folder,
        exported_models["categorical"],
        tmp_path / "sorted.jsonl",
        "--batch-size",
        "2",
        "--device",
        "auto",
    )
    flat = [n for batch in batches for n in batch]
    assert flat == sorted(lengths, reverse=True) and max(map(len, batches)) == 2
    records = strict_json_lines(tmp_path / "sorted.jsonl")
    assert [r["id"] for r in records] == [p.stem for p in wavs]
    assert [round(r["duration"] * 16000) for r in records] == lengths
    run_predict(
        session_folder, exported_models["categorical"], tmp_path / "one.jsonl", "--batch-size", "1"
    )
    for record, alone in zip(records, strict_json_lines(tmp_path / "one.jsonl")):
        assert record["label"] == alone["label"]
        assert record["score"] == pytest.approx(alone["score"], abs=1e-5)


def test_progress_is_shown_inside_a_long_file(
    exported_models, long_recording, tmp_path, monkeypatch
):
    from ser_modules.tools import predict

    bars = []

    class RecordingBar:
        def __init__(self, *args, total=None, disable=False, **kwargs):
            self.total, self.updates = total, []
            bars.append(self)

        def update(self, n=1):
            self.updates.append(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

        def close(self):
            pass

    monkeypatch.setattr(predict, "tqdm", RecordingBar)
    main(
        [
            str(long_recording),
            "--model",
            str(exported_models["categorical"]),
            "--window",
            "4",
            "--hop",
            "2",
            "--batch-size",
            "10",
            "--output",
            str(tmp_path / "timeline.jsonl"),
        ]
    )
    assert [(bar.total, bar.updates) for bar in bars if bar.total == 29] == [(29, [10, 10, 9])]
    assert len(strict_json_lines(tmp_path / "timeline.jsonl")) == 29


@pytest.mark.parametrize("kind", ["categorical", "dimensional"])
def test_embeddings_are_written_with_the_predictions(
    exported_models, session_folder, tmp_path, kind
):
    import torch

    from ser_modules.tools.predict import load_model

    run_predict(
        session_folder,
        exported_models[kind],
        tmp_path / "e.jsonl",
        "--embeddings",
        "--batch-size",
        "3",
    )
    run_predict(session_folder, exported_models[kind], tmp_path / "e.csv", "--embeddings")
    records, rows = strict_json_lines(tmp_path / "e.jsonl"), read_csv(tmp_path / "e.csv")
    model = load_model(str(exported_models[kind]), savedir=tmp_path / "savedir")
    expected = model.encode_batch(model.load_audio(records[0]["file"]).unsqueeze(0))[0]
    size = len(records[0]["embedding"])
    assert size == expected.shape[0]
    torch.testing.assert_close(
        torch.tensor(records[0]["embedding"]), expected, atol=1e-5, rtol=1e-4
    )
    # The embedding is what the head predicts from: the head alone gives the record's predictions.
    from_embedding = model.predict_embeddings(torch.tensor(records[0]["embedding"]).unsqueeze(0))[0]
    if kind == "dimensional":
        assert size == 8  # --embedding_size=8 of the tiny TC-GRU
        assert [
            min(max(from_embedding[d], 1.0), 7.0) for d in ("arousal", "valence", "dominance")
        ] == pytest.approx([records[0][d] for d in ("arousal", "valence", "dominance")], abs=1e-5)
    else:
        assert from_embedding["label"] == records[0]["label"]
        assert from_embedding["probabilities"] == pytest.approx(
            records[0]["probabilities"], abs=1e-5
        )
    for record, row in zip(records, rows):
        assert len(record["embedding"]) == size
        assert [float(row[f"emb_{i}"]) for i in range(size)] == pytest.approx(
            record["embedding"], abs=1e-5
        )


def test_msp_challenge_submission_format(trained_experiments, exported_models, tmp_path):
    manifest = trained_experiments["dimensional"] / "manifests" / "test1.json"
    run_predict(
        manifest,
        exported_models["dimensional"],
        tmp_path / "submission.csv",
        "--format",
        "msp-challenge",
    )
    run_predict(manifest, exported_models["dimensional"], tmp_path / "all.jsonl")
    header = (tmp_path / "submission.csv").read_text().splitlines()[0]
    assert header == "FileName,EmoAct,EmoVal,EmoDom"
    rows, records = read_csv(tmp_path / "submission.csv"), strict_json_lines(tmp_path / "all.jsonl")
    assert [row["FileName"] for row in rows] == [Path(r["file"]).name for r in records]
    assert all(
        row["FileName"].startswith("MSP-PODCAST_") and row["FileName"].endswith(".wav")
        for row in rows
    )
    for row, record in zip(rows, records):
        assert [float(row[c]) for c in ("EmoAct", "EmoVal", "EmoDom")] == pytest.approx(
            [record["arousal"], record["valence"], record["dominance"]], abs=1e-6
        )
    with pytest.raises(
        SystemExit, match="msp-challenge format holds arousal, valence and dominance"
    ):
        run_predict(
            manifest,
            exported_models["categorical"],
            tmp_path / "no.csv",
            "--format",
            "msp-challenge",
        )


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_a_gpu_is_close_to_fp32(
    exported_models, session_folder, tmp_path, precision
):
    for name in ("fp32", precision):
        run_predict(
            session_folder,
            exported_models["categorical"],
            tmp_path / f"{name}.jsonl",
            "--device",
            "cuda",
            "--precision",
            name,
        )
    for full, half in zip(
        strict_json_lines(tmp_path / "fp32.jsonl"),
        strict_json_lines(tmp_path / f"{precision}.jsonl"),
    ):
        assert half["error"] is None
        for label in CLASSES:
            assert half["probabilities"][label] == pytest.approx(
                full["probabilities"][label], abs=0.02
            )
