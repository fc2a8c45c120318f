"""``ser-predict``: emotion predictions of an exported model on files, folders or manifests.

Examples::

    ser-predict speech.wav other.flac --model USER/NAME
    ser-predict recordings/ --model exported_model/ --output predictions.csv --batch-size 16 \\
        --device auto
    ser-predict test.json --model exported_model/ --output predictions.jsonl  # SpeechBrain manifest
    ser-predict interview.wav --model exported_model/ --window 3 --hop 1 --plot timeline.png
    ser-predict Audios/ --model msp_export/ --format msp-challenge --output submission.csv

The model is an export folder of ``python -m ser_modules.tools.publish export`` or a Hub id
(``USER/NAME``); its ``hyperparams.yaml`` names the interface (categorical or dimensional).
Output: JSON lines (default, on stdout without ``--output``), CSV (``--output x.csv`` or
``--format csv``) or the MSP-Podcast challenge submission (``--format msp-challenge``), one
record per file, or per window with ``--window`` / ``--hop`` (seconds), in input order.

Finished work is kept: a file that cannot be predicted (not audio, empty, NaN or infinite
samples) gets a record with its ``error`` and the others go on; with ``--output`` the records
are appended to ``<output>.partial.jsonl`` as batches finish, and the output is written once
all inputs are done (see :mod:`ser_modules.tools.prediction_outputs`). The exit status is 0
when every input was predicted, :data:`EXIT_SOME_INPUTS_FAILED` (3) when some were not, 1 on
an error that stops the run, 2 on a wrong option. Silent and short inputs are flagged
(``flags``); dimensional ratings are clipped to the 1-7 scale (flag ``clipped``; ``--no-clip``
keeps the model's raw values, as the recipe's evaluation does).

Whole files are batched longest first (less padding; a file too long for the memory fails
first), and the records are still written in input order.

Authors
 * ser-recipes contributors 2026
"""

import argparse
import contextlib
import inspect
import logging
import math
import re
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ser_modules.inference.interfaces import window_bounds
from ser_modules.tools.prediction_inputs import (
    MIN_DURATION_S,
    SILENCE_DBFS,
    PredictionInputError,
    collect_inputs,
    header_duration,
    read_input,
    signal_flags,
)
from ser_modules.tools.prediction_outputs import (
    OUTPUT_FORMATS,
    RecordSink,
    check_msp_challenge_inputs,
)
from ser_modules.utils.constants import RATING_SCALE
from ser_modules.utils.yaml_values import parse_yaml_value

logger = logging.getLogger(__name__)

__all__ = ["PredictionInputError", "collect_inputs", "load_model", "main", "parse_overrides", "run"]

#: Exit status of a run in which some inputs could not be predicted (their records hold the error).
EXIT_SOME_INPUTS_FAILED = 3

#: ``--precision``: the autocast dtype (``None``: float32, no autocast). Half precision runs on
#: GPUs only.
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


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
        overrides[key] = parse_yaml_value(value)
    return overrides


def interface_class(hparams_text, source):
    """The ``interface_class`` named in an export's ``hyperparams.yaml``."""
    match = re.search(r"^interface_class:\s*(\w+)\s*$", hparams_text, flags=re.M)
    if not match:
        raise PredictionInputError(
            f"{source}: hyperparams.yaml names no interface_class (not a ser-recipes export?)"
        )
    return match.group(1)


def is_hub_id(source):
    """Whether ``source`` reads as a Hugging Face Hub id ``USER/NAME`` (not a local path).

    Example
    -------
    >>> sources = ("someone/ser-wavlm", "./export", "/models/export", "a/b/c", "export")
    >>> [is_hub_id(s) for s in sources]
    [True, False, False, False, False]
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if source.count("/") != 1 or source.startswith((".", "~")):
        return False
    try:
        validate_repo_id(source)
    except HFValidationError:
        return False
    return True


def model_location(source):
    """``"local"`` for an existing folder, ``"hub"`` for a Hub id that is no local path; a
    local path that does not exist (or a file) is an error naming it, without a Hub request.

    Example
    -------
    >>> model_location("someone/ser-wavlm")
    'hub'
    >>> try:
    ...     model_location("exports/wavlm/model")
    ... except PredictionInputError as error:
    ...     print(str(error).split(";")[0])
    --model exports/wavlm/model: the folder exports/wavlm/model does not exist
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return "local"
    if path.exists():
        raise PredictionInputError(
            f"--model {source} is a file: give the export folder (the one that holds"
            " hyperparams.yaml) or a Hub id USER/NAME"
        )
    if is_hub_id(source):
        return "hub"
    raise PredictionInputError(
        f"--model {source}: the folder {path} does not exist; give an export folder of "
        "`python -m ser_modules.tools.publish export` or a Hugging Face Hub id USER/NAME"
    )


def load_model(source, savedir=None, overrides=None, device="cpu"):
    """The interface of an export folder or Hub id (``pretrained_path`` follows a local folder)."""
    from speechbrain.inference.interfaces import foreign_class
    from speechbrain.utils.fetching import fetch

    overrides = dict(overrides or {})
    local = model_location(source) == "local"
    if local:
        overrides.setdefault("pretrained_path", str(Path(source).resolve()))
        if not (Path(source) / "hyperparams.yaml").is_file():
            raise PredictionInputError(f"{source} has no hyperparams.yaml: is it an export folder?")
        hparams_text = (Path(source) / "hyperparams.yaml").read_text(encoding="utf-8")
    else:
        try:
            hparams_text = Path(
                fetch("hyperparams.yaml", source=source, savedir=savedir)
            ).read_text(encoding="utf-8")
        except Exception as error:  # network, authentication, missing repository: errors vary
            raise PredictionInputError(
                f"--model {source}: no local folder of that name, and the Hugging Face Hub did not"
                f" give {source}/hyperparams.yaml ({type(error).__name__}: {error})"
            ) from error
    return foreign_class(
        source=str(Path(source).resolve()) if local else source,
        hparams_file="hyperparams.yaml",
        pymodule_file="custom_interface.py",
        classname=interface_class(hparams_text, source),
        savedir=savedir,
        overrides=overrides,
        run_opts={"device": device},
    )


def resolve_device(device):
    """``auto``: the first GPU when there is one, else the CPU; other names unchanged.

    Example
    -------
    >>> resolve_device("cpu"), resolve_device("auto") in ("cpu", "cuda:0")
    ('cpu', True)
    """
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return device


def precision_context(device, precision):
    """A factory of the autocast context of ``--precision`` (fp16 and bf16 need a GPU).

    Example
    -------
    >>> with precision_context("cpu", "fp32")():
    ...     pass
    >>> try:
    ...     precision_context("cpu", "bf16")
    ... except PredictionInputError as error:
    ...     print(str(error).split(":")[0])
    --precision bf16 needs a GPU (the device is cpu)
    """
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext
    if not str(device).startswith("cuda"):
        raise PredictionInputError(
            f"--precision {precision} needs a GPU (the device is {device}): use --device cuda (or"
            " auto on a machine with a GPU), or --precision fp32 on a CPU"
        )
    return lambda: torch.autocast("cuda", dtype=PRECISIONS[precision])


# ----------------------------------------------------------------------------------------------
# Predictions
# ----------------------------------------------------------------------------------------------
def finite_numbers(values):
    """Whether every number of a result (nested dicts included) is finite.

    Example
    -------
    >>> finite_numbers({"label": "hap", "score": 0.5, "probabilities": {"hap": 0.5}})
    True
    >>> finite_numbers({"arousal": float("nan")})
    False
    """
    for value in values.values():
        if isinstance(value, dict) and not finite_numbers(value):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
    return True


def error_record(base, message):
    """The record of an input (or window) that could not be predicted (the error is logged)."""
    logger.warning("%s", message)
    return {**base, "error": message}


class Predictor:
    """An exported model run on batches of waveforms, with the checks of ``ser-predict``.

    Arguments
    ---------
    model : SERInterface
        An ``EmotionClassifier`` or ``DimensionalEmotionRegressor`` (``load_model``).
    batch_size : int
        Waveforms per forward pass.
    embeddings : bool
        Add each utterance's embedding (``encode_batch``) to its record.
    clip : bool
        Clip dimensional ratings to the 1-7 scale (flag ``clipped``).
    min_duration, silence_db : float
        Thresholds of the ``short`` and ``silent`` flags.
    precision : str
        ``fp32``, ``fp16`` or ``bf16`` (autocast; GPU only).
    """

    def __init__(
        self,
        model,
        batch_size=8,
        embeddings=False,
        clip=True,
        min_duration=MIN_DURATION_S,
        silence_db=SILENCE_DBFS,
        precision="fp32",
    ):
        self.model, self.batch_size, self.embeddings, self.clip = (
            model,
            batch_size,
            embeddings,
            clip,
        )
        self.min_duration, self.silence_db = min_duration, silence_db
        self.rate = model.audio_normalizer.sample_rate
        self.autocast = precision_context(model.device, precision)
        dimensional = hasattr(model, "regress_batch")
        self.dimensions = list(model.hparams.dimensions) if dimensional else []
        if embeddings and "embeddings" not in inspect.signature(model.predict_signals).parameters:
            raise PredictionInputError(
                "--embeddings: this export's custom_interface.py predates embeddings; export the"
                " experiment again"
            )

    def predict(self, signals):
        """A result ``dict`` per waveform, or the error message of one the model fails on (a
        failed batch is run again one waveform at a time: e.g. one file too long for memory)."""
        try:
            with self.autocast():
                if self.embeddings:
                    return self.model.predict_signals(signals, embeddings=True)
                return self.model.predict_signals(signals)
        except Exception as error:  # out of memory, or an input the model cannot take: errors vary
            if len(signals) > 1:
                return [result for signal in signals for result in self.predict([signal])]
            return [f"the model failed on it: {type(error).__name__}: {error}"]

    def record(self, base, signal, result):
        """The record of one waveform: ``base`` (``id``, ``file``, times), the predictions,
        ``flags`` and ``error`` (``None``), then the ``embedding``; or an error record."""
        where = f"{base['file']} (input {base['id']})"
        if isinstance(result, str):
            return error_record(base, f"{where}: {result}")
        result = dict(result)
        embedding = result.pop("embedding", None)
        if not finite_numbers(result) or not all(map(math.isfinite, embedding or [])):
            return error_record(
                base,
                f"{where}: the model gave NaN or infinite outputs (with --precision fp16, "
                "try bf16 or fp32)",
            )
        flags = signal_flags(signal, self.rate, self.min_duration, self.silence_db)
        if self.clip and self.dimensions:
            low, high = RATING_SCALE
            clipped = {d: min(max(result[d], low), high) for d in self.dimensions}
            if clipped != {d: result[d] for d in self.dimensions}:
                flags.append("clipped")
            result.update(clipped)
        record = {**base, **result, "flags": flags, "error": None}
        if embedding is not None:
            record["embedding"] = embedding
        return record


def predict_whole_files(predictor, inputs, sink, progress=True):
    """One record per input (``id``, ``file``, ``duration``, predictions), batched longest
    first; each finished batch goes to ``sink`` (which keeps the input order)."""
    order = sorted(range(len(inputs)), key=lambda index: -header_duration(inputs[index][1]))
    with tqdm(total=len(inputs), desc="files", unit="file", disable=not progress) as bar:
        for start in range(0, len(order), predictor.batch_size):
            batch, readable = order[start : start + predictor.batch_size], []
            for index in batch:
                uid, path = inputs[index]
                try:
                    readable.append((index, read_input(predictor.model, uid, path)))
                except PredictionInputError as error:
                    sink.add(index, [error_record({"id": uid, "file": path}, str(error))])
            results = predictor.predict([wav for _, wav in readable]) if readable else []
            for (index, wav), result in zip(readable, results):
                uid, path = inputs[index]
                base = {"id": uid, "file": path, "duration": len(wav) / predictor.rate}
                sink.add(index, [predictor.record(base, wav, result)])
            bar.update(len(batch))


def predict_windows(predictor, inputs, window, hop, sink, progress=True):
    """One record per window of every input (``id``, ``file``, ``start``, ``end``, predictions),
    with a progress bar over the windows of each file."""
    rate = predictor.rate
    for index, (uid, path) in enumerate(inputs):
        try:
            wav = read_input(predictor.model, uid, path)
        except PredictionInputError as error:
            sink.add(
                index,
                [error_record({"id": uid, "file": path, "start": None, "end": None}, str(error))],
            )
            continue
        bounds = window_bounds(len(wav), int(round(window * rate)), int(round(hop * rate)))
        records = []
        with tqdm(total=len(bounds), desc=uid, unit="window", disable=not progress) as bar:
            for start in range(0, len(bounds), predictor.batch_size):
                chunk = bounds[start : start + predictor.batch_size]
                signals = [wav[begin:end] for begin, end in chunk]
                for (begin, end), signal, result in zip(chunk, signals, predictor.predict(signals)):
                    base = {"id": uid, "file": path, "start": begin / rate, "end": end / rate}
                    records.append(predictor.record(base, signal, result))
                bar.update(len(chunk))
        sink.add(index, records)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
def plot_timelines(records, plot_path):
    """One timeline PNG: ``plot_path`` for a single input, ``plot_path/<id>.png`` for several."""
    from ser_modules.tools.prediction_plots import plot_timeline

    by_input = {}
    for record in records:
        by_input.setdefault(record["id"], []).append(record)
    for uid, rows in by_input.items():
        path = Path(plot_path) if len(by_input) == 1 else Path(plot_path) / f"{uid}.png"
        plot_timeline(rows, str(path), title=f"{uid} ({rows[0]['file']})")
        logger.info("Timeline of %s: %s", uid, path)


def build_parser():
    """The ``ser-predict`` options (``--kebab-case`` throughout)."""
    parser = argparse.ArgumentParser(
        prog="ser-predict",
        description=__doc__.split("\n")[0],
        epilog=(
            f"Exit status: 0 all inputs predicted, {EXIT_SOME_INPUTS_FAILED} some could not be"
            " (their records hold the error), 1 an error stopped the run, 2 a wrong option."
        ),
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        help=(
            "audio files, folders, or manifests (.json with 'wav' fields, .csv with a 'wav' column)"
        ),
    )
    parser.add_argument(
        "--model", required=True, help="export folder or Hugging Face Hub id USER/NAME"
    )
    parser.add_argument("--savedir", default=None, help="where a Hub model is downloaded")
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparams override, e.g. ssl_hub=/local/wavlm",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu, cuda, cuda:N, or auto (the GPU when there is one); default: cpu",
    )
    parser.add_argument(
        "--precision",
        choices=tuple(PRECISIONS),
        default="fp32",
        help="fp16 / bf16: autocast on a GPU (refused on a CPU); default: fp32",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="files (or windows) per forward pass; default: 8"
    )
    parser.add_argument(
        "--output", default=None, help="output file (.jsonl or .csv); default: JSON lines on stdout"
    )
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help=(
            "default: from --output's suffix, else jsonl; msp-challenge:"
            " FileName,EmoAct,EmoVal,EmoDom"
        ),
    )
    parser.add_argument(
        "--embeddings", action="store_true", help="add each utterance embedding (the head's input)"
    )
    parser.add_argument(
        "--window", type=float, default=None, help="sliding window length in seconds (timeline)"
    )
    parser.add_argument(
        "--hop",
        type=float,
        default=None,
        help="hop between windows in seconds (default: window / 2)",
    )
    parser.add_argument(
        "--plot",
        default=None,
        help="timeline PNG (a folder when there are several inputs); needs --window",
    )
    parser.add_argument(
        "--min-duration",
        type=float,
        default=MIN_DURATION_S,
        help=f"inputs shorter than this (seconds) are flagged 'short'; default: {MIN_DURATION_S}",
    )
    parser.add_argument(
        "--silence-db",
        type=float,
        default=SILENCE_DBFS,
        help=(
            "inputs with an RMS level below this (dBFS) are flagged 'silent'; default:"
            f" {SILENCE_DBFS}"
        ),
    )
    parser.add_argument(
        "--no-clip",
        action="store_true",
        help="keep dimensional ratings outside the 1-7 scale (raw model outputs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def parse_args(argv):
    """Command-line options, checked."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(
            "--batch-size must be a positive integer (files or windows per forward pass), got"
            f" {args.batch_size}"
        )
    if args.plot and args.window is None:
        parser.error("--plot draws a timeline: give --window (and --hop)")
    if args.hop is not None and args.window is None:
        parser.error("--hop needs --window")
    if any(value is not None and value <= 0 for value in (args.window, args.hop)):
        parser.error("--window and --hop must be positive (seconds)")
    if args.format is None:
        args.format = "csv" if args.output and args.output.endswith(".csv") else "jsonl"
    if args.format == "msp-challenge" and (args.window is not None or args.embeddings):
        parser.error(
            "--format msp-challenge has one row of ratings per file: no --window, no --embeddings"
        )
    return args


def run(args):
    """Loads the model, predicts, writes the records (and plots); returns the records."""
    inputs = collect_inputs(args.inputs)
    if args.format == "msp-challenge":
        check_msp_challenge_inputs(inputs)
    device = resolve_device(args.device)
    precision_context(device, args.precision)  # refused on a CPU before the model is loaded
    model = load_model(args.model, args.savedir, parse_overrides(args.override), device)
    if args.format == "msp-challenge" and not hasattr(model, "regress_batch"):
        raise PredictionInputError(
            "--format msp-challenge: the msp-challenge format holds arousal, valence and"
            f" dominance, and {args.model} is a {type(model).__name__} (categorical): use --format"
            " jsonl or csv"
        )
    logger.info(
        "ser-predict: %d inputs, %s on %s (%s)",
        len(inputs),
        type(model).__name__,
        device,
        args.precision,
    )
    predictor = Predictor(
        model,
        args.batch_size,
        args.embeddings,
        not args.no_clip,
        args.min_duration,
        args.silence_db,
        args.precision,
    )
    progress = not args.no_progress
    with RecordSink(args.output, args.format, len(inputs)) as sink:
        if args.window is None:
            predict_whole_files(predictor, inputs, sink, progress)
        else:
            hop = args.hop if args.hop is not None else args.window / 2
            predict_windows(predictor, inputs, args.window, hop, sink, progress)
        records = sink.finish()
    flagged = sum(bool(record.get("flags")) for record in records)
    if flagged:
        logger.warning(
            "%d of %d records are flagged (silent, short or clipped): see their 'flags'",
            flagged,
            len(records),
        )
    if args.plot:
        plot_timelines([record for record in records if record["error"] is None], args.plot)
    return records


def main(argv=None):
    """Console entry point of ``ser-predict``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        records = run(args)
    except PredictionInputError as error:
        sys.exit(f"error: {error}")
    failed = [record for record in records if record["error"] is not None]
    if failed:
        where = (
            "listed above (the msp-challenge format has no room for them)"
            if args.format == "msp-challenge"
            else f"in the 'error' field of their records ({args.output or 'stdout'})"
        )
        logger.error(
            "%d of %d records could not be predicted: their errors are %s",
            len(failed),
            len(records),
            where,
        )
        sys.exit(EXIT_SOME_INPUTS_FAILED)


if __name__ == "__main__":
    main()
