#!/usr/bin/env python3
"""Training-epoch time of the IEMOCAP recipe with and without the frozen-feature cache.

For each model size, runs one epoch (train + valid) of ``recipes/IEMOCAP/train.py``'s
Brain on a generated IEMOCAP-format corpus, once reading the cached hidden states and once
running the frozen upstream at every step, and prints a Markdown table: epoch times, the
speed-up, and the one-off cost of filling the cache.

Usage:
    python benchmarks/feature_cache.py [--sizes tiny base] [--per-speaker 10] [--device cpu]
"""

import argparse
import os
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "IEMOCAP")
sys.path.insert(0, RECIPE)

import train  # noqa: E402  (the recipe's train.py)

from ser_modules.synthetic import generate_iemocap  # noqa: E402
from ser_modules.tiny_ssl import save_random_ssl_model  # noqa: E402


def parse_args():
    """Benchmark options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=["tiny", "small", "base"])
    parser.add_argument("--per-speaker", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    return parser.parse_args()


def timed_epoch(work, corpus, ssl_folder, use_cache, device):
    """Seconds to fill the cache (0 without cache) and to run one train + valid epoch."""
    name = f"{os.path.basename(ssl_folder)}_{'cache' if use_cache else 'nocache'}"
    argv = [
        os.path.join(RECIPE, "hparams", "wavlm_corr_att.yaml"),
        f"--data_folder={corpus}",
        f"--ssl_hub={ssl_folder}",
        f"--experiment_folder={work}/results/{name}",
        f"--ssl_folder={work}/hf_cache",
        f"--feature_cache_folder={work}/feature_cache",
        f"--use_feature_cache={use_cache}",
        "--number_of_epochs=1",
        "--batch_size=8",
        "--noprogressbar",
        f"--device={device}",
    ]
    hparams, run_opts = train.load_experiment(argv)
    manifests = train.prepare_manifests(hparams)
    start = time.perf_counter()
    cache = train.build_feature_cache(hparams, manifests.values()) if use_cache else None
    fill = time.perf_counter() - start
    datasets = train.dataio_prepare(hparams, manifests, cache)
    brain = train.build_brain(hparams, run_opts)
    start = time.perf_counter()
    brain.fit(
        brain.hparams.epoch_counter,
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    return fill, time.perf_counter() - start, len(datasets["train"]) + len(datasets["valid"])


def main():
    """Runs the benchmark for every size and prints the table."""
    args = parse_args()
    work = args.work or tempfile.mkdtemp(prefix="cache_bench_")
    corpus = generate_iemocap(os.path.join(work, "data"), per_speaker=args.per_speaker)
    rows = []
    for size in args.sizes:
        ssl_folder = str(save_random_ssl_model("wavlm", os.path.join(work, f"wavlm_{size}"), size=size))
        fill, cached, n_utts = timed_epoch(work, corpus, ssl_folder, True, args.device)
        _, uncached, _ = timed_epoch(work, corpus, ssl_folder, False, args.device)
        rows.append((size, n_utts, uncached, cached, uncached / cached, fill))
    print(f"\ntorch {torch.__version__}, device {args.device}, {os.cpu_count()} CPUs, threads {torch.get_num_threads()}")
    print("\n| WavLM size | utterances (train + valid) | epoch without cache (s) | epoch with cache (s) | speed-up | filling the cache, once (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for size, n_utts, uncached, cached, speedup, fill in rows:
        print(f"| {size} | {n_utts} | {uncached:.1f} | {cached:.1f} | {speedup:.1f}x | {fill:.1f} |")


if __name__ == "__main__":
    main()
