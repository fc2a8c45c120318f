#!/usr/bin/env python3
"""Real-time factor of the full IEMOCAP inference pipeline with a wavlm-base-sized model.

The model is built from ``recipes/IEMOCAP/hparams/wavlm_corr_att.yaml`` as the recipe builds
it: frozen SSL encoder (all hidden states) -> WeightedLayerSum -> Linear projector ->
attentive correlation pooling -> Linear classifier (+ softmax), with ``--ssl_hub`` a random
WavLM saved by ``ser_modules.testing.tiny_ssl.save_random_ssl_model("wavlm", dir, size="base")``
(768 channels, 12 layers, 95 M parameters: the compute of ``microsoft/wavlm-base``).

Each case is ``SECONDSxBATCH`` (e.g. ``10x1``: one 10 s utterance; ``10x8``: a batch of
eight 10 s utterances), run in eval mode under ``torch.inference_mode`` after warm-up;
RTF = median compute time of a batch / audio duration of the batch (seconds x batch);
below 1 is faster than real time.

Usage::

    python benchmarks/inference.py                          # 10x1 10x8 60x1, base, CPU
    python benchmarks/inference.py --cases 60x1 --threads 1 --repeats 5
    python benchmarks/inference.py --size tiny --cases 1x1 --json out.json
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HPARAMS = ROOT / "recipes" / "IEMOCAP" / "hparams" / "wavlm_corr_att.yaml"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_utils import (  # noqa: E402
    MemoryProbe,
    format_memory,
    log,
    machine_info,
    set_threads,
    torch_info,
    write_json,
)
from hyperpyyaml import load_hyperpyyaml  # noqa: E402

from ser_modules.testing.tiny_ssl import save_random_ssl_model  # noqa: E402
from ser_modules.utils.constants import SAMPLE_RATE  # noqa: E402


def parse_case(text):
    """``"10x8"`` -> (10.0 seconds, batch 8)."""
    seconds, _, batch = text.partition("x")
    try:
        return float(seconds), int(batch or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected SECONDSxBATCH (e.g. 10x8), got {text!r}"
        ) from None


def parse_args(argv=None):
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        type=parse_case,
        default=[(10.0, 1), (10.0, 8), (60.0, 1)],
        metavar="SECONDSxBATCH",
        help="input sizes (default: 10x1 10x8 60x1)",
    )
    parser.add_argument(
        "--size",
        default="base",
        choices=["tiny", "small", "base"],
        help="size of the random WavLM (default: base)",
    )
    parser.add_argument("--pooling", default="corr_att", help="pooling override (default corr_att)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument(
        "--work", default=None, help="folder of the random model (default: temporary)"
    )
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser.parse_args(argv)


def build_modules(ssl_folder, work, pooling, device):
    """The recipe's modules (``modules:`` of the yaml) in eval mode on ``device``."""
    overrides = {
        "data_folder": str(work),
        "ssl_hub": str(ssl_folder),
        "ssl_folder": os.path.join(work, "hf_cache"),
        "experiment_folder": os.path.join(work, "inference_experiment"),
        "use_feature_cache": False,
        "pooling": pooling,
    }
    with open(HPARAMS, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return torch.nn.ModuleDict(hparams["modules"]).to(device).eval()


def classify(modules, wavs, wav_lens):
    """Waveforms -> class posteriors, the recipe's forward pass (``train.EmotionBrain``)."""
    hiddens = modules["ssl"](wavs, wav_lens)
    lengths = modules["ssl"].frame_lengths(wav_lens, wavs.shape[1], hiddens.shape[2])
    frames = modules["projector"](modules["layer_sum"](hiddens))
    return modules["classifier"](modules["pooling_layer"](frames, lengths)).softmax(dim=-1)


def sync(device):
    """Waits for the GPU (no-op on CPU)."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def time_case(modules, seconds, batch, device, warmup, repeats):
    """Median and minimum seconds of one forward pass on a random batch."""
    generator = torch.Generator().manual_seed(0)
    wavs = (0.1 * torch.randn(batch, int(seconds * SAMPLE_RATE), generator=generator)).to(device)
    wav_lens = torch.ones(batch, device=device)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            sync(device)
            start = time.perf_counter()
            probs = classify(modules, wavs, wav_lens)
            sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
            log(
                f"inference {seconds:g} s x {batch}: pass {i + 1}/{warmup + repeats} "
                f"{time.perf_counter() - start:.2f} s"
            )
    assert probs.shape == (batch, 4)
    return statistics.median(times), min(times)


def main(argv=None):
    """Times every case and prints a Markdown table (and the JSON with ``--json``)."""
    args = parse_args(argv)
    threads = set_threads(args.threads)
    work = args.work or tempfile.mkdtemp(prefix="inference_bench_")
    ssl_folder = save_random_ssl_model(
        "wavlm", os.path.join(work, f"wavlm_{args.size}"), size=args.size
    )
    probe = MemoryProbe(args.device)  # after saving the model (done once per --work folder)
    modules = build_modules(ssl_folder, work, args.pooling, args.device)
    params = sum(p.numel() for p in modules.parameters())
    rows = []
    for i, (seconds, batch) in enumerate(args.cases):
        probe = probe if i == 0 else MemoryProbe(args.device)  # the first one includes loading
        median, fastest = time_case(modules, seconds, batch, args.device, args.warmup, args.repeats)
        rows.append(
            {
                "seconds": seconds,
                "batch": batch,
                "median_s": median,
                "min_s": fastest,
                "rtf": median / (seconds * batch),
                "rtf_min": fastest / (seconds * batch),
                **probe.report(),
            }
        )
    result = {
        "size": args.size,
        "pooling": args.pooling,
        "parameters": params,
        **torch_info(),
        "warmup": args.warmup,
        "repeats": args.repeats,
        "cases": rows,
    }
    write_json(args.json, result)
    info = machine_info(args.device)
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
        f"device {info['device']}, {threads} threads"
    )
    print(
        f"WavLM {args.size} ({params / 1e6:.1f} M parameters with the head), pooling"
        f" {args.pooling}; median of {args.repeats} after {args.warmup} warm-up\n"
    )
    print("| input | batch | median time (s) | RTF (median) | RTF (min) | peak memory |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        print(
            f"| {row['seconds']:g} s | {row['batch']} | {row['median_s']:.2f} | "
            f"{row['rtf']:.3f} | {row['rtf_min']:.3f} | {format_memory(row)} |"
        )


if __name__ == "__main__":
    main()
