"""``ser-predict``: emotion predictions of an exported model on files, folders or manifests.

Examples::

    ser-predict speech.wav other.flac --model USER/NAME
    ser-predict recordings/ --model exported_model/ --output predictions.csv --batch-size 16
    ser-predict test.json --model exported_model/ --output predictions.jsonl   # SpeechBrain manifest
    ser-predict interview.wav --model exported_model/ --window 3 --hop 1 --plot timeline.png

The model is an export folder of ``python -m ser_modules.tools.publish export`` or a Hub id; its
``hyperparams.yaml`` names the interface (categorical or dimensional). Output: JSON lines
(default, on stdout without ``--output``) or CSV (``--output x.csv`` or ``--format csv``),
one record per file, or per window with ``--window`` / ``--hop`` (seconds).

Authors
 * ser-recipes contributors 2026
"""

import argparse
import csv
import json
import logging
import re
import sys
from pathlib import Path

import yaml
from tqdm import tqdm

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".aif")


class PredictionInputError(RuntimeError):
    """An input path, manifest or audio file cannot be used (the message names it)."""


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def manifest_entries(path):
    """``(id, audio path)`` of a SpeechBrain JSON manifest (``wav`` fields) or a CSV (``wav`` column)."""
    try:
        if path.suffix == ".json":
            entries = json.loads(path.read_text(encoding="utf-8"))
            return [(uid, entry["wav"]) for uid, entry in entries.items()]
        with open(path, newline="", encoding="utf-8") as handle:
            return [(row.get("ID") or row.get("id") or row["wav"], row["wav"]) for row in csv.DictReader(handle)]
    except (KeyError, TypeError, AttributeError):
        raise PredictionInputError(f"{path}: every entry of a manifest needs a 'wav' field") from None
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
        raise PredictionInputError(f"{path} is not a readable manifest: {error}") from None


def collect_inputs(paths, extensions=AUDIO_EXTENSIONS):
    """``(id, audio path)`` pairs from files, folders (recursive, sorted) and manifests.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.wav", "a.flac", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [uid for uid, _ in collect_inputs([folder])]
    ['a', 'b']
    """
    inputs = []
    for path in map(Path, paths):
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix.lower() in extensions)
            files = [p for p in candidates if not p.name.startswith("._")]
            if len(files) < len(candidates):
                logger.info("%s: skipped %d macOS metadata files (._*)", path, len(candidates) - len(files))
            if not files:
                raise PredictionInputError(f"{path} holds no audio file ({', '.join(extensions)})")
            inputs += [(str(p.relative_to(path).with_suffix("")), str(p)) for p in files]
        elif path.suffix.lower() in (".json", ".csv") and path.is_file():
            inputs += manifest_entries(path)
        elif path.is_file():
            inputs.append((path.stem, str(path)))
        else:
            raise PredictionInputError(f"{path} does not exist")
    return inputs


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
def parse_overrides(pairs):
    """``["key=value", ...]`` to a dict (values read as YAML: numbers, booleans, lists).

    Example
    -------
    >>> parse_overrides(["ssl_hub=/models/wavlm", "ssl_layer=12"])
    {'ssl_hub': '/models/wavlm', 'ssl_layer': 12}
    """
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PredictionInputError(f"--override {pair!r}: expected key=value")
        overrides[key] = yaml.safe_load(value)
    return overrides


def interface_class(hparams_text, source):
    """The ``interface_class`` named in an export's ``hyperparams.yaml``."""
    match = re.search(r"^interface_class:\s*(\w+)\s*$", hparams_text, flags=re.M)
    if not match:
        raise PredictionInputError(f"{source}: hyperparams.yaml names no interface_class (not a ser-recipes export?)")
    return match.group(1)


def load_model(source, savedir=None, overrides=None, device="cpu"):
    """The interface of an export folder or Hub id (``pretrained_path`` follows a local folder)."""
    from speechbrain.inference.interfaces import foreign_class
    from speechbrain.utils.fetching import fetch

    overrides = dict(overrides or {})
    local = Path(source).is_dir()
    if local:
        overrides.setdefault("pretrained_path", str(Path(source).resolve()))
        if not (Path(source) / "hyperparams.yaml").is_file():
            raise PredictionInputError(f"{source} has no hyperparams.yaml: is it an export folder?")
        hparams_text = (Path(source) / "hyperparams.yaml").read_text(encoding="utf-8")
    else:
        hparams_text = Path(fetch("hyperparams.yaml", source=source, savedir=savedir)).read_text(encoding="utf-8")
    return foreign_class(
        source=str(Path(source).resolve()) if local else source,
        hparams_file="hyperparams.yaml",
        pymodule_file="custom_interface.py",
        classname=interface_class(hparams_text, source),
        savedir=savedir,
        overrides=overrides,
        run_opts={"device": device},
    )


# ----------------------------------------------------------------------------------------------
# Predictions
# ----------------------------------------------------------------------------------------------
def read_input(model, uid, path):
    """The waveform of one input at the model's rate, or an error naming the file."""
    try:
        wav = model.load_audio(path).cpu()
    except Exception as error:  # soundfile / fetch errors vary by format
        raise PredictionInputError(f"{path} (input {uid}) cannot be read as audio: {error}") from None
    if wav.numel() == 0:
        raise PredictionInputError(f"{path} (input {uid}) is empty")
    return wav


def predict_whole_files(model, inputs, batch_size, progress=True):
    """One record per input: ``id``, ``file``, ``duration`` and the predictions."""
    rate = model.audio_normalizer.sample_rate
    records = []
    for start in tqdm(range(0, len(inputs), batch_size), desc="batches", disable=not progress):
        chunk = inputs[start : start + batch_size]
        wavs = [read_input(model, uid, path) for uid, path in chunk]
        for (uid, path), wav, result in zip(chunk, wavs, model.predict_signals(wavs)):
            records.append({"id": uid, "file": path, "duration": len(wav) / rate, **result})
    return records


def predict_windows(model, inputs, window, hop, batch_size, progress=True):
    """One record per window of every input: ``id``, ``file``, ``start``, ``end``, predictions."""
    records = []
    for uid, path in tqdm(inputs, desc="files", disable=not progress):
        timeline = model.predict_timeline(read_input(model, uid, path), window, hop, batch_size)
        records += [{"id": uid, "file": path, **row} for row in timeline]
    return records


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------
def flatten(record):
    """A record with its ``probabilities`` as ``p_<label>`` columns (for CSV)."""
    flat = {key: value for key, value in record.items() if key != "probabilities"}
    flat.update({f"p_{label}": p for label, p in record.get("probabilities", {}).items()})
    return flat


def write_records(records, handle, output_format):
    """Writes the records as JSON lines or CSV."""
    if output_format == "jsonl":
        for record in records:
            handle.write(json.dumps(record) + "\n")
        return
    rows = [flatten(record) for record in records]
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["id"])
    writer.writeheader()
    writer.writerows(rows)


def plot_timelines(records, plot_path):
    """One timeline PNG: ``plot_path`` for a single input, ``plot_path/<id>.png`` for several."""
    from ser_modules.training.plots import plot_timeline

    by_input = {}
    for record in records:
        by_input.setdefault(record["id"], []).append(record)
    for uid, rows in by_input.items():
        path = Path(plot_path) if len(by_input) == 1 else Path(plot_path) / f"{uid}.png"
        plot_timeline(rows, str(path), title=f"{uid} ({rows[0]['file']})")
        logger.info("Timeline of %s: %s", uid, path)


def parse_args(argv):
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="ser-predict", description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="audio files, folders, or manifests (.json with 'wav' fields, .csv with a 'wav' column)")
    parser.add_argument("--model", required=True, help="export folder or Hugging Face Hub id")
    parser.add_argument("--savedir", default=None, help="where a Hub model is downloaded")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE", help="hyperparams override, e.g. ssl_hub=/local/wavlm")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", default=None, help="output file (.jsonl or .csv); default: JSON lines on stdout")
    parser.add_argument("--format", choices=("jsonl", "csv"), default=None, help="default: from --output's suffix, else jsonl")
    parser.add_argument("--window", type=float, default=None, help="sliding window length in seconds (timeline)")
    parser.add_argument("--hop", type=float, default=None, help="hop between windows in seconds (default: window / 2)")
    parser.add_argument("--plot", default=None, help="timeline PNG (a folder when there are several inputs); needs --window")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.plot and args.window is None:
        parser.error("--plot draws a timeline: give --window (and --hop)")
    if args.hop is not None and args.window is None:
        parser.error("--hop needs --window")
    if any(value is not None and value <= 0 for value in (args.window, args.hop)):
        parser.error("--window and --hop must be positive (seconds)")
    if args.format is None:
        args.format = "csv" if args.output and args.output.endswith(".csv") else "jsonl"
    return args


def run(args):
    """Loads the model, predicts, writes the records (and plots); returns the records."""
    inputs = collect_inputs(args.inputs)
    model = load_model(args.model, args.savedir, parse_overrides(args.override), args.device)
    progress = not args.no_progress
    if args.window is None:
        records = predict_whole_files(model, inputs, args.batch_size, progress)
    else:
        hop = args.hop if args.hop is not None else args.window / 2
        records = predict_windows(model, inputs, args.window, hop, args.batch_size, progress)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", newline="", encoding="utf-8") as handle:
            write_records(records, handle, args.format)
        logger.info("%d records written to %s", len(records), args.output)
    else:
        write_records(records, sys.stdout, args.format)
    if args.plot:
        plot_timelines(records, args.plot)
    return records


def main(argv=None):
    """Console entry point of ``ser-predict``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except PredictionInputError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
